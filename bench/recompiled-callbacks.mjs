// Why a callback made per call is recompiled after every full GC (docs/benchmarks.md, "Callbacks recompiled per
// batch"). Usage: node --expose-gc --trace-opt bench/recompiled-callbacks.mjs closure|module [nogc] \
//   | grep "completed optimizing" | sed -E 's/0x[0-9a-f]+//g' | sort | uniq -c
// With `closure`, the arrow inside sumClosure is optimized once per round (30 rounds, a full GC after each):
// its optimized code is held weakly by the shared feedback vector and dies with the round's closure. With
// `module` (the same arrow at module level) or `nogc`, it is optimized once.
const double = (x) => (x * 2 + 1) % 7;
function sumClosure(batch) {
  let s = 0;
  for (const v of batch.map((x) => (x * 2 + 1) % 7)) s += v;
  return s;
}
function sumModule(batch) {
  let s = 0;
  for (const v of batch.map(double)) s += v;
  return s;
}
const sum = process.argv[2] === "module" ? sumModule : sumClosure;
const collect = process.argv[3] === "nogc" ? () => {} : globalThis.gc;
if (!collect) throw new Error("run with node --expose-gc");
const batch = Array.from({ length: 20000 }, (_, i) => i);
let total = 0;
for (let round = 0; round < 30; round++) {
  for (let r = 0; r < 20; r++) total += sum(batch);
  collect();
}
console.log(total);
