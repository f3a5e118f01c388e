/** The divergence taxonomy and the pure function that names a divergence. No I/O, no clock: time is an argument. */
import { type CanonicalValue, timestampMicros } from "./canonical.js";
import type { Key, RecordShape } from "./model.js";
import { numericSpreadWithin } from "./numeric-spread.js";
import { compareVersionsBy, hasOrdering, type Version, type VersionOrdering } from "./version.js";

/** The classes of DESIGN.md's taxonomy. `schema` is per dataset; `read-after-write` comes from probes. */
export type DivergenceClass =
  | "missing"
  | "stale"
  | "conflict"
  | "lww-tie"
  | "regression"
  | "unversioned"
  | "in-flight"
  | "tolerated"
  | "schema"
  | "read-after-write";

export const DIVERGENCE_CLASSES: readonly DivergenceClass[] = [
  "missing",
  "stale",
  "conflict",
  "lww-tie",
  "regression",
  "unversioned",
  "in-flight",
  "tolerated",
  "schema",
  "read-after-write",
];

/** Classes that need no write: they do not make `scan` exit 1. */
export const BENIGN_CLASSES: ReadonlySet<DivergenceClass> = new Set([
  "tolerated",
  "in-flight",
  "read-after-write",
]);

/** What one replica holds for a key. `values` and `version` are present when the record was fetched. */
export interface ReplicaObservation {
  readonly present: boolean;
  readonly fingerprint?: string;
  readonly values?: readonly CanonicalValue[];
  readonly version?: Version;
}

/** A key whose replicas disagree, as detection saw it. Replicas appear in the dataset's order. */
export interface Observation {
  readonly key: Key;
  readonly replicas: Readonly<Record<string, ReplicaObservation>>;
}

/** A classified divergence. */
export interface Divergence extends Observation {
  readonly class: DivergenceClass;
  /** Compared columns whose values differ among the replicas that hold the record. */
  readonly columns: readonly string[];
  /** Replicas holding the newest version (stale, regression), or the record (missing). */
  readonly newest: readonly string[];
  /** Replicas whose version went backwards from what was last observed (regression). */
  readonly regressed: readonly string[];
}

/** A declared tolerance for one column: an absolute numeric bound or a duration in microseconds. */
export type Tolerance =
  | { readonly kind: "numeric"; readonly bound: number }
  | { readonly kind: "duration"; readonly micros: bigint };

/** The parts of a policy classification needs, compiled against the record shape. */
export interface ClassifyRules {
  readonly tolerance: ReadonlyMap<string, Tolerance>;
  /** Divergence younger than this is in flight; only with a timestamp version column. */
  readonly windowMs?: number | undefined;
  /** Position of the timestamp version column in the shape's columns, if declared. */
  readonly timestampColumn?: number | undefined;
  /** True when any version column is declared (versions are then read, remembered and checked for regression). */
  readonly versioned: boolean;
  /**
   * What orders versions (`versionOrdering` of the dataset's strategy and version columns): the same order
   * the policy decides by, so a divergence's `newest` is the replica the strategy would copy. Undefined:
   * nothing orders the records, and differing values are `unversioned`.
   */
  readonly ordering?: VersionOrdering | undefined;
}

export interface ClassifyContext {
  readonly shape: RecordShape;
  readonly rules: ClassifyRules;
  /** Now, in epoch milliseconds. */
  readonly nowMs: number;
  /** Version of this key last observed per replica (from the state store), for regression. */
  readonly lastSeen?: Readonly<Record<string, Version>>;
}

/** Positions of the compared columns whose values differ among the replicas holding the record (`held`). */
function differingColumns(shape: RecordShape, obs: Observation, held: readonly string[]): number[] {
  const out: number[] = [];
  const first = held.length ? obs.replicas[held[0]!]!.values : undefined;
  if (!first) return out;
  for (let i = 0; i < shape.columns.length; i++) {
    for (const n of held) {
      const values = obs.replicas[n]!.values;
      if (values && values[i] !== first[i]) {
        out.push(i);
        break;
      }
    }
  }
  return out;
}

function withinTolerance(t: Tolerance, values: readonly CanonicalValue[]): boolean {
  if (values.some((v) => v === null)) return false;
  try {
    // By the exact values the texts spell: 1000000.02 - 1000000.01 is 0.01, and 10^13 + 0.01 is not
    // within 0.005 of 10^13 (doubles cannot say either).
    if (t.kind === "numeric") return numericSpreadWithin(values as string[], t.bound);
    const micros = values.map((v) => timestampMicros(v));
    let lo = micros[0]!;
    let hi = micros[0]!;
    for (const m of micros) {
      if (m < lo) lo = m;
      if (m > hi) hi = m;
    }
    return hi - lo <= t.micros;
  } catch {
    return false;
  }
}

/**
 * Replicas not ordered before any other replica by `ordering`: the newest versions. Replicas without the
 * ordering's metadata lose to those with it.
 */
