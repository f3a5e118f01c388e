/** The one place that wires a run: connectors → detect → classify (→ decide → execute → verify). */
import { ConfigError, type DatasetConfig } from "./config/load-config.js";
import type { Connector, TableDescription } from "./connectors/connector.js";
import { canonicalValue } from "./core/canonical.js";
import {
  BENIGN_CLASSES,
  classifyDivergence,
  type Divergence,
  type DivergenceClass,
  type Observation,
  type ReplicaObservation,
} from "./core/classify.js";
import { type Decision, decideRepair, decisionSummary, WRITE_ACTIONS } from "./core/decide.js";
import {
  FULL_RANGE,
  type Key,
  type KeyRange,
  keyId,
  keyInRange,
  keyToJson,
  type RecordShape,
  type StoredRecord,
} from "./core/model.js";
import { type CompiledPolicy, compilePolicy, PolicyError } from "./core/policy.js";
import { escalationId } from "./core/repair-id.js";
import { readVersion, type Version } from "./core/version.js";
import {
  arithmeticSplit,
  type DetectOptions,
  detectDivergences,
  rangesBetween,
} from "./detect/detect-divergences.js";
import { readAhead } from "./detect/read-ahead.js";
import { type ResolvedShape, resolveShape, type SchemaIssue } from "./detect/resolve-shape.js";
import {
  executeRepairs,
  planRepairTasks,
  type RepairResult,
  type RepairTask,
} from "./execute/execute-repairs.js";
import { WriteGuard, type WriteGuardOptions } from "./execute/write-guard.js";
import { type Escalation, EscalationNotOpenError, type StateStore } from "./state/state-store.js";

/** Run statistics: what crossed from the stores into the engine, and how long it took. */
export interface ScanStats {
  durationMs: number;
  rowsRead: number;
  rowsScanned: number;
  bytesRead: number;
  queries: number;
}

/** The result of scanning one dataset. */
export interface DatasetScan {
  readonly name: string;
  readonly shape: RecordShape;
  readonly resolved: ResolvedShape;
  readonly replicas: Readonly<Record<string, { rows: number }>>;
  readonly divergences: readonly Divergence[];
  readonly schema: readonly SchemaIssue[];
  readonly counts: Readonly<Partial<Record<DivergenceClass, number>>>;
  readonly stats: ScanStats;
  /** The key range scanned (the whole key space unless a segment was asked for). */
  readonly range: KeyRange;
  /**
   * What makes this comparison less than exact or slower than it could be, one line each naming the
   * column or replica: types the stores keep differently, and pushdown a connector cannot do.
   */
  readonly notes: readonly string[];
}

/** Ports and clock a run needs. Time comes in here so the core stays pure. */
export interface RunContext {
  readonly runId: string;
  readonly state: StateStore;
  readonly now: () => number;
  readonly command: string;
  readonly detect?: Omit<DetectOptions, "range">;
  readonly onProgress?: (dataset: string, done: number, total: number) => void;
}

/** Opened replicas of a dataset, in config order. */
export interface OpenReplica {
  readonly name: string;
  readonly connector: Connector;
}

const FETCH_BATCH = 500;

/**
 * Describes every replica and resolves the dataset's shape from what they hold (schema issues included).
 * Its notes also say what pushdown the connectors cannot do for that shape. Once per run: segments share it.
 */
export async function describeDataset(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
): Promise<ResolvedShape> {
  const descriptions = new Map<string, TableDescription>();
  for (const r of replicas) descriptions.set(r.name, await r.connector.describe());
  const resolved = resolveShape(ds, descriptions);
  const limits: string[] = [];
  for (const { connector } of replicas)
    if (connector.pushdownLimits) limits.push(...(await connector.pushdownLimits(resolved.shape)));
  return limits.length ? { ...resolved, notes: [...resolved.notes, ...limits] } : resolved;
}

/** The canonical key of a dataset's probe canary (`probe.key` in the key columns' types). */
export function canaryKey(ds: DatasetConfig, shape: RecordShape): Key {
  const given = ds.probe?.key ?? [];
  return shape.key.map((c, i) => {
    try {
      return canonicalValue(c.type, given[i]) ?? "";
    } catch (err) {
      throw new ConfigError(
        `datasets.${ds.name}.probe.key: ${JSON.stringify(given[i])} is not a valid ${c.type} for key column ${c.name} (${err instanceof Error ? err.message : String(err)})`,
      );
    }
  });
}

