/** Carries out write decisions as idempotent conditional writes, verifies them, and records ledger and audit. */

import { type Connector, ConnectorError, type WriteOutcome } from "../connectors/connector.js";
import type { CanonicalValue } from "../core/canonical.js";
import type { Divergence } from "../core/classify.js";
import type { Decision } from "../core/decide.js";
import { WRITE_ACTIONS } from "../core/decide.js";
import { type Key, keyId, type RecordShape } from "../core/model.js";
import { repairId } from "../core/repair-id.js";
import type { LedgerEntry, RepairOutcome, StateStore } from "../state/state-store.js";
import type { WriteGuard } from "./write-guard.js";

/** One write to one replica that carries out (part of) a decision. */
export interface RepairTask {
  readonly id: string;
  readonly dataset: string;
  readonly key: Key;
  readonly target: string;
  /** Fingerprint the target held when observed (null: absent). The write applies only if it still does. */
  readonly expected: string | null;
  /** Values to write, or null to delete. */
  readonly next: readonly CanonicalValue[] | null;
  readonly nextFingerprint: string | null;
  /** The target's values when observed (the before image), null when absent. */
  readonly before: readonly CanonicalValue[] | null;
  readonly action: Decision["action"];
}

/** The verified result of one repair. */
export interface RepairResult {
  readonly id: string;
  readonly key: Key;
  readonly target: string;
  readonly outcome: Exclude<RepairOutcome, "pending">;
  readonly error?: string | undefined;
  /**
   * True when the ledger showed it carried out by an earlier run and the target still holds its result
   * (nothing was written now).
   */
  readonly earlier?: boolean;
}

/** The repair tasks of a dataset's write decisions, one per (decision, target). */
export function planRepairTasks(
  dataset: string,
  decisions: readonly Decision[],
  divergences: ReadonlyMap<string, Divergence>,
): RepairTask[] {
  const tasks: RepairTask[] = [];
  for (const d of decisions) {
    if (!WRITE_ACTIONS.has(d.action)) continue;
    const div = divergences.get(keyId(d.key));
    for (const target of d.targets) {
      const expected = d.expected[target] ?? null;
      const next = d.record ?? null;
      const nextFingerprint = d.recordFingerprint ?? null;
      const obs = div?.replicas[target];
      tasks.push({
        id: repairId(dataset, d.key, target, expected, nextFingerprint),
        dataset,
        key: d.key,
        target,
        expected,
        next,
        nextFingerprint,
        before: obs?.present ? (obs.values ?? null) : null,
        action: d.action,
      });
    }
  }
  return tasks;
}

export interface ExecuteContext {
  readonly runId: string;
  readonly shape: RecordShape;
  readonly replicas: ReadonlyMap<string, Connector>;
  readonly state: StateStore;
  readonly guard: WriteGuard;
  readonly now: () => number;
  /**
   * Writes per batch (default 2,000, or about a second's worth under a rate limit): one ledger transaction,
   * one conditional write and one verifying read per batch. Ctrl-C waits for the batch in flight.
   */
  readonly batchSize?: number;
  /** Stops between batches when aborted (Ctrl-C): work done so far stays recorded, the rest waits. */
  readonly signal?: AbortSignal | undefined;
  /** Audit event type for successful writes ("applied", or "rolled-back" for rollbacks). */
  readonly appliedEvent?: "applied" | "rolled-back";
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}

/**
 * Executes tasks: skips those the ledger shows already carried out (when the target still holds their
 * result; one that went back to the observed state is written again), marks the rest pending, writes them
 * conditionally per target in batches (retries, circuit breaker and rate limit from the guard), re-reads
 * every written key to verify, then records the verified outcome in the ledger and the audit log.
 * Re-running the same tasks has the effect of running them once.
 */
export async function executeRepairs(
  dataset: string,
  tasks: readonly RepairTask[],
  ctx: ExecuteContext,
): Promise<RepairResult[]> {
  const results: RepairResult[] = [];
  const batchSize = ctx.batchSize ?? ctx.guard.batchLimit(2000);
  const byTarget = new Map<string, RepairTask[]>();
  for (const t of tasks) {
    const list = byTarget.get(t.target) ?? [];
    list.push(t);
    byTarget.set(t.target, list);
  }
  for (const [target, list] of byTarget) {
    const connector = ctx.replicas.get(target);
    for (let i = 0; i < list.length; i += batchSize) {
      if (ctx.signal?.aborted) return results;
      const batch = list.slice(i, i + batchSize);
      results.push(...(await executeBatch(dataset, target, connector, batch, ctx)));
    }
  }
  return results;
}

/** Fingerprints the target holds now for the tasks' keys; undefined when it cannot say (then the ledger is trusted). */
async function currentFingerprints(
  connector: Connector | undefined,
  shape: RecordShape,
  tasks: readonly RepairTask[],
): Promise<Map<string, string> | undefined> {
  if (!connector || tasks.length === 0) return undefined;
  try {
    const records = await connector.fetchRecords(
      shape,
      tasks.map((t) => t.key),
    );
    return new Map(records.map((r) => [keyId(r.key), r.fingerprint]));
  } catch {
    return undefined;
  }
}

