#!/usr/bin/env bash
# my-setup.sh PREFIX N D: the anchors' items tables (../shared/anchors/my_setup.sh) in MariaDB databases
# PREFIX_a, PREFIX_b0 (pristine drifted copy) and PREFIX_b: D differences, 40% updated, 30% deleted, 30%
# inserted, scattered over the key range (the same rows and differences as pg-setup.sh).
set -euo pipefail
P=${1:?prefix}; N=${2:?N}; D=${3:?D}
U=$(( D*4/10 )); DEL=$(( D*3/10 ))
PERM="((seq * 2654435761) MOD $N + 1)"
ROW="CONCAT(MD5(%s), MD5(CONCAT(%s,'x')), MD5(CONCAT(%s,'y')), LPAD((%s) MOD 10000, 4, '0')), 1 + (%s) MOD 5, TIMESTAMP'2024-01-01 00:00:00' + INTERVAL (%s) SECOND"
rowa=$(printf "$ROW" '2*seq' '2*seq' '2*seq' '2*seq' '2*seq' '2*seq')
rowx=$(printf "$ROW" 'x.id' 'x.id' 'x.id' 'x.id' 'x.id' 'x.id')
mysql <<SQL >/dev/null
DROP DATABASE IF EXISTS ${P}_a; DROP DATABASE IF EXISTS ${P}_b; DROP DATABASE IF EXISTS ${P}_b0;
CREATE DATABASE ${P}_a; CREATE DATABASE ${P}_b; CREATE DATABASE ${P}_b0;
USE ${P}_b0;   -- seq_1_to_N (SEQUENCE engine) needs a current database
CREATE TABLE ${P}_a.items(id BIGINT NOT NULL PRIMARY KEY, payload TEXT, version BIGINT, updated_at DATETIME(6)) ENGINE=InnoDB;
INSERT INTO ${P}_a.items SELECT 2*seq, $rowa FROM seq_1_to_$N;
CREATE TABLE ${P}_b0.diffs(kind CHAR(3) NOT NULL, id BIGINT NOT NULL, PRIMARY KEY(id)) ENGINE=InnoDB;
INSERT INTO ${P}_b0.diffs
  SELECT CASE WHEN seq < $U THEN 'upd' WHEN seq < $U + $DEL THEN 'del' ELSE 'ins' END,
         CASE WHEN seq < $U + $DEL THEN 2*$PERM ELSE 2*$PERM + 1 END
  FROM seq_0_to_$((D-1));
CREATE TABLE ${P}_b0.items LIKE ${P}_a.items;
INSERT INTO ${P}_b0.items
  SELECT i.id,
         IF(x.kind = 'upd', CONCAT('X', SUBSTR(i.payload, 2)), i.payload),
         IF(x.kind = 'upd', i.version + 1, i.version),
         IF(x.kind = 'upd', i.updated_at + INTERVAL 1 DAY, i.updated_at)
  FROM ${P}_a.items i LEFT JOIN ${P}_b0.diffs x ON x.id = i.id
  WHERE x.kind IS NULL OR x.kind <> 'del'
  ORDER BY i.id;
INSERT INTO ${P}_b0.items SELECT x.id, $rowx FROM ${P}_b0.diffs x WHERE x.kind = 'ins' ORDER BY x.id;
ANALYZE TABLE ${P}_a.items, ${P}_b0.items;
SQL
"$(dirname "$0")/my-reset.sh" "$P"
