/** The record stage: a plan's audit entries and escalations into the state store, stale escalations closed. */

import { type Key, keyId } from "../core/model.js";
import {
  type AuditEvent,
  type EscalationRecord,
  escalationClosedEvent,
  escalationOpenedEvent,
  planRecord,
  staleEscalations,
} from "../core/plan-record.js";
import {
  placeInSegments,
  planEvidence,
  segmentOfKey,
  selfConvergedEvidence,
} from "../learning/evidence-of-run.js";
import {
  EscalationNotOpenError,
  type EvidenceIncrement,
  type StageWrites,
  stageIsEmpty,
} from "../state/state-store.js";
import { OpenEscalations } from "./open-escalations.js";
import type { DatasetPlan } from "./plan-dataset.js";
import type { RunContext } from "./run-context.js";
import { scanCovers } from "./scan-dataset.js";

/** How many decisions' audit entries are appended at once (two entries each). */
const RECORD_BATCH = 1000;

/**
 * Records a plan in the audit log (one `detected` and one `decided` entry per divergence), opens an
 * escalation for every escalated decision, every schema issue and a tripped guard, and closes the open
 * escalations of keys the scan covered that it no longer supports. Escalations are idempotent: the same
 * divergence in the same state is not escalated twice. Returns the escalations newly opened (each counts
 * once, whatever later runs find).
 *
 * It also adds the plan's evidence (learning/evidence-of-run.ts: divergences by class, regressions, what
 * the policy settled and who lost) and counts each escalation closed because its replicas agree again as
 * a divergence that converged by itself. `bounds` are the run's segment cut points, which place each key
 * in its key range (undefined: a run over a list of keys, range unknown).
 *
 * `pending` (the scan's versions and divergences, not yet written) goes first. The writes are sent in as few
 * transactions as keep their order (`recordStage`): with no escalation to open or close, the scan's writes,
 * the plan's entries and its evidence are one; an escalation opened or closed is preceded by everything
 * before it, as when each was written alone, so a crash leaves only states the separate writes could.
 */
export async function recordPlan(
  plan: DatasetPlan,
  ctx: Pick<RunContext, "runId" | "state" | "now" | "escalations">,
  bounds?: readonly Key[],
  pending: StageWrites = {},
): Promise<EscalationRecord[]> {
  const { scan } = plan;
  const at = ctx.now();
  const common = {
    dataset: scan.name,
    runId: ctx.runId,
    at,
    shape: scan.shape,
    replicas: plan.policy.replicas,
    policyVersion: plan.policy.version,
  };
  // The `detected` and `decided` entries are appended a batch of decisions at a time, so a piece's entries
  // (two per divergence, with their JSON and hashes) are never all held at once; the log's order is the
  // same as one append's. A plan decided divergence by divergence pairs them by position.
  const paired = plan.decisions.length === scan.divergences.length;
  const escalations: EscalationRecord[] = [];
  // What is still to write, in order; `flush` writes it (one transaction) before an effect that must follow it.
  let stage: StageWrites = pending;
  const flush = async (): Promise<void> => {
    if (!stageIsEmpty(stage)) await ctx.state.recordStage(stage);
    stage = {};
  };
  for (let i = 0; i < plan.decisions.length; i += RECORD_BATCH) {
    const part = planRecord({
      ...common,
      divergences: paired ? scan.divergences.slice(i, i + RECORD_BATCH) : scan.divergences,
      decisions: plan.decisions.slice(i, i + RECORD_BATCH),
      schema: [],
      guard: undefined,
    });
    escalations.push(...part.escalations);
    // The last batch waits for the evidence; the others are written as they are made (memory bounded).
    if (i > 0) await flush();
    stage = { ...stage, audit: part.events };
  }
  // Schema issues and a guard trip open escalations, not entries of their own.
  escalations.push(
    ...planRecord({ ...common, divergences: [], decisions: [], schema: scan.schema, guard: plan.guard })
      .escalations,
  );
  const events: AuditEvent[] = [];
  const placeOf = placeInSegments(scan.shape, bounds, plan.policy);
  const evidence: EvidenceIncrement[] = planEvidence({
    dataset: scan.name,
    at,
    shape: scan.shape,
    divergences: scan.divergences,
    decisions: plan.decisions,
    placeOf,
  });
  // An escalation is opened after the plan's entries are in the log.
  if (escalations.length) await flush();
  const opened = new Set(await ctx.state.openEscalations(escalations));
  const fresh = escalations.filter((e) => opened.has(e.id));
  // Read a page at a time and kept in part (OpenEscalations), by the run or, without one, for this plan.
  const open = await (ctx.escalations ?? new OpenEscalations(ctx.state, scan.name)).current();
  for (const e of fresh) events.push(escalationOpenedEvent(e, at));
  const divergent = new Set(scan.divergences.map((d) => keyId(d.key)));
  const stale = staleEscalations(open, new Set(escalations.map((e) => e.id)), divergent, (key) =>
    scanCovers(scan, key),
  );
  // After the walk of the open ones (a live view), not before: the plan's own are asked for, so never stale.
  ctx.escalations?.opened(fresh);
  if (stale.length) await flush();
  for (const { escalation, note } of stale) {
    try {
      await ctx.state.closeEscalation(escalation.id, "resolved", { by: "concord", note }, at);
    } catch (err) {
      if (!(err instanceof EscalationNotOpenError)) throw err;
      ctx.escalations?.closed(escalation.id);
      continue;
    }
    ctx.escalations?.closed(escalation.id);
    events.push(escalationClosedEvent({ ...escalation, dataset: scan.name }, note, ctx.runId, at));
    if (escalation.key.length && escalation.class !== "schema" && !divergent.has(keyId(escalation.key)))
      evidence.push(
        ...selfConvergedEvidence({ ...escalation, dataset: scan.name }, at, {
          segment: segmentOfKey(scan.shape, bounds, escalation.key),
          facet: "",
        }),
      );
  }
  // The escalations' entries follow the plan's, then the evidence: one transaction with what is still to write.
  await ctx.state.recordStage({ ...stage, audit: [...(stage.audit ?? []), ...events], evidence });
  return fresh;
}
