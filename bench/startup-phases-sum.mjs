/** Medians of the phases bench/startup-phases.cjs marked, one process a line (docs/benchmarks.md). */
// Usage: node bench/startup-phases-sum.mjs FILE
import { readFileSync } from "node:fs";

const runs = readFileSync(process.argv[2], "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const names = runs[0].map(([name]) => name);
const row = (label, from, to) => {
  const at = (r, i) => (i < 0 ? [0, 0, 0] : r[i]);
  const wall = median(runs.map((r) => at(r, to)[1] - at(r, from)[1]));
  const cpu = median(runs.map((r) => at(r, to)[2] - at(r, from)[2]));
  console.log(
    `${label.padEnd(44)} wall ${wall.toFixed(1).padStart(7)} ms  cpu ${cpu.toFixed(1).padStart(6)} ms`,
  );
};
console.log(`${runs.length} runs, medians`);
for (let i = 0; i < names.length; i++) row(`${i ? names[i - 1] : "start"} -> ${names[i]}`, i - 1, i);
row("start -> exit", -1, names.length - 1);
if (names.includes("connect")) row("preload -> connect", 0, names.indexOf("connect"));
