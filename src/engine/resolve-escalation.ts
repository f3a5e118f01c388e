/** Resolving escalations, one or all that match a filter: the one path the CLI and the HTTP API share. */
import { createHash } from "node:crypto";
import type { DatasetConfig } from "../config/load-config.js";
import type { Decision } from "../core/decide.js";
import { decidePick } from "../core/decide.js";
import { type Key, keyId, keyToJson } from "../core/model.js";
import type { AuditEvent } from "../core/plan-record.js";
import { planRepairTasks, type RepairResult } from "../execute/execute-repairs.js";
import { personEvidence, selfConvergedEvidence } from "../learning/evidence-of-run.js";
import {
  type Escalation,
  type EscalationFilter,
  EscalationNotOpenError,
  type StateStore,
} from "../state/state-store.js";
import { datasetPolicy } from "./describe-dataset.js";
import { keyJsonOf } from "./escalation-view.js";
import { observeKeys } from "./observe-keys.js";
import { recoverPending, STALE_RUN_MS } from "./recover-pending.js";
import { runRepairTasks } from "./repair-dataset.js";
import type { OpenReplica } from "./run-context.js";
import { holdRunLease, processOwner } from "./run-liveness.js";

/** Why escalations cannot be resolved as asked; `kind` tells callers which answer to give. */
export class ResolveError extends Error {
  override readonly name = "ResolveError";
  constructor(
    readonly kind: "not-found" | "not-open" | "bad-choice" | "unknown-dataset" | "unconfirmed",
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
  /** Set when nothing was written: the replicas moved on, or the choice does not apply to this one. */
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
  /** Who resolved it, as the escalation and the audit log record it (`cli:<user>`, `api`). */
  readonly by: string;
  readonly now?: () => number;
  /** This process as the run's lease owner (`processOwner()` unless given). */
  readonly owner?: string;
  /** Told each warning of the recovery a resolution runs first (`Recovery.warnings`); default: dropped. */
  readonly warn?: ((warning: string) => void) | undefined;
}

/**
 * Runs `work` holding the resolution's `run:<id>` lease: a resolution begins no run record, so the lease is
 * what tells a later recovery whether the process that claimed its repairs is still alive.
 */
async function underRunLease<T>(deps: ResolveDeps, work: () => Promise<T>): Promise<T> {
  const held = await holdRunLease({
    state: deps.state,
    now: deps.now ?? Date.now,
    runId: deps.runId,
    owner: deps.owner ?? processOwner(),
    ttlMs: STALE_RUN_MS,
  });
  try {
    return await work();
  } finally {
    await held.release();
  }
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
  const e = await deps.state.getEscalation(id);
  if (!e) throw new ResolveError("not-found", `no escalation with id ${id}`);
  if (e.status !== "open") throw new ResolveError("not-open", `escalation ${id} is already ${e.status}`);
  if ("pick" in choice && !e.options.includes(choice.pick)) {
    throw new ResolveError(
      "bad-choice",
      `pick ${choice.pick}: not an option for escalation ${id} (options: ${e.options.join(", ") || "none"})`,
    );
  }
  const ds = deps.datasets.find((d) => d.name === e.dataset);
  if (!ds && "pick" in choice)
    throw new ResolveError(
      "unknown-dataset",
      `escalation ${id} belongs to dataset ${e.dataset}, which the config no longer declares`,
    );
  const [out] = await underRunLease(deps, () => resolveBatch(ds, [e], choice, deps));
  return out!;
}

/** How many open escalations match, and a token that stands for exactly that set and choice. */
export interface MatchPreview {
  readonly count: number;
  /** Changes when any escalation enters or leaves the set, or the choice differs. */
  readonly token: string;
  /** The last matching escalation in list order (a bulk resolution stops there). */
  readonly last?: string | undefined;
}

/** How many matching escalations a bulk resolution reads at a time (one observation per replica each). */
const PAGE = 200;

/**
 * Counts the open escalations matching `filter` and hashes their ids with the choice into a confirmation
 * token, reading them a page at a time (memory is bounded by the page).
 */
export async function previewMatching(
  state: Pick<StateStore, "listEscalations">,
  filter: EscalationFilter,
  choice: Resolution,
): Promise<MatchPreview> {
  const hash = createHash("sha256").update(JSON.stringify(choice));
  let count = 0;
  let last: string | undefined;
  for (;;) {
    const page = await state.listEscalations({ ...filter, status: "open", after: last, limit: PAGE });
    for (const e of page) hash.update(`\n${e.id}`);
    count += page.length;
    if (page.length < PAGE) {
      last = page.at(-1)?.id ?? last;
      break;
    }
    last = page.at(-1)!.id;
  }
  return { count, token: hash.digest("hex").slice(0, 16), last };
}

/** What a bulk resolution did, counted. */
export interface BulkSummary {
  readonly matched: number;
  readonly resolved: number;
  readonly rejected: number;
  /** Left open: changed since they were escalated, a write that did not verify, or the pick not an option. */
  readonly open: number;
  /** Repair outcomes (applied, noop, superseded, failed). */
  readonly repairs: Readonly<Record<string, number>>;
}

export interface BulkOptions {
  /**
   * What the operator confirmed: the count or the token `previewMatching` gave. Required: when the set
   * matching now differs, nothing is done and ResolveError("unconfirmed") says how many match now.
   */
  readonly confirm: { readonly count?: number | undefined; readonly token?: string | undefined };
  /** Called with each escalation's outcome, in list order, as its page finishes. */
  readonly onOutcome?: (outcome: ResolveOutcome) => void | Promise<void>;
  /** Stops after the page in flight (what it wrote is in ledger and audit). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Resolves every open escalation matching `filter` with the same choice, a page at a time: one observation
 * of the page's keys per replica, then the same conditional, verified and audited writes as one resolution
 * each (an escalation whose record changed since is left open and written nothing). A pick that is not an
 * option of an escalation (a schema or guard escalation, another dataset's replicas) leaves it open.
 * Confirmation is required (see BulkOptions.confirm); escalations opened after it are not touched.
 */
export async function resolveMatching(
  filter: EscalationFilter,
  choice: Resolution,
  deps: ResolveDeps,
  options: BulkOptions,
): Promise<BulkSummary> {
  const preview = await previewMatching(deps.state, filter, choice);
  const { count, token } = options.confirm;
  if (count === undefined && token === undefined)
    throw new ResolveError("unconfirmed", "a bulk resolution needs a confirmation (the count or token)");
  if ((token !== undefined && token !== preview.token) || (count !== undefined && count !== preview.count)) {
    throw new ResolveError(
      "unconfirmed",
      `${preview.count} open escalation${preview.count === 1 ? "" : "s"} match now, not the ${count ?? "set"} confirmed: list them again and confirm`,
    );
  }
  const summary = { matched: 0, resolved: 0, rejected: 0, open: 0, repairs: {} as Record<string, number> };
  if (!preview.last || preview.count === 0) return summary;
  // The set confirmed ends at its last escalation (list order): one opened since lies after it, even when
  // someone else closed that last one meanwhile.
  const lastAt = (await deps.state.getEscalation(preview.last))?.createdAt ?? Number.NEGATIVE_INFINITY;
  const beyond = (e: Escalation) => e.createdAt > lastAt;
  await underRunLease(deps, async () => {
    let after: string | undefined;
    let done = false;
    while (!done && !options.signal?.aborted) {
      const page = await deps.state.listEscalations({ ...filter, status: "open", after, limit: PAGE });
      if (!page.length) break;
      const last = page.findIndex((e) => e.id === preview.last);
      const stop = last >= 0 ? last + 1 : page.findIndex(beyond);
      const mine = stop >= 0 ? page.slice(0, stop) : page;
      done = stop >= 0 || page.length < PAGE;
      after = page.at(-1)!.id;
      const byDataset = new Map<string, Escalation[]>();
      for (const e of mine) byDataset.set(e.dataset, [...(byDataset.get(e.dataset) ?? []), e]);
      const outcomes = new Map<string, ResolveOutcome>();
      for (const [name, list] of byDataset) {
        const ds = deps.datasets.find((d) => d.name === name);
        for (const o of await resolveBatch(ds, list, choice, deps)) outcomes.set(o.id, o);
      }
      for (const e of mine) {
        const o = outcomes.get(e.id)!;
        summary.matched++;
        summary[o.status]++;
        for (const r of o.repairs) summary.repairs[r.outcome] = (summary.repairs[r.outcome] ?? 0) + 1;
        await options.onOutcome?.(o);
      }
    }
  });
  return summary;
}

/**
 * Resolves open escalations of one dataset (`ds` undefined: the config no longer declares it) with one
 * choice: one observation of their keys, one execution of their writes, then each closed (or left open)
 * and audited on its own. Returns an outcome per escalation, in the order given.
 */
async function resolveBatch(
  ds: DatasetConfig | undefined,
  list: readonly Escalation[],
  choice: Resolution,
  deps: ResolveDeps,
): Promise<ResolveOutcome[]> {
  const now = deps.now ?? Date.now;
  const { state, runId, by } = deps;
  const outcomes = new Map<string, ResolveOutcome>();
  const events: AuditEvent[] = [];
  const keyOf = (e: Escalation) => (e.key.length ? keyId(e.key) : null);
  const base = (e: Escalation) => ({
    id: e.id,
    key: e.key,
    keyJson: keyJsonOf(e.key, e.detail),
    dataset: e.dataset,
    repairs: [] as RepairResult[],
  });
  /** Closes `e` and audits it; someone else closing it first leaves it as they closed it. */
  const close = async (
    e: Escalation,
    status: "resolved" | "rejected",
    resolution: Record<string, unknown>,
    outcome: Omit<ResolveOutcome, "status">,
  ) => {
    const at = now();
    try {
      await state.closeEscalation(e.id, status, { by, ...resolution }, at);
    } catch (err) {
      if (!(err instanceof EscalationNotOpenError)) throw err;
      outcomes.set(e.id, { ...outcome, status: "open", note: `${err.message} (closed meanwhile)` });
      return;
    }
    outcomes.set(e.id, { ...outcome, status });
    events.push({
      ts: at,
      runId,
      type: status,
      dataset: e.dataset,
      key: keyOf(e),
      data: { escalation: e.id, by, ...resolution, ...(e.key.length ? { keyJson: outcome.keyJson } : {}) },
    });
  };

  if ("reject" in choice) {
    for (const e of list) await close(e, "rejected", {}, base(e));
  } else {
    const { pick } = choice;
    const eligible: Escalation[] = [];
    for (const e of list) {
      if (!ds)
        outcomes.set(e.id, {
          ...base(e),
          status: "open",
          note: `the config no longer declares ${e.dataset}`,
        });
      else if (!e.options.includes(pick))
        outcomes.set(e.id, {
          ...base(e),
          status: "open",
          note: `pick ${pick} is not an option for this escalation`,
        });
      else eligible.push(e);
    }
    if (ds && eligible.length) await pickBatch(ds, eligible, pick, deps, outcomes, close, base, now);
  }
  await state.appendAudit(events);
  return list.map((e) => outcomes.get(e.id)!);
}

/** Escalations do not keep the key range they were found in, nor the owning field's value. */
const UNPLACED = { segment: -1, facet: "" } as const;

type Close = (
  e: Escalation,
  status: "resolved" | "rejected",
  resolution: Record<string, unknown>,
  outcome: Omit<ResolveOutcome, "status">,
) => Promise<void>;

/** The pick half of `resolveBatch`: observe, decide the unchanged ones, write, verify, close. */
async function pickBatch(
  ds: DatasetConfig,
  list: readonly Escalation[],
  pick: string,
  deps: ResolveDeps,
  outcomes: Map<string, ResolveOutcome>,
  close: Close,
  base: (e: Escalation) => Omit<ResolveOutcome, "status">,
  now: () => number,
): Promise<void> {
  const replicas = await deps.replicas(ds);
  const keys = new Map(list.map((e) => [keyId(e.key), e.key]));
  const { resolved, divergences } = await observeKeys(ds, replicas, [...keys.values()], now());
  // A resolution (or run) killed mid-write left its claims pending: settled by what the targets hold, so that
  // this one can claim those repairs instead of finding them held by a process that is gone.
  const recovery = await recoverPending(ds.name, replicas, resolved.shape, {
    runId: deps.runId,
    state: deps.state,
    now,
  });
  for (const w of recovery.warnings) deps.warn?.(w);
  const policy = datasetPolicy(ds, resolved);
  const decided = new Map<string, { e: Escalation; decision: Decision }>();
  for (const e of list) {
    const k = keyId(e.key);
    const outcome = { ...base(e), keyJson: keyToJson(resolved.shape.key, e.key) };
    const div = divergences.get(k);
    const observed = (e.detail as { observed?: Record<string, string | null> }).observed ?? {};
    const unchanged =
      div &&
      !decided.has(k) &&
      Object.entries(observed).every(
        ([r, fp]) => (div.replicas[r]?.present ? (div.replicas[r]!.fingerprint ?? null) : null) === fp,
      );
    if (!div) {
      await close(
        e,
        "resolved",
        { pick, note: "the replicas agree now" },
        { ...outcome, note: "the replicas agree now" },
      );
      if (outcomes.get(e.id)?.status === "resolved")
        await deps.state.addEvidence(selfConvergedEvidence(e, now(), UNPLACED));
    } else if (!unchanged)
      outcomes.set(e.id, { ...outcome, status: "open", note: "the record changed since it was escalated" });
    else decided.set(k, { e, decision: decidePick(div, policy, pick) });
  }
  if (!decided.size) return;
  const tasks = planRepairTasks(
    ds.name,
    [...decided.values()].map((d) => d.decision),
    divergences,
  );
  const results = await runRepairTasks(
    ds.name,
    tasks,
    replicas,
    resolved.shape,
    { runId: deps.runId, state: deps.state, now },
    { writesPerSecond: policy.limits.writesPerSecond },
  );
  const byKey = new Map<string, RepairResult[]>();
  for (const r of results) byKey.set(keyId(r.key), [...(byKey.get(keyId(r.key)) ?? []), r]);
  for (const [k, { e }] of decided) {
    const repairs = byKey.get(k) ?? [];
    const outcome = { ...base(e), keyJson: keyToJson(resolved.shape.key, e.key), repairs };
    const ok = repairs.every((r) => r.outcome === "applied" || r.outcome === "noop");
    const summary = repairs.map((r) => ({ id: r.id, target: r.target, outcome: r.outcome }));
    if (ok) {
      await close(e, "resolved", { pick, ok, repairs: summary }, outcome);
      // A person's pick is evidence: the picked replica held the right value, the other options did not.
      if (outcomes.get(e.id)?.status === "resolved")
        await deps.state.addEvidence(
          personEvidence(
            e,
            pick,
            replicas.map((r) => r.name),
            now(),
            UNPLACED,
          ),
        );
    } else {
      outcomes.set(e.id, { ...outcome, status: "open" });
      await deps.state.appendAudit([
        {
          ts: now(),
          runId: deps.runId,
          type: "resolved",
          dataset: ds.name,
          key: k,
          data: { escalation: e.id, by: deps.by, pick, ok: false, repairs: summary },
        },
      ]);
    }
  }
}
