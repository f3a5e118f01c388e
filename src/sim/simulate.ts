/** Runs Concord's real engine inside a simulated world under injected faults, and checks invariants. Deterministic per seed. */
import type { DatasetConfig } from "../config/load-config.js";
import { verifyAuditChainAsync } from "../core/audit-chain.js";
import { keyId } from "../core/model.js";
import { AdaptiveFocus } from "../engine/adaptive-focus.js";
import type { OpenReplica } from "../engine/run-context.js";
import { runDataset } from "../engine/run-dataset.js";
import { SqliteStateStore } from "../state/sqlite/sqlite-state-store.js";
import type { StateStore } from "../state/state-store.js";
import { type Checked, checkInvariants } from "./checkers.js";
import { SimConnector } from "./sim-replica.js";
import {
  FAULT_KINDS,
  type FaultKind,
  type FaultSkew,
  SimWorld,
  type VersionMode,
  type WriterMode,
} from "./sim-world.js";

export interface SimulationOptions {
  readonly seed: number;
  readonly replicas?: number;
  readonly keys?: number;
  readonly writes?: number;
  readonly writePeriodMs?: number;
  readonly faults?: readonly FaultKind[];
  readonly versions?: VersionMode;
  readonly writers?: WriterMode;
  /** The dataset's policy block (as in concord.yaml); default: owner r0 + highest-version. */
  readonly policy?: DatasetConfig["policy"];
  /** Engine schedule (virtual ms). */
  readonly scheduleMs?: number;
  /** Virtual latency of each engine ↔ store call. */
  readonly latencyMs?: number;
  /** Drop the conditional check from repairs (to prove the checkers catch it). */
  readonly unsafeWrites?: boolean;
  /** Rows per checkpointed segment of a pass (default: a quarter of the keys, so a pass has several). */
  readonly checkpointRows?: number;
  /**
   * Differing keys one piece of a segment group may hold (runDataset's `pieceDivergences`; default its
   * `checkpointRows / 50`, at least 1,000). Worlds of tiny segments set it to keep a segment whole.
   */
  readonly pieceDivergences?: number;
  /** Standing fault rates skewed by replica, column and key range (the learning benchmark). */
  readonly skew?: FaultSkew;
  /**
   * Told after every engine run (pass), with the state store: the learning benchmark reads the evidence
   * aggregates there. Must not write.
   */
  readonly afterPass?: (pass: number, state: StateStore) => Promise<void>;
  /**
   * Adaptive focus as serve runs it (`focus: adaptive`): each pass's visit order planned from the state
   * store's range drift (`planFocus`), and the next pass held back by its extra visits (the same rows read
   * per unit of time as uniform passes).
   */
  readonly focus?:
    | {
        readonly extraShare?: number;
        /** Plan from what the latest visits found too, not only settled repairs (default true). */
        readonly live?: boolean;
        /** Re-plan the rest of the pass after every visit (default true). */
        readonly refocus?: boolean;
      }
    | undefined;
  /** Primary mode: the client writes move from r0 to r1 at this virtual time (a failover). */
  readonly writerMovesAtMs?: number | undefined;
}

/** The report of one seed. Same seed and options → byte-identical JSON. */
export interface SimulationReport {
  readonly seed: number;
  readonly scenario: Record<string, unknown>;
  readonly faults: Record<string, number>;
  readonly faultSchedule: readonly { t: number; kind: string; detail: string }[];
  readonly operations: Record<string, number>;
  readonly repairs: Record<string, number>;
  readonly escalations: number;
  /**
   * Escalations opened over the whole simulation (closed ones included), and Concord writes that copied a
   * silently corrupted record (a wrong repair: the oracle knows which rows were corrupted).
   */
  readonly learning: {
    readonly escalationsOpened: number;
    readonly wrongRepairs: number;
    /** Rows read by the engine's scans, and the virtual time its passes spanned. */
    readonly rowsRead: number;
    readonly passMs: number;
    /**
     * Per skewed fault that made a key diverge, in a hot range or not: how long until a scan detected it
     * (virtual ms), for those detected before a client wrote the key again; `undetected` the others.
     */
    readonly detection: {
      readonly hot: readonly number[];
      /** When each of `hot`'s divergences began (virtual ms), in the same order: to tell learning from steady state. */
      readonly hotAt: readonly number[];
      readonly cold: readonly number[];
      readonly undetected: number;
    };
  };
  readonly convergence: { healedAtMs: number; convergedAtMs: number | null; boundMs: number };
  readonly timeToConvergenceMs: { samples: number; p50: number; p90: number; p99: number; max: number };
  readonly invariants: readonly Checked[];
  readonly ok: boolean;
}

