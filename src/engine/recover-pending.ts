/** The recovery stage: repairs an interrupted run left `pending` are settled by what their targets hold now. */
import { keyId, type RecordShape } from "../core/model.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import type { OpenReplica, RunContext } from "./run-context.js";

/**
 * Settles repairs an interrupted run left `pending`: re-reads each target and records `applied` when the
 * write landed before the interruption, `failed` otherwise (detection re-plans it; the same repair id
 * then runs again). Keeps ledger and audit consistent with the replicas after a crash or Ctrl-C. A run
 * that `resumed` after its process died settles its own earlier pending repairs too.
 */
export async function recoverPending(
  dataset: string,
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  ctx: Pick<RunContext, "runId" | "state" | "now">,
  options: { resumed?: boolean } = {},
): Promise<RepairResult[]> {
  const pending = (await ctx.state.listRepairs({ dataset, outcome: "pending" })).filter(
    (e) => options.resumed || e.runId !== ctx.runId,
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