function maximal(
  ordering: VersionOrdering | undefined,
  names: readonly string[],
  versions: ReadonlyMap<string, Version>,
): string[] {
  if (!ordering) return [...names];
  const withVersion = names.filter((n) => hasOrdering(ordering, versions.get(n)));
  const pool = withVersion.length > 0 ? withVersion : names;
  return pool.filter(
    (r) =>
      !pool.some(
        (s) => s !== r && compareVersionsBy(ordering, versions.get(r)!, versions.get(s)!) === "before",
      ),
  );
}

const NO_VERSIONS: ReadonlyMap<string, Version> = new Map();

/** The versions the replicas holding the record carry, by replica. */
function heldVersions(obs: Observation, held: readonly string[]): Map<string, Version> {
  const versions = new Map<string, Version>();
  for (const n of held) {
    const v = obs.replicas[n]!.version;
    if (v) versions.set(n, v);
  }
  return versions;
}

/**
 * Names a divergence: it describes the data, under the one ordering the dataset's strategy decides by
 * (`rules.ordering`), so the class and the decision never read the versions differently. Precedence:
 * regression (a replica's version went back from what was last seen), in-flight (younger than the window),
 * missing (presence differs), tolerated (every differing column within its tolerance), then by versions:
 * - stale: the newest replicas agree and some replica is behind them;
 * - lww-tie (timestamp ordering): the newest timestamp is held by replicas with different values;
 * - conflict (counter or vector ordering): the newest replicas hold different values at equal counters,
 *   or at concurrent or equal vectors;
 * - unversioned: no ordering, or no replica carries its metadata.
 * A timestamp ordering never yields `conflict` (timestamps are totally ordered; equal is a tie) and a
 * counter or vector ordering never yields `lww-tie`. Other metadata is ignored: under `lww` a higher
 * counter does not make a record newer. Deterministic: the same observation and context always give the
 * same class.
 */
export function classifyDivergence(obs: Observation, ctx: ClassifyContext): Divergence {
  const { shape, rules } = ctx;
  const ordering = rules.ordering;
  // Loops, and the versions only where an ordering reads them: a scan classifies every differing key.
  const names = Object.keys(obs.replicas);
  const held: string[] = [];
  for (const n of names) if (obs.replicas[n]!.present) held.push(n);
  const versions = ordering ? heldVersions(obs, held) : NO_VERSIONS;
  const diffCols = differingColumns(shape, obs, held);
  const columns: string[] = [];
  for (const i of diffCols) columns.push(shape.columns[i]!.name);
  const result = (
    cls: DivergenceClass,
    newest: readonly string[],
    regressed: readonly string[] = [],
  ): Divergence => ({
    key: obs.key,
    replicas: obs.replicas,
    class: cls,
    columns,
    newest,
    regressed,
  });

  if (ordering && ctx.lastSeen) {
    const regressed = held.filter((n) => {
      const seen = ctx.lastSeen?.[n];
      const now = versions.get(n);
      return (
        hasOrdering(ordering, now) &&
        hasOrdering(ordering, seen) &&
        compareVersionsBy(ordering, now, seen) === "before"
      );
    });
    if (regressed.length > 0) return result("regression", maximal(ordering, held, versions), regressed);
  }

  if (rules.windowMs !== undefined && rules.timestampColumn !== undefined) {
    const now = BigInt(Math.round(ctx.nowMs * 1000));
    const window = BigInt(Math.round(rules.windowMs * 1000));
    let newest: bigint | undefined;
    for (const n of held) {
      const t = obs.replicas[n]!.values?.[rules.timestampColumn];
      if (t === null || t === undefined) continue;
      try {
        const m = timestampMicros(t);
        // Further ahead of now than the window is no recent write but a clock that runs fast or a sentinel
        // (`infinity`, 9999-12-31): it gives no age, else the divergence would wait until then (forever).
        if (m - now > window) continue;
        if (newest === undefined || m > newest) newest = m;
      } catch {
        // An unreadable timestamp gives no age; the divergence is classified on.
      }
    }
    if (newest !== undefined && now - newest < window) return result("in-flight", held);
  }

  if (held.length < names.length) return result("missing", held);

  if (diffCols.length > 0 && rules.tolerance.size > 0) {
    const tolerated = diffCols.every((i) => {
      const t = rules.tolerance.get(shape.columns[i]!.name);
      return (
        t !== undefined &&
        withinTolerance(
          t,
          held.map((n) => obs.replicas[n]!.values![i]!),
        )
      );
    });
    if (tolerated) return result("tolerated", []);
  }

  if (!ordering || !held.some((n) => hasOrdering(ordering, versions.get(n)))) {
    return result("unversioned", []);
  }

  const top = maximal(ordering, held, versions);
  const fingerprints = new Set(top.map((n) => obs.replicas[n]!.fingerprint));
  if (fingerprints.size <= 1 && top.length < held.length) return result("stale", top);
  return result(ordering === "timestamp" ? "lww-tie" : "conflict", top);
}