/** Virtual time 0 as epoch milliseconds (audit and ledger timestamps). */
const EPOCH_MS = Date.UTC(2026, 0, 1);

class EngineCrash extends Error {
  override readonly name = "EngineCrash";
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);
}

/** Virtual milliseconds to 0.1 ms, so reports read cleanly (and stay deterministic). */
function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function crashable(state: StateStore, step: (what: string) => void): StateStore {
  return new Proxy(state, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function" || prop === "iterateAudit" || prop === "close") return v;
      return (...args: unknown[]) => {
        step(`state.${String(prop)}`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/**
 * The simulated dataset. Default policy: with a single writer (the primary r0), r0 owns every record and
 * the highest version wins; with writers everywhere there is no owner, so the version strategy decides
 * and true conflicts go to a person.
 */
function datasetFor(
  names: readonly string[],
  versions: VersionMode,
  writers: WriterMode,
  policy: DatasetConfig["policy"] | undefined,
  checkpointRows: number,
): DatasetConfig {
  const versionColumns =
    versions === "counter"
      ? { counter: "version" }
      : versions === "timestamp"
        ? { timestamp: "updated_at" }
        : { vector: "vv" };
  const resolve =
    versions === "counter" ? "highest-version" : versions === "timestamp" ? "lww" : "version-vector";
  return {
    name: "items",
    key: ["id"],
    columns: ["value", "version", "updated_at", "vv"],
    types: {},
    versions: versionColumns,
    replicas: names.map((name) => ({ name, url: "sim:" })),
    policy: policy ?? {
      ...(writers === "primary" ? { owner: names[0] } : {}),
      resolve,
      merge: {},
      tolerance: {},
      limits: {},
    },
    detect: { segmentRows: 64 },
    mode: "repair",
    intensity: 1,
    checkpointRows,
  };
}

/**
 * For each skewed fault that made a key diverge: the time until a scan first detected the key (an audit
 * `detected` entry) at or after it, when that came before the next client write to the key (which may heal
 * or supersede it); the others count as undetected. Split by whether the key lies in a hot range.
 */
function detectionLatency(
  world: SimWorld,
  audit: readonly { type: string; key: string | null; ts: number }[],
): SimulationReport["learning"]["detection"] {
  const detected = new Map<string, number[]>();
  for (const e of audit)
    if (e.type === "detected" && e.key) {
      const list = detected.get(e.key) ?? [];
      list.push(e.ts - EPOCH_MS);
      detected.set(e.key, list);
    }
  const hot: number[] = [];
  const hotAt: number[] = [];
  const cold: number[] = [];
  let undetected = 0;
  for (const { key, t } of world.driftEvents) {
    const id = keyId(key);
    const next = (world.acked.get(id) ?? []).find((w) => w.at > t)?.at ?? Number.POSITIVE_INFINITY;
    const seen = (detected.get(id) ?? []).find((d) => d >= t);
    if (seen === undefined || seen > next) undetected++;
    else if (!world.isHot(key)) cold.push(round(seen - t));
    else {
      hot.push(round(seen - t));
      hotAt.push(round(t));
    }
  }
  return { hot, hotAt, cold, undetected };
}

/** Runs one seed and returns its report. */
export async function runSimulation(options: SimulationOptions): Promise<SimulationReport> {
  const faults = new Set<FaultKind>(options.faults ?? FAULT_KINDS);
  const writePeriodMs = options.writePeriodMs ?? 20_000;
  const scheduleMs = options.scheduleMs ?? 1000;
  const versions = options.versions ?? "counter";
  const writers = options.writers ?? "primary";
  const keys = options.keys ?? 1000;
  const world = new SimWorld({
    seed: options.seed,
    replicas: options.replicas ?? 3,
    keys,
    writes: options.writes ?? 10_000,
    writePeriodMs,
    faults,
    versions,
    writers,
    deleteFraction: 0.05,
    skew: options.skew,
    writerMovesAtMs: options.writerMovesAtMs,
  });
  world.seedRows();
  world.schedule();

  const names = world.replicas.map((r) => r.name);
  // Several segments per pass, as serve runs them: checkpoints, resumes after a crash, and segment groups.
  const ds = datasetFor(
    names,
    versions,
    writers,
    options.policy,
    options.checkpointRows ?? Math.max(16, Math.ceil(keys / 4)),
  );
  const ownerDeclared = typeof ds.policy.owner === "string";
  let wrongRepairs = 0;
  let stepBudget = Number.POSITIVE_INFINITY;
  const step = () => {
    if (--stepBudget <= 0) {
      stepBudget = Number.POSITIVE_INFINITY;
      throw new EngineCrash("engine crashed between two steps");
    }
  };
  const hooks = {
    advance: (ms: number) => world.queue.runUntil(world.now + ms).then(() => undefined),
    step,
    onWrite: (
      replica: string,
      key: readonly string[],
      outcome: string,
      before: string | null,
      expected: string | null,
    ) => {
      world.trace(key, `Concord wrote on ${replica}: ${outcome}`);
      if (outcome === "applied") {
        const row = world.replicas.find((r) => r.name === replica)?.get(key);
        if (row && world.corruptRows.has(SimWorld.rowText(row))) {
          wrongRepairs++;
          world.trace(key, `WRONG REPAIR on ${replica}: copied a corrupted record`);
        }
      }
      if (outcome === "applied" && before !== expected) {
        world.clobbers.push({ t: world.now, replica, key: keyId(key), before, expected });
        world.trace(
          key,
          `CLOBBER on ${replica}: found ${before ?? "absent"}, detection had seen ${expected ?? "absent"}`,
        );
      }
    },
  };
  const latency = options.latencyMs ?? 5;
  const replicas: OpenReplica[] = world.replicas.map((r) => ({
    name: r.name,
    connector: new SimConnector(r, hooks, latency, options.unsafeWrites ?? false),
  }));
  const rawState = SqliteStateStore.open(":memory:");
  const state = crashable(rawState, step);
  const counters = { engineRuns: 0, engineFailures: 0, engineCrashes: 0, engineResumes: 0 };
  const repairs: Record<string, number> = {};
  let running = false;
  let runNo = 0;
  const healedAt = writePeriodMs;
  const endAt = writePeriodMs + 20 * scheduleMs;
  const boundMs = 12 * scheduleMs;
  let convergedAt: number | null = null;

  let rowsRead = 0;
  let firstPassAt: number | undefined;
  let lastPassEnd = 0;
  // Adaptive focus as serve runs it (the same AdaptiveFocus): settled evidence from the state store (all of
  // it: no window), live evidence from each visit.
  const focus = options.focus;
  const adaptive = focus
    ? new AdaptiveFocus({
        rangeDrift: (since) => rawState.rangeDrift(ds.name, since),
        now: () => EPOCH_MS + world.now,
        live: focus.live !== false,
      })
    : undefined;
  const focusSettings = { extraShare: focus?.extraShare };
  /** A focused pass holds the next one back by its extra visits (serve stretches its interval alike). */
  let notBefore = 0;
  const engineRun = async () => {
    if (running || world.now < notBefore) return;
    running = true;
    const passStart = world.now;
    firstPassAt ??= passStart;
    adaptive?.unfocused();
    const runId = `run-${String(++runNo).padStart(4, "0")}`;
    counters.engineRuns++;
    if (faults.has("engine-crash") && world.now < healedAt && world.rand() < 0.15) {
      stepBudget = 1 + world.int(40);
    }
    try {
      // The real path serve runs: a checkpointed pass over several segments, resumed after a crash.
      const run = await runDataset(
        ds,
        replicas,
        { state, now: () => EPOCH_MS + world.now },
        {
          runId,
          command: "sim",
          mode: "repair",
          checkpoint: true,
          ...(options.pieceDivergences !== undefined ? { pieceDivergences: options.pieceDivergences } : {}),
          // Virtual time: no heartbeat timer, and every earlier run is over when the next one starts.
          heartbeatMs: 0,
          staleRunMs: 0,
          guard: { maxAttempts: 2, initialDelayMs: 0, maxDelayMs: 0, breakAfter: 1000 },
          observer: {
            onRecovered: (settled) => {
              for (const r of settled) repairs[r.outcome] = (repairs[r.outcome] ?? 0) + 1;
            },
            onSegment: (outcome) => {
              const { results, scan } = outcome;
              rowsRead += scan.stats.rowsRead ?? 0;
              for (const r of results) repairs[r.outcome] = (repairs[r.outcome] ?? 0) + 1;
            },
            onSegmentDone: (report, work) => adaptive?.observe(report, work),
          },
          ...(adaptive
            ? {
                focus: (segments: number) => adaptive.plan(segments, focusSettings),
                ...(focus?.refocus !== false
                  ? {
                      refocus: (made: readonly number[], segments: number) =>
                        adaptive.replan(made, segments, focusSettings),
                    }
                  : {}),
              }
            : {}),
        },
      );
      if (run.runId !== runId) counters.engineResumes++;
      await options.afterPass?.(runNo, rawState);
    } catch (err) {
      if (err instanceof EngineCrash) {
        counters.engineCrashes++;
        world.faultLog.push({
          t: Math.round(world.now),
          kind: "engine-crash",
          detail: `${runId} crashed mid-run`,
        });
      } else counters.engineFailures++;
    } finally {
      stepBudget = Number.POSITIVE_INFINITY;
      running = false;
      lastPassEnd = world.now;
      notBefore = passStart + scheduleMs * (adaptive?.stretch ?? 1);
    }
    if (world.now >= healedAt && convergedAt === null && (await converged())) convergedAt = world.now;
  };

  const converged = async (): Promise<boolean> => {
    const open = new Set((await rawState.listEscalations({ status: "open" })).map((e) => keyId(e.key)));
    if (world.replicas.some((r) => !r.up)) return false;
    for (const key of world.allKeys()) {
      if (open.has(keyId(key))) continue;
      const texts = new Set(world.rowsOf(key).map((r) => SimWorld.rowText(r)));
      if (texts.size > 1) return false;
    }
    return true;
  };

  const tick = async () => {
    await engineRun();
    if (world.now + scheduleMs <= endAt) world.queue.after(scheduleMs, tick);
  };
  world.queue.after(scheduleMs, tick);
  // Every fault heals by the end of the write period; crashed replicas come back.
  world.queue.after(writePeriodMs, () => {
    for (const r of world.replicas) {
      r.up = true;
      r.unreachable = false;
      r.writeFault = "none";
    }
    world.cut.clear();
  });
  await world.queue.runUntil(endAt);

  const openEscalations = await rawState.listEscalations({ status: "open" });
  const audit = [];
  for await (const e of rawState.iterateAudit()) audit.push(e);
  const chain = await verifyAuditChainAsync(rawState.iterateAudit());
  const invariants = checkInvariants({
    world,
    audit,
    chain,
    openEscalations,
    ownerDeclared,
    convergedAt,
    healedAt,
    boundMs,
    epochMs: EPOCH_MS,
  });

  const firstDetected = new Map<string, number>();
  const ttc: number[] = [];
  for (const e of audit) {
    if (!e.key) continue;
    if (e.type === "detected" && !firstDetected.has(e.key)) firstDetected.set(e.key, e.ts);
    if (e.type === "applied" && firstDetected.has(e.key)) {
      ttc.push(e.ts - firstDetected.get(e.key)!);
      firstDetected.delete(e.key);
    }
  }
  ttc.sort((a, b) => a - b);
  const faultCounts: Record<string, number> = {};
  for (const f of world.faultLog) faultCounts[f.kind] = (faultCounts[f.kind] ?? 0) + 1;
  await rawState.close();
  return {
    seed: options.seed,
    scenario: {
      replicas: world.replicas.length,
      keys: world.options.keys,
      writes: world.options.writes,
      versions,
      writers,
      faults: [...faults].sort(),
      scheduleMs,
      writePeriodMs,
      checkpointRows: ds.checkpointRows,
      unsafeWrites: options.unsafeWrites ?? false,
      ...(options.writerMovesAtMs !== undefined ? { writerMovesAtMs: options.writerMovesAtMs } : {}),
    },
    faults: faultCounts,
    faultSchedule: world.faultLog,
    operations: { ...world.counters, ...counters, events: world.queue.processed },
    repairs: Object.fromEntries(Object.entries(repairs).sort(([a], [b]) => (a < b ? -1 : 1))),
    escalations: openEscalations.length,
    learning: {
      escalationsOpened: audit.filter((e) => e.type === "escalated").length,
      wrongRepairs,
      rowsRead,
      passMs: round(lastPassEnd - (firstPassAt ?? 0)),
      detection: detectionLatency(world, audit),
    },
    convergence: {
      healedAtMs: healedAt,
      convergedAtMs: convergedAt === null ? null : round(convergedAt),
      boundMs,
    },
    timeToConvergenceMs: {
      samples: ttc.length,
      p50: percentile(ttc, 50),
      p90: percentile(ttc, 90),
      p99: percentile(ttc, 99),
      max: round(ttc.at(-1) ?? 0),
    },
    invariants,
    ok: invariants.every((i) => i.ok),
  };
}