/** Ranges between consecutive bounds: [null, b0), [b0, b1), …, [bn, null). */
export function segmentsOf(bounds: readonly Key[]): KeyRange[] {
  return rangesBetween(FULL_RANGE, bounds);
}

/**
 * Bounds that cut a dataset's key space into segments of about `rowsPerSegment` rows, split on its
 * largest replica (none: one segment, also when a replica has no key order): by arithmetic on an integer
 * key whose keys are not sparse in their span, otherwise at rows the store picks. Runs over large tables
 * go segment by segment, so what they hold in memory is bounded by the segment, not the table.
 */
export async function segmentBounds(
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  rowsPerSegment: number,
): Promise<Key[]> {
  if (replicas.some((r) => r.connector.ordered === false)) return [];
  let largest: OpenReplica | undefined;
  let rows = 0;
  for (const r of replicas) {
    const n = (await r.connector.estimateCount?.(shape)) ?? (await r.connector.count(shape, FULL_RANGE));
    if (n >= rows) {
      rows = n;
      largest = r;
    }
  }
  const parts = Math.ceil(rows / rowsPerSegment);
  if (!largest || parts <= 1) return [];
  return (
    (await arithmeticSplit(shape, largest.connector, FULL_RANGE, parts, rows)) ??
    largest.connector.splitRange(shape, FULL_RANGE, parts)
  );
}

/** True when a divergence needs a write (everything except tolerated, in-flight and read-after-write). */
export function isRepairable(d: { class: DivergenceClass }): boolean {
  return !BENIGN_CLASSES.has(d.class);
}

async function enrich(
  shape: RecordShape,
  resolved: ResolvedShape,
  replicas: readonly OpenReplica[],
  batch: readonly Observation[],
): Promise<Observation[]> {
  const records = await Promise.all(
    replicas.map(async (r) => {
      const keys = batch.filter((o) => o.replicas[r.name]?.present).map((o) => o.key);
      const got = keys.length ? await r.connector.fetchRecords(shape, keys) : [];
      return new Map<string, StoredRecord>(got.map((rec) => [keyId(rec.key), rec]));
    }),
  );
  return batch.map((o) => {
    const id = keyId(o.key);
    const out: Record<string, ReplicaObservation> = {};
    replicas.forEach((r, i) => {
      const rec = records[i]!.get(id);
      // A record deleted between listing and fetching reads as absent: the observation is what was fetched.
      out[r.name] = rec
        ? {
            present: true,
            fingerprint: rec.fingerprint,
            values: rec.values,
            version: readVersion(resolved.versionPositions, rec.values),
          }
        : { present: false };
    });
    return { key: o.key, replicas: out };
  });
}

function stillDiffers(o: Observation): boolean {
  const states = Object.values(o.replicas);
  const fp = states[0]?.present ? states[0].fingerprint : null;
  return states.some((s) => (s.present ? s.fingerprint : null) !== fp);
}

/**
 * Scans one dataset whose replicas are open: resolves the shape (schema divergence is reported, not
 * thrown), detects differing keys, fetches their records, classifies them with the versions last seen,
 * remembers versions for regression checks, and records the divergences in the state store. Writes
 * nothing to any replica.
 */
