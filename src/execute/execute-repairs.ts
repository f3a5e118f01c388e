/** Carries out write decisions as idempotent conditional writes, verifies them, and records ledger and audit. */

import { redactText } from "../config/redact.js";
import { type Connector, ConnectorError } from "../connectors/connector.js";
import type { CanonicalValue } from "../core/canonical.js";
import type { Divergence } from "../core/classify.js";
import type { Decision } from "../core/decide.js";
import { WRITE_ACTIONS } from "../core/decide.js";
import { type Key, keyId, keyToJson, type RecordShape } from "../core/model.js";
import type { AuditEvent } from "../core/plan-record.js";
import { episodeId, repairId } from "../core/repair-id.js";
import type { LedgerEntry, RepairOutcome, RepairSettlement, StateStore } from "../state/state-store.js";
import { oneLine, writeBatch } from "./write-batch.js";
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
  /** For a rollback's inverse write: the id of the repair it undoes (its claim carries it into the ledger). */
  readonly undoes?: string;
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
  /** For a `superseded` repair another run has pending: that run (it writes the repair, not this one). */
  readonly heldBy?: string;
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

/**
 * Executes tasks, per target in batches: claims each repair id in the ledger for this run (a repair another
 * run has pending is left to it and reported `superseded`, naming that run; one the ledger shows applied is
 * skipped while the target still holds its result, and written again as a new episode when it does not),
 * writes the claimed ones conditionally (retries, circuit breaker and rate limit from the guard; a row the
 * store refuses fails alone: writeBatch), re-reads every written key to verify, then settles each claim with
 * its verified outcome and audit entry. Re-running the same tasks has the effect of running them once, and
 * two runs executing the same tasks at once write each repair once and record it under the run whose write
 * landed.
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

/** A task this run claimed in the ledger, with the attempt the claim counted. */
interface Claimed {
  readonly task: RepairTask;
  readonly attempts: number;
}

/** The ledger entry that claims `t` for this run. */
function pendingEntry(t: RepairTask, target: string, ctx: ExecuteContext): LedgerEntry {
  return {
    id: t.id,
    runId: ctx.runId,
    dataset: t.dataset,
    key: t.key,
    target,
    expected: t.expected,
    nextFingerprint: t.nextFingerprint,
    before: t.before,
    after: t.next,
    outcome: "pending",
    attempts: 1,
    updatedAt: ctx.now(),
    ...(t.undoes ? { undoes: t.undoes } : {}),
  };
}

/** A repair another run has pending: not written here, reported as superseded naming the run that holds it. */
function heldResult(t: RepairTask, target: string, holder: string): RepairResult {
  return {
    id: t.id,
    key: t.key,
    target,
    outcome: "superseded",
    error: `held by run ${holder}, which has this repair pending; not written by this run`,
    heldBy: holder,
  };
}

/**
 * Claims new episodes (`id~2`, `id~3`, …) of repairs whose earlier episodes were applied but whose divergence
 * came back: for each task, the first episode not applied, claimed for this run (or held by another run).
 */
async function claimEpisodes(
  tasks: readonly RepairTask[],
  target: string,
  ctx: ExecuteContext,
  done: RepairResult[],
): Promise<Claimed[]> {
  const claimed: Claimed[] = [];
  let left: RepairTask[] = [...tasks];
  for (let n = 2; left.length > 0; n++) {
    const episodes = left.map((t) => ({ ...t, id: episodeId(t.id, n) }));
    const claims = await ctx.state.claimRepairs(episodes.map((t) => pendingEntry(t, target, ctx)));
    left = [];
    episodes.forEach((t, i) => {
      const c = claims.get(t.id)!;
      if (c.kind === "claimed") claimed.push({ task: t, attempts: c.entry.attempts });
      else if (c.kind === "held") done.push(heldResult(t, target, c.entry.runId));
      else left.push(tasks[i]!);
    });
  }
  return claimed;
}

