#!/usr/bin/env bash
# my-run-cpu.sh DIST_ROOT PREFIX MODE(scan|repair) TAG [STATE_URL]: run-cpu.sh for MariaDB: one `concord MODE` (no
# --json, as the anchors hook runs repair) of the databases PREFIX_a/PREFIX_b (my-setup.sh; b reset first unless
# NORESET=1) under /usr/bin/time -v, with a fresh state store (SQLite by default; a postgres:// URL gets its schema
# dropped first); prints one RESULT line with the CPU of node and of the MariaDB server over the run (the whole
# mariadbd process: its threads are not told apart by connection, so other clients' work counts too), wall and
# peak RSS. NODE_FLAGS: node's own flags. Work files in /tmp/concord-au.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${1:?}; P=${2:?}; MODE=${3:?}; TAG=${4:?}; STATE=${5:-}
W=/tmp/concord-au/my-$P-$MODE-$TAG; mkdir -p "$W"; rm -f "$W"/state.db*
[ -z "$STATE" ] && STATE="sqlite:$W/state.db"
if [[ $STATE == postgres* ]]; then psql -qX -h 127.0.0.1 -U postgres -d test -c "SET client_min_messages=warning; DROP SCHEMA IF EXISTS ${P}_state CASCADE"; fi
cat > "$W/c.yaml" <<Y
state: $STATE
datasets:
  items:
    key: id
    columns: [payload, version, updated_at]
    replicas:
      a: {"url":"mysql://root@127.0.0.1:3306/${P}_a","table":"items"}
      b: {"url":"mysql://root@127.0.0.1:3306/${P}_b","table":"items"}
    policy: { owner: a, resolve: owner, limits: { maxRepairs: 100000000, maxDivergentFraction: 1 } }
Y
[ -z "${NORESET:-}" ] && "$HERE/my-reset.sh" "$P"
MP=$(pgrep -o -x mariadbd || pgrep -o -x mysqld)
tck=$(getconf CLK_TCK)
mycpu() { awk -v t="$tck" '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", (f[12] + f[13]) / t }' "/proc/$MP/stat"; }
L=$(cut -d' ' -f1 /proc/loadavg)
m0=$(mycpu)
set +e
/usr/bin/time -v -o "$W/time.txt" node ${NODE_FLAGS:-} "$ROOT/bin/concord.js" "$MODE" -c "$W/c.yaml" > "$W/out.txt" 2> "$W/err.txt"
rc=$?
set -e
m1=$(mycpu)
rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$W/time.txt")
cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u+s}' "$W/time.txt")
wall=$(awk '/Elapsed/ {print $NF}' "$W/time.txt")
my=$(awk -v a="$m0" -v b="$m1" 'BEGIN {printf "%.2f", b - a}')
echo "RESULT db=my tag=$TAG mode=$MODE rc=$rc node_cpu_s=$cpu my_cpu_s=$my wall=$wall rss_mib=$rss load1=$L state=${STATE%%:*}"
