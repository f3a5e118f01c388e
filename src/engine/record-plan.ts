/** The record stage: a plan's audit entries and escalations into the state store, stale escalations closed. */
import { keyId } from "../core/model.js";
import {
  type EscalationRecord,
  escalationClosedEvent,
  escalationOpenedEvent,
  planRecord,
  staleEscalations,
} from "../core/plan-record.js";
import { EscalationNotOpenError } from "../state/state-store.js";
import type { DatasetPlan } from "./plan-dataset.js";
import type { RunContext } from "./run-context.js";
import { scanCovers } from "./scan-dataset.js";

/**
 * Records a plan in the audit log (one `detected` and one `decided` entry per divergence), opens an
 * escalation for every escalated decision, every schema issue and a tripped guard, and closes the open
 * escalations of keys the scan covered that it no longer supports. Escalations are idempotent: the same
 * divergence in the same state is not escalated twice. Returns the escalations newly opened (each counts
 * once, whatever later runs find).
 */
export async function recordPlan(
  plan: DatasetPlan,
  ctx: Pick<RunContext, "runId" | "state" | "now">,
): Promise<EscalationRecord[]> {
  const { scan } = plan;
  const at = ctx.now();
  const { events, escalations } = planRecord({
    dataset: scan.name,
    runId: ctx.runId,
    at,
    shape: scan.shape,
    divergences: scan.divergences,
    decisions: plan.decisions,
    schema: scan.schema,
    guard: plan.guard,
    replicas: plan.policy.replicas,
    policyVersion: plan.policy.version,
  });
  const opened = new Set(await ctx.state.openEscalations(escalations));
  const fresh = escalations.filter((e) => opened.has(e.id));
  for (const e of fresh) events.push(escalationOpenedEvent(e, at));
  const stale = staleEscalations(
    await ctx.state.listEscalations({ status: "open", dataset: scan.name }),
    new Set(escalations.map((e) => e.id)),
    new Set(scan.divergences.map((d) => keyId(d.key))),
    (key) => scanCovers(scan, key),
  );
  for (const { escalation, note } of stale) {
    try {
      await ctx.state.closeEscalation(escalation.id, "resolved", { by: "concord", note }, at);
    } catch (err) {
      if (err instanceof EscalationNotOpenError) continue;
      throw err;
    }
    events.push(escalationClosedEvent(escalation, note, ctx.runId, at));
  }
  await ctx.state.appendAudit(events);
  return fresh;
}
