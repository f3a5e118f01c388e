/** `concord simulate`: the real engine against simulated replicas under injected faults, seed by seed. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";
import { ConfigError, parseConfig } from "../config/load-config.js";
import { policyBlockShape } from "../config/policy-file-shape.js";
import { FAULT_KINDS, type FaultKind } from "../sim/sim-world.js";
import { runSimulation, type SimulationOptions, type SimulationReport } from "../sim/simulate.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { wholeNumber } from "./whole-number.js";

export interface SimulateCommandOptions {
  readonly seed?: string | undefined;
  readonly seeds?: string | undefined;
  readonly replicas?: string | undefined;
  readonly keys?: string | undefined;
  readonly writes?: string | undefined;
  readonly faults?: string | undefined;
  readonly policy?: string | undefined;
  /** Run every seed again under this candidate policy and compare invariants and counts with the live one. */
  readonly candidate?: string | undefined;
  readonly versions?: string | undefined;
  readonly writers?: string | undefined;
  readonly unsafeWrites?: boolean | undefined;
  readonly json?: boolean | undefined;
}

function positive(flag: string, text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : wholeNumber(text, flag);
}

/** Seeds from --seed N or --seeds A..B (inclusive). */
export function parseSeeds(options: SimulateCommandOptions): number[] {
  if (options.seed !== undefined && options.seeds !== undefined)
    throw new UsageError("give --seed or --seeds, not both");
  if (options.seeds !== undefined) {
    const m = /^(\d+)\.\.(\d+)$/.exec(options.seeds);
    if (!m || Number(m[2]) < Number(m[1]))
      throw new UsageError(`--seeds ${options.seeds}: expected A..B with A ≤ B, e.g. 1..200`);
    return Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i);
  }
  return [wholeNumber(options.seed ?? "1", "--seed", 0)];
}

function parseFaults(text: string | undefined): FaultKind[] {
  if (text === undefined || text === "all") return [...FAULT_KINDS];
  if (text === "none") return [];
  const out: FaultKind[] = [];
  for (const f of text.split(",").filter(Boolean)) {
    if (!(FAULT_KINDS as readonly string[]).includes(f)) {
      throw new UsageError(`--faults ${f}: unknown fault (known: ${FAULT_KINDS.join(", ")}, or all, none)`);
    }
    out.push(f as FaultKind);
  }
  return out;
}

