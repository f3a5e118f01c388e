// `npm run bench:learning`: the learning loop's proof in the simulator, whose oracle knows the truth.
// Over seeds (default 1..100, LEARN_SEEDS=a..b), one worker process per core (LEARN_WORKERS):
//  (a) reliability ranks the unreliable replica last with a 95% interval that does not overlap the others'
//      within N passes (the N distribution), from the evidence aggregates after each pass;
//  (c) owner: { inferred: reliability } against the static policy (no owner, highest-version) in the same
//      world: escalations opened, wrong repairs (a Concord write that copied a corrupted record), invariants;
//  (b) adaptive focus against uniform scanning in the same world: mean time from an injected divergence in a
//      hot range to its detection, and rows read per virtual second (the read budget).
// Writes test-output/learning.json. Figures are virtual time: deterministic per seed, independent of load.
import { fork } from "node:child_process";
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(import.meta.url);

/** (a) and (c): r2 five times as faulty; drift 8× in two ranges; corruption mostly of `value`. */
const OWNER_SCENARIO = {
  keys: 200,
  writes: 1200,
  writePeriodMs: 10_000,
  faults: [],
  skew: {
    loss: 0.02,
    corrupt: 0.01,
    replicas: { r2: 5 },
    hotRanges: [
      [1, 12],
      [101, 112],
    ],
    hotFactor: 8,
    columns: { value: 3, updated_at: 1 },
  },
};
const STATIC = { resolve: "highest-version", merge: {}, tolerance: {}, limits: {} };
const INFERRED = { ...STATIC, owner: { inferred: "reliability", minConfidence: 0.9 } };

/** (b): 16 segments, drift 10× in two of them (keys 1–40 and 321–360); a 500 ms window for replication lag. */
const FOCUS_SCENARIO = {
  keys: 640,
  writes: 3000,
  writePeriodMs: 20_000,
  faults: [],
  checkpointRows: 40,
  // A segment is never cut into pieces: the default piece budget (checkpointRows / 10 = 4 differing keys) is a
  // memory bound for segments of thousands of rows; at 40 rows it would rescan every segment in pieces.
  pieceDivergences: 40,
  scheduleMs: 200,
  versions: "timestamp",
  policy: { owner: "r0", resolve: "lww", windowMs: 500, merge: {}, tolerance: {}, limits: {} },
  skew: {
    loss: 0.01,
    corrupt: 0.005,
    replicas: { r2: 4 },
    hotRanges: [
      [1, 40],
      [321, 360],
    ],
    hotFactor: 10,
  },
};
const EXTRA_SHARE = Number(process.env.LEARN_EXTRA_SHARE ?? 2);
/** Adaptive focus's evidence and re-planning (both on by default): LEARN_FOCUS='{"live":false,"refocus":false}'. */
const FOCUS = { extraShare: EXTRA_SHARE, ...JSON.parse(process.env.LEARN_FOCUS ?? "{}") };

/** Which parts run: `owner` ((a) and (c)), `focus` ((b)); default both (LEARN_PARTS=owner,focus). */
const PARTS = new Set((process.env.LEARN_PARTS ?? "owner,focus").split(","));

const mean = (a) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : Number.NaN);

