#!/usr/bin/env bash
# run-cpu.sh DIST_ROOT PREFIX MODE(scan|repair) TAG [STATE_URL]: one `concord MODE` (no --json, as the anchors hook runs
# repair) of PREFIX_a/PREFIX_b.items (b reset first) under /usr/bin/time -v, with a fresh state store (SQLite by
# default; a postgres:// URL gets its schema dropped first); prints one RESULT line with the CPU of node and of the
# PostgreSQL backends serving its connections (pg-backend-cpu.py), wall and peak RSS. Work files in /tmp/concord-au.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${1:?}; P=${2:?}; MODE=${3:?}; TAG=${4:?}; STATE=${5:-}
W=/tmp/concord-au/$P-$MODE-$TAG; mkdir -p "$W"; rm -f "$W"/state.db*
URL=postgres://postgres@127.0.0.1:5432/test
[ -z "$STATE" ] && STATE="sqlite:$W/state.db"
if [[ $STATE == postgres* ]]; then psql -qX -h 127.0.0.1 -U postgres -d test -c "SET client_min_messages=warning; DROP SCHEMA IF EXISTS ${P}_state CASCADE"; fi
cat > "$W/c.yaml" <<Y
state: $STATE
datasets:
  items:
    key: id
    columns: [payload, version, updated_at]
    replicas:
      a: {"url":"$URL","table":"${P}_a.items"}
      b: {"url":"$URL","table":"${P}_b.items"}
    policy: { owner: a, resolve: owner, limits: { maxRepairs: 100000000, maxDivergentFraction: 1 } }
Y
"$HERE/pg-reset.sh" "$P"
L=$(cut -d' ' -f1 /proc/loadavg)
/usr/bin/time -v -o "$W/time.txt" node "$ROOT/bin/concord.js" "$MODE" -c "$W/c.yaml" > "$W/out.txt" 2> "$W/err.txt" &
TP=$!
sleep 0.2; NP=$(pgrep -P $TP | head -1)
python3 "$HERE/pg-backend-cpu.py" $NP > "$W/pg.txt" &
SP=$!
set +e; wait $TP; rc=$?; wait $SP; set -e
rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$W/time.txt")
cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u+s}' "$W/time.txt")
wall=$(awk '/Elapsed/ {print $NF}' "$W/time.txt")
pg=$(awk '{print $2}' "$W/pg.txt")
echo "RESULT tag=$TAG mode=$MODE rc=$rc node_cpu_s=$cpu pg_cpu_s=$pg wall=$wall rss_mib=$rss load1=$L state=${STATE%%:*}"
