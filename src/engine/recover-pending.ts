/** The recovery stage: repairs that dead runs left `pending` are settled by what their targets hold now. */
import type { DivergenceClass } from "../core/classify.js";
import { keyId, type RecordShape } from "../core/model.js";
import { checkUndoes } from "../core/rollback-of.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import { type RepairedDivergence, repairEvidence } from "../learning/evidence-of-run.js";
import type { LedgerEntry, RepairRef } from "../state/state-store.js";
import type { OpenReplica, RunContext } from "./run-context.js";
import { deadLocalOwner, runLease } from "./run-liveness.js";

/** A run whose heartbeat is older than this is taken for dead (runs beat every 10 s). */
export const STALE_RUN_MS = 60_000;

/** Pending repairs settled per round (each round re-reads its targets once). */
const PAGE = 2000;

/** Options of a recovery. */
export interface RecoverOptions {
  /** The run resumed after its own process died: its own earlier pending repairs are settled too. */
  readonly resumed?: boolean;
  /** How old a heartbeat must be for its run to be taken for dead (default 60 s; the simulator uses 0). */
  readonly staleAfterMs?: number;
}

/**
 * What a recovery did: the repairs it settled, and one warning per pending row whose `undoes` it did not act
 * on (a one-line sentence naming the repair, the repair it names, and why), for the operator: such a row was
 * edited, and `concord audit verify` will fail on it.
 */
export interface Recovery {
  readonly settled: RepairResult[];
  readonly warnings: string[];
}

/**
 * Settles repairs that runs no longer alive left `pending` (a crash, kill -9, Ctrl-C twice): re-reads each
 * target and records `applied` under the run that made the write when it landed (`rolled-back` for a
 * rollback's inverse write, whose claim names the repair it `undoes`, and then the ledger marks that repair
 * `rolled-back` too in the same transaction, as the rollback would have: RepairLedger, "Settling"), `failed`
 * otherwise. A claim's `undoes` is acted on only when it holds (`checkUndoes`, the rule `concord audit
 * verify` applies): a row naming a repair it is not the rollback of (an edited row) is settled as an ordinary
 * repair, its entry naming the `ignoredUndoes`, the row is left as it is for verify to report, and the
 * result's `warnings` say so (detection re-plans it; the same repair id then runs again). A pending repair of
 * a live run — another process working right now — is left to it. Keeps ledger and audit consistent with the
 * replicas.
 * Memory is bounded by one page of pending repairs.
 */
export async function recoverPending(
  dataset: string,
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  ctx: Pick<RunContext, "runId" | "state" | "now">,
  options: RecoverOptions = {},
): Promise<Recovery> {
  const staleBefore = ctx.now() - (options.staleAfterMs ?? STALE_RUN_MS);
  const results: RepairResult[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  // The first reads at once (each its own statement): usually all three are empty and that is the whole
  // recovery. What the pages settle is left out of `listed` below by `seen`.
  const [ownPending, firstPage, listed] = await Promise.all([
    // A resumed run's own process is gone (this one holds the pass now): its pending repairs are abandoned.
    options.resumed ? ctx.state.listRepairs({ dataset, runId: ctx.runId, outcome: "pending" }) : [],
    ctx.state.listAbandonedRepairs(dataset, { staleBefore, limit: PAGE }),
    ctx.state.listRepairs({ dataset, outcome: "pending" }),
  ]);
  let own = ownPending;
  let next: LedgerEntry[] | undefined = firstPage;
  for (;;) {
    const page = [
      ...own,
      ...(next ?? (await ctx.state.listAbandonedRepairs(dataset, { staleBefore, limit: PAGE }))),
    ].filter((e) => !seen.has(e.id));
    own = [];
    next = undefined;
    if (page.length === 0) break;
    for (const e of page) seen.add(e.id);
    results.push(...(await settle(dataset, replicas, shape, ctx, page, warnings)));
  }
  // Runs whose heartbeat is still fresh but whose process on this host is gone (kill -9 a moment ago).
  const pending = listed.filter((e) => !seen.has(e.id) && e.runId !== ctx.runId);
  const dead = new Set<string>();
  for (const run of new Set(pending.map((e) => e.runId))) {
    const lease = await ctx.state.getLease(runLease(run));
    if (lease && deadLocalOwner(lease.owner)) dead.add(run);
  }
  const orphans = pending.filter((e) => dead.has(e.runId));
  if (orphans.length) results.push(...(await settle(dataset, replicas, shape, ctx, orphans, warnings)));
  return { settled: results, warnings };
}

async function settle(
  dataset: string,
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  ctx: Pick<RunContext, "runId" | "state" | "now">,
  pending: readonly LedgerEntry[],
  warnings: string[],
): Promise<RepairResult[]> {
  const results: RepairResult[] = [];
  const ignored = await untrustedUndoes(ctx, pending);
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
    const settled = mine.map((pendingRow) => {
      // A row whose `undoes` does not hold is settled as the repair its write is, and nothing marked undone.
      const { undoes: _, ...repair } = pendingRow;
      const e: LedgerEntry = ignored.has(pendingRow.id) ? repair : pendingRow;
      const landed = (now.get(keyId(e.key)) ?? null) === e.nextFingerprint;
      // A rollback's inverse write that landed is recorded as the rollback records it: `rolled-back`, so that
      // `rollback --run` of the rollback's own run finds nothing applied to undo (as after a completed one).
      const wrote = e.undoes ? ("rolled-back" as const) : ("applied" as const);
      return {
        ...e,
        outcome: landed ? wrote : ("failed" as const),
        updatedAt: ctx.now(),
        ...(landed ? {} : { error: "interrupted before the write; re-planned by detection" }),
      };
    });
    // Settled in the dead run's name (`runId` of the entry): a landed write is the run's that made it.
    const recorded = await ctx.state.settleRepairs(
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
          ...(e.undoes ? { undoes: e.undoes } : {}),
          ...(ignored.has(e.id) ? { ignoredUndoes: ignored.get(e.id)!.undoes } : {}),
          expected: e.expected,
          written: e.nextFingerprint,
          // The images the ledger row holds, so that verification finds an edit of them later.
          before: e.before,
          after: e.after,
        },
      })),
    );
    // Only what took effect: a run that came back and settled its own repair first has the last word.
    const took = new Set(recorded.map((a) => (a.data as { repair?: string }).repair));
    const done = settled.filter((e) => took.has(e.id));
    for (const e of done) {
      const why = ignored.get(e.id);
      if (why) warnings.push(ignoredUndoesWarning(dataset, e, why));
    }
    results.push(
      ...done.map((e) => ({ id: e.id, key: e.key, target: e.target, outcome: e.outcome, error: e.error })),
    );
    // A rollback's inverse writes are no evidence about the replicas (a completed rollback adds none either).
    await addRecoveredEvidence(
      dataset,
      ctx,
      done.filter((e) => !e.undoes),
    );
  }
  return results;
}

