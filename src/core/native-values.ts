/**
 * A record's values as its store holds them, beside their canonical form: what a repair writes where the
 * target can hold the same representation (PostgreSQL `numeric` 1.50, a float's -0, a json text byte for byte,
 * SQLite's storage class). Pure: no I/O.
 *
 * The native row rides on the canonical values array itself (a non-enumerable symbol-keyed property):
 * comparison, fingerprints, decisions, JSON output and the ledger's images see the canonical values only, and
 * a step that builds a new array leaves it behind unless it attaches one (a merge attaches, column by column,
 * the native value of the replica it took each from), and the write falls back to the canonical text (the
 * ledger keeps a before image's native row beside it: `nativeJson`). Arrays are never mutated
 * after they are read, so a native row always spells the very values it is attached to.
 */
import type { CanonicalValue } from "./canonical.js";

/** One record's compared columns (shape order) as a store read them. */
export interface NativeRow {
  /** The kind of store that read them ("postgres", "mysql", "sqlite"): only that kind may write them. */
  readonly store: string;
  /**
   * By compared column, for a merged row whose columns several kinds of store read: the kind that read each
   * (undefined: none), in place of `store`.
   */
  readonly stores?: readonly (string | undefined)[];
  /**
   * By compared column: the column's full native type ("numeric(10,2)", "jsonb", "double"); a target writes a
   * value natively only into a column of the very same type. Shared by every row of a shape.
   */
  readonly types: readonly string[];
  /**
   * By compared column: the value as the store reads it (PostgreSQL's text output, a SQLite value with its
   * storage class), or undefined where the store's read is not exact (the canonical value is written then).
   */
  readonly values: readonly unknown[];
  /** True for a row read back from the ledger rather than from a store (see `parseNativeJson`). */
  readonly unchecked?: boolean;
}

const NATIVE: unique symbol = Symbol("concord.native");

/** A values array that may carry its native row. */
type Carrier = { [NATIVE]?: NativeRow };

/**
 * Attaches `native` to `values` (the canonical values it spells) and returns `values`: a non-enumerable
 * symbol-keyed property, which JSON, spreading, slicing and deep equality ignore. (Not a WeakMap: 200k
 * records' entries cost about a second of ephemeron marking in the collections of a large repair.)
 */
export function withNative<T extends readonly CanonicalValue[]>(values: T, native: NativeRow): T {
  Object.defineProperty(values, NATIVE, { value: native, configurable: true });
  return values;
}

/** The native row attached to `values`, if any. */
export function nativeOf(values: readonly CanonicalValue[] | null | undefined): NativeRow | undefined {
  return values ? (values as Carrier)[NATIVE] : undefined;
}

/**
 * Column `c`'s native value in `values`' native row, when it was read by `store` from a column of type
 * `nativeType` and is exact (and, for a row read back from the ledger, reads as `values[c]` by `check`);
 * undefined otherwise (write the canonical value).
 */
export function nativeValueAt(
  values: readonly CanonicalValue[] | null | undefined,
  c: number,
  store: string,
  nativeType: string,
  /** For an `unchecked` row: the canonical value the native one reads as in the column (throws or not). */
  check?: (native: unknown) => CanonicalValue,
): unknown {
  const native = nativeOf(values);
  if (!native || (native.stores?.[c] ?? native.store) !== store || native.types[c] !== nativeType)
    return undefined;
  const v = native.values[c];
  if (!native.unchecked || v === undefined || v === null) return v;
  try {
    return check && check(v) === values![c] ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A native row as JSON text (for the repair ledger's before image, which a rollback writes back): strings as
 * they are, SQLite's integers `{"i":"…"}`, reals `{"r":n}` (-0 as `{"r":"-0"}`), bytes `{"x":"<hex>"}`; a
 * value not kept is null. A text store's value spelt as its canonical value in `canonical` (a text, a bigint,
 * most numbers) is not kept either: the canonical text writes it the same. Null when no value is kept, so a
 * row of such columns costs the ledger nothing (a 1M / 100k repair's 70,000 before images: 14 MB).
 * SQLite's strings are kept whatever they spell: their storage class is what the native value preserves.
 */
export function nativeJson(
  native: NativeRow | undefined,
  canonical: readonly CanonicalValue[] | null | undefined,
): string | null {
  if (!native) return null;
  let kept = false;
  const values = native.values.map((v, c) => {
    const textStore = (native.stores?.[c] ?? native.store) !== "sqlite";
    if (textStore && typeof v === "string" && v === canonical?.[c]) return null;
    if (v !== undefined && v !== null) kept = true;
    if (v === undefined || v === null || typeof v === "string") return v ?? null;
    if (typeof v === "bigint") return { i: v.toString() };
    // JSON has no -0 (nor NaN, which no store here hands over): -0 as its text.
    if (typeof v === "number") return { r: Object.is(v, -0) ? "-0" : v };
    if (v instanceof Uint8Array) return { x: Buffer.from(v).toString("hex") };
    return null;
  });
  if (!kept) return null;
  const stores = native.stores?.map((s) => s ?? null);
  return JSON.stringify({ store: native.store, types: native.types, values, ...(stores ? { stores } : {}) });
}

/**
 * The native row `nativeJson` wrote, or undefined for none or for text it did not write. It is `unchecked`:
 * read from the ledger, which no audit entry vouches for, so a connector writes a value of it only where it
 * reads as the canonical value it stands for (`nativeValueAt`'s `check`).
 */
export function parseNativeJson(text: string | null | undefined): NativeRow | undefined {
  if (!text) return undefined;
  try {
    const o = JSON.parse(text) as { store?: unknown; types?: unknown; values?: unknown; stores?: unknown };
    if (typeof o.store !== "string" || !Array.isArray(o.types) || !Array.isArray(o.values)) return undefined;
    const stores = Array.isArray(o.stores)
      ? o.stores.map((s: unknown) => (typeof s === "string" ? s : undefined))
      : undefined;
    const values = o.values.map((v: unknown) => {
      if (v === null || typeof v === "string") return v ?? undefined;
      if (typeof v !== "object") return undefined;
      const tagged = v as { i?: unknown; r?: unknown; x?: unknown };
      if (typeof tagged.i === "string" && /^-?\d+$/.test(tagged.i)) return BigInt(tagged.i);
      if (typeof tagged.r === "number") return tagged.r;
      if (tagged.r === "-0") return -0;
      if (typeof tagged.x === "string" && /^(?:[0-9a-f]{2})*$/.test(tagged.x))
        return Buffer.from(tagged.x, "hex");
      return undefined;
    });
    return {
      store: o.store,
      types: o.types.map(String),
      values,
      ...(stores ? { stores } : {}),
      unchecked: true,
    };
  } catch {
    return undefined;
  }
}