export async function scanDataset(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  ctx: RunContext,
  options: {
    readonly range?: KeyRange;
    /** About how many rows the range holds (a segment: `checkpointRows`); spares detection a count. */
    readonly expectedRows?: number;
    /** The shape resolved for this run already (segments of one run share it): no describing again. */
    readonly resolved?: ResolvedShape;
  } = {},
): Promise<DatasetScan> {
  const started = ctx.now();
  const range = options.range ?? FULL_RANGE;
  // Connector stats accumulate over the connector's life: this scan reports what it added.
  const before = new Map(replicas.map((r) => [r.name, { ...r.connector.stats }]));
  const resolved = options.resolved ?? (await describeDataset(ds, replicas));
  const { shape } = resolved;
  // The probe's canary record is not user data: never compared, never repaired.
  const canary = ds.probe ? keyId(canaryKey(ds, shape)) : undefined;

  const divergences: Divergence[] = [];
  const knownRows = new Map<string, number>();
  const detect = detectDivergences(
    shape,
    replicas.map((r) => ({ name: r.name, connector: r.connector })),
    {
      ...ctx.detect,
      ...definedOnly(ds.detect),
      onProgress: (done, total) => ctx.onProgress?.(ds.name, done, total),
      onReplicaRows: (name, n) => knownRows.set(name, n),
      ...(options.range ? { range } : {}),
      ...(options.expectedRows !== undefined ? { expectedRows: options.expectedRows } : {}),
    },
  );
  // Stores list the next batch while this one's records are fetched and classified; a serial scan keeps
  // to one query at a time.
  const serial = ctx.detect?.serial === true;
  for await (const batch of serial ? detect : readAhead(detect)) {
    for (let i = 0; i < batch.length; i += FETCH_BATCH) {
      const slice = batch.slice(i, i + FETCH_BATCH).filter((o) => keyId(o.key) !== canary);
      const observed = (await enrich(shape, resolved, replicas, slice)).filter(stillDiffers);
      if (observed.length === 0) continue;
      const lastSeen = resolved.rules.versioned
        ? await ctx.state.lastSeenVersions(
            ds.name,
            observed.map((o) => o.key),
          )
        : new Map<string, Record<string, Version>>();
      const nowMs = ctx.now();
      for (const o of observed) {
        divergences.push(
          classifyDivergence(o, {
            shape,
            rules: resolved.rules,
            nowMs,
            lastSeen: lastSeen.get(keyId(o.key)),
          }),
        );
      }
      if (resolved.rules.versioned) {
        await ctx.state.rememberVersions(
          ds.name,
          observed.flatMap((o) =>
            Object.entries(o.replicas)
              .filter(([, r]) => r.present && r.version)
              .map(([replica, r]) => ({ key: o.key, replica, version: r.version! })),
          ),
        );
      }
    }
  }

  const counts: Partial<Record<DivergenceClass, number>> = {};
  for (const d of divergences) counts[d.class] = (counts[d.class] ?? 0) + 1;
  if (resolved.issues.length) counts.schema = resolved.issues.length;
  const rows: Record<string, { rows: number }> = {};
  for (const r of replicas) {
    rows[r.name] = {
      rows: knownRows.get(r.name) ?? (await r.connector.count(shape, range)),
    };
  }
  const stats: ScanStats = {
    durationMs: ctx.now() - started,
    rowsRead: 0,
    rowsScanned: 0,
    bytesRead: 0,
    queries: 0,
  };
  for (const r of replicas) {
    const was = before.get(r.name)!;
    stats.rowsRead += r.connector.stats.rowsRead - was.rowsRead;
    stats.rowsScanned += r.connector.stats.rowsScanned - was.rowsScanned;
    stats.bytesRead += r.connector.stats.bytesRead - was.bytesRead;
    stats.queries += r.connector.stats.queries - was.queries;
  }
  await ctx.state.recordDivergences(
    divergences.map((d) => ({
      runId: ctx.runId,
      dataset: ds.name,
      key: d.key,
      class: d.class,
      detail: { replicas: d.replicas, columns: d.columns, newest: d.newest, regressed: d.regressed },
    })),
  );
  return {
    name: ds.name,
    shape,
    resolved,
    replicas: rows,
    divergences,
    schema: resolved.issues,
    counts,
    stats,
    range,
    notes: resolved.notes,
  };
}

/** Why a run wrote nothing although it had decisions: the blast-radius guard. */
export interface GuardTrip {
  readonly reason: string;
  readonly divergent: number;
  readonly rows: number;
  readonly writes: number;
}

/** A scanned dataset with a decision for every divergence. */
export interface DatasetPlan {
  readonly scan: DatasetScan;
  readonly policy: CompiledPolicy;
  readonly decisions: readonly Decision[];
  readonly guard?: GuardTrip | undefined;
}

/**
 * Decides every divergence of a scan by the dataset's policy, and applies the blast-radius guard: when
 * divergent keys exceed `maxDivergentFraction` of the largest replica, or write decisions exceed
 * `maxRepairs`, the plan is marked so nothing is written.
 */
