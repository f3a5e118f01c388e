// `npm run sim`: a long deterministic-simulation sweep (default seeds 1..1000, every fault on), spread over
// one worker process per core. Prints a summary, writes it to test-output/sim-sweep.json, and exits 1 if any
// seed violated an invariant (replay it with `npx concord simulate --seed N`).
import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(import.meta.url);

if (process.argv[2] === "--worker") {
  const { runSimulation } = await import("../dist/sim/simulate.js");
  const opts = JSON.parse(process.argv[3]);
  for (const seed of opts.seeds) {
    const t = process.cpuUsage();
    const r = await runSimulation({ ...opts.scenario, seed });
    const cpu = process.cpuUsage(t);
    process.send({
      seed,
      ok: r.ok,
      failed: r.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`),
      repairs: r.repairs,
      escalations: r.escalations,
      events: r.operations.events,
      clientWrites: r.operations.clientWrites,
      engineRuns: r.operations.engineRuns,
      ttcP50: r.timeToConvergenceMs.p50,
      ttcP99: r.timeToConvergenceMs.p99,
      convergedAfterMs:
        r.convergence.convergedAtMs === null ? null : r.convergence.convergedAtMs - r.convergence.healedAtMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
    });
  }
  process.exit(0);
}

const [from, to] = (process.env.SIM_SEEDS ?? "1..1000").split("..").map(Number);
const scenario = {
  replicas: Number(process.env.SIM_REPLICAS ?? 3),
  keys: Number(process.env.SIM_KEYS ?? 1000),
  writes: Number(process.env.SIM_WRITES ?? 10000),
};
const workers = Number(process.env.SIM_WORKERS ?? availableParallelism());
const seeds = Array.from({ length: to - from + 1 }, (_, i) => from + i);
const started = Date.now();
const results = [];
await Promise.all(
  Array.from({ length: workers }, (_, w) => {
    const mine = seeds.filter((_, i) => i % workers === w);
    return new Promise((resolve, reject) => {
      const child = fork(here, ["--worker", JSON.stringify({ seeds: mine, scenario })]);
      child.on("message", (m) => {
        results.push(m);
        if (results.length % 50 === 0) process.stderr.write(`  ${results.length}/${seeds.length} seeds\n`);
      });
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}`))));
    });
  }),
);
const wallS = (Date.now() - started) / 1000;
results.sort((a, b) => a.seed - b.seed);
const failed = results.filter((r) => !r.ok);
const pct = (xs, q) => {
  const s = xs.filter((x) => x !== null).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : null;
};
const repairs = {};
for (const r of results) for (const [k, n] of Object.entries(r.repairs)) repairs[k] = (repairs[k] ?? 0) + n;
const events = results.reduce((n, r) => n + r.events, 0);
const summary = {
  seeds: `${from}..${to}`,
  scenario: { ...scenario, faults: "all" },
  workers,
  wallSeconds: Math.round(wallS * 10) / 10,
  seedsPerSecond: Math.round((results.length / wallS) * 100) / 100,
  simulatedEventsPerSecond: Math.round(events / wallS),
  cpuMsPerSeed: {
    p50: pct(
      results.map((r) => r.cpuMs),
      0.5,
    ),
    p99: pct(
      results.map((r) => r.cpuMs),
      0.99,
    ),
  },
  passed: results.length - failed.length,
  failed: failed.length,
  failures: failed.map((r) => ({ seed: r.seed, invariants: r.failed })),
  repairs,
  escalations: results.reduce((n, r) => n + r.escalations, 0),
  convergedAfterHealingMs: {
    p50: pct(
      results.map((r) => r.convergedAfterMs),
      0.5,
    ),
    max: pct(
      results.map((r) => r.convergedAfterMs),
      1,
    ),
  },
  timeToConvergenceMs: {
    p50OfSeeds: pct(
      results.map((r) => r.ttcP50),
      0.5,
    ),
    p99OfSeeds: pct(
      results.map((r) => r.ttcP99),
      0.99,
    ),
  },
};
mkdirSync("test-output", { recursive: true });
writeFileSync("test-output/sim-sweep.json", `${JSON.stringify({ summary, seeds: results }, null, 2)}\n`);
console.log(JSON.stringify(summary, null, 2));
console.log(
  `${summary.passed} passed, ${summary.failed} failed (${results.length} seeds in ${summary.wallSeconds}s; test-output/sim-sweep.json)`,
);
process.exit(failed.length ? 1 : 0);
