#!/usr/bin/env bash
# scan-json-cpu.sh DIST_ROOT PREFIX TAG: one `concord scan --json` of PREFIX_a/PREFIX_b.items (pg-setup.sh) with a
# fresh SQLite state store, under GNU time; prints one RESULT line with the CPU of node and of the PostgreSQL
# backends serving its connections (pg-backend-cpu.py), wall, peak RSS and the document's stats. The document is
# kept in /tmp/concord-scan/PREFIX-TAG/out.json (compare two builds' with `sed -E '/"(runId|durationMs)"/d'`).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${1:?}; P=${2:?}; TAG=${3:?}
W=/tmp/concord-scan/$P-$TAG; mkdir -p "$W"; rm -f "$W"/state.db*
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
L=$(cut -d' ' -f1 /proc/loadavg)
/usr/bin/time -f "%U %S %M %e" -o "$W/time.txt" node "$ROOT/bin/concord.js" scan --json -c "$W/c.yaml" > "$W/out.json" 2> "$W/err.txt" &
TP=$!
sleep 0.2; NP=$(pgrep -P $TP | head -1)
python3 "$HERE/pg-backend-cpu.py" $NP > "$W/pg.txt" &
SP=$!
set +e; wait $TP; rc=$?; wait $SP; set -e
read -r u s rss wall < <(tail -1 "$W/time.txt")
pg=$(awk '{print $2}' "$W/pg.txt")
stats=$(node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).datasets[0];const s=d.stats;process.stdout.write(`divergences=${d.divergences.length} rows_read=${s.rowsRead} bytes_read=${s.bytesRead} queries=${s.queries}`)' "$W/out.json")
echo "RESULT tag=$TAG rc=$rc node_cpu_s=$(echo "$u + $s" | bc) user_s=$u sys_s=$s pg_cpu_s=$pg wall_s=$wall rss_mib=$((rss / 1024)) load1=$L $stats"
