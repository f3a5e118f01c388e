/** Turns a classified divergence into a decision by the dataset's policy. Pure and deterministic. */
import type { CanonicalValue } from "./canonical.js";
import type { Divergence, DivergenceClass } from "./classify.js";
import { fingerprintRow } from "./fingerprint.js";
import { choiceText, type DecisionContext, inferOwner, type OwnerChoice } from "./inferred-owner.js";
import { mergeRecords } from "./merge.js";
import type { Key, RecordShape } from "./model.js";
import type { CompiledPolicy } from "./policy.js";
import { hasOrdering, type VersionOrdering, vectorText } from "./version.js";

export type DecisionAction = "propagate" | "delete" | "merge" | "wait" | "ignore" | "escalate";

/** Actions that write to replicas. */
export const WRITE_ACTIONS: ReadonlySet<DecisionAction> = new Set(["propagate", "delete", "merge"]);

/**
 * What to do about one divergence, and why. For writes, `record` is the state every target must reach
 * (null: absent), `targets` the replicas not in that state, and `expected` what each target held when it
 * was observed: the executor writes only if the target still holds exactly that.
 */
export interface Decision {
  readonly key: Key;
  readonly class: DivergenceClass;
  readonly action: DecisionAction;
  /** The replica whose state wins (propagate, delete), if any. */
  readonly source?: string | undefined;
  readonly targets: readonly string[];
  /** Values to write (propagate, merge) or null (delete); undefined for non-writes. */
  readonly record?: readonly CanonicalValue[] | null | undefined;
  /** Fingerprint of `record` (null for delete). */
  readonly recordFingerprint?: string | null | undefined;
  /** Fingerprint (or null: absent) each target held when observed. */
  readonly expected: Readonly<Record<string, string | null>>;
  /** The policy rule that chose the action, e.g. "resolve: highest-version". */
  readonly rule: string;
  /** One sentence a person can read. */
  readonly reason: string;
  /** How uncertain the choice is, in [0, 1]: 0 certain, 1 a guess. */
  readonly ambiguity: number;
  readonly policyVersion: string;
  /** For escalations: the replicas a person may pick. */
  readonly options: readonly string[];
  /** With an inferred owner, when the decision turned on it: the evidence that chose (or failed to choose) it. */
  readonly evidence?: OwnerChoice | undefined;
}

/** What a decision says, without its data: the form shown in `plan --json` and kept in the audit log. */
export function decisionSummary(d: Decision) {
  return {
    action: d.action,
    source: d.source ?? null,
    targets: d.targets,
    rule: d.rule,
    reason: d.reason,
    ambiguity: d.ambiguity,
    policyVersion: d.policyVersion,
    ...(d.evidence ? { evidence: d.evidence } : {}),
  };
}

interface OwnerOf {
  owner?: string;
  why?: string;
  /** The evidence behind an inferred owner. */
  choice?: OwnerChoice;
}

function ownerOf(d: Divergence, policy: CompiledPolicy, ctx: DecisionContext): OwnerOf {
  const o = policy.owner;
  if (!o) return { why: "no owner is declared" };
  if (o.kind === "replica") return { owner: o.replica };
  if (o.kind === "inferred") {
    const choice = inferOwner(d, o, policy.replicas, ctx.evidence, ctx.segmentOf?.(d.key));
    if (choice.owner) return { owner: choice.owner, choice };
    return {
      choice,
      why: `no replica is a confident owner (${choiceText(choice)}; its interval's lower bound is below minConfidence ${choice.minConfidence}) and no fallback is declared`,
    };
  }
  const values = new Set<CanonicalValue>();
  for (const r of policy.replicas) {
    const rec = d.replicas[r];
    if (rec?.present && rec.values) values.add(rec.values[o.column] ?? null);
  }
  if (values.size !== 1) return { why: `the replicas disagree on ${o.field}, which decides the owner` };
  const value = [...values][0];
  const owner = value === null || value === undefined ? undefined : o.map[value];
  return owner ? { owner } : { why: `${o.field} = ${JSON.stringify(value)} maps to no owner` };
}

function fingerprintOf(d: Divergence, replica: string): string | null {
  const r = d.replicas[replica];
  return r?.present ? (r.fingerprint ?? null) : null;
}