export function planDataset(ds: DatasetConfig, scan: DatasetScan): DatasetPlan {
  const policy = datasetPolicy(ds, scan.resolved);
  const decisions = scan.divergences.map((d) => decideRepair(d, scan.shape, policy));
  const rows = Math.max(0, ...Object.values(scan.replicas).map((r) => r.rows));
  const divergent = scan.divergences.filter(isRepairable).length;
  const writes = decisions
    .filter((d) => WRITE_ACTIONS.has(d.action))
    .reduce((n, d) => n + d.targets.length, 0);
  const { maxDivergentFraction, maxRepairs } = policy.limits;
  let guard: GuardTrip | undefined;
  if (maxDivergentFraction !== undefined && rows > 0 && divergent / rows > maxDivergentFraction) {
    guard = {
      reason: `${divergent} of ${rows} keys diverge (${((divergent / rows) * 100).toFixed(1)}%), above limits.maxDivergentFraction ${maxDivergentFraction}`,
      divergent,
      rows,
      writes,
    };
  } else if (maxRepairs !== undefined && writes > maxRepairs) {
    guard = {
      reason: `${writes} repairs planned, above limits.maxRepairs ${maxRepairs}`,
      divergent,
      rows,
      writes,
    };
  }
  return { scan, policy, decisions, guard };
}

/**
 * Records a plan in the audit log (one `detected` and one `decided` entry per divergence) and opens an
 * escalation for every escalated decision, every schema issue and a tripped guard. Escalations are
 * idempotent: the same divergence in the same state is not escalated twice.
 */
export async function recordPlan(plan: DatasetPlan, ctx: RunContext): Promise<number> {
  const { scan } = plan;
  const at = ctx.now();
  const byKey = new Map(scan.divergences.map((d) => [keyId(d.key), d]));
  const events: Parameters<StateStore["appendAudit"]>[0][number][] = [];
  for (const d of plan.decisions) {
    const div = byKey.get(keyId(d.key))!;
    const key = keyId(d.key);
    const observed = Object.fromEntries(
      Object.entries(div.replicas).map(([r, o]) => [r, o.present ? (o.fingerprint ?? null) : null]),
    );
    events.push({
      ts: at,
      runId: ctx.runId,
      type: "detected",
      dataset: scan.name,
      key,
      data: { class: d.class, observed, columns: div.columns },
    });
    events.push({
      ts: at,
      runId: ctx.runId,
      type: "decided",
      dataset: scan.name,
      key,
      data: decisionSummary(d),
    });
  }
  const escalations: Escalation[] = plan.decisions
    .filter((d) => d.action === "escalate")
    .map((d) => {
      const div = byKey.get(keyId(d.key))!;
      const observed = plan.policy.replicas.map((r) =>
        div.replicas[r]?.present ? (div.replicas[r]!.fingerprint ?? null) : null,
      );
      return {
        id: escalationId(scan.name, d.key, d.class, observed),
        dataset: scan.name,
        key: d.key,
        class: d.class,
        reason: d.reason,
        options: d.options,
        detail: {
          observed: Object.fromEntries(plan.policy.replicas.map((r, i) => [r, observed[i]])),
          rule: d.rule,
          policyVersion: d.policyVersion,
          // The key as JSON output shows it (by key-column type): the stored key is text only.
          keyJson: keyToJson(scan.shape.key, d.key),
        },
        status: "open" as const,
        runId: ctx.runId,
        createdAt: at,
      };
    });
  for (const s of scan.schema) {
    escalations.push({
      id: escalationId(scan.name, [], "schema", [s.detail]),
      dataset: scan.name,
      key: [],
      class: "schema",
      reason: s.detail,
      options: [],
      detail: { observed: {}, rule: "schema", policyVersion: plan.policy.version },
      status: "open",
      runId: ctx.runId,
      createdAt: at,
    });
  }
  if (plan.guard) {
    escalations.push({
      // One escalation per distinct trip: the same figures run after run do not pile up.
      id: escalationId(scan.name, [], "guard", [
        String(plan.guard.divergent),
        String(plan.guard.rows),
        String(plan.guard.writes),
      ]),
      dataset: scan.name,
      key: [],
      class: "guard",
      reason: `blast-radius guard: ${plan.guard.reason}; nothing was written`,
      options: [],
      detail: { observed: {}, rule: "policy.limits", policyVersion: plan.policy.version, ...plan.guard },
      status: "open",
      runId: ctx.runId,
      createdAt: at,
    });
  }
  const opened = new Set(await ctx.state.openEscalations(escalations));
  for (const e of escalations) {
    if (!opened.has(e.id)) continue;
    events.push({
      ts: at,
      runId: ctx.runId,
      type: e.class === "guard" ? "guard" : "escalated",
      dataset: scan.name,
      key: e.key.length ? keyId(e.key) : null,
      data: { escalation: e.id, class: e.class, reason: e.reason, options: e.options },
    });
  }
  // Escalations of this dataset that the scan no longer supports are closed: the replicas agree now, or
  // the record changed (and, if still undecidable, was escalated afresh above).
  const current = new Set(escalations.map((e) => e.id));
  const divergent = new Set(scan.divergences.map((d) => keyId(d.key)));
  for (const e of await ctx.state.listEscalations({ status: "open", dataset: scan.name })) {
    if (current.has(e.id) || e.class === "guard") continue;
    // A segment's scan says nothing of keys outside it.
    if (e.key.length && !keyInRange(scan.shape.key, scan.range, e.key)) continue;
    const note =
      e.class === "schema"
        ? "the schemas agree now"
        : divergent.has(keyId(e.key))
          ? "the record changed since it was escalated; the current state is decided afresh"
          : "the replicas agree now";
    try {
      await ctx.state.closeEscalation(e.id, "resolved", { by: "concord", note }, at);
    } catch (err) {
      if (err instanceof EscalationNotOpenError) continue;
      throw err;
    }
    events.push({
      ts: at,
      runId: ctx.runId,
      type: "resolved",
      dataset: scan.name,
      key: e.key.length ? keyId(e.key) : null,
      data: { escalation: e.id, by: "concord", note },
    });
  }
  await ctx.state.appendAudit(events);
  return escalations.length;
}