/** A policy file holds the `policy:` block of a dataset, validated exactly as in concord.yaml. */
function loadPolicy(
  path: string,
  replicas: number,
  io: CliIo,
  flag = "--policy",
): SimulationOptions["policy"] {
  let block: unknown;
  let text: string;
  try {
    text = readFileSync(resolve(io.cwd, path), "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag} ${path}: cannot read${code === "ENOENT" ? " (not found)" : ` (${code})`}`);
  }
  try {
    block = parse(text);
    policyBlockShape(block, path);
  } catch (err) {
    const message = (err as Error).message.split("\n")[0]!;
    throw new UsageError(`${flag} ${err instanceof ConfigError ? message : `${path}: ${message}`}`);
  }
  const names = Array.from({ length: replicas }, (_, i) => `r${i}`);
  const doc = {
    datasets: {
      items: {
        key: "id",
        versions: { counter: "version", timestamp: "updated_at", vector: "vv" },
        replicas: Object.fromEntries(names.map((n) => [n, { url: `memory:${n}` }])),
        policy: block,
      },
    },
  };
  try {
    return parseConfig(JSON.stringify(doc), path, io.env, io.cwd).datasets[0]!.policy;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // The block stood in a config made up here: its path names the file's own members (resolve, merge.note).
    const where = err.message.replace(/^datasets\.items\.policy(?:\.|: )/, "");
    throw new UsageError(`${flag} ${path}: ${where}`);
  }
}

function line(r: SimulationReport): string {
  const failed = r.invariants.filter((i) => !i.ok).map((i) => i.name);
  const repairs = Object.entries(r.repairs)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  const conv =
    r.convergence.convergedAtMs === null
      ? "never"
      : `${Math.round(r.convergence.convergedAtMs - r.convergence.healedAtMs)}ms`;
  return `seed ${r.seed}: ${failed.length ? `FAIL (${failed.join(", ")})` : "ok"}  converged ${conv} after healing · repairs ${repairs || "none"} · escalations ${r.escalations} · faults ${Object.values(r.faults).reduce((a, b) => a + b, 0)} · ttc p50 ${r.timeToConvergenceMs.p50}ms p99 ${r.timeToConvergenceMs.p99}ms`;
}

function violationText(r: SimulationReport): string {
  const out: string[] = [`Seed ${r.seed} violated an invariant. Replay: concord simulate --seed ${r.seed}`];
  for (const i of r.invariants.filter((v) => !v.ok)) {
    out.push(`  ${i.name}: ${i.detail ?? ""}`);
    if (i.key) {
      out.push(`  trace of key ${i.key}:`);
      for (const t of i.trace ?? []) out.push(`    ${t.t.toFixed(1).padStart(9)}ms  ${t.what}`);
    }
  }
  out.push("  fault schedule:");
  for (const f of r.faultSchedule) out.push(`    ${String(f.t).padStart(7)}ms  ${f.kind}: ${f.detail}`);
  return out.join("\n");
}

export async function runSimulate(options: SimulateCommandOptions, io: CliIo = processIo()): Promise<number> {
  const { stdout } = io;
  const seeds = parseSeeds(options);
  const replicas = positive("--replicas", options.replicas, 3);
  if (replicas < 2) throw new UsageError("--replicas: at least 2");
  const versions = options.versions ?? "counter";
  if (!["counter", "timestamp", "vector"].includes(versions))
    throw new UsageError(`--versions ${versions}: expected counter, timestamp or vector`);
  const writers = options.writers ?? "primary";
  if (!["primary", "all"].includes(writers))
    throw new UsageError(`--writers ${writers}: expected primary or all`);
  const base: Omit<SimulationOptions, "seed"> = {
    replicas,
    keys: positive("--keys", options.keys, 1000),
    writes: positive("--writes", options.writes, 10_000),
    faults: parseFaults(options.faults),
    versions: versions as SimulationOptions["versions"],
    writers: writers as SimulationOptions["writers"],
    ...(options.policy ? { policy: loadPolicy(options.policy, replicas, io) } : {}),
    unsafeWrites: options.unsafeWrites ?? false,
  };
  if (options.candidate !== undefined)
    return compareSimulations(
      seeds,
      base,
      loadPolicy(options.candidate, replicas, io, "--candidate")!,
      options,
      io,
    );
  const reports: SimulationReport[] = [];
  for (const seed of seeds) {
    const r = await runSimulation({ ...base, seed });
    reports.push(r);
    if (!options.json) {
      stdout.write(`${line(r)}\n`);
      if (!r.ok) stdout.write(`${violationText(r)}\n`);
    }
  }
  const failed = reports.filter((r) => !r.ok).map((r) => r.seed);
  if (options.json) {
    const doc =
      reports.length === 1
        ? reports[0]
        : {
            seeds: reports.map((r) => ({
              seed: r.seed,
              ok: r.ok,
              invariants: r.invariants.filter((i) => !i.ok),
              repairs: r.repairs,
              escalations: r.escalations,
              convergence: r.convergence,
              timeToConvergenceMs: r.timeToConvergenceMs,
              faults: r.faults,
            })),
            summary: summarise(reports),
          };
    stdout.write(`${JSON.stringify(jsonDoc(doc as object), null, 2)}\n`);
  } else if (reports.length > 1) {
    const s = summarise(reports);
    stdout.write(
      `\n${reports.length} seeds: ${s.passed} passed, ${s.failed} failed${failed.length ? ` (seeds ${failed.join(", ")})` : ""}; ` +
        `time to convergence p50 ${s.timeToConvergenceMs.p50}ms p99 ${s.timeToConvergenceMs.p99}ms; repairs ${JSON.stringify(s.repairs)}\n`,
    );
  }
  return failed.length ? EXIT.diverged : EXIT.ok;
}

/** A seed's figures side by side: whether its invariants held, repairs, escalations, time to convergence. */
function figures(r: SimulationReport) {
  return {
    ok: r.ok,
    failedInvariants: r.invariants.filter((i) => !i.ok).map((i) => i.name),
    repairs: r.repairs,
    escalations: r.escalations,
    convergedAtMs: r.convergence.convergedAtMs,
    timeToConvergenceMs: r.timeToConvergenceMs,
  };
}

/**
 * Live against candidate over the same seeds: each seed's world (workload, faults) is the same in both runs,
 * only the policy differs. Prints each seed's figures for both, then both summaries; exit 1 when an invariant
 * fails under either policy.
 */
async function compareSimulations(
  seeds: readonly number[],
  base: Omit<SimulationOptions, "seed">,
  candidate: NonNullable<SimulationOptions["policy"]>,
  options: SimulateCommandOptions,
  io: CliIo,
): Promise<number> {
  const rows: { seed: number; live: SimulationReport; candidate: SimulationReport }[] = [];
  for (const seed of seeds) {
    const live = await runSimulation({ ...base, seed });
    const cand = await runSimulation({ ...base, policy: candidate, seed });
    rows.push({ seed, live, candidate: cand });
    if (!options.json) {
      io.stdout.write(`seed ${seed}
  live:      ${line(live).replace(/^seed \d+: /, "")}
  candidate: ${line(cand).replace(/^seed \d+: /, "")}
`);
      for (const r of [live, cand])
        if (!r.ok)
          io.stdout.write(`${violationText(r)}
`);
    }
  }
  const live = summarise(rows.map((r) => r.live));
  const cand = summarise(rows.map((r) => r.candidate));
  if (options.json) {
    const doc = jsonDoc({
      seeds: rows.map((r) => ({ seed: r.seed, live: figures(r.live), candidate: figures(r.candidate) })),
      summary: { live, candidate: cand },
    });
    io.stdout.write(`${JSON.stringify(doc, null, 2)}
`);
  } else {
    const say = (name: string, s: ReturnType<typeof summarise>) =>
      `${name}: ${s.passed} of ${s.seeds} seeds passed${s.failed ? ` (failed: ${s.failedSeeds.join(", ")})` : ""}; escalations ${s.escalations}; repairs ${JSON.stringify(s.repairs)}; time to convergence p50 ${s.timeToConvergenceMs.p50}ms p99 ${s.timeToConvergenceMs.p99}ms`;
    io.stdout.write(`\n${say("live", live)}\n${say("candidate", cand)}\n`);
  }
  return live.failed || cand.failed ? EXIT.diverged : EXIT.ok;
}

/** Aggregates a sweep: pass/fail counts, repairs by outcome, and percentiles of the per-seed p50/p99. */
export function summarise(reports: readonly SimulationReport[]) {
  const repairs: Record<string, number> = {};
  for (const r of reports) for (const [k, n] of Object.entries(r.repairs)) repairs[k] = (repairs[k] ?? 0) + n;
  const p = (values: number[], q: number) => {
    const s = [...values].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : 0;
  };
  return {
    seeds: reports.length,
    passed: reports.filter((r) => r.ok).length,
    failed: reports.filter((r) => !r.ok).length,
    failedSeeds: reports.filter((r) => !r.ok).map((r) => r.seed),
    repairs: Object.fromEntries(Object.entries(repairs).sort(([a], [b]) => (a < b ? -1 : 1))),
    escalations: reports.reduce((n, r) => n + r.escalations, 0),
    timeToConvergenceMs: {
      p50: p(
        reports.map((r) => r.timeToConvergenceMs.p50),
        0.5,
      ),
      p99: p(
        reports.map((r) => r.timeToConvergenceMs.p99),
        0.99,
      ),
    },
  };
}
