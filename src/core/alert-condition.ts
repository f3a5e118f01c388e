/** Alert conditions: parses `when:` text and evaluates it against a health snapshot. Pure: no I/O, no clock. */
import { formatDuration, parseDuration } from "./duration.js";

/** Comparison of a measured value with a rule's threshold. */
export type AlertOperator = ">" | ">=";

/** A parsed `when:` condition, discriminated by `kind`. */
export type AlertCondition =
  /** A replica's convergence lag, measured by the dataset's probe, exceeds a duration. */
  | { readonly kind: "lag"; readonly op: AlertOperator; readonly thresholdSeconds: number }
  /** Open escalations of the rule's dataset (or of all datasets together) exceed a count. */
  | { readonly kind: "escalations"; readonly op: AlertOperator; readonly threshold: number }
  /** A replica was unreachable on its last contact. */
  | { readonly kind: "replica-down" }
  /** Failed repairs in the dataset's last run exceed a count. */
  | { readonly kind: "repair-failures"; readonly op: AlertOperator; readonly threshold: number }
  /** Audit chain verification failed. */
  | { readonly kind: "audit-broken" }
  /** A dataset's canary rollout rolled back on its own (its candidate fared worse than the margin allows). */
  | { readonly kind: "canary-rolled-back" }
  /**
   * A change feed's replication slot was released for lagging (more WAL than `maxLagBytes`, or invalidated
   * by the server) within the last SLOT_RELEASE_HOLD_MS; a whole pass covers the changes it dropped.
   */
  | { readonly kind: "slot-released" }
  /**
   * A dataset's last pass did not start or stopped (a replica down, a damaged checkpoint): it backs off and
   * tries again; resolved when a pass finishes.
   */
  | { readonly kind: "pass-failing" };

/** How long a slot release keeps its alert firing (then it resolves unless the slot is released again). */
export const SLOT_RELEASE_HOLD_MS = 15 * 60_000;

export type AlertConditionKind = AlertCondition["kind"];

/** Every condition name, in the order error messages list them. */
export const ALERT_CONDITION_KINDS: readonly AlertConditionKind[] = [
  "lag",
  "escalations",
  "replica-down",
  "repair-failures",
  "audit-broken",
  "canary-rolled-back",
  "slot-released",
  "pass-failing",
];

/** What `serve` knows about the system at one moment; the input of every alert rule. */
export interface HealthSnapshot {
  /** When it was taken, milliseconds since the epoch. */
  readonly at: number;
  /** Result of the last audit chain verification; undefined when not verified yet. */
  readonly auditOk?: boolean | undefined;
  readonly datasets: readonly {
    readonly name: string;
    /** Convergence lag per probed replica, seconds, from the last probe; undefined when not measured yet. */
    readonly lagSeconds: Readonly<Record<string, number | undefined>>;
    readonly openEscalations: number;
    /** Replicas unreachable on their last contact. */
    readonly replicasDown: readonly string[];
    readonly lastRunFailedRepairs: number;
    /** True while the dataset's canary rollout stands rolled back. */
    readonly canaryRolledBack?: boolean | undefined;
    /** Per watched replica, when its feed's replication slot was last released for lagging (ms). */
    readonly slotReleases?: Readonly<Record<string, number>> | undefined;
    /** Why the dataset's last pass did not start or stopped (one line naming it); undefined: it finished. */
    readonly passError?: string | undefined;
  }[];
}

/** One measurement a rule makes in a snapshot: a dataset, a dataset's replica, or the whole system. */
export interface AlertObservation {
  /**
   * Identifies the incident across snapshots: the same rule, dataset and replica give the same key, so
   * a condition that stays true is one incident.
   */
  readonly key: string;
  /** Index of the rule in `alerts:`. */
  readonly rule: number;
  /** Null for system-wide conditions (audit-broken, escalations over all datasets). */
  readonly dataset: string | null;
  readonly replica?: string | undefined;
  /** The measured value: seconds of lag, a count, or whether the replica is down / the audit is broken. */
  readonly value: number | boolean;
  /** Whether the condition holds. */
  readonly active: boolean;
  /** One line describing the measurement against the rule, e.g. `customers/cache: convergence lag 42.0s (alert when > 30s)`. */
  readonly summary: string;
}

