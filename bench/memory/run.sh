#!/usr/bin/env bash
# run.sh DIST_ROOT PREFIX MODE(scan|repair) TAG: one `concord MODE --json` of PREFIX_a/PREFIX_b.items under
# /usr/bin/time -v (fresh SQLite state store; b reset first for repair); prints one RESULT line with peak
# RSS (MiB), user+sys CPU (s), wall (s), and the document's size; the document goes to /tmp.
# DB=my: the MariaDB databases PREFIX_a / PREFIX_b of my-setup.sh instead of PostgreSQL's schemas.
# NODE_FLAGS: node's own flags; EXEC=1 runs bin/concord.js as the executable (its #! line) instead.
set -euo pipefail
ROOT=${1:?dist root}; P=${2:?prefix}; MODE=${3:?mode}; TAG=${4:?tag}
HERE=$(cd "$(dirname "$0")" && pwd)
DB=${DB:-pg}
W=/tmp/concord-mem/$DB-$P-$MODE-$TAG; mkdir -p "$W"; rm -f "$W"/state.db*
if [ "$DB" = my ]; then
  A='{"url":"mysql://root@127.0.0.1:3306/'${P}'_a","table":"items"}'
  B='{"url":"mysql://root@127.0.0.1:3306/'${P}'_b","table":"items"}'
else
  URL=postgres://postgres@127.0.0.1:5432/test
  A='{"url":"'$URL'","table":"'${P}'_a.items"}'
  B='{"url":"'$URL'","table":"'${P}'_b.items"}'
fi
cat > "$W/c.yaml" <<Y
state: sqlite:$W/state.db
datasets:
  items:
    key: id
    columns: [payload, version, updated_at]
    replicas:
      a: $A
      b: $B
    policy: { owner: a, resolve: owner, limits: { maxRepairs: 100000000, maxDivergentFraction: 1 } }
Y
"$HERE/$DB-reset.sh" "$P"
L=$(cut -d' ' -f1 /proc/loadavg)
set +e
if [ -n "${EXEC:-}" ]; then CMD=("$ROOT/bin/concord.js"); else CMD=(node ${NODE_FLAGS:-} "$ROOT/bin/concord.js"); fi
/usr/bin/time -v -o "$W/time.txt" "${CMD[@]}" "$MODE" -c "$W/c.yaml" ${JSONFLAG---json} > "$W/out.json" 2> "$W/err.txt"
rc=$?
set -e
rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$W/time.txt")
cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u+s}' "$W/time.txt")
wall=$(awk '/Elapsed/ {print $NF}' "$W/time.txt")
n=$(grep -c '"class"' "$W/out.json" || true)
echo "RESULT db=$DB tag=$TAG prefix=$P mode=$MODE rc=$rc rss_mib=$rss cpu_s=$cpu wall=$wall load1=$L json_bytes=$(stat -c %s "$W/out.json") classes=$n"
