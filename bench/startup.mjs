/** Start-up fixed costs of a `concord scan` process: two builds, run alternately (docs/benchmarks.md). */
// Usage: node bench/startup.mjs CONFIG REPS BASE_BIN [NEW_BIN ...]
//   Each repetition runs every bin once, in turn (`node BIN scan --json -c CONFIG`, the state file the
//   config names deleted first: a first run), under /usr/bin/time (Linux). Prints one JSON line per run
//   (bin, rep, wall s, cpu s = user + sys, peak RSS KB, the scan's own durationMs and queries), then the
//   medians per bin and, per repetition, each bin's CPU and wall as a ratio of the first bin's.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";

const [config, repsText, ...bins] = process.argv.slice(2);
const reps = Number(repsText);
if (!config || !Number.isInteger(reps) || reps < 1 || bins.length === 0) {
  process.stderr.write("usage: node bench/startup.mjs CONFIG REPS BASE_BIN [NEW_BIN ...]\n");
  process.exit(2);
}
const state = /^state:\s*sqlite:(\S+)/m.exec(readFileSync(config, "utf8"))?.[1];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const runs = [];
for (let rep = 1; rep <= reps; rep++) {
  for (const bin of bins) {
    if (state) for (const suffix of ["", "-wal", "-shm"]) rmSync(`${state}${suffix}`, { force: true });
    const r = spawnSync(
      "/usr/bin/time",
      ["-f", "@@ %e %U %S %M", process.execPath, bin, "scan", "--json", "-c", config],
      { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
    );
    const [wall, user, sys, rss] = /@@ (\S+) (\S+) (\S+) (\S+)/.exec(r.stderr).slice(1).map(Number);
    const ds = JSON.parse(r.stdout).datasets;
    const run = {
      bin,
      rep,
      code: r.status,
      wall,
      cpu: +(user + sys).toFixed(2),
      rssKb: rss,
      durationMs: ds.reduce((n, d) => n + d.stats.durationMs, 0),
      queries: ds.reduce((n, d) => n + d.stats.queries, 0),
      divergences: ds.reduce((n, d) => n + d.divergences.length, 0),
    };
    runs.push(run);
    console.log(JSON.stringify(run));
  }
}
for (const bin of bins) {
  const mine = runs.filter((r) => r.bin === bin);
  const m = (k) => median(mine.map((r) => r[k]));
  console.log(
    `# ${bin}: median wall ${m("wall")} s, cpu ${m("cpu")} s, scan ${m("durationMs")} ms, rss ${m("rssKb")} KB, queries ${m("queries")}`,
  );
}
for (const bin of bins.slice(1)) {
  const ratio = (k) =>
    runs
      .filter((r) => r.bin === bin)
      .map((r) => (runs.find((b) => b.bin === bins[0] && b.rep === r.rep)[k] / r[k]).toFixed(2));
  console.log(
    `# ${bins[0]} / ${bin} per repetition: cpu ${ratio("cpu").join(" ")}; wall ${ratio("wall").join(" ")}`,
  );
}
