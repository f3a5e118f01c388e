/** How long a `concord scan` process lives after its last output: the exit tail (docs/benchmarks.md). */
// Usage: node bench/exit-tail.mjs CONFIG REPS BIN [BIN ...]
//   Each repetition runs every bin once, in turn (`node BIN scan --json -c CONFIG`, the state file the config
//   names deleted first), and prints when its first and last stdout bytes arrived and when it exited, in ms
//   from the spawn: "tail" is exit minus last output.
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";

const [config, repsText, ...bins] = process.argv.slice(2);
const reps = Number(repsText);
if (!config || !Number.isInteger(reps) || reps < 1 || bins.length === 0) {
  process.stderr.write("usage: node bench/exit-tail.mjs CONFIG REPS BIN [BIN ...]\n");
  process.exit(2);
}
const state = /^state:\s*sqlite:(\S+)/m.exec(readFileSync(config, "utf8"))?.[1];

for (let rep = 1; rep <= reps; rep++) {
  for (const bin of bins) {
    if (state) for (const suffix of ["", "-wal", "-shm"]) rmSync(`${state}${suffix}`, { force: true });
    const started = performance.now();
    let first = 0;
    let last = 0;
    let bytes = 0;
    const child = spawn(process.execPath, [bin, "scan", "--json", "-c", config], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.stdout.on("data", (chunk) => {
      last = performance.now();
      first ||= last;
      bytes += chunk.length;
    });
    const code = await new Promise((done) => child.on("close", done));
    const ended = performance.now();
    const ms = (t) => Math.round(t - started);
    console.log(
      JSON.stringify({
        bin,
        rep,
        code,
        bytes,
        firstOutMs: ms(first),
        lastOutMs: ms(last),
        exitMs: ms(ended),
        tailMs: Math.round(ended - last),
      }),
    );
  }
}