/** The value `ordering` reads from a replica's version, as a reason shows it, or undefined when absent. */
function orderingValue(d: Divergence, replica: string, ordering: VersionOrdering): string | undefined {
  const v = d.replicas[replica]?.version;
  if (!v || !hasOrdering(ordering, v)) return undefined;
  return ordering === "vector" ? vectorText(v.vector!) : v[ordering];
}

const ORDERING_WORDS: Record<VersionOrdering, { name: string; wins: string }> = {
  timestamp: { name: "timestamp", wins: "is newer than" },
  counter: { name: "counter", wins: "is higher than" },
  vector: { name: "version vector", wins: "dominates" },
};

/**
 * What was compared, for a reason: "timestamp 2026-06-01T00:00:00.000000Z on a is newer than
 * 2026-01-01T00:00:00.000000Z on b, no timestamp on c". The newest replicas are named together, and the
 * others that hold the record are grouped by the value they hold.
 */
function comparedText(
  d: Divergence,
  policy: CompiledPolicy,
  ordering: VersionOrdering,
  source: string,
): string {
  const words = ORDERING_WORDS[ordering];
  const newest = policy.replicas.filter((r) => d.newest.includes(r));
  // Replicas behind, grouped by the value they hold (in dataset order): "3 on b and c, no counter on d".
  const behindBy = new Map<string | undefined, string[]>();
  for (const r of policy.replicas) {
    if (d.newest.includes(r) || !d.replicas[r]?.present) continue;
    const value = orderingValue(d, r, ordering);
    behindBy.set(value, [...(behindBy.get(value) ?? []), r]);
  }
  const behind = [...behindBy].map(([value, rs]) =>
    value === undefined ? `no ${words.name} on ${rs.join(" and ")}` : `${value} on ${rs.join(" and ")}`,
  );
  const head = `${words.name} ${orderingValue(d, source, ordering) ?? "(none)"} on ${newest.join(" and ")}`;
  return behind.length ? `${head} ${words.wins} ${behind.join(", ")}` : `${head} is the newest`;
}

interface Draft {
  action: DecisionAction;
  source?: string;
  record?: readonly CanonicalValue[] | null;
  rule: string;
  reason: string;
  ambiguity: number;
  /** True when the owner (or the lack of one) chose the action: an inferred owner's evidence then goes with it. */
  ownerUsed?: boolean;
}

function finish(d: Divergence, policy: CompiledPolicy, draft: Draft, choice?: OwnerChoice): Decision {
  const all = policy.replicas.filter((r) => d.replicas[r] !== undefined);
  const expected: Record<string, string | null> = {};
  let targets: string[] = [];
  let recordFingerprint: string | null | undefined;
  if (WRITE_ACTIONS.has(draft.action)) {
    recordFingerprint = draft.record ? fingerprintRow(d.key, draft.record) : null;
    targets = all.filter((r) => fingerprintOf(d, r) !== recordFingerprint);
    for (const t of targets) expected[t] = fingerprintOf(d, t);
  }
  let decision: Decision = {
    key: d.key,
    class: d.class,
    action: draft.action,
    source: draft.source,
    targets,
    record: WRITE_ACTIONS.has(draft.action) ? (draft.record ?? null) : undefined,
    recordFingerprint,
    expected,
    rule: draft.rule,
    reason: draft.reason,
    ambiguity: draft.ambiguity,
    policyVersion: policy.version,
    options: draft.action === "escalate" ? all : [],
    ...(choice && draft.ownerUsed ? { evidence: choice } : {}),
  };
  if (WRITE_ACTIONS.has(draft.action) && targets.length === 0) {
    decision = {
      ...decision,
      action: "ignore",
      reason: "every replica already holds the chosen state",
      targets: [],
    };
  }
  if (
    policy.escalateAbove !== undefined &&
    WRITE_ACTIONS.has(decision.action) &&
    decision.ambiguity > policy.escalateAbove
  ) {
    return {
      ...decision,
      action: "escalate",
      targets: [],
      record: undefined,
      recordFingerprint: undefined,
      expected: {},
      options: all,
      rule: "escalate.ambiguity",
      reason: `ambiguity ${decision.ambiguity} is above the threshold ${policy.escalateAbove}: ${decision.reason}`,
    };
  }
  return decision;
}

function escalate(reason: string, rule: string, ownerUsed = false): Draft {
  return { action: "escalate", rule, reason, ambiguity: 1, ...(ownerUsed ? { ownerUsed } : {}) };
}