async function executeBatch(
  dataset: string,
  target: string,
  connector: Connector | undefined,
  batch: readonly RepairTask[],
  ctx: ExecuteContext,
): Promise<RepairResult[]> {
  // Claim first: a crash after this point leaves a trace (recovery settles it by what the target holds), and
  // a repair another run is carrying out is left to it.
  const claims = await ctx.state.claimRepairs(batch.map((t) => pendingEntry(t, target, ctx)));
  const done: RepairResult[] = [];
  const todo: Claimed[] = [];
  const carriedOut: RepairTask[] = [];
  for (const t of batch) {
    const c = claims.get(t.id)!;
    if (c.kind === "claimed") todo.push({ task: t, attempts: c.entry.attempts });
    else if (c.kind === "held") done.push(heldResult(t, target, c.entry.runId));
    else carriedOut.push(t);
  }
  // The ledger alone is not enough: a target put back to the state observed before the repair diverges again
  // the same way, with the same repair id, and would never be repaired again. Such tasks are written again
  // (conditionally, as always), as a new episode of the repair under its own id, so the ledger still shows
  // every repair id applied at most once; the rest are left alone.
  if (carriedOut.length) {
    const holds = await currentFingerprints(connector, ctx.shape, carriedOut);
    const again: RepairTask[] = [];
    for (const t of carriedOut) {
      if (!holds || (holds.get(keyId(t.key)) ?? null) === t.nextFingerprint)
        done.push({ id: t.id, key: t.key, target, outcome: "noop", earlier: true });
      else again.push(t);
    }
    todo.push(...(await claimEpisodes(again, target, ctx, done)));
  }
  if (todo.length === 0) return done;

  const errors = new Map<string, string>();
  // A target that stopped answering may or may not have committed the batch: writeAndVerify throws, its
  // entries stay pending (the next run settles them) and the run stops here, naming the replica.
  const outcomes = await writeAndVerify(target, connector, todo, ctx, errors);

  const at = ctx.now();
  // The outcome and its audit entry in one transaction; only the outcome is rewritten, not the images. The
  // ledger records it only while the claim is this run's (or, for a write that landed, unless another landed
  // write is recorded): a claim recovered while this run was suspended is not overwritten with a guess.
  // Loops, not callbacks made per batch: V8 recompiles such a callback after every full GC (docs/benchmarks.md,
  // "Callbacks recompiled per batch").
  const columns = ctx.shape.columns.map((c) => c.name);
  const settlements: RepairSettlement[] = [];
  const events: AuditEvent[] = [];
  const results = done;
  for (let i = 0; i < todo.length; i++) {
    const { task: t, attempts } = todo[i]!;
    const outcome = outcomes[i]!;
    const error = errors.get(t.id);
    settlements.push({ id: t.id, key: t.key, runId: ctx.runId, outcome, attempts, error, updatedAt: at });
    events.push({
      ts: at,
      runId: ctx.runId,
      type: outcome,
      dataset,
      key: keyId(t.key),
      // The members in sorted order: canonicalJson encodes such an object without copying it.
      data: {
        action: t.action,
        after: t.next,
        before: t.before,
        // The names of the before/after images' positions.
        columns,
        ...(errors.has(t.id) ? { error } : {}),
        expected: t.expected,
        // The key typed as JSON output shows it.
        keyJson: keyToJson(ctx.shape.key, t.key),
        repair: t.id,
        target,
        // A rollback's write names the repair it undoes, so that verify finds that fact of its row edited.
        ...(t.undoes ? { undoes: t.undoes } : {}),
        written: t.nextFingerprint,
      },
    });
  }
  await ctx.state.settleRepairs(settlements, events);
  for (let i = 0; i < todo.length; i++) {
    const t = todo[i]!.task;
    results.push({ id: t.id, key: t.key, target, outcome: outcomes[i]!, error: errors.get(t.id) });
  }
  return results;
}

/**
 * Writes the claimed tasks to the target (one failing row fails only itself: writeBatch), re-reads every key
 * written to verify it, and returns each task's outcome; errors go to `errors` by repair id.
 */
/** A replica that missed its deadline: whether the write landed is unknown, so nothing is settled. */
function timedOut(err: unknown): boolean {
  return err instanceof ConnectorError && err.timedOut === true;
}

/**
 * `message` naming the replica once: connectors' own errors already start with its label (`replica:`, or
 * `dataset.replica:` as the CLI and serve open them).
 */
function onReplica(target: string, text: string): string {
  // Kept in the ledger and the audit and printed: a driver's message may quote a configured secret.
  const message = redactText(text);
  const head = message.slice(0, message.indexOf(": "));
  return head === target || head.endsWith(`.${target}`) ? message : `${target}: ${message}`;
}

async function writeAndVerify(
  target: string,
  connector: Connector | undefined,
  todo: readonly Claimed[],
  ctx: ExecuteContext,
  errors: Map<string, string>,
): Promise<Exclude<RepairOutcome, "pending">[]> {
  const tasks = todo.map((c) => c.task);
  if (!connector) {
    for (const t of tasks) errors.set(t.id, `${target}: replica ${target} is not open`);
    return tasks.map(() => "failed");
  }
  const written = await writeBatch(
    ctx.guard,
    target,
    connector,
    ctx.shape,
    tasks.map((t) => ({ key: t.key, expected: t.expected, next: t.next })),
  );
  const check = tasks.filter((_, i) => {
    const w = written[i]!;
    return "outcome" in w && w.outcome !== "superseded";
  });
  let now: Map<string, string>;
  try {
    const after = check.length
      ? await connector.fetchRecords(
          ctx.shape,
          check.map((t) => t.key),
        )
      : [];
    now = new Map(after.map((r) => [keyId(r.key), r.fingerprint]));
  } catch (err) {
    if (timedOut(err)) throw err;
    // Written but not verified: failed, with the reason; the next run finds what the target holds.
    const why = `${target}: verification failed: ${oneLine(err)}`;
    return tasks.map((t, i) => {
      const w = written[i]!;
      if ("outcome" in w && w.outcome === "superseded") return "superseded";
      errors.set(t.id, "error" in w ? onReplica(target, w.error) : why);
      return "failed";
    });
  }
  return tasks.map((t, i) => {
    const w = written[i]!;
    if ("error" in w) {
      errors.set(t.id, onReplica(target, w.error));
      return "failed";
    }
    if (w.outcome === "superseded") return "superseded";
    const fp = now.get(keyId(t.key)) ?? null;
    if (fp !== t.nextFingerprint && fp !== t.expected) {
      // Neither what was written nor what it replaced: another writer (or a trigger) changed the record after
      // this conditional write landed. Nothing was overwritten; the next run compares the record as it is.
      errors.set(
        t.id,
        `${target} changed after the repair landed: it holds ${fp ?? "no record"}, not the ${t.nextFingerprint ?? "absence"} written (another writer or a trigger); compared again next run`,
      );
      return "superseded";
    }
    if (fp !== t.nextFingerprint) {
      errors.set(
        t.id,
        `verification failed: ${target} holds ${fp ?? "no record"}, expected ${t.nextFingerprint ?? "no record"}`,
      );
      return "failed";
    }
    return w.outcome === "noop" ? "noop" : ctx.appliedEvent === "rolled-back" ? "rolled-back" : "applied";
  });
}
