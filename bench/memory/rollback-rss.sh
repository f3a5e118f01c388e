#!/usr/bin/env bash
# rollback-rss.sh PREFIX ROOT... [-- --json]: peak RSS of `concord rollback --run` of the repair run-cpu.sh made
# (`run-cpu.sh <root> PREFIX repair t1`), once per ROOT in the order given (alternate a base and a new build).
# Before each, the repaired state (state.db, kept on the first call) and PREFIX_b.items are put back, so every
# rollback undoes the same 100% of the run. Prints one RESULT line per rollback.
set -uo pipefail
P=${1:?prefix}; shift
W=/tmp/concord-au/$P-repair-t1
ROOTS=(); EXTRA=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; EXTRA=("$@"); break; fi
  ROOTS+=("$1"); shift
done
ID=$(sqlite3 "$W/state.db" "select id from runs where command = 'repair' order by started_at limit 1" 2>/dev/null || true)
[ -n "$ID" ] || ID=$(sqlite3 "$W/state.db" "select id from runs limit 1")
if [ ! -f "$W/state-repaired.db" ]; then
  cp "$W/state.db" "$W/state-repaired.db"
  psql -qX -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d test -c \
    "SET client_min_messages=warning; DROP TABLE IF EXISTS ${P}_b0.items_rep; CREATE TABLE ${P}_b0.items_rep AS SELECT * FROM ${P}_b.items"
fi
for ROOT in "${ROOTS[@]}"; do
  rm -f "$W"/state.db*; cp "$W/state-repaired.db" "$W/state.db"
  psql -qX -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d test <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS ${P}_b.items;
CREATE TABLE ${P}_b.items(id bigint NOT NULL, payload text, version bigint, updated_at timestamptz);
INSERT INTO ${P}_b.items SELECT * FROM ${P}_b0.items_rep ORDER BY id;
ALTER TABLE ${P}_b.items ADD PRIMARY KEY (id);
VACUUM ANALYZE ${P}_b.items;
SQL
  L=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -v -o "$W/rb-time.txt" node "$ROOT/bin/concord.js" rollback --run "$ID" "${EXTRA[@]}" -c "$W/c.yaml" \
    > "$W/rb-out.txt" 2> "$W/rb-err.txt"; rc=$?
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$W/rb-time.txt")
  cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u+s}' "$W/rb-time.txt")
  wall=$(awk '/Elapsed/ {print $NF}' "$W/rb-time.txt")
  echo "RESULT root=$ROOT rc=$rc rss_mib=$rss node_cpu_s=$cpu wall=$wall load1=$L out_bytes=$(wc -c < "$W/rb-out.txt")"
done
