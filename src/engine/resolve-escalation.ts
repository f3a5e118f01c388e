/** Resolving an escalation: the one path the CLI and the HTTP API share. */
import type { DatasetConfig } from "../config/load-config.js";
import { decidePick } from "../core/decide.js";
import { type Key, keyId, keyToJson } from "../core/model.js";
import { planRepairTasks, type RepairResult } from "../execute/execute-repairs.js";
import type { StateStore } from "../state/state-store.js";
import { datasetPolicy } from "./describe-dataset.js";
import { keyJsonOf } from "./escalation-view.js";
import { observeKeys } from "./observe-keys.js";
import { runRepairTasks } from "./repair-dataset.js";
import type { OpenReplica } from "./run-context.js";

/** Why an escalation cannot be resolved as asked; `kind` tells callers which answer to give. */
export class ResolveError extends Error {
  override readonly name = "ResolveError";
  constructor(
    readonly kind: "not-found" | "not-open" | "bad-choice" | "unknown-dataset",
    message: string,
  ) {
    super(message);
  }
}

/** What the operator chose: a replica whose state wins, or to close the escalation without writing. */
export type Resolution = { readonly pick: string } | { readonly reject: true };

export interface ResolveOutcome {
  readonly id: string;
  /** "open" when nothing could be done now (the record changed since; the next run re-evaluates it). */
  readonly status: "resolved" | "rejected" | "open";
  /** Set when nothing was written because the replicas moved on. */
  readonly note?: string;
  readonly key: Key;
  /** The key as JSON output shows it (typed by the key columns). */
  readonly keyJson: readonly unknown[];
  readonly dataset: string;
  readonly repairs: readonly RepairResult[];
}

export interface ResolveDeps {
  readonly datasets: readonly DatasetConfig[];
  readonly state: StateStore;
  readonly replicas: (ds: DatasetConfig) => Promise<readonly OpenReplica[]>;
  readonly runId: string;
  /** Who resolved it, as the audit log records it ("cli", "api"). */
  readonly by: string;
  readonly now?: () => number;
}

/**
 * Resolves an open escalation. A rejection closes it without writing. A pick makes that replica's state
 * win, through the same conditional path as any repair, but only if every replica still holds what was
 * escalated; otherwise nothing is written (and an escalation whose replicas now agree is closed).
 * Audited either way.
 */
export async function resolveEscalation(
  id: string,
  choice: Resolution,
  deps: ResolveDeps,
): Promise<ResolveOutcome> {
  const now = deps.now ?? Date.now;
  const { state, runId, by } = deps;
  const e = await state.getEscalation(id);
  if (!e) throw new ResolveError("not-found", `no escalation with id ${id}`);
  if (e.status !== "open") throw new ResolveError("not-open", `escalation ${id} is already ${e.status}`);
  const at = now();
  const key = e.key.length ? keyId(e.key) : null;
  const keyJson = keyJsonOf(e.key, e.detail);
  if ("reject" in choice) {
    await state.closeEscalation(id, "rejected", { by }, at);
    await state.appendAudit([
      { ts: at, runId, type: "rejected", dataset: e.dataset, key, data: { escalation: id, by } },
    ]);
    return { id, status: "rejected", key: e.key, keyJson, dataset: e.dataset, repairs: [] };
  }
  const { pick } = choice;
  if (!e.options.includes(pick)) {
    throw new ResolveError(
      "bad-choice",
      `pick ${pick}: not an option for escalation ${id} (options: ${e.options.join(", ") || "none"})`,
    );
  }
  const ds = deps.datasets.find((d) => d.name === e.dataset);
  if (!ds)
    throw new ResolveError(
      "unknown-dataset",
      `escalation ${id} belongs to dataset ${e.dataset}, which the config no longer declares`,
    );
  const replicas = await deps.replicas(ds);
  const { resolved, divergences } = await observeKeys(ds, replicas, [e.key], at);
  const div = divergences.get(keyId(e.key));
  const observed = (e.detail as { observed?: Record<string, string | null> }).observed ?? {};
  const unchanged =
    div &&
    Object.entries(observed).every(
      ([r, fp]) => (div.replicas[r]?.present ? (div.replicas[r]!.fingerprint ?? null) : null) === fp,
    );
  if (!div || !unchanged) {
    const note = div ? "the record changed since it was escalated" : "the replicas agree now";
    if (!div) await state.closeEscalation(id, "resolved", { by, pick, note }, at);
    return {
      id,
      status: div ? "open" : "resolved",
      note,
      key: e.key,
      keyJson,
      dataset: e.dataset,
      repairs: [],
    };
  }
  const policy = datasetPolicy(ds, resolved);
  const decision = decidePick(div, policy, pick);
  const tasks = planRepairTasks(ds.name, [decision], divergences);
  const repairs = await runRepairTasks(
    ds.name,
    tasks,
    replicas,
    resolved.shape,
    { runId, state, now },
    { writesPerSecond: policy.limits.writesPerSecond },
  );
  const ok = repairs.every((r) => r.outcome === "applied" || r.outcome === "noop");
  if (ok) await state.closeEscalation(id, "resolved", { by, pick, repairs: repairs.map((r) => r.id) }, now());
  await state.appendAudit([
    {
      ts: now(),
      runId,
      type: "resolved",
      dataset: ds.name,
      key: keyId(e.key),
      data: {
        escalation: id,
        by,
        pick,
        ok,
        repairs: repairs.map((r) => ({ id: r.id, target: r.target, outcome: r.outcome })),
      },
    },
  ]);
  return {
    id,
    status: ok ? "resolved" : "open",
    key: e.key,
    keyJson: keyToJson(resolved.shape.key, e.key),
    dataset: ds.name,
    repairs,
  };
}
