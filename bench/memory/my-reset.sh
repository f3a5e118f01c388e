#!/usr/bin/env bash
# my-reset.sh PREFIX: rebuild PREFIX_b.items from its pristine copy PREFIX_b0.items, in id order.
set -euo pipefail
P=${1:?prefix}
mysql -NB <<SQL >/dev/null
DROP TABLE IF EXISTS ${P}_b.items;
CREATE TABLE ${P}_b.items LIKE ${P}_b0.items;
INSERT INTO ${P}_b.items SELECT * FROM ${P}_b0.items ORDER BY id;
ANALYZE TABLE ${P}_b.items;
SQL