if (process.argv[2] === "--worker") {
  const { runSimulation } = await import("../dist/sim/simulate.js");
  const { reliability } = await import("../dist/learning/evidence.js");
  const { seeds } = JSON.parse(process.argv[3]);
  for (const seed of seeds) {
    // (a) on the static run: after each pass, is r2 last with an interval clear of the others'?
    let separatedAt = null;
    let separatedAtEnd = false;
    const afterPass = async (pass, state) => {
      const scores = Object.fromEntries(
        (await state.replicaEvidence("items"))
          .filter((e) => e.column === undefined)
          .map((e) => [e.replica, reliability(e.settled, e.lost)]),
      );
      const bad = scores.r2;
      const others = ["r0", "r1"].map((r) => scores[r]).filter(Boolean);
      const ok =
        bad !== undefined &&
        others.length === 2 &&
        others.every((o) => o.score > bad.score && o.low > bad.high);
      if (ok && separatedAt === null) separatedAt = pass;
      separatedAtEnd = ok;
    };
    const owner = PARTS.has("owner");
    const stat = owner && (await runSimulation({ ...OWNER_SCENARIO, seed, policy: STATIC, afterPass }));
    const inferred = owner && (await runSimulation({ ...OWNER_SCENARIO, seed, policy: INFERRED }));
    const focusing = PARTS.has("focus");
    const uniform = focusing && (await runSimulation({ ...FOCUS_SCENARIO, seed }));
    const focused = focusing && (await runSimulation({ ...FOCUS_SCENARIO, seed, focus: FOCUS }));
    const focus = (r) => ({
      hot: r.learning.detection.hot,
      hotAt: r.learning.detection.hotAt,
      cold: r.learning.detection.cold,
      undetected: r.learning.detection.undetected,
      rowsPerS: (r.learning.rowsRead / r.learning.passMs) * 1000,
      ok: r.ok,
    });
    process.send({
      seed,
      ...(owner ? ownerPart() : {}),
      ...(focusing ? { b: { uniform: focus(uniform), adaptive: focus(focused) } } : {}),
    });
    function ownerPart() {
      return {
        a: { separatedAt, separatedAtEnd, passes: stat.operations.engineRuns },
        c: {
          static: {
            escalations: stat.learning.escalationsOpened,
            wrong: stat.learning.wrongRepairs,
            ok: stat.ok,
          },
          inferred: {
            escalations: inferred.learning.escalationsOpened,
            wrong: inferred.learning.wrongRepairs,
            ok: inferred.ok,
            failed: inferred.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`),
          },
        },
      };
    }
  }
  process.exit(0);
}

const [from, to] = (process.env.LEARN_SEEDS ?? "1..100").split("..").map(Number);
const workers = Number(process.env.LEARN_WORKERS ?? Math.min(2, availableParallelism()));
const seeds = Array.from({ length: to - from + 1 }, (_, i) => from + i);
const started = Date.now();
const results = [];
// Each seed's result is appended as it arrives; `--summarize` summarises what the files hold (a cut-short run).
// One file per set of parts, so the parts can run apart; `--summarize` merges every one by seed.
const LINES = `test-output/learning-${[...PARTS].sort().join("-")}.jsonl`;
mkdirSync("test-output", { recursive: true });
const summarizing = process.argv[2] === "--summarize";
if (summarizing) {
  const bySeed = new Map();
  for (const file of readdirSync("test-output").filter((f) => /^learning-.*\.jsonl$/.test(f)))
    for (const line of readFileSync(`test-output/${file}`, "utf8").split("\n"))
      if (line) {
        const m = JSON.parse(line);
        bySeed.set(m.seed, { ...bySeed.get(m.seed), ...m });
      }
  results.push(...bySeed.values());
} else writeFileSync(LINES, "");
await Promise.all(
  Array.from({ length: summarizing ? 0 : workers }, (_, w) => {
    const mine = seeds.filter((_, i) => i % workers === w);
    return new Promise((resolve, reject) => {
      const child = fork(here, ["--worker", JSON.stringify({ seeds: mine })]);
      child.on("message", (m) => {
        results.push(m);
        appendFileSync(LINES, `${JSON.stringify(m)}\n`);
        if (results.length % 10 === 0) process.stderr.write(`  ${results.length}/${seeds.length} seeds\n`);
      });
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}`))));
    });
  }),
);
results.sort((x, y) => x.seed - y.seed);
const ownerResults = results.filter((r) => r.a);
const focusResults = results.filter((r) => r.b);

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ns = ownerResults
  .map((r) => r.a.separatedAt)
  .filter((n) => n !== null)
  .sort((x, y) => x - y);