/** The first `id~n` (n ≥ 2) the ledger does not show carried out. */
async function nextEpisodeId(state: StateStore, id: string): Promise<string> {
  for (let n = 2; ; n++) {
    const candidate = `${id}~${n}`;
    const prior = (await state.getRepairs([candidate])).get(candidate)?.outcome;
    if (prior !== "applied" && prior !== "noop") return candidate;
  }
}

async function executeBatch(
  dataset: string,
  target: string,
  connector: Connector | undefined,
  batch: readonly RepairTask[],
  ctx: ExecuteContext,
): Promise<RepairResult[]> {
  const ledger = await ctx.state.getRepairs(batch.map((t) => t.id));
  const carriedOut = batch.filter((t) => {
    const prior = ledger.get(t.id)?.outcome;
    return prior === "applied" || prior === "noop";
  });
  // The ledger alone is not enough: a target put back to the state observed before the repair diverges again
  // the same way, with the same repair id, and would never be repaired again. Such tasks are written again
  // (conditionally, as always); the rest are left alone.
  const holds = await currentFingerprints(connector, ctx.shape, carriedOut);
  const done: RepairResult[] = [];
  const todo: RepairTask[] = [];
  for (const t of batch) {
    if (!carriedOut.includes(t)) todo.push(t);
    else if (!holds || (holds.get(keyId(t.key)) ?? null) === t.nextFingerprint) {
      done.push({ id: t.id, key: t.key, target, outcome: "noop", earlier: true });
    } else {
      // The same divergence came back: a new episode of the repair, under its own id (`id~2`, `id~3`, …), so
      // the ledger still shows every repair id applied at most once.
      todo.push({ ...t, id: await nextEpisodeId(ctx.state, t.id) });
    }
  }
  if (todo.length === 0) return done;
  const episodes = todo.filter((t) => !ledger.has(t.id) && t.id.includes("~"));
  if (episodes.length)
    for (const [id, e] of await ctx.state.getRepairs(episodes.map((t) => t.id))) ledger.set(id, e);

  const pending = (t: RepairTask): LedgerEntry => ({
    id: t.id,
    runId: ctx.runId,
    dataset,
    key: t.key,
    target,
    expected: t.expected,
    nextFingerprint: t.nextFingerprint,
    before: t.before,
    after: t.next,
    outcome: "pending",
    attempts: (ledger.get(t.id)?.attempts ?? 0) + 1,
    updatedAt: ctx.now(),
  });
  // Pending first: a crash after this point leaves a trace, and the next run's conditional write finds
  // the record either still as expected (and writes) or already as intended (noop).
  await ctx.state.recordRepairs(todo.map(pending));

  let outcomes: Exclude<RepairOutcome, "pending">[];
  const errors = new Map<string, string>();
  try {
    if (!connector) throw new Error(`replica ${target} is not open`);
    const written: WriteOutcome[] = await ctx.guard.run(target, todo.length, () =>
      connector.applyWrites(
        ctx.shape,
        todo.map((t) => ({ key: t.key, expected: t.expected, next: t.next })),
      ),
    );
    const check = todo.filter((_, i) => written[i] !== "superseded");
    const after = check.length
      ? await connector.fetchRecords(
          ctx.shape,
          check.map((t) => t.key),
        )
      : [];
    const now = new Map(after.map((r) => [keyId(r.key), r.fingerprint]));
    outcomes = todo.map((t, i) => {
      const w = written[i]!;
      if (w === "superseded") return "superseded";
      const fp = now.get(keyId(t.key)) ?? null;
      if (fp !== t.nextFingerprint) {
        errors.set(
          t.id,
          `verification failed: ${target} holds ${fp ?? "no record"}, expected ${t.nextFingerprint ?? "no record"}`,
        );
        return "failed";
      }
      return w === "noop" ? "noop" : ctx.appliedEvent === "rolled-back" ? "rolled-back" : "applied";
    });
  } catch (err) {
    // A target that stopped answering may or may not have committed the batch: its entries stay pending
    // (the next run settles them) and the run stops here, naming the replica.
    if (err instanceof ConnectorError && err.timedOut) throw err;
    const why = `${target}: ${message(err)}`;
    for (const t of todo) errors.set(t.id, why);
    outcomes = todo.map(() => "failed");
  }

  const at = ctx.now();
  // The outcome and its audit entry in one transaction; only the outcome is rewritten, not the images.
  await ctx.state.settleRepairs(
    todo.map((t, i) => ({
      id: t.id,
      runId: ctx.runId,
      outcome: outcomes[i]!,
      attempts: (ledger.get(t.id)?.attempts ?? 0) + 1,
      error: errors.get(t.id),
      updatedAt: at,
    })),
    todo.map((t, i) => ({
      ts: at,
      runId: ctx.runId,
      type: outcomes[i]!,
      dataset,
      key: keyId(t.key),
      data: {
        repair: t.id,
        target,
        action: t.action,
        expected: t.expected,
        written: t.nextFingerprint,
        before: t.before,
        after: t.next,
        ...(errors.has(t.id) ? { error: errors.get(t.id) } : {}),
      },
    })),
  );
  return [
    ...done,
    ...todo.map((t, i) => ({ id: t.id, key: t.key, target, outcome: outcomes[i]!, error: errors.get(t.id) })),
  ];
}
