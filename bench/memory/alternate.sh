#!/usr/bin/env bash
# alternate.sh OUT BEFORE_ROOT REPS "PREFIXES" "MODES": run.sh for each prefix and mode, REPS times, this
# worktree (after) and BEFORE_ROOT (a build of the base commit) alternating which goes first; RESULT lines
# appended to OUT (AFTER overrides the after root). DB, NODE_FLAGS and JSONFLAG pass through to run.sh.
set -euo pipefail
OUT=${1:?out}; BEFORE=${2:?before root}; REPS=${3:?reps}; PREFIXES=${4:?prefixes}; MODES=${5:?modes}
HERE=$(cd "$(dirname "$0")" && pwd); AFTER=${AFTER:-$(cd "$HERE/../.." && pwd)}
for rep in $(seq 1 "$REPS"); do
  for P in $PREFIXES; do
    for MODE in $MODES; do
      if [ $(( rep % 2 )) = 1 ]; then order="$AFTER $BEFORE"; else order="$BEFORE $AFTER"; fi
      for r in $order; do
        tag=after; [ "$r" = "$BEFORE" ] && tag=before
        echo "$("$HERE/run.sh" "$r" "$P" "$MODE" "$tag") rep=$rep" | tee -a "$OUT"
      done
    done
  done
done
