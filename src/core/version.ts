/** Record versions (counter, timestamp, version vector) and the orders they define. Pure: no I/O. */
import { type CanonicalValue, timestampMicros, ValueError } from "./canonical.js";
import {
  canonicalJsonOf,
  JsonNumber,
  JsonSyntaxError,
  type JsonValue,
  parseJsonExact,
} from "./canonical-json-text.js";

/** Which columns carry version metadata. Any subset may be declared. */
export interface VersionColumns {
  readonly counter?: string | undefined;
  readonly timestamp?: string | undefined;
  readonly vector?: string | undefined;
}

/**
 * A version vector: node → that node's counter, each a non-negative integer in canonical decimal text
 * ("0", "9007199254740993"): exact at any size, compared as integers (never through a double). A node
 * absent from the vector counts as "0".
 */
export type VersionVector = Readonly<Record<string, string>>;

/**
 * A record's version as read from its version columns. Counters are canonical integers, timestamps
 * canonical UTC text, vectors a `VersionVector` (from a JSON object column).
 */
export interface Version {
  readonly counter?: string;
  readonly timestamp?: string;
  readonly vector?: VersionVector;
}

export type VersionOrder = "before" | "after" | "equal" | "concurrent";

/**
 * The one kind of version metadata that orders a dataset's writes. A strategy orders by what it names and
 * by nothing else: `lww` by the timestamp, `highest-version` by the counter, `version-vector` by the
 * vector. Other metadata a record carries never breaks a tie or overrides the order.
 */
export type VersionOrdering = "counter" | "timestamp" | "vector";

const INTEGER_TEXT = /^-?\d+$/;

