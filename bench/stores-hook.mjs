/** The anchors harness's CUSTOM_DETECT / CUSTOM_SYNC command for Concord (see bench/stores.mjs). */
// Usage: node bench/stores-hook.mjs detect CONFIG   runs `concord scan --json -c CONFIG` and prints one line
//                                                    per divergence: `upd ID` | `del ID` | `ins ID`
//        node bench/stores-hook.mjs repair CONFIG   runs `concord repair -c CONFIG`
// Concord runs as the package's own executable (bin/concord.js, which runs CONCORD_DIST's CLI, default
// dist/), a child of this adapter, as the harness runs the incumbents; the harness's timer covers both and
// its peak-RSS sampler reports the larger process (Concord's). The state store the config names is deleted
// first: every run starts from a fresh state, as a first run would.
// Replica "a" is the reference and "b" the replica: `del` = in a, missing in b; `ins` = only in b.
// A `# concord …` line carries the scan's counts and stats (the harness ignores it).
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = resolve(process.env.CONCORD_DIST ?? join(ROOT, "dist"));
const [mode, config] = process.argv.slice(2);
if ((mode !== "detect" && mode !== "repair") || !config) {
  process.stderr.write("usage: node bench/stores-hook.mjs detect|repair CONFIG\n");
  process.exit(2);
}
const state = process.env.CONCORD_BENCH_STATE;
if (state) for (const suffix of ["", "-wal", "-shm"]) rmSync(`${state}${suffix}`, { force: true });

/** bin/concord.js with `args`, its stdout handed to `onChunk` (or inherited); resolves to its exit code. */
function concord(args, onChunk) {
  // bin/concord.js imports ../dist; another build (CONCORD_DIST) is run through its own cli/main.js the
  // same way bin/concord.js runs dist's.
  const entry =
    DIST === resolve(ROOT, "dist")
      ? [join(ROOT, "bin", "concord.js")]
      : [
          "--input-type=module",
          "-e",
          `import(${JSON.stringify(join(DIST, "cli", "main.js"))}).then((m) => m.run([process.argv[0], "concord", ...process.argv.slice(1)]))`,
          "--",
        ];
  const child = spawn(process.execPath, [...entry, ...args], {
    stdio: ["ignore", onChunk ? "pipe" : "inherit", "inherit"],
  });
  if (onChunk) {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", onChunk);
  }
  return new Promise((done, fail) => {
    child.on("error", fail);
    child.on("close", (code) => done(code ?? 1));
  });
}

if (mode === "repair") {
  process.exitCode = await concord(["repair", "-c", config]);
} else {
  // Read the CLI's stdout (one JSON document, pretty-printed) line by line as it is written, so this
  // adapter holds one divergence at a time, not the document: its memory is not charged to Concord.
  // Everything outside the datasets' "divergences" arrays is kept and parsed at the end.
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
  const code = await concord(["scan", "--json", "-c", config], (chunk) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop();
    for (const line of parts) take(line);
  });
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
    process.stdout.write(`${lines.join("\n")}\n`);
    process.exitCode = 0;
  }
}
