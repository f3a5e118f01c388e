/** Record versions (counter, timestamp, version vector) and their partial order. Pure: no I/O. */
import { type CanonicalValue, timestampMicros } from "./canonical.js";

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

/** Reads the version of a record from the values at the given column positions. */
export function readVersion(
  positions: { counter?: number; timestamp?: number; vector?: number },
  values: readonly CanonicalValue[],
): Version {
  const v: { counter?: string; timestamp?: string; vector?: Record<string, number> } = {};
  if (positions.counter !== undefined) {
    const c = values[positions.counter];
    if (c !== null && c !== undefined) v.counter = c;
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
  const parsed: unknown = JSON.parse(text);
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

/**
 * The order of version `a` relative to `b`, by the strongest metadata both carry: a vector if both have
 * one, else a counter (ties broken by timestamp), else a timestamp. Versions with no metadata in common
 * are "equal" (nothing orders them).
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
