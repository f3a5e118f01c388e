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
  // Read the CLI's stdout (one JSON document, pretty-printed) line by line as it is written, so this
  // adapter holds one divergence at a time, not the document: its memory is not charged to Concord.
  // Everything outside the datasets' "divergences" arrays is kept and parsed at the end.
  const write = process.stdout.write.bind(process.stdout);
  const lines = [];
  const skeleton = [];
  let rest = "";
  let item = null; // { key: [], replicas: {}, class, replica, inKey }
  let inDivergences = false;
  const take = (line) => {
    if (!inDivergences) {
      skeleton.push(line);
      if (/^ {6}"divergences": \[$/.test(line)) {
        inDivergences = true;
        skeleton[skeleton.length - 1] = '      "divergences": [';
      } else if (line === '      "divergences": [],') skeleton[skeleton.length - 1] = line;
      return;
    }
    if (/^ {6}\](,?)$/.test(line)) {
      inDivergences = false;
      skeleton.push(line);
      return;
    }
    if (line === "        {") item = { key: [], replicas: {}, inKey: false };
    else if (/^ {8}\},?$/.test(line)) {
      if (item.class !== "schema") {
        const a = item.replicas.a ?? false;
        const b = Object.entries(item.replicas).some(([name, present]) => name !== "a" && present);
        lines.push(`${a && b ? "upd" : a ? "del" : "ins"} ${item.key.join(":")}`);
      }
      item = null;
    } else if (line === '          "key": [') item.inKey = true;
    else if (item?.inKey && /^ {10}\],?$/.test(line)) item.inKey = false;
    else if (item?.inKey) item.key.push(JSON.parse(line.trim().replace(/,$/, "")));
    else if (line.startsWith('          "class": '))
      item.class = JSON.parse(line.slice(19).replace(/,$/, ""));
    else if (/^ {12}"[^"]+": \{$/.test(line)) item.replica = JSON.parse(line.trim().slice(0, -3));
    else if (line.startsWith('              "present": '))
      item.replicas[item.replica] = line.includes("true");
  };
  process.stdout.write = (chunk, ...rest_) => {
    const text = rest + (typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    const parts = text.split("\n");
    rest = parts.pop();
    for (const line of parts) take(line);
    const done = rest_.find((r) => typeof r === "function");
    if (done) done();
    return true;
  };
  let code;
  try {
    code = await main(["node", "concord", "scan", "--json", "-c", config]);
  } finally {
    process.stdout.write = write;
  }
  if (rest) take(rest);
  if (code !== 0 && code !== 1) {
    process.exitCode = code;
  } else {
    const doc = JSON.parse(skeleton.join("\n"));
    for (const ds of doc.datasets) {
      lines.push(
        `# concord ${JSON.stringify({ dataset: ds.name, counts: ds.counts, replicas: ds.replicas, stats: ds.stats })}`,
      );
    }
    write(`${lines.join("\n")}\n`);
    process.exitCode = 0;
  }
}