/** A pending row's `undoes` that does not hold: the repair it names, and how `checkUndoes` judged it. */
interface IgnoredUndoes {
  readonly undoes: string;
  readonly verdict: Exclude<ReturnType<typeof checkUndoes>, "ok">;
}

/**
 * The pending rows whose `undoes` does not hold (`checkUndoes`: it names a repair the ledger does not hold, or
 * one the row is not the rollback of), by id, with the repair each names. Such a row was edited since its
 * rollback claimed it (a claim's `undoes` is always its own repair), so its `undoes` is not acted on. One read
 * of the named repairs, none when no row names one (a run's own repairs).
 */
async function untrustedUndoes(
  ctx: Pick<RunContext, "state">,
  pending: readonly LedgerEntry[],
): Promise<Map<string, IgnoredUndoes>> {
  const out = new Map<string, IgnoredUndoes>();
  // An inverse write is of its repair's own key: the ledger finds the named repair by that key and the id.
  const named: RepairRef[] = [];
  for (const e of pending) if (e.undoes !== undefined) named.push({ id: e.undoes, key: e.key });
  if (named.length === 0) return out;
  const undone = await ctx.state.getRepairs(named);
  for (const e of pending) {
    if (e.undoes === undefined) continue;
    const verdict = checkUndoes(e, undone.get(e.undoes));
    if (verdict !== "ok") out.set(e.id, { undoes: e.undoes, verdict });
  }
  return out;
}

/** The operator's one line about a pending row whose `undoes` recovery did not act on. */
function ignoredUndoesWarning(dataset: string, e: LedgerEntry, ignored: IgnoredUndoes): string {
  const why =
    ignored.verdict === "unknown"
      ? "the ledger holds no repair of that key by that id"
      : "it is not that repair's rollback";
  return `recovery: pending repair ${e.id} (${dataset} key ${keyId(e.key)} on ${e.target}) says it undoes repair ${ignored.undoes}, but ${why} (the ledger row was edited); settled as an ordinary repair, nothing marked rolled back; concord audit verify reports the row`;
}

/**
 * A recovered repair adds evidence as a fresh one does (`repairEvidence`: the target's repair or failure, the
 * key converged), from the divergence its interrupted run recorded (`detected`: class and columns, its time
 * the decision's). Unplaced (segment -1): recovery does not know the interrupted run's segments. A repair
 * whose `detected` entry is gone (retention) adds nothing.
 */
async function addRecoveredEvidence(
  dataset: string,
  ctx: Pick<RunContext, "state" | "now">,
  settled: readonly LedgerEntry[],
): Promise<void> {
  // The divergence each repair was decided from, found once per interrupted run and key.
  const found = new Map<string, (RepairedDivergence & { at: number }) | null>();
  const byDecision = new Map<number, LedgerEntry[]>();
  for (const e of settled) {
    const id = `${e.runId}\u0000${keyId(e.key)}`;
    if (!found.has(id)) {
      const entry = (await ctx.state.readAudit({ runId: e.runId, key: keyId(e.key) })).findLast(
        (a) => a.type === "detected",
      );
      const data = entry?.data as { class?: DivergenceClass; columns?: string[] } | undefined;
      found.set(
        id,
        entry && data?.class
          ? { key: e.key, class: data.class, columns: data.columns ?? [], at: entry.ts }
          : null,
      );
    }
    const d = found.get(id);
    if (d) byDecision.set(d.at, [...(byDecision.get(d.at) ?? []), e]);
  }
  // One increment per decision time: time to convergence counts from the interrupted run's decision.
  for (const [decidedAt, entries] of byDecision)
    await ctx.state.addEvidence(
      repairEvidence({
        dataset,
        at: ctx.now(),
        results: entries.map((e) => ({
          key: e.key,
          target: e.target,
          outcome: e.outcome === "applied" ? "applied" : "failed",
        })),
        divergenceOf: (key) => {
          const hit = entries.find((e) => keyId(e.key) === keyId(key));
          return hit ? (found.get(`${hit.runId}\u0000${keyId(key)}`) ?? undefined) : undefined;
        },
        placeOf: () => ({ segment: -1, facet: "" }),
        decidedAt,
      }),
    );
}