/** A version column's value that is not a version; `field` is the column's part in the version. */
export class VersionValueError extends ValueError {
  constructor(
    readonly field: "counter" | "vector",
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads the version of a record from the values at the given column positions. Throws ValueError naming
 * the version column when a counter is not an integer or a vector is malformed (`parseVersionVector`): a
 * store holding such text in such a column; `resolveShape` rejects columns whose type cannot hold them at all.
 */
export function readVersion(
  positions: { counter?: number; timestamp?: number; vector?: number },
  values: readonly CanonicalValue[],
): Version {
  const v: { counter?: string; timestamp?: string; vector?: VersionVector } = {};
  if (positions.counter !== undefined) {
    const c = values[positions.counter];
    if (c !== null && c !== undefined) {
      if (!INTEGER_TEXT.test(c))
        throw new VersionValueError(
          "counter",
          `versions.counter: ${JSON.stringify(c.slice(0, 40))} is not an integer`,
        );
      v.counter = c;
    }
  }
  if (positions.timestamp !== undefined) {
    const t = values[positions.timestamp];
    if (t !== null && t !== undefined) v.timestamp = t;
  }
  if (positions.vector !== undefined) {
    const raw = values[positions.vector];
    if (raw !== null && raw !== undefined) {
      try {
        v.vector = parseVersionVector(raw);
      } catch (err) {
        if (err instanceof ValueError) throw new VersionValueError("vector", err.message);
        throw err;
      }
    }
  }
  return v;
}

/** One entry of a vector as its text spelt it: the counter's canonical digits, and whether it was a string. */
export interface VectorEntry {
  readonly digits: string;
  readonly quoted: boolean;
}

const DIGITS = /^\d+$/;

/**
 * The entries of a version vector's JSON text, in the text's order, read exactly (the text is parsed with
 * exact numbers: 9007199254740993 stays itself). A vector is a JSON object whose every member is a
 * non-negative integer: a JSON number of integer value (`7`, `7.0`, `7e0`) or a string of digits (`"7"`,
 * for applications that keep counters past 2^53 as strings). Anything else is malformed, and refused with
 * a ValueError naming it, never read as a smaller vector: text that is not JSON, a JSON value that is not
 * an object, and an entry that is negative, fractional, not a number or a string of digits (`null`,
 * `true`, `"abc"`, `{}`), or a number in exponent form past 21 digits (`1e+30`).
 */
export function readVectorEntries(text: string): Map<string, VectorEntry> {
  let parsed: JsonValue;
  try {
    parsed = parseJsonExact(text);
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    throw new ValueError(`versions.vector: ${JSON.stringify(text.slice(0, 40))} is not a JSON object`);
  }
  if (!(parsed instanceof Map))
    throw new ValueError(`versions.vector: ${JSON.stringify(text.slice(0, 40))} is not a JSON object`);
  const out = new Map<string, VectorEntry>();
  for (const [node, n] of parsed) {
    const entry = vectorEntry(n);
    if (!entry) {
      const shown = canonicalJsonOf(n);
      throw new ValueError(
        `versions.vector: entry ${JSON.stringify(node.slice(0, 40))} is ${shown.length > 40 ? `${shown.slice(0, 40)}…` : shown}, not a non-negative integer`,
      );
    }
    out.set(node, entry);
  }
  return out;
}

function vectorEntry(n: JsonValue): VectorEntry | undefined {
  if (n instanceof JsonNumber) {
    // The token's own digits when it has no fraction or exponent (a 30-digit counter's canonical text is
    // an exponent form), else its canonical text when that is an integer's ("7.0" → "7", "1e3" → "1000").
    const token = n.source ?? n.text;
    if (DIGITS.test(token)) return { digits: token, quoted: false };
    return DIGITS.test(n.text) ? { digits: n.text, quoted: false } : undefined;
  }
  if (typeof n === "string" && DIGITS.test(n)) return { digits: n.replace(/^0+(?=\d)/, ""), quoted: true };
  return undefined;
}

/**
 * Parses a version vector's JSON text exactly (`readVectorEntries`: malformed text throws ValueError).
 * A node named `__proto__` is an ordinary node.
 */
export function parseVersionVector(text: string): VersionVector {
  const out: Record<string, string> = Object.create(null);
  for (const [node, e] of readVectorEntries(text)) out[node] = e.digits;
  return out;
}

/**
 * A version as JSON.parse reads it back from where it was kept as JSON (the state store's memory of
 * versions): vector entries kept as numbers by an earlier Concord become digits when they are exact (safe
 * integers); a vector with any other entry is dropped (nothing orders by it), never read as a smaller one.
 */
export function versionFromJson(value: unknown): Version {
  if (!value || typeof value !== "object") return {};
  const o = value as { counter?: unknown; timestamp?: unknown; vector?: unknown };
  const v: { counter?: string; timestamp?: string; vector?: VersionVector } = {};
  if (typeof o.counter === "string") v.counter = o.counter;
  if (typeof o.timestamp === "string") v.timestamp = o.timestamp;
  if (o.vector && typeof o.vector === "object" && !Array.isArray(o.vector)) {
    const vector: Record<string, string> = Object.create(null);
    let ok = true;
    for (const [node, n] of Object.entries(o.vector)) {
      if (typeof n === "string" && DIGITS.test(n)) vector[node] = n.replace(/^0+(?=\d)/, "");
      else if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) vector[node] = String(n);
      else ok = false;
    }
    if (ok) v.vector = vector;
  }
  return v;
}

/** Compares two non-negative integers in canonical decimal text (no leading zeros). */
export function compareDigits(x: string, y: string): number {
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The vector as text for people: `{"a":9007199254740993,"b":2}` (each counter's exact digits). */
export function vectorText(v: VersionVector): string {
  return `{${Object.keys(v)
    .map((node) => `${JSON.stringify(node)}:${v[node]}`)
    .join(",")}}`;
}

function sign(n: number): VersionOrder {
  return n < 0 ? "before" : n > 0 ? "after" : "equal";
}

function compareCounters(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Compares two version vectors exactly, entry by entry as integers: before/after when one dominates,
 * concurrent when neither does.
 */
export function compareVectors(a: VersionVector, b: VersionVector): VersionOrder {
  let less = false;
  let greater = false;
  for (const node of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const c = compareDigits(a[node] ?? "0", b[node] ?? "0");
    if (c < 0) less = true;
    else if (c > 0) greater = true;
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
