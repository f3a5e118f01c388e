/** Record versions (counter, timestamp, version vector) and the orders they define. Pure: no I/O. */
import { type CanonicalValue, timestampMicros, ValueError } from "./canonical.js";

/** Which columns carry version metadata. Any subset may be declared. */
export interface VersionColumns {
  readonly counter?: string | undefined;
  readonly timestamp?: string | undefined;
  readonly vector?: string | undefined;
}

/**
 * A record's version as read from its version columns. Counters are canonical integers, timestamps
 * canonical UTC text, vectors a map of node → counter (from a JSON object column).
 */
export interface Version {
  readonly counter?: string;
  readonly timestamp?: string;
  readonly vector?: Readonly<Record<string, number>>;
}

export type VersionOrder = "before" | "after" | "equal" | "concurrent";

/**
 * The one kind of version metadata that orders a dataset's writes. A strategy orders by what it names and
 * by nothing else: `lww` by the timestamp, `highest-version` by the counter, `version-vector` by the
 * vector. Other metadata a record carries never breaks a tie or overrides the order.
 */
export type VersionOrdering = "counter" | "timestamp" | "vector";

const INTEGER_TEXT = /^-?\d+$/;

/**
 * Reads the version of a record from the values at the given column positions. Throws ValueError naming
 * the version column when a counter is not an integer or a vector is not JSON (a store holding text in
 * such a column; `resolveShape` rejects columns whose type cannot hold them at all).
 */
export function readVersion(
  positions: { counter?: number; timestamp?: number; vector?: number },
  values: readonly CanonicalValue[],
): Version {
  const v: { counter?: string; timestamp?: string; vector?: Record<string, number> } = {};
  if (positions.counter !== undefined) {
    const c = values[positions.counter];
    if (c !== null && c !== undefined) {
      if (!INTEGER_TEXT.test(c))
        throw new ValueError(`versions.counter: ${JSON.stringify(c.slice(0, 40))} is not an integer`);
      v.counter = c;
    }
  }
  if (positions.timestamp !== undefined) {
    const t = values[positions.timestamp];
    if (t !== null && t !== undefined) v.timestamp = t;
  }
  if (positions.vector !== undefined) {
    const raw = values[positions.vector];
    if (raw !== null && raw !== undefined) v.vector = parseVector(raw);
  }
  return v;
}

function parseVector(text: string): Record<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ValueError(`versions.vector: ${JSON.stringify(text.slice(0, 40))} is not a JSON object`);
  }
  const out: Record<string, number> = {};
  if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
    for (const [node, n] of Object.entries(parsed)) {
      if (typeof n === "number" && Number.isFinite(n)) out[node] = n;
    }
  }
  return out;
}

function sign(n: number): VersionOrder {
  return n < 0 ? "before" : n > 0 ? "after" : "equal";
}

function compareCounters(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Compares two version vectors: before/after when one dominates, concurrent when neither does. */
export function compareVectors(
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>>,
): VersionOrder {
  let less = false;
  let greater = false;
  for (const node of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[node] ?? 0;
    const y = b[node] ?? 0;
    if (x < y) less = true;
    else if (x > y) greater = true;
  }
  if (less && greater) return "concurrent";
  return less ? "before" : greater ? "after" : "equal";
}

/** True when the version carries the metadata of `ordering`. */
export function hasOrdering(ordering: VersionOrdering, v: Version | undefined): v is Version {
  return v?.[ordering] !== undefined;
}

/**
 * The order of `a` relative to `b` by `ordering` alone: counters numerically, timestamps as instants to the
 * microsecond, vectors by dominance (incomparable vectors are "concurrent"). Versions that do not both
 * carry the metadata are "equal": callers check `hasOrdering` first.
 */
export function compareVersionsBy(ordering: VersionOrdering, a: Version, b: Version): VersionOrder {
  switch (ordering) {
    case "vector":
      return a.vector && b.vector ? compareVectors(a.vector, b.vector) : "equal";
    case "counter":
      return a.counter !== undefined && b.counter !== undefined
        ? sign(compareCounters(a.counter, b.counter))
        : "equal";
    case "timestamp": {
      if (a.timestamp === undefined || b.timestamp === undefined) return "equal";
      const x = timestampMicros(a.timestamp);
      const y = timestampMicros(b.timestamp);
      return x < y ? "before" : x > y ? "after" : "equal";
    }
  }
}

/**
 * The order of version `a` relative to `b`, by the strongest metadata both carry: a vector if both have
 * one, else a counter (ties broken by timestamp), else a timestamp. Versions with no metadata in common
 * are "equal" (nothing orders them). This is not any strategy's order (use `compareVersionsBy` with the
 * dataset's ordering to classify or decide); state stores use it to keep the highest version seen.
 */
export function compareVersions(a: Version, b: Version): VersionOrder {
  if (a.vector && b.vector) return compareVectors(a.vector, b.vector);
  if (a.counter !== undefined && b.counter !== undefined) {
    const c = compareCounters(a.counter, b.counter);
    if (c !== 0) return sign(c);
  }
  if (a.timestamp !== undefined && b.timestamp !== undefined) {
    const x = timestampMicros(a.timestamp);
    const y = timestampMicros(b.timestamp);
    return x < y ? "before" : x > y ? "after" : "equal";
  }
  return "equal";
}

/** True when the version carries any metadata. */
export function hasVersion(v: Version | undefined): v is Version {
  return !!v && (v.counter !== undefined || v.timestamp !== undefined || v.vector !== undefined);
}