/** An observation whose condition holds. */
export type AlertIncident = AlertObservation & { readonly active: true };

/** Which rule is being evaluated and the dataset it is limited to. */
export interface AlertScopeOptions {
  /** Index of the rule in `alerts:`; part of every incident key (default 0). */
  readonly rule?: number | undefined;
  /** Only this dataset; every dataset when undefined. */
  readonly dataset?: string | undefined;
}

const EXPECTED = `expected ${ALERT_CONDITION_KINDS.join(", ")}`;
const SHAPE = /^([A-Za-z_][\w-]*)\s*(?:(>=|<=|==|!=|>|<|=)\s*(.*))?$/;

/**
 * Parses a condition: `lag > 30s` (durations such as 500ms, 30s, 5m), `escalations >= 10`,
 * `repair-failures > 0`, `replica-down`, `audit-broken`. Operators are `>` and `>=`; spaces are optional
 * around them. Throws an Error whose message is one line naming the problem.
 */
export function parseAlertCondition(text: string): AlertCondition {
  const s = text.trim();
  if (s === "") throw new Error(`empty condition (${EXPECTED})`);
  const m = SHAPE.exec(s);
  const kind = m?.[1] as AlertConditionKind | undefined;
  if (!m || !kind || !ALERT_CONDITION_KINDS.includes(kind))
    throw new Error(`unknown condition ${JSON.stringify(s)} (${EXPECTED})`);
  const op = m[2];
  const operand = m[3]?.trim();
  if (
    kind === "replica-down" ||
    kind === "audit-broken" ||
    kind === "canary-rolled-back" ||
    kind === "slot-released" ||
    kind === "pass-failing"
  ) {
    if (op !== undefined) throw new Error(`"${kind}" takes no threshold (write just "${kind}")`);
    return { kind };
  }
  const example = kind === "lag" ? `${kind} > 30s` : `${kind} > 0`;
  if (op === undefined) throw new Error(`"${kind}" needs a threshold, e.g. "${example}"`);
  if (op !== ">" && op !== ">=")
    throw new Error(`unsupported operator "${op}" in ${JSON.stringify(s)} (expected > or >=)`);
  if (kind === "lag") {
    const ms = operand ? parseDuration(operand) : undefined;
    if (ms === undefined)
      throw new Error(
        `${JSON.stringify(s)}: expected a duration such as 500ms, 30s or 5m after "${op}", e.g. "${example}"`,
      );
    return { kind, op, thresholdSeconds: ms / 1000 };
  }
  if (!operand || !/^\d+$/.test(operand))
    throw new Error(`${JSON.stringify(s)}: expected a whole number after "${op}", e.g. "${example}"`);
  return { kind, op, threshold: Number(operand) };
}

/** The canonical text of a condition (`lag > 30s`); parsing it gives the condition back. */
export function formatAlertCondition(c: AlertCondition): string {
  switch (c.kind) {
    case "lag":
      return `lag ${c.op} ${thresholdDuration(c.thresholdSeconds)}`;
    case "escalations":
    case "repair-failures":
      return `${c.kind} ${c.op} ${c.threshold}`;
    case "replica-down":
    case "audit-broken":
    case "canary-rolled-back":
    case "slot-released":
    case "pass-failing":
      return c.kind;
  }
}

/** The largest whole unit that states the threshold exactly (`5m`, `90s`, `1500ms`). */
function thresholdDuration(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const)
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function exceeds(value: number, op: AlertOperator, threshold: number): boolean {
  return op === ">" ? value > threshold : value >= threshold;
}

function incidentKey(rule: number, dataset: string | null, replica?: string): string {
  return JSON.stringify(replica === undefined ? [rule, dataset] : [rule, dataset, replica]);
}

/**
 * Measures a condition in a snapshot, one observation per dataset, per probed replica, or for the whole
 * system, whether or not the condition holds. A value not measured yet (no probe result, audit not
 * verified) gives no observation rather than a guess. A rule limited to a dataset the snapshot lacks
 * observes nothing.
 */