function fromOwner(d: Divergence, owner: string, rule: string, ambiguity: number, why: string): Draft {
  const rec = d.replicas[owner];
  if (rec?.present) {
    // A record known only by its fingerprint cannot be copied; reading it as null would delete it everywhere.
    if (!rec.values)
      return escalate(`${why}: ${owner}'s record was not fetched, so it cannot be copied`, rule, true);
    return {
      action: "propagate",
      source: owner,
      record: rec.values,
      rule,
      reason: `${why}: owner ${owner}'s record wins`,
      ambiguity,
      ownerUsed: true,
    };
  }
  return {
    action: "delete",
    source: owner,
    record: null,
    rule,
    reason: `${why}: owner ${owner} does not hold the record, so it is deleted elsewhere`,
    ambiguity,
    ownerUsed: true,
  };
}

/**
 * An owner decision's reason and ambiguity with the inferred owner's evidence: a confident owner's decision is
 * as ambiguous as its interval's lower bound leaves it (1 − low, at least the rule's own); a fallback's is the
 * rule's, like a static owner's.
 */
function withEvidence(draft: Draft, choice: OwnerChoice | undefined): Draft {
  if (!choice || !draft.ownerUsed || draft.action === "escalate") return draft;
  if (choice.confident)
    return {
      ...draft,
      reason: `${draft.reason}; owner inferred by ${choiceText(choice)}`,
      ambiguity: Math.max(draft.ambiguity, Math.round((1 - choice.low) * 1000) / 1000),
    };
  return {
    ...draft,
    reason: `${draft.reason}; fallback owner, since ${choiceText(choice)} has an interval lower bound below minConfidence ${choice.minConfidence}`,
  };
}

function tryMerge(
  d: Divergence,
  shape: RecordShape,
  policy: CompiledPolicy,
  owner: string | undefined,
  why: string,
): Draft | undefined {
  if (policy.merge.size === 0) return undefined;
  const m = mergeRecords(d, shape, policy, owner);
  if (m.kind === "uncovered") return undefined;
  return {
    action: "merge",
    record: m.values,
    rule: "policy.merge",
    reason: `${why}: merged column by column${m.tie ? " (an lww column tied; the first replica won)" : ""}`,
    ambiguity: m.tie ? 0.7 : 0.5,
  };
}

/**
 * Decides one divergence by the compiled policy (DESIGN.md "Decision: policies"):
 * - tolerated → ignore; in-flight → wait; read-after-write → ignore; schema → escalate.
 * - resolve `owner`: the owner's state wins (propagate, or delete when the owner lacks the record).
 * - resolve `replay`: as owner for keys the owner's change log holds (`ctx.logged`), else escalate.
 * - missing: the owner decides; without one it is escalated (a lost insert and an unpropagated delete
 *   look the same).
 * - stale, regression: the newest version wins; newest replicas that disagree are a tie, as below.
 * - conflict, lww-tie, unversioned: the owner if declared, else a merge rule that covers every differing
 *   column, else escalate.
 * A decision more ambiguous than `escalate.ambiguity` is escalated. Same inputs, same decision.
 */
export function decideRepair(
  d: Divergence,
  shape: RecordShape,
  policy: CompiledPolicy,
  ctx: DecisionContext = {},
): Decision {
  const choice: { value?: OwnerChoice } = {};
  const draft = draftDecision(d, shape, policy, ctx, choice);
  return finish(d, policy, withEvidence(draft, choice.value), choice.value);
}

