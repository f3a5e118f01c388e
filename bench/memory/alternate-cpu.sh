#!/usr/bin/env bash
# alternate-cpu.sh: alternating base (B) and change (C): MariaDB and PostgreSQL 1M/100k repair (each followed by
# a scan of the repaired tables, which must find 0 differences), then scans.
# Usage: B=BASE_ROOT OUT=FILE [P=PREFIX] [C=CHANGE_ROOT] bench/memory/alternate-cpu.sh (data: my-setup.sh and pg-setup.sh PREFIX).
set -uo pipefail
M=$(cd "$(dirname "$0")" && pwd); OUT=${OUT:?out file}
P=${P:-hmem}; B=${B:?base root}; C=${C:-$(cd "$(dirname "$0")/../.." && pwd)}
verify() { # DB DIR ROOT TAG
  out=$(node "$3/bin/concord.js" scan -c "$2/c.yaml" 2>&1 | head -3 | tr '\n' ' ')
  echo "VERIFY db=$1 tag=$4 $out" | tee -a $OUT
}
for rep in 1 2 3; do
  if [ $((rep % 2)) = 1 ]; then order="base change"; else order="change base"; fi
  for t in $order; do
    r=$B; [ $t = change ] && r=$C
    echo "$($M/my-run-cpu.sh $r $P repair $t) rep=$rep" | tee -a $OUT
    verify my /tmp/concord-au/my-$P-repair-$t $r $t
  done
  for t in $order; do
    r=$B; [ $t = change ] && r=$C
    echo "$($M/run-cpu.sh $r $P repair $t) db=pg rep=$rep" | tee -a $OUT
    verify pg /tmp/concord-au/$P-repair-$t $r $t
  done
done
for rep in 1 2; do
  if [ $((rep % 2)) = 1 ]; then order="base change"; else order="change base"; fi
  for t in $order; do
    r=$B; [ $t = change ] && r=$C
    echo "$($M/my-run-cpu.sh $r $P scan $t) rep=$rep" | tee -a $OUT
    echo "$($M/run-cpu.sh $r $P scan $t) db=pg rep=$rep" | tee -a $OUT
  done
done
echo ALT-DONE | tee -a $OUT
