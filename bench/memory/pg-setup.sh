#!/usr/bin/env bash
# pg-setup.sh PREFIX N D: the anchors' items tables (../shared/anchors/pg_setup.sh) in schemas PREFIX_a,
# PREFIX_b0 (pristine drifted copy) and PREFIX_b of the `test` database: D differences, 40% updated,
# 30% deleted, 30% inserted, scattered over the key range.
set -euo pipefail
P=${1:?prefix}; N=${2:?N}; D=${3:?D}
U=$(( D*4/10 )); DEL=$(( D*3/10 ))
PERM="((k * 2654435761) % $N + 1)"
psql -qX -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d test <<SQL
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS ${P}_a CASCADE; DROP SCHEMA IF EXISTS ${P}_b CASCADE; DROP SCHEMA IF EXISTS ${P}_b0 CASCADE;
CREATE SCHEMA ${P}_a; CREATE SCHEMA ${P}_b; CREATE SCHEMA ${P}_b0;
CREATE TABLE ${P}_a.items(id bigint NOT NULL, payload text, version bigint, updated_at timestamptz);
INSERT INTO ${P}_a.items
  SELECT 2*g, md5((2*g)::text) || md5((2*g)::text || 'x') || md5((2*g)::text || 'y') || lpad(((2*g) % 10000)::text, 4, '0'),
         1 + (2*g) % 5, timestamptz '2024-01-01 00:00:00+00' + (2*g) * interval '1 second'
  FROM generate_series(1, $N) g;
ALTER TABLE ${P}_a.items ADD PRIMARY KEY (id);
CREATE TEMP TABLE diffs AS
  SELECT CASE WHEN k < $U THEN 'upd' WHEN k < $U + $DEL THEN 'del' ELSE 'ins' END AS kind,
         CASE WHEN k < $U + $DEL THEN 2*$PERM ELSE 2*$PERM + 1 END AS id
  FROM generate_series(0, $D - 1) k;
CREATE TABLE ${P}_b0.items(id bigint NOT NULL, payload text, version bigint, updated_at timestamptz);
INSERT INTO ${P}_b0.items
  SELECT i.id,
         CASE WHEN x.kind = 'upd' THEN 'X' || substr(i.payload, 2) ELSE i.payload END,
         CASE WHEN x.kind = 'upd' THEN i.version + 1 ELSE i.version END,
         CASE WHEN x.kind = 'upd' THEN i.updated_at + interval '1 day' ELSE i.updated_at END
  FROM ${P}_a.items i LEFT JOIN diffs x ON x.id = i.id
  WHERE x.kind IS DISTINCT FROM 'del'
  UNION ALL
  SELECT x.id, md5(x.id::text) || md5(x.id::text || 'x') || md5(x.id::text || 'y') || lpad((x.id % 10000)::text, 4, '0'),
         1 + x.id % 5, timestamptz '2024-01-01 00:00:00+00' + x.id * interval '1 second'
  FROM diffs x WHERE x.kind = 'ins';
ALTER TABLE ${P}_b0.items ADD PRIMARY KEY (id);
VACUUM ANALYZE ${P}_a.items; VACUUM ANALYZE ${P}_b0.items;
SQL
"$(dirname "$0")/pg-reset.sh" "$P"