function draftDecision(
  d: Divergence,
  shape: RecordShape,
  policy: CompiledPolicy,
  ctx: DecisionContext,
  chosen: { value?: OwnerChoice },
): Draft {
  switch (d.class) {
    case "tolerated":
      return {
        action: "ignore",
        rule: "policy.tolerance",
        reason: "every differing column is within its declared tolerance",
        ambiguity: 0,
      };
    case "in-flight":
      return {
        action: "wait",
        rule: "policy.window",
        reason: "the change is younger than the reconciliation window; re-checked next run",
        ambiguity: 0,
      };
    case "read-after-write":
      return {
        action: "ignore",
        rule: "probe",
        reason: "a probe observation: lag is reported, nothing is written",
        ambiguity: 0,
      };
    case "schema":
      return escalate("columns or types differ between replicas; a person must align the schemas", "schema");
    default:
  }
  const { owner, why, choice } = ownerOf(d, policy, ctx);
  if (choice) chosen.value = choice;
  if (policy.resolve === "replay") {
    // Non-destructive first: only a change the owner's log shows is copied; anything else a person judges.
    if (!owner) return escalate(`resolve is replay but ${why}`, "resolve: replay", true);
    if (!ctx.logged)
      return escalate(
        `the owner's change log does not explain this ${d.class} divergence (not a missed change of ${owner}); replay copies only logged changes`,
        "resolve: replay",
      );
    return fromOwner(d, owner, "resolve: replay", 0, `a change ${owner} logged and a replica missed`);
  }
  if (policy.resolve === "owner") {
    if (!owner) return escalate(`resolve is owner but ${why}`, "resolve: owner", true);
    return fromOwner(
      d,
      owner,
      "resolve: owner",
      d.class === "regression" ? 0.2 : 0,
      `${d.class} under resolve: owner`,
    );
  }
  switch (d.class) {
    case "missing":
      if (owner) return fromOwner(d, owner, "missing: owner", 0.2, "missing on some replicas");
      return escalate(
        `missing on some replicas and ${why}: a lost insert and an unpropagated delete look the same`,
        "missing: no owner",
        true,
      );
    case "stale":
    case "regression": {
      // A regression can coincide with a replica lacking the record: copying the newest there could
      // resurrect a deletion, so absence is decided as for missing.
      if (d.class === "regression" && policy.replicas.some((r) => d.replicas[r] && !d.replicas[r]!.present)) {
        if (owner)
          return fromOwner(d, owner, "missing: owner", 0.3, "regressed and missing on some replicas");
        return escalate(
          `regressed and missing on some replicas, and ${why}: a lost insert and an unpropagated delete look the same`,
          "missing: no owner",
          true,
        );
      }
      if (!policy.resolve)
        return escalate("no version strategy or owner decides which copy wins", "no strategy");
      const rule = `resolve: ${policy.resolve}`;
      const ordering = policy.ordering;
      if (!ordering) return escalate("no version column orders the records", rule);
      const source = policy.replicas.find((r) => d.newest.includes(r));
      if (!source) return escalate("no replica holds an identifiable newest version", rule);
      // A regression can leave several newest replicas that disagree: that is a tie, not an order.
      if (new Set(d.newest.map((r) => fingerprintOf(d, r))).size > 1)
        return resolveTie(d, shape, policy, owner, "the newest versions hold different values", why);
      if (!d.replicas[source]!.values)
        return escalate(`${source}'s newest record was not fetched, so it cannot be copied`, rule);
      const regressed =
        d.class === "regression" ? `; ${d.regressed.join(", ")} went back from a version seen before` : "";
      return {
        action: "propagate",
        source,
        record: d.replicas[source]!.values!,
        rule,
        reason: `${comparedText(d, policy, ordering, source)}${regressed}`,
        // A timestamp orders by clocks, which can be skewed; counters and vectors are written in order.
        ambiguity: d.class === "regression" ? 0.4 : ordering === "timestamp" ? 0.3 : 0.1,
      };
    }
    case "conflict":
    case "lww-tie":
    case "unversioned": {
      const what =
        d.class === "conflict"
          ? "concurrent versions"
          : d.class === "lww-tie"
            ? "equal timestamps with different values"
            : "values differ and nothing orders them";
      return resolveTie(d, shape, policy, owner, what, why);
    }
  }
}

/** A tie (nothing orders the differing values): the owner if declared, else covering merge rules, else escalate. */
function resolveTie(
  d: Divergence,
  shape: RecordShape,
  policy: CompiledPolicy,
  owner: string | undefined,
  what: string,
  why = "no owner is declared",
): Draft {
  if (owner) return fromOwner(d, owner, `${d.class}: owner`, 0.3, what);
  const merged = tryMerge(d, shape, policy, owner, what);
  if (merged) return merged;
  return escalate(
    `${what}, ${why} and no merge rule covers ${d.columns.join(", ") || "the difference"}`,
    `${d.class}: escalate`,
    true,
  );
}

/**
 * The decision a person makes when resolving an escalation by picking a replica: that replica's state
 * (its record, or its absence) wins everywhere. Same execution path as any policy decision.
 */
export function decidePick(d: Divergence, policy: CompiledPolicy, replica: string): Decision {
  const draft = fromOwner(d, replica, "escalation: pick", 0, `a person picked ${replica}`);
  return finish(
    d,
    { ...policy, escalateAbove: undefined },
    draft.action === "escalate" ? draft : { ...draft, reason: `a person picked ${replica}'s state` },
  );
}
