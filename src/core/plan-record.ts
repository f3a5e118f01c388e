/** What recording a plan means, decided without I/O: its audit events, its escalations, the ones it closes. */
import type { AuditEntryContent } from "./audit-chain.js";
import type { Divergence } from "./classify.js";
import { type Decision, decisionSummary } from "./decide.js";
import { type Key, keyId, keyToJson, type RecordShape } from "./model.js";
import { escalationId } from "./repair-id.js";

/** An audit event before the log gives it a sequence number and a hash. */
export type AuditEvent = Omit<AuditEntryContent, "seq">;

/** Why a run writes nothing although it has decisions: the blast-radius guard tripped. */
export interface GuardTrip {
  readonly reason: string;
  readonly divergent: number;
  readonly rows: number;
  readonly writes: number;
}

/** A divergence that policy does not let Concord repair alone, as the escalation queue keeps it. */
export interface EscalationRecord {
  /** Stable for the same divergence in the same state, so running again does not escalate it twice. */
  id: string;
  dataset: string;
  key: Key;
  class: string;
  reason: string;
  options: readonly string[];
  detail: unknown;
  status: "open" | "resolved" | "rejected";
  runId: string;
  createdAt: number;
  resolvedAt?: number;
  resolution?: unknown;
  /** Compared columns whose values differ among the replicas holding the record (see `escalationFacets`). */
  columns?: readonly string[];
  /** Replicas lacking the record. */
  absent?: readonly string[];
  /** Replicas the divergence concerns: lacking the record, or holding a value another replica does not. */
  involved?: readonly string[];
}

/**
 * What the escalation queue filters and groups by, from one divergence's observations (replica →
 * fingerprint, null when absent) and its differing columns, in `replicas` order: the replicas lacking the
 * record, and those the divergence concerns. A replica is concerned when it lacks the record, or holds a
 * value that fewer replicas hold than some other value (so of a, c agreeing against b, only b; of two
 * replicas that differ, both).
 */
export function escalationFacets(
  replicas: readonly string[],
  observed: Readonly<Record<string, string | null>>,
  columns: readonly string[],
): { columns: readonly string[]; absent: readonly string[]; involved: readonly string[] } {
  const holders = new Map<string, number>();
  for (const r of replicas) {
    const fp = observed[r] ?? null;
    if (fp !== null) holders.set(fp, (holders.get(fp) ?? 0) + 1);
  }
  const most = Math.max(0, ...holders.values());
  // Two values held equally often: neither side is the odd one, so both are concerned.
  const tied = [...holders.values()].filter((n) => n === most).length > 1;
  const absent = replicas.filter((r) => (observed[r] ?? null) === null);
  const involved = replicas.filter((r) => {
    const fp = observed[r] ?? null;
    return fp === null || tied || holders.get(fp)! < most;
  });
  return { columns: [...columns], absent, involved };
}

/** The parts of a decided scan that its record depends on. */
export interface PlanRecordInput {
  readonly dataset: string;
  readonly runId: string;
  /** When the plan is recorded (every event and escalation carries it). */
  readonly at: number;
  readonly shape: RecordShape;
  readonly divergences: readonly Divergence[];
  readonly decisions: readonly Decision[];
  readonly schema: readonly { readonly detail: string; readonly column?: string }[];
  readonly guard?: GuardTrip | undefined;
  /** The policy's replicas in config order (escalation ids list observations in this order). */
  readonly replicas: readonly string[];
  readonly policyVersion: string;
}

/**
 * The audit events of a plan (one `detected` and one `decided` per decision, in decision order) and the
 * escalations it asks for: every escalated decision, every schema issue and a tripped guard, each with an id
 * that is the same whenever the same divergence is seen in the same state.
 */
