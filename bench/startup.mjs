/** Start-up fixed costs of a `concord scan` process: two builds, run alternately (docs/benchmarks.md). */
// Usage: node bench/startup.mjs CONFIG REPS BASE_BIN [NEW_BIN ...]
//   Each repetition runs every bin once, in turn (`node BIN scan --json -c CONFIG`, the state file the
//   config names deleted first: a first run), under /usr/bin/time (Linux); the order of the bins is reversed
//   every other repetition, so neither always runs first. Prints one JSON line per run (bin, rep, wall s,
//   cpu s = user + sys, peak RSS KB, the scan's own durationMs and queries, the divergences' count and a
//   digest of the `divergences` arrays, which must be the same in every run), then the medians (range) per
//   bin and, per repetition, each bin's CPU and wall as a ratio of the first bin's.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
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
  for (const bin of rep % 2 ? bins : [...bins].reverse()) {
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
      // The process's fixed cost: its wall less the scans' own time (start-up, config, state file, exit).
      fixed: +(wall - ds.reduce((n, d) => n + d.stats.durationMs, 0) / 1000).toFixed(3),
      queries: ds.reduce((n, d) => n + d.stats.queries, 0),
      divergences: ds.reduce((n, d) => n + d.divergences.length, 0),
      digest: createHash("sha256")
        .update(JSON.stringify(ds.map((d) => d.divergences)))
        .digest("hex")
        .slice(0, 16),
    };
    runs.push(run);
    console.log(JSON.stringify(run));
  }
}
for (const bin of bins) {
  const mine = runs.filter((r) => r.bin === bin);
  const m = (k) => {
    const xs = mine.map((r) => r[k]);
    return `${median(xs)} (${Math.min(...xs)}-${Math.max(...xs)})`;
  };
  console.log(
    `# ${bin}: median (range) wall ${m("wall")} s, fixed ${m("fixed")} s, cpu ${m("cpu")} s, scan ${m("durationMs")} ms, rss ${m("rssKb")} KB, queries ${m("queries")}`,
  );
}
const digests = [...new Set(runs.map((r) => `${r.divergences} divergences, digest ${r.digest}`))];
console.log(`# every run's divergences: ${digests.join("; ")}${digests.length > 1 ? " (NOT THE SAME)" : ""}`);
for (const bin of bins.slice(1)) {
  const ratio = (k) =>
    runs
      .filter((r) => r.bin === bin)
      .map((r) => (runs.find((b) => b.bin === bins[0] && b.rep === r.rep)[k] / r[k]).toFixed(2));
  const summary = (k) => {
    const xs = ratio(k).map(Number);
    return `median ${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}): ${xs.join(" ")}`;
  };
  console.log(
    `# ${bins[0]} / ${bin} per repetition: cpu ${summary("cpu")}; wall ${summary("wall")}; fixed ${summary("fixed")}`,
  );
}
