#!/usr/bin/env bash
# pg-reset.sh PREFIX: rebuild PREFIX_b.items from its pristine copy PREFIX_b0.items.
set -euo pipefail
P=${1:?prefix}
psql -qX -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d test <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS ${P}_b.items;
CREATE TABLE ${P}_b.items(id bigint NOT NULL, payload text, version bigint, updated_at timestamptz);
INSERT INTO ${P}_b.items SELECT * FROM ${P}_b0.items ORDER BY id;
ALTER TABLE ${P}_b.items ADD PRIMARY KEY (id);
VACUUM ANALYZE ${P}_b.items;
SQL
