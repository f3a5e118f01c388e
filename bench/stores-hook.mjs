/** The anchors harness's CUSTOM_DETECT / CUSTOM_SYNC command for Concord (see bench/stores.mjs). */
// Usage: node bench/stores-hook.mjs detect CONFIG   runs `concord scan --json -c CONFIG` and prints one line
//                                                    per divergence: `upd ID` | `del ID` | `ins ID`
//        node bench/stores-hook.mjs repair CONFIG   runs `concord repair -c CONFIG`
// The CLI runs in this process (CONCORD_DIST, default dist/: what bin/concord.js runs), so the harness's
// timer and peak-RSS sampler see one process, as they do for the other tools. The state store the config
// names is deleted first: every run starts from a fresh state, as a first run would.
// Replica "a" is the reference and "b" the replica: `del` = in a, missing in b; `ins` = only in b.
// A `# concord …` line carries the scan's counts and stats (the harness ignores it).
import { rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = resolve(process.env.CONCORD_DIST ?? join(ROOT, "dist"));
const [mode, config] = process.argv.slice(2);
if ((mode !== "detect" && mode !== "repair") || !config) {
  process.stderr.write("usage: node bench/stores-hook.mjs detect|repair CONFIG\n");
  process.exit(2);
}
const state = process.env.CONCORD_BENCH_STATE;
if (state) for (const suffix of ["", "-wal", "-shm"]) rmSync(`${state}${suffix}`, { force: true });

const { main } = await import(pathToFileURL(join(DIST, "cli", "main.js")).href);

if (mode === "repair") {
  const code = await main(["node", "concord", "repair", "-c", config]);
  process.exitCode = code;
} else {
  // Capture the CLI's stdout (one JSON document); everything else still goes to stderr.
  const chunks = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) => {
    chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    const done = rest.find((r) => typeof r === "function");
    if (done) done();
    return true;
  };
  let code;
  try {
    code = await main(["node", "concord", "scan", "--json", "-c", config]);
  } finally {
    process.stdout.write = write;
  }
  if (code !== 0 && code !== 1) {
    process.exitCode = code;
  } else {
    const doc = JSON.parse(chunks.join(""));
    const lines = [];
    for (const ds of doc.datasets) {
      for (const d of ds.divergences) {
        if (d.class === "schema") continue;
        const a = d.replicas.a?.present ?? false;
        const b = Object.entries(d.replicas).some(([name, r]) => name !== "a" && r.present);
        lines.push(`${a && b ? "upd" : a ? "del" : "ins"} ${d.key.join(":")}`);
      }
      lines.push(
        `# concord ${JSON.stringify({ dataset: ds.name, counts: ds.counts, replicas: ds.replicas, stats: ds.stats })}`,
      );
    }
    write(`${lines.join("\n")}\n`);
    process.exitCode = 0;
  }
}
