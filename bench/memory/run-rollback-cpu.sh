#!/usr/bin/env bash
# run-rollback-cpu.sh DIST_ROOT PREFIX STATE_DB RUN_ID TAG: one `concord rollback --run RUN_ID` of PREFIX_a/PREFIX_b.items
# (100,000 inverse writes at 1M / 100k: 50 batches in one executeRepairs call) under /usr/bin/time -v. Before it,
# PREFIX_b is made a copy of PREFIX_a (as the repair left it) and STATE_DB (the repair's state file, kept aside)
# is copied fresh. After it, b must equal its pristine drifted copy PREFIX_b0 (`differ=0`). Prints one RESULT line.
set -euo pipefail
ROOT=${1:?}; P=${2:?}; DB=${3:?}; RUN=${4:?}; TAG=${5:?}
W=/tmp/concord-au/$P-rollback-$TAG; mkdir -p "$W"; rm -f "$W"/state.db*
cp "$DB" "$W/state.db"
URL=postgres://postgres@127.0.0.1:5432/test
cat > "$W/c.yaml" <<Y
state: sqlite:$W/state.db
datasets:
  items:
    key: id
    columns: [payload, version, updated_at]
    replicas:
      a: {"url":"$URL","table":"${P}_a.items"}
      b: {"url":"$URL","table":"${P}_b.items"}
    policy: { owner: a, resolve: owner, limits: { maxRepairs: 100000000, maxDivergentFraction: 1 } }
Y
psql -qX -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d test <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS ${P}_b.items;
CREATE TABLE ${P}_b.items(id bigint NOT NULL, payload text, version bigint, updated_at timestamptz);
INSERT INTO ${P}_b.items SELECT * FROM ${P}_a.items ORDER BY id;
ALTER TABLE ${P}_b.items ADD PRIMARY KEY (id);
VACUUM ANALYZE ${P}_b.items;
SQL
L=$(cut -d' ' -f1 /proc/loadavg)
set +e
/usr/bin/time -v -o "$W/time.txt" node "$ROOT/bin/concord.js" rollback --run "$RUN" -c "$W/c.yaml" > "$W/out.txt" 2> "$W/err.txt"
rc=$?
set -e
differ=$(psql -qXtA -h 127.0.0.1 -U postgres -d test -c "SELECT count(*) FROM ${P}_b.items x FULL JOIN ${P}_b0.items y USING (id) WHERE x IS DISTINCT FROM y")
rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$W/time.txt")
cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u+s}' "$W/time.txt")
wall=$(awk '/Elapsed/ {print $NF}' "$W/time.txt")
echo "RESULT tag=$TAG mode=rollback rc=$rc node_cpu_s=$cpu wall=$wall rss_mib=$rss load1=$L differ=$differ"