/** Options for executing a plan. */
export interface RepairOptions extends WriteGuardOptions {
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Executes repair tasks on open replicas with the run's state store and clock, through a fresh write
 * guard (retries, circuit breaker, the dataset's write rate). The one way every command writes.
 */
export function runRepairTasks(
  dataset: string,
  tasks: readonly RepairTask[],
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  ctx: Pick<RunContext, "runId" | "state" | "now">,
  options: RepairOptions & { readonly appliedEvent?: "applied" | "rolled-back" } = {},
): Promise<RepairResult[]> {
  return executeRepairs(dataset, tasks, {
    runId: ctx.runId,
    shape,
    replicas: new Map(replicas.map((r) => [r.name, r.connector])),
    state: ctx.state,
    guard: new WriteGuard(options),
    now: ctx.now,
    signal: options.signal,
    ...(options.appliedEvent ? { appliedEvent: options.appliedEvent } : {}),
  });
}

/** The repair tasks a plan would execute (none when the guard tripped). */
export function repairTasks(plan: DatasetPlan): RepairTask[] {
  if (plan.guard) return [];
  return planRepairTasks(
    plan.scan.name,
    plan.decisions,
    new Map(plan.scan.divergences.map((d) => [keyId(d.key), d])),
  );
}

/** Executes a plan's repairs through conditional writes with verification; ledger and audit record each. */
export async function repairDataset(
  plan: DatasetPlan,
  replicas: readonly OpenReplica[],
  ctx: RunContext,
  options: RepairOptions = {},
): Promise<RepairResult[]> {
  const tasks = repairTasks(plan);
  if (options.dryRun || tasks.length === 0) return [];
  const results = await runRepairTasks(plan.scan.name, tasks, replicas, plan.scan.shape, ctx, {
    ...options,
    writesPerSecond: plan.policy.limits.writesPerSecond,
  });
  if (plan.scan.resolved.rules.versioned) {
    const applied = new Set(results.filter((r) => r.outcome === "applied").map((r) => r.id));
    await ctx.state.rememberVersions(
      plan.scan.name,
      tasks
        .filter((t) => applied.has(t.id) && t.next)
        .map((t) => ({
          key: t.key,
          replica: t.target,
          version: readVersion(plan.scan.resolved.versionPositions, t.next!),
        })),
      { overwrite: true },
    );
  }
  return results;
}

/**
 * Settles repairs an interrupted run left `pending`: re-reads each target and records `applied` when the
 * write landed before the interruption, `failed` otherwise (detection re-plans it; the same repair id
 * then runs again). Keeps ledger and audit consistent with the replicas after a crash or Ctrl-C.
 */
export async function recoverPending(
  dataset: string,
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  ctx: RunContext,
): Promise<RepairResult[]> {
  const pending = (await ctx.state.listRepairs({ dataset, outcome: "pending" })).filter(
    (e) => e.runId !== ctx.runId,
  );
  const results: RepairResult[] = [];
  for (const r of replicas) {
    const mine = pending.filter((e) => e.target === r.name);
    if (mine.length === 0) continue;
    const now = new Map(
      (
        await r.connector.fetchRecords(
          shape,
          mine.map((e) => e.key),
        )
      ).map((rec) => [keyId(rec.key), rec.fingerprint]),
    );
    const settled = mine.map((e) => {
      const landed = (now.get(keyId(e.key)) ?? null) === e.nextFingerprint;
      return {
        ...e,
        outcome: landed ? ("applied" as const) : ("failed" as const),
        updatedAt: ctx.now(),
        ...(landed ? {} : { error: "interrupted before the write; re-planned by detection" }),
      };
    });
    await ctx.state.settleRepairs(
      settled,
      settled.map((e) => ({
        ts: ctx.now(),
        runId: ctx.runId,
        type: e.outcome,
        dataset,
        key: keyId(e.key),
        data: {
          repair: e.id,
          target: e.target,
          recovered: true,
          interruptedRun: e.runId,
          expected: e.expected,
          written: e.nextFingerprint,
        },
      })),
    );
    results.push(
      ...settled.map((e) => ({ id: e.id, key: e.key, target: e.target, outcome: e.outcome, error: e.error })),
    );
  }
  return results;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Re-reads the given keys on every replica now and classifies them (without remembering versions):
 * the fresh view escalation resolution and rollback act on. Keys where the replicas agree are omitted.
 */
export async function observeKeys(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  keys: readonly Key[],
  now: number,
): Promise<{ resolved: ResolvedShape; divergences: Map<string, Divergence> }> {
  const descriptions = new Map<string, TableDescription>();
  for (const r of replicas) descriptions.set(r.name, await r.connector.describe());
  const resolved = resolveShape(ds, descriptions);
  const skeleton: Observation[] = keys.map((key) => ({
    key,
    replicas: Object.fromEntries(replicas.map((r) => [r.name, { present: true }])),
  }));
  const observed = await enrich(resolved.shape, resolved, replicas, skeleton);
  const divergences = new Map<string, Divergence>();
  for (const o of observed) {
    if (!stillDiffers(o)) continue;
    divergences.set(
      keyId(o.key),
      classifyDivergence(o, { shape: resolved.shape, rules: resolved.rules, nowMs: now }),
    );
  }
  return { resolved, divergences };
}

/** Compiles a dataset's policy against a resolved shape (for resolution and rollback paths). */
export function datasetPolicy(ds: DatasetConfig, resolved: ResolvedShape): CompiledPolicy {
  try {
    return compileDatasetPolicy(ds, resolved);
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError(`datasets.${ds.name}.${err.message}`);
    throw err;
  }
}

function compileDatasetPolicy(ds: DatasetConfig, resolved: ResolvedShape): CompiledPolicy {
  return compilePolicy(
    {
      owner: ds.policy.owner,
      resolve: ds.policy.resolve,
      merge: ds.policy.merge,
      tolerance: ds.policy.tolerance,
      windowMs: ds.policy.windowMs,
      escalateAmbiguity: ds.policy.escalateAmbiguity,
      limits: ds.policy.limits,
    },
    resolved.shape,
    ds.replicas.map((r) => r.name),
    resolved.versionPositions,
  );
}