export function observeAlert(
  condition: AlertCondition,
  snapshot: HealthSnapshot,
  options: AlertScopeOptions = {},
): AlertObservation[] {
  const rule = options.rule ?? 0;
  const datasets = snapshot.datasets.filter(
    (d) => options.dataset === undefined || d.name === options.dataset,
  );
  const rel = (c: { op: AlertOperator }) => `alert when ${c.op}`;
  switch (condition.kind) {
    case "lag":
      return datasets.flatMap((d) =>
        Object.entries(d.lagSeconds).flatMap(([replica, lag]) =>
          lag === undefined
            ? []
            : [
                {
                  key: incidentKey(rule, d.name, replica),
                  rule,
                  dataset: d.name,
                  replica,
                  value: lag,
                  active: exceeds(lag, condition.op, condition.thresholdSeconds),
                  summary: `${d.name}/${replica}: convergence lag ${Number.isFinite(lag) ? formatDuration(lag * 1000) : "unbounded"} (${rel(condition)} ${thresholdDuration(condition.thresholdSeconds)})`,
                },
              ],
        ),
      );
    case "escalations": {
      const per = (name: string | null, n: number): AlertObservation => ({
        key: incidentKey(rule, name),
        rule,
        dataset: name,
        value: n,
        active: exceeds(n, condition.op, condition.threshold),
        summary: `${name ?? "all datasets"}: ${n} open escalation${n === 1 ? "" : "s"} (${rel(condition)} ${condition.threshold})`,
      });
      if (options.dataset !== undefined) return datasets.map((d) => per(d.name, d.openEscalations));
      return [
        per(
          null,
          datasets.reduce((sum, d) => sum + d.openEscalations, 0),
        ),
      ];
    }
    case "replica-down":
      return datasets.flatMap((d) =>
        [...new Set(d.replicasDown)].map((replica) => ({
          key: incidentKey(rule, d.name, replica),
          rule,
          dataset: d.name,
          replica,
          value: true,
          active: true,
          summary: `${d.name}/${replica}: replica unreachable on its last contact`,
        })),
      );
    case "repair-failures":
      return datasets.map((d) => {
        const n = d.lastRunFailedRepairs;
        return {
          key: incidentKey(rule, d.name),
          rule,
          dataset: d.name,
          value: n,
          active: exceeds(n, condition.op, condition.threshold),
          summary: `${d.name}: ${n} failed repair${n === 1 ? "" : "s"} in the last run (${rel(condition)} ${condition.threshold})`,
        };
      });
    case "canary-rolled-back":
      return datasets.map((d) => ({
        key: incidentKey(rule, d.name),
        rule,
        dataset: d.name,
        value: d.canaryRolledBack === true,
        active: d.canaryRolledBack === true,
        summary: `${d.name}: ${d.canaryRolledBack ? "the canary rollout rolled back" : "no canary rolled back"}`,
      }));
    case "slot-released":
      return datasets.flatMap((d) =>
        Object.entries(d.slotReleases ?? {}).map(([replica, at]) => {
          const ago = Math.max(0, Math.round((snapshot.at - at) / 1000));
          const active = snapshot.at - at < SLOT_RELEASE_HOLD_MS;
          return {
            key: incidentKey(rule, d.name, replica),
            rule,
            dataset: d.name,
            replica,
            value: active,
            active,
            summary: `${d.name}/${replica}: change feed's replication slot released for lagging ${ago}s ago (more WAL than maxLagBytes); a whole pass covers the changes it dropped`,
          };
        }),
      );
    case "pass-failing":
      return datasets.map((d) => ({
        key: incidentKey(rule, d.name),
        rule,
        dataset: d.name,
        value: d.passError !== undefined,
        active: d.passError !== undefined,
        summary: d.passError ?? `${d.name}: its last pass finished`,
      }));
    case "audit-broken":
      if (snapshot.auditOk === undefined) return [];
      return [
        {
          key: incidentKey(rule, null),
          rule,
          dataset: null,
          value: !snapshot.auditOk,
          active: !snapshot.auditOk,
          summary: snapshot.auditOk ? "audit chain verifies" : "audit chain verification failed",
        },
      ];
  }
}

/** The incidents a condition has in a snapshot: the observations where it holds. */
export function evaluateAlert(
  condition: AlertCondition,
  snapshot: HealthSnapshot,
  options: AlertScopeOptions = {},
): AlertIncident[] {
  return observeAlert(condition, snapshot, options).filter((o): o is AlertIncident => o.active);
}