const a = ownerResults.length && {
  seeds: ownerResults.length,
  separated: ns.length,
  separatedAtEnd: ownerResults.filter((r) => r.a.separatedAtEnd).length,
  passes: { min: ns[0], p50: pct(ns, 50), p90: pct(ns, 90), max: ns.at(-1), mean: mean(ns) },
  passesPerRun: mean(ownerResults.map((r) => r.a.passes)),
};
const c = ownerResults.length && {
  staticEscalations: mean(ownerResults.map((r) => r.c.static.escalations)),
  inferredEscalations: mean(ownerResults.map((r) => r.c.inferred.escalations)),
  seedsWithFewerEscalations: ownerResults.filter((r) => r.c.inferred.escalations < r.c.static.escalations)
    .length,
  staticWrongRepairs: ownerResults.reduce((n, r) => n + r.c.static.wrong, 0),
  inferredWrongRepairs: ownerResults.reduce((n, r) => n + r.c.inferred.wrong, 0),
  seedsWithInvariantViolations: {
    static: ownerResults.filter((r) => !r.c.static.ok).length,
    inferred: ownerResults.filter((r) => !r.c.inferred.ok).length,
  },
  inferredViolations: ownerResults
    .flatMap((r) => r.c.inferred.failed.map((f) => `seed ${r.seed}: ${f}`))
    .slice(0, 5),
};
const pooled = (mode, side) => mean(focusResults.flatMap((r) => r.b[mode][side]));
const ratios = focusResults
  .map((r) => mean(r.b.uniform.hot) / mean(r.b.adaptive.hot))
  .filter(Number.isFinite)
  .sort((x, y) => x - y);
// Steady state: drift that began after the first quarter of the write period, once the evidence has built up.
const STEADY_MS = FOCUS_SCENARIO.writePeriodMs / 4;
const steady = (mode) =>
  mean(focusResults.flatMap((r) => r.b[mode].hot.filter((_, i) => r.b[mode].hotAt[i] >= STEADY_MS)));
const learning = (mode) =>
  mean(focusResults.flatMap((r) => r.b[mode].hot.filter((_, i) => r.b[mode].hotAt[i] < STEADY_MS)));
const b = focusResults.length && {
  extraShare: EXTRA_SHARE,
  focus: FOCUS,
  hotDetectionMs: { uniform: pooled("uniform", "hot"), adaptive: pooled("adaptive", "hot") },
  coldDetectionMs: { uniform: pooled("uniform", "cold"), adaptive: pooled("adaptive", "cold") },
  speedup: pooled("uniform", "hot") / pooled("adaptive", "hot"),
  hotDetectionMsByPhase: {
    firstQuarter: { uniform: learning("uniform"), adaptive: learning("adaptive") },
    afterFirstQuarter: { uniform: steady("uniform"), adaptive: steady("adaptive") },
  },
  speedupAfterFirstQuarter: steady("uniform") / steady("adaptive"),
  perSeedSpeedup: { min: ratios[0], p10: pct(ratios, 10), p50: pct(ratios, 50), max: ratios.at(-1) },
  rowsPerVirtualS: {
    uniform: mean(focusResults.map((r) => r.b.uniform.rowsPerS)),
    adaptive: mean(focusResults.map((r) => r.b.adaptive.rowsPerS)),
  },
  undetected: {
    uniform: focusResults.reduce((n, r) => n + r.b.uniform.undetected, 0),
    adaptive: focusResults.reduce((n, r) => n + r.b.adaptive.undetected, 0),
  },
  seedsWithInvariantViolations: {
    uniform: focusResults.filter((r) => !r.b.uniform.ok).length,
    adaptive: focusResults.filter((r) => !r.b.adaptive.ok).length,
  },
};
const summary = { seeds: results.length, wallS: (Date.now() - started) / 1000, a, c, b };
mkdirSync("test-output", { recursive: true });
writeFileSync("test-output/learning.json", `${JSON.stringify({ summary, results }, null, 2)}\n`);
console.log(JSON.stringify(summary, null, 2));
