#!/usr/bin/env bash
cd /work/wt/memory
OUT=bench/results/memory-2026-12-06-final.txt
for rep in 1 2; do
  for P in m1; do
    for MODE in repair scan; do
      if [ $(( rep % 2 )) = 1 ]; then order="/work/wt/memory /tmp/mem-before"; else order="/tmp/mem-before /work/wt/memory"; fi
      for r in $order; do
        tag=after; [ $r = /tmp/mem-before ] && tag=before
        echo "$(bench/memory/run.sh $r $P $MODE $tag) rep=$rep" | tee -a $OUT
      done
    done
  done
done
