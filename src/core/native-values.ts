/**
 * A record's values as its store holds them, beside their canonical form: what a repair writes where the
 * target can hold the same representation (PostgreSQL `numeric` 1.50, a float's -0, a json text byte for byte,
 * SQLite's storage class). Pure: no I/O.
 *
 * The native row rides on the canonical values array itself (a weak side table keyed by the array, not a
 * property of it): comparison, fingerprints, decisions, JSON output and the ledger see the canonical values
 * only, and any step that builds a new array (a merge, a ledger's image read back) leaves it behind, so the
 * write falls back to the canonical text, as before. Arrays are never mutated after they are read, so a native
 * row always spells the very values it is attached to.
 */
import type { CanonicalValue } from "./canonical.js";

/** One record's compared columns (shape order) as a store read them. */
export interface NativeRow {
  /** The kind of store that read them ("postgres", "mysql", "sqlite"): only that kind may write them. */
  readonly store: string;
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
}

const NATIVE = new WeakMap<readonly CanonicalValue[], NativeRow>();

/** Attaches `native` to `values` (the canonical values it spells) and returns `values`. */
export function withNative<T extends readonly CanonicalValue[]>(values: T, native: NativeRow): T {
  NATIVE.set(values, native);
  return values;
}

/** The native row attached to `values`, if any. */
export function nativeOf(values: readonly CanonicalValue[] | null | undefined): NativeRow | undefined {
  return values ? NATIVE.get(values) : undefined;
}

/**
 * Column `c`'s native value in `values`' native row, when it was read by `store` from a column of type
 * `nativeType` and is exact; undefined otherwise (write the canonical value).
 */
export function nativeValueAt(
  values: readonly CanonicalValue[] | null | undefined,
  c: number,
  store: string,
  nativeType: string,
): unknown {
  const native = nativeOf(values);
  if (!native || native.store !== store || native.types[c] !== nativeType) return undefined;
  return native.values[c];
}