export function planRecord(input: PlanRecordInput): {
  events: AuditEvent[];
  escalations: EscalationRecord[];
} {
  const { dataset, runId, at } = input;
  const byKey = new Map(input.divergences.map((d) => [keyId(d.key), d]));
  const events: AuditEvent[] = [];
  const escalations: EscalationRecord[] = [];
  for (const d of input.decisions) {
    const key = keyId(d.key);
    const div = byKey.get(key);
    if (!div) throw new Error(`decision for key ${key} has no divergence`);
    const observed = Object.fromEntries(
      Object.entries(div.replicas).map(([r, o]) => [r, o.present ? (o.fingerprint ?? null) : null]),
    );
    events.push({
      ts: at,
      runId,
      type: "detected",
      dataset,
      key,
      // The members in sorted order: canonicalJson encodes such an object without copying it.
      data: { class: d.class, columns: div.columns, keyJson: keyToJson(input.shape.key, d.key), observed },
    });
    events.push({ ts: at, runId, type: "decided", dataset, key, data: decisionSummary(d) });
    if (d.action !== "escalate") continue;
    const inOrder = input.replicas.map((r) =>
      div.replicas[r]?.present ? (div.replicas[r]!.fingerprint ?? null) : null,
    );
    const observedInOrder = Object.fromEntries(input.replicas.map((r, i) => [r, inOrder[i] ?? null]));
    escalations.push({
      id: escalationId(dataset, d.key, d.class, inOrder),
      dataset,
      key: d.key,
      class: d.class,
      reason: d.reason,
      options: d.options,
      detail: {
        observed: observedInOrder,
        rule: d.rule,
        policyVersion: d.policyVersion,
        // The key as JSON output shows it (by key-column type): the stored key is text only.
        keyJson: keyToJson(input.shape.key, d.key),
      },
      status: "open",
      runId,
      createdAt: at,
      ...escalationFacets(input.replicas, observedInOrder, div.columns),
    });
  }
  for (const s of input.schema) {
    escalations.push({
      id: escalationId(dataset, [], "schema", [s.detail]),
      dataset,
      key: [],
      class: "schema",
      reason: s.detail,
      options: [],
      detail: { observed: {}, rule: "schema", policyVersion: input.policyVersion },
      status: "open",
      runId,
      createdAt: at,
      columns: s.column === undefined ? [] : [s.column],
      absent: [],
      involved: [],
    });
  }
  const guard = input.guard;
  if (guard) {
    escalations.push({
      // One escalation per distinct trip: the same figures run after run do not pile up.
      id: escalationId(dataset, [], "guard", [
        String(guard.divergent),
        String(guard.rows),
        String(guard.writes),
      ]),
      dataset,
      key: [],
      class: "guard",
      reason: `blast-radius guard: ${guard.reason}; nothing was written`,
      options: [],
      detail: { observed: {}, rule: "policy.limits", policyVersion: input.policyVersion, ...guard },
      status: "open",
      runId,
      createdAt: at,
      columns: [],
      absent: [],
      involved: [],
    });
  }
  return { events, escalations };
}

/** The audit event of an escalation the store actually opened (`guard` for a guard trip, else `escalated`). */
export function escalationOpenedEvent(e: EscalationRecord, at: number): AuditEvent {
  return {
    ts: at,
    runId: e.runId,
    type: e.class === "guard" ? "guard" : "escalated",
    dataset: e.dataset,
    key: e.key.length ? keyId(e.key) : null,
    data: { escalation: e.id, class: e.class, reason: e.reason, options: e.options },
  };
}

/**
 * What a run keeps of an open escalation to tell whether its scan still supports it and to record its
 * closing: not its reason, options or observations (a dataset's open escalations can number millions).
 */
export type OpenEscalation = Pick<EscalationRecord, "id" | "key" | "class" | "createdAt" | "columns">;

/** The part of `e` a run keeps while it is open (no reference to the rest of the record). */
export function openEscalation(e: OpenEscalation): OpenEscalation {
  // The key copied to its own length: a key built by pushing its parts carries spare capacity (17 slots).
  const key = e.key.slice();
  return e.columns === undefined
    ? { id: e.id, key, class: e.class, createdAt: e.createdAt }
    : { id: e.id, key, class: e.class, createdAt: e.createdAt, columns: e.columns };
}

/**
 * Which open escalations a scan no longer supports, and why: those not asked for again whose key the scan
 * covered (`covers`; keyless ones — schema — always), except guard trips, which a person closes. A key that
 * still diverges changed since it was escalated (and, if still undecidable, was escalated afresh).
 */
export function staleEscalations(
  open: Iterable<OpenEscalation>,
  current: ReadonlySet<string>,
  divergentKeys: ReadonlySet<string>,
  covers: (key: Key) => boolean,
): { escalation: OpenEscalation; note: string }[] {
  const out: { escalation: OpenEscalation; note: string }[] = [];
  for (const e of open) {
    if (current.has(e.id) || e.class === "guard") continue;
    if (e.key.length && !covers(e.key)) continue;
    const note =
      e.class === "schema"
        ? "the schemas agree now"
        : divergentKeys.has(keyId(e.key))
          ? "the record changed since it was escalated; the current state is decided afresh"
          : "the replicas agree now";
    out.push({ escalation: e, note });
  }
  return out;
}

/** The audit event of closing an escalation on Concord's own finding. */
export function escalationClosedEvent(
  e: OpenEscalation & Pick<EscalationRecord, "dataset">,
  note: string,
  runId: string,
  at: number,
): AuditEvent {
  return {
    ts: at,
    runId,
    type: "resolved",
    dataset: e.dataset,
    key: e.key.length ? keyId(e.key) : null,
    data: { escalation: e.id, by: "concord", note },
  };
}
