/** The anchors harness's CUSTOM_DETECT / CUSTOM_SYNC command for Concord (see bench/stores.mjs). */
// Usage: node bench/stores-hook.mjs detect CONFIG   runs `concord scan --json -c CONFIG` and prints one line
//                                                    per divergence: `upd ID` | `del ID` | `ins ID`
//        node bench/stores-hook.mjs repair CONFIG   runs `concord repair -c CONFIG`
//        node bench/stores-hook.mjs parse           reads `concord scan --json`'s document on stdin and prints
//                                                    the same lines as detect (the harness's pipeline form:
//                                                    `concord scan --json -c CONFIG | node … parse`, so this
//                                                    adapter's own start runs beside Concord's, not before it)
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
if ((mode !== "detect" && mode !== "repair" && mode !== "parse") || (mode !== "parse" && !config)) {
  process.stderr.write("usage: node bench/stores-hook.mjs detect|repair CONFIG | parse\n");
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
  // Read the CLI's stdout (one JSON document, pretty-printed) as it is written, so this adapter holds one
  // divergence at a time, not the document: its memory is not charged to Concord. Everything outside the
  // datasets' "divergences" arrays is kept and parsed at the end. Inside them each item is cut out whole
  // (it ends at the first line `        }` at its own indentation) and read with a few searches instead of
  // line by line: a 100k-divergence document is 2.5 million lines, and reading them one at a time took
  // this adapter about 0.9 s of CPU after Concord had finished (the document comes at the end of the run).
  const lines = [];
  const skeleton = [];
  let rest = "";
  let inDivergences = false;
  const ITEM_START = "        {\n";
  const ITEM_END = "\n        }";
  const KEY_START = '\n          "key": [\n';
  const KEY_END = "\n          ]";
  const CLASS = '\n          "class": ';
  const REPLICA = '\n            "';
  const PRESENT = '\n              "present": ';
  /** Where the JSON string starting at `at` in `t` (a name or a class) ends, past its closing quote. */
  const stringEnd = (t, at) => {
    let end = at + 1;
    while (t[end] !== '"') end += t[end] === "\\" ? 2 : 1;
    return end + 1;
  };
  /** One divergence item's text (from its `{` line to before its closing `}` line): its line for the harness. */
  const item = (t) => {
    const c = t.indexOf(CLASS);
    if (c >= 0) {
      const at = c + CLASS.length;
      if (JSON.parse(t.slice(at, stringEnd(t, at))) === "schema") return;
    }
    const k0 = t.indexOf(KEY_START);
    const k1 = k0 < 0 ? -1 : t.indexOf(KEY_END, k0 + KEY_START.length - 1);
    const key = k1 < 0 ? [] : JSON.parse(`[${t.slice(k0 + KEY_START.length, k1)}]`);
    // Each replica's object (`"name": {` at depth 12) and the `"present"` line at depth 14 inside it.
    let a = false;
    let b = false;
    let at = t.indexOf(REPLICA);
    while (at >= 0) {
      const from = at + REPLICA.length - 1;
      const end = stringEnd(t, from);
      const next = t.indexOf(REPLICA, end);
      const p = t.indexOf(PRESENT, end);
      if (
        t.startsWith(": {\n", end) &&
        p >= 0 &&
        (next < 0 || p < next) &&
        t.startsWith("true", p + PRESENT.length)
      ) {
        if (JSON.parse(t.slice(from, end)) === "a") a = true;
        else b = true;
      }
      at = next;
    }
    lines.push(`${a && b ? "upd" : a ? "del" : "ins"} ${key.join(":")}`);
  };
  /** Takes what can be read of `text` (whole lines, whole items); returns what is left for the next chunk. */
  const take = (text, last) => {
    let pos = 0;
    for (;;) {
      if (inDivergences && text.startsWith(ITEM_START, pos)) {
        const end = text.indexOf(ITEM_END, pos);
        if (end < 0) break;
        const nl = text.indexOf("\n", end + ITEM_END.length);
        if (nl < 0 && !last) break;
        item(text.slice(pos, end));
        pos = nl < 0 ? text.length : nl + 1;
        continue;
      }
      const nl = text.indexOf("\n", pos);
      if (nl < 0 && (!last || pos >= text.length)) break;
      const line = text.slice(pos, nl < 0 ? text.length : nl);
      pos = nl < 0 ? text.length : nl + 1;
      if (!inDivergences) {
        skeleton.push(line);
        if (/^ {6}"divergences": \[$/.test(line)) inDivergences = true;
      } else if (/^ {6}\](,?)$/.test(line)) {
        inDivergences = false;
        skeleton.push(line);
      }
    }
    return text.slice(pos);
  };
  const onChunk = (chunk) => {
    rest = take(rest + chunk, false);
  };
  let code = 0;
  if (mode === "parse") {
    process.stdin.setEncoding("utf8");
    for await (const chunk of process.stdin) onChunk(chunk);
  } else code = await concord(["scan", "--json", "-c", config], onChunk);
  if (rest) take(rest, true);
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
