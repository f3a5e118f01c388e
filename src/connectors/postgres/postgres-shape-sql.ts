/** The SQL one record shape needs against one PostgreSQL table: key order, range predicates, fingerprints. Builds text only: no I/O. */
import { type CanonicalValue, type ColumnType, canonicalValue } from "../../core/canonical.js";
import {
  compareKeys,
  type Key,
  type KeyRange,
  keyHasNull,
  type RecordShape,
  type StoredRecord,
} from "../../core/model.js";
import { type NativeRow, nativeValueAt, withNative } from "../../core/native-values.js";
import { RowCodec } from "../../core/row-codec.js";
import { type KeyCompareTerm, keyEqualsSql, keyRangeSql } from "../key-compare-sql.js";
import type { RowHash } from "../row-hash.js";
import { canonicalFloatArray, numberArrayElement } from "./postgres-array-text.js";
import {
  clientSideReason,
  encodeRowSql,
  postgresCanonicalSql,
  quoteName,
  rawSql,
} from "./postgres-canonical-sql.js";
import { type PgColumn, TEXT_BASE_TYPES } from "./postgres-column-types.js";
import { postgresNativeHashable, postgresNativeHashSql } from "./postgres-native-hash.js";
import type { PgIndex } from "./postgres-table-meta.js";

/**
 * Positional parameters of one statement; `add` returns the typed placeholder. `inline`: the values are
 * spelled into the text as typed literals instead (`values` stays empty), for a statement sent with others
 * in one simple-protocol message, which takes no parameters.
 */
export class Params {
  readonly values: unknown[] = [];

  constructor(private readonly inline = false) {}

  add(value: unknown, type: string): string {
    // A bytea key part is its lowercase hex (`KeyPart`): handed to PostgreSQL in bytea's hex input, `\x00ff`.
    if (type === "bytea") value = byteaInput(value);
    else if (type === "bytea[]" && Array.isArray(value)) value = value.map(byteaInput);
    if (this.inline) return `${sqlLiteral(value)}::${type}`;
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

/** A bytes key part (lowercase hex, or NULL) in bytea's hex input format. */
export function byteaInput(value: unknown): unknown {
  return typeof value === "string" ? `\\x${value}` : value;
}

/**
 * A value as an SQL literal that reads the same whatever `standard_conforming_strings` says (as the driver's
 * `escapeLiteral` spells it): NULL, or a quoted string with its quotes doubled, and its backslashes doubled
 * under E'' when it holds any. An array (of strings or NULLs, as key parts are) is spelled as the driver
 * sends it, `{"a","b\\"c",NULL}`, inside such a string.
 */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  const text = (
    Array.isArray(value)
      ? `{${value
          .map((v: unknown) =>
            v === null || v === undefined
              ? "NULL"
              : `"${String(v).replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`,
          )
          .join(",")}}`
      : String(value)
  ).replaceAll("'", "''");
  return text.includes("\\") ? ` E'${text.replaceAll("\\", "\\\\")}'` : `'${text}'`;
}

/** How one key column is compared, ordered and read. */
export interface KeyPart {
  readonly name: string;
  /** Comparisons and ORDER BY: binary (code point) order for text, numeric order for integers. */
  readonly order: string;
  /** Equality lookups: the plain column, so an index in any deterministic collation serves them. */
  readonly eq: string;
  /**
   * Under a nondeterministic collation `eq` also matches other bytes ('a' = 'A' case-insensitively): this
   * byte comparison (`t.k COLLATE "C"`) then narrows every lookup to the key itself; undefined otherwise.
   */
  readonly exact?: string;
  /** The PostgreSQL type parameters for this part are cast to. */
  readonly param: "int8" | "numeric" | "text" | "uuid" | "bytea";
  /** The canonical text of the part. */
  readonly out: string;
  /**
   * True when the column may hold NULL (a nullable unique key): its comparisons are NULL-aware and it is
   * ordered `NULLS FIRST`, Concord's key order (PostgreSQL's own default puts NULLs last).
   */
  readonly nullable: boolean;
}

/** A column of a shape that is fingerprinted in the engine rather than in PostgreSQL, and why. */
export interface ClientSideColumn {
  readonly column: string;
  readonly nativeType: string;
  readonly reason: string;
}

/** A key range after clamping integer bounds to bigint; null bounds are open. */
export interface PgRange {
  readonly lo: Key | null;
  readonly hi: Key | null;
}

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** Columns are always referenced through this alias of the table. */
export const T = "t";

/**
 * Everything shape-specific, built once per (shape, table). `pushdown` is true when every column has an
 * exact canonical expression in SQL (see `canonicalSql`); then fingerprints are `left(md5(encoding), 16)`
 * computed by PostgreSQL. Otherwise rows are read raw and fingerprinted by the engine's RowCodec.
 */
export class PostgresShapeSql {
  readonly codec: RowCodec;
  readonly keys: readonly KeyPart[];
  readonly clientSide: readonly ClientSideColumn[];
  readonly pushdown: boolean;
  /** Shapes that read float text need `extra_float_digits` ≥ 1 (shortest round-trip output). */
  readonly readsFloats: boolean;
  /** True when a btree index serves the key order, so ranges and ordered reads are index range scans. */
  readonly indexed: boolean;
  /** Select list: canonical key texts. */
  readonly keyOut: string;
  /** Select list: raw texts of key and compared columns, for RowCodec. */
  readonly rawList: string;
  /**
   * Compared columns (by position in `shape.columns`) whose raw read is not their exact text (a numeric
   * array's elements lose their trailing zeros): their `::text` is read after the raw texts (`fetchList`).
   */
  readonly nativeExtra: readonly number[];
  /** `rawList` and then the `::text` of each `nativeExtra` column: what a record fetch selects (`record`). */
  readonly fetchList: string;
  /**
   * By compared column: how its exact text is found in a fetched row (`record`): `raw` (its raw text is
   * exact), `extra` (read after the raw texts) or `none` (written canonically: timestamps, bytea, money,
   * inet and the length-limited texts, whose canonical value is what their write spells).
   */
  private readonly nativeKind: readonly ("raw" | "extra" | "none")[];
  private readonly nativeTypes: readonly string[];
  readonly orderBy: string;
  /** Native column of each shape column (key columns first). */
  readonly native: readonly PgColumn[];
  private readonly encoding: string | undefined;
  /** The canonical encoding of the key alone (see `keyHash32`); only when `pushdown`. */
  private readonly keyEncoding: string | undefined;
  /**
   * True when an equal native row hash means equal canonical texts: pushed-down shapes whose columns all
   * have a native hash (see `postgresNativeHashable`).
   */
  readonly nativeHashable: boolean;

  constructor(
    readonly shape: RecordShape,
    columns: ReadonlyMap<string, PgColumn>,
    indexes: readonly PgIndex[],
    readonly table: string,
    /** What reads select from: the table, or `(SELECT * FROM table WHERE <row filter>)` (config `where:`). */
    readonly source: string = table,
  ) {
    const all = [...shape.key, ...shape.columns];
    this.native = all.map((c) => {
      const col = columns.get(c.name);
      if (!col) throw new Error(`column ${c.name} does not exist in ${table}`);
      return col;
    });
    this.codec = new RowCodec(
      shape,
      all.map((c, i) =>
        c.type === "text" && numberArrayElement(this.native[i]!.baseType) === "float"
          ? canonicalFloatArray
          : undefined,
      ),
    );
    this.keys = shape.key.map((c, i) => {
      const col = this.native[i]!;
      return { ...keyPart(c.name, c.type, col), nullable: !col.notNull };
    });
    const clientSide: ClientSideColumn[] = [];
    const parts: { expr: string; type: ColumnType; key: boolean }[] = [];
    all.forEach((c, i) => {
      const col = this.native[i]!;
      const expr = postgresCanonicalSql(ref(c.name), col, c.type);
      if (expr === undefined)
        clientSide.push({
          column: c.name,
          nativeType: col.nativeType,
          reason: clientSideReason(col, c.type),
        });
      // A key part that may hold NULL is encoded like any nullable column (\\N): NULL, never '' or 'NULL'.
      else parts.push({ expr, type: c.type, key: i < shape.key.length && col.notNull });
    });
    this.clientSide = clientSide;
    this.pushdown = clientSide.length === 0;
    this.encoding = this.pushdown ? encodeRowSql(parts) : undefined;
    this.keyEncoding = this.pushdown ? encodeRowSql(parts.slice(0, shape.key.length)) : undefined;
    this.nativeHashable = this.pushdown && postgresNativeHashable(shape, this.native);
    this.readsFloats = this.native.some((c) => /^_?float[48]$/.test(c.baseType));
    this.indexed = indexes.some((ix) =>
      this.keys.every(
        (k, i) =>
          servesOrder(k, this.native[i]!, ix.columns[i]) && (!k.nullable || ix.columns[i]!.nullsFirst),
      ),
    );
    this.keyOut = this.keys.map((k) => k.out).join(", ");
    this.rawList = all.map((c, i) => rawSql(ref(c.name), this.native[i]!, c.type)).join(", ");
    const width = shape.key.length;
    this.nativeKind = shape.columns.map((_, j) => nativeKindOf(this.native[width + j]!));
    this.nativeExtra = this.nativeKind.flatMap((k, j) => (k === "extra" ? [j] : []));
    this.nativeTypes = shape.columns.map((_, j) => this.native[width + j]!.nativeType);
    this.fetchList = [
      this.rawList,
      ...this.nativeExtra.map((j) => `(${ref(shape.columns[j]!.name)})::text`),
    ].join(", ");
    this.orderBy = this.orderIn("ASC");
  }

  /**
   * The source's own text of compared column `c` of `values` where a repair writes it (read by PostgreSQL from
   * a column of this very type, and, from the ledger, reading as the vouched value: `nativeValueAt`), else
   * undefined (the canonical value is written). The write and `repair --print` both ask here.
   */
  exactText(values: readonly CanonicalValue[], c: number): string | undefined {
    const exact = nativeValueAt(
      values,
      c,
      "postgres",
      this.native[this.shape.key.length + c]!.nativeType,
      (t) => this.nativeCanonical(c, t),
    );
    return typeof exact === "string" ? exact : undefined;
  }

  /**
   * The canonical value compared column `c`'s native text reads as (what `record` would make of it): a numeric
   * array's elements trimmed as `rawSql` trims them, a float array's laid out as the codec lays them out.
   */
  nativeCanonical(c: number, text: unknown): CanonicalValue {
    const column = this.native[this.shape.key.length + c]!;
    const type = this.shape.columns[c]!.type;
    if (typeof text !== "string") return null;
    if (column.baseType === "_numeric")
      return canonicalValue(
        type,
        text.replace(/\.([0-9]*[1-9])?0+(?=[,}])/g, ".$1").replace(/\.(?=[,}])/g, ""),
      );
    if (type === "text" && numberArrayElement(column.baseType) === "float")
      return canonicalValue(type, canonicalFloatArray(text));
    return canonicalValue(type, text);
  }

  /**
   * A record from a row read with `fetchList`'s items (at `at`; the `nativeExtra` texts at `extraAt`), with
   * its values' exact texts attached (`withNative`), which a repair writes into a PostgreSQL column of the
   * same type instead of the canonical text.
   */
  record(row: ArrayLike<unknown>, at = 0, extraAt = at + this.codec.width): StoredRecord {
    const rec = this.codec.record(row, at);
    const width = this.shape.key.length;
    const values: unknown[] = new Array(this.nativeKind.length);
    let extra = 0;
    for (let j = 0; j < this.nativeKind.length; j++) {
      const kind = this.nativeKind[j];
      values[j] =
        kind === "raw" ? row[at + width + j] : kind === "extra" ? row[extraAt + extra++] : undefined;
    }
    const native: NativeRow = { store: "postgres", types: this.nativeTypes, values };
    withNative(rec.values, native);
    return rec;
  }

  /** ORDER BY list in key order (`ASC`) or its reverse (`DESC`): NULL first ascending, last descending. */
  orderIn(dir: "ASC" | "DESC"): string {
    const nulls = dir === "ASC" ? " NULLS FIRST" : " NULLS LAST";
    return this.keys
      .map((k) => `${k.order}${dir === "DESC" ? " DESC" : ""}${k.nullable ? nulls : ""}`)
      .join(", ");
  }

  /** True when a key column may hold NULL: comparisons and bounds are then NULL-aware (see `KeyPart.nullable`). */
  get nullableKey(): boolean {
    return this.keys.some((k) => k.nullable);
  }

  /** `left(md5(encoding), 16)`: the fingerprint, computed by PostgreSQL. Only when `pushdown`. */
  fingerprint(): string {
    return `left(md5(${this.requireEncoding()}), 16)`;
  }

  /** The fingerprint as a signed 64-bit integer, for `bit_xor`. Only when `pushdown`. */
  fingerprint64(): string {
    return `('x' || left(md5(${this.requireEncoding()}), 16))::bit(64)::int8`;
  }

  /**
   * A store-native 64-bit row hash: `hash_record_extended` over the key and compared columns, text under
   * COLLATE "C" (bytes, whatever the column's collation). Only when `nativeHashable`.
   */
  nativeHash64(): string {
    if (!this.nativeHashable) throw new Error("shape has no native row hash");
    const refs = [...this.shape.key, ...this.shape.columns].map((c) => ref(c.name));
    return postgresNativeHashSql(refs, this.native);
  }

  /**
   * The key's bucket among `modulus` buckets (a bigint placeholder), exactly as `keyBucket` computes it:
   * the first 32 bits of MD5 over the key's canonical encoding, unsigned, modulo `modulus`. Only when
   * `pushdown`. With `hash` "native" (only when `nativeHashable`), the residue of the key's native hash
   * instead: cheaper, and the same among tables with equal native signatures only.
   */
  bucket(modulus: string, hash: RowHash = "fingerprint"): string {
    if (hash === "native") {
      // The key's native hash, reduced to a residue in [0, modulus) (`%` keeps the dividend's sign).
      const refs = this.shape.key.map((c) => ref(c.name));
      const h = postgresNativeHashSql(refs, this.native.slice(0, refs.length));
      return `(((${h} % ${modulus}) + ${modulus}) % ${modulus})`;
    }
    if (this.keyEncoding === undefined) throw new Error("shape is fingerprinted client-side");
    return `(('x' || left(md5(${this.keyEncoding}), 8))::bit(32)::int8 % ${modulus})`;
  }

  private requireEncoding(): string {
    if (this.encoding === undefined) throw new Error("shape is fingerprinted client-side");
    return this.encoding;
  }

  /** The key parts as a comparable tuple (a bare expression for one column). */
  tuple(): string {
    const orders = this.keys.map((k) => k.order);
    return orders.length === 1 ? orders[0]! : `(${orders.join(", ")})`;
  }

  /** A key without NULL parts as typed placeholders, shaped like `tuple()`. */
  keyParams(key: Key, params: Params): string {
    const marks = this.keys.map((k, i) => params.add(key[i], k.param));
    return marks.length === 1 ? marks[0]! : `(${marks.join(", ")})`;
  }

  /** A key as NULL-aware comparison terms, its non-NULL parts as typed placeholders. */
  private terms(key: Key, params: Params): KeyCompareTerm[] {
    return this.keys.map((k, i) => {
      const v = key[i] ?? null;
      return {
        expr: k.order,
        bound: v === null ? "NULL" : params.add(v, k.param),
        boundNull: v === null,
        nullable: k.nullable,
      };
    });
  }

  /**
   * The rows between the columns `lo` (inclusive) and `hi` (exclusive) of a derived table (one column per key
   * part, null for an open end), whose NULL parts are `loNull` and `hiNull` (known for every row of the
   * table: callers group bounds by them). NULL-aware (see `KeyPart.nullable`) where needed, with plain
   * bounds an index range scan can use.
   */
  rangeColumns(
    lo: readonly string[] | null,
    hi: readonly string[] | null,
    loNull: readonly boolean[],
    hiNull: readonly boolean[],
  ): string {
    const tuple = (cols: readonly string[]) => (cols.length === 1 ? cols[0]! : `(${cols.join(", ")})`);
    if (!this.nullableKey && !loNull.includes(true) && !hiNull.includes(true)) {
      const parts: string[] = [];
      if (lo) parts.push(`${this.tuple()} >= ${tuple(lo)}`);
      if (hi) parts.push(`${this.tuple()} < ${tuple(hi)}`);
      return parts.join(" AND ");
    }
    const terms = (cols: readonly string[], nulls: readonly boolean[]): KeyCompareTerm[] =>
      this.keys.map((k, i) => ({
        expr: k.order,
        bound: cols[i]!,
        boundNull: nulls[i]!,
        nullable: k.nullable,
      }));
    return keyRangeSql(lo ? terms(lo, loNull) : null, hi ? terms(hi, hiNull) : null, { rowValues: true });
  }

  /**
   * The range with integer bounds clamped to bigint (a bound below or above every bigint opens the range
   * or empties it), or null when no row can lie in it. Only the first key part can be clamped this way;
   * an out-of-range integer in a later part is an error.
   */
  normalize(range: KeyRange): PgRange | null {
    let { lo, hi } = range;
    for (const bound of [lo, hi]) {
      this.keys.forEach((k, i) => {
        const v = bound?.[i] ?? null;
        if (i > 0 && v !== null && k.param === "int8" && !fitsInt8(v))
          throw new Error(`key bound ${JSON.stringify(bound)} is out of range for bigint`);
      });
    }
    if (this.keys[0]!.param === "int8") {
      if (lo && lo[0] !== null) {
        const v = BigInt(lo[0]!);
        if (v > INT8_MAX) return null;
        if (v < INT8_MIN) lo = null;
      }
      if (hi && hi[0] !== null) {
        const v = BigInt(hi[0]!);
        if (v < INT8_MIN) return null;
        if (v > INT8_MAX) hi = null;
      }
    }
    if (lo) {
      const cut = this.withoutNul(lo);
      if (cut === undefined) return null;
      lo = cut;
    }
    if (hi) hi = this.withoutNul(hi) ?? null;
    if (lo && hi && compareKeys(this.shape.key, lo, hi) >= 0) return null;
    return { lo, hi };
  }

  /**
   * A bound with key parts PostgreSQL cannot take, as the bound that cuts the column's keys at the same
   * place. A uuid part that is no uuid in its canonical spelling (another store's text key: `not-a-uuid`,
   * upper case), which PostgreSQL refuses or reads as another key, becomes the least canonical uuid at or
   * above it (`ceilUuid`), the parts after it NULL; with none above it, undefined (a lower bound above every
   * key: no row; an upper bound: open). A bound with text parts holding U+0000 (another store's key: MariaDB and SQLite text may hold NUL), which
   * PostgreSQL refuses as a parameter, as the bound that cuts the table's keys (which hold no NUL) at the same
   * place: the first such part `p + "\0" + rest` becomes `p + "\u0001"` and the parts after it NULL (first in
   * Concord's key order). For a NUL-free text s, s >= p + "\0"… and s > p and s >= p + "\u0001" are one
   * condition, so is s < p + "\0"… and s <= p and s < p + "\u0001"; a bound's later parts then no longer
   * matter, and NULL, below every value, lets them not. The bound unchanged when no text part holds NUL.
   */
  private withoutNul(bound: Key): Key | undefined {
    const j = this.keys.findIndex(
      (k, i) =>
        (k.param === "text" && bound[i]?.includes("\u0000")) ||
        (k.param === "uuid" && bound[i] != null && !CANONICAL_UUID.test(bound[i]!)),
    );
    if (j < 0) return bound;
    const part = bound[j]!;
    const cut =
      this.keys[j]!.param === "uuid" ? ceilUuid(part) : `${part.slice(0, part.indexOf("\u0000"))}\u0001`;
    if (cut === undefined) return undefined;
    return bound.map((v, i) => (i < j ? v : i === j ? cut : null));
  }

  /** Predicates (joined with AND, or "" for the full range) that keep the rows of a normalised range. */
  rangeWhere(range: PgRange, params: Params): string {
    return this.pageWhere(range, null, params);
  }

  /**
   * Predicates for the keys of `range` strictly after `after` (keyset pagination), or of the whole range;
   * NULL-aware (see `KeyPart.nullable`) when a key column may hold NULL or a bound has a NULL part.
   */
  pageWhere(range: PgRange, after: Key | null, params: Params): string {
    const lo = after ?? range.lo;
    if (this.nullableKey || (lo !== null && keyHasNull(lo)) || (range.hi !== null && keyHasNull(range.hi)))
      return keyRangeSql(lo ? this.terms(lo, params) : null, range.hi ? this.terms(range.hi, params) : null, {
        loStrict: after !== null,
        rowValues: true,
      });
    const parts: string[] = [];
    if (lo) parts.push(`${this.tuple()} ${after ? ">" : ">="} ${this.keyParams(lo, params)}`);
    if (range.hi) parts.push(`${this.tuple()} < ${this.keyParams(range.hi, params)}`);
    return parts.join(" AND ");
  }

  /** A condition matching exactly `key`, `IS NULL` for its NULL parts (never `= NULL`, which matches no row). */
  keyEquals(key: Key, params: Params): string {
    const terms = this.keys.map((k, i) => {
      const v = key[i] ?? null;
      return {
        expr: k.eq,
        bound: v === null ? "NULL" : params.add(v, k.param),
        boundNull: v === null,
        nullable: true,
      };
    });
    const exact = this.keys.flatMap((k, i) =>
      k.exact && key[i] !== null ? [`${k.exact} = ${terms[i]!.bound}`] : [],
    );
    return [keyEqualsSql(terms), ...exact].join(" AND ");
  }

  /**
   * `<key> IN (<keys>)`: `= ANY($1)` for one column, a join against unnest of one array per part otherwise.
   * Under a nondeterministic collation a key matches only its own bytes (see `KeyPart.exact`).
   */
  keyIn(keys: readonly Key[], params: Params): string {
    const plain = keys.filter((k) => !keyHasNull(k));
    // A key with NULL parts matches by IS NULL there, which no array comparison says: one condition each.
    const nulls = keys.filter(keyHasNull).map((k) => `(${this.keyEquals(k, params)})`);
    if (nulls.length === 0) return this.plainKeyIn(plain, params);
    if (plain.length === 0) return `(${nulls.join(" OR ")})`;
    return `((${this.plainKeyIn(plain, params)}) OR ${nulls.join(" OR ")})`;
  }

  private plainKeyIn(keys: readonly Key[], params: Params): string {
    if (this.keys.length === 1) {
      const k = this.keys[0]!;
      const any = `ANY(${params.add(
        keys.map((key) => key[0]),
        `${k.param}[]`,
      )})`;
      return k.exact ? `${k.eq} = ${any} AND ${k.exact} = ${any}` : `${k.eq} = ${any}`;
    }
    const arrays = this.keys.map((k, i) =>
      params.add(
        keys.map((key) => key[i]),
        `${k.param}[]`,
      ),
    );
    const tuple = (parts: readonly string[]) =>
      `(${parts.join(", ")}) IN (SELECT * FROM unnest(${arrays.join(", ")}))`;
    const loose = tuple(this.keys.map((k) => k.eq));
    return this.keys.some((k) => k.exact)
      ? `${loose} AND ${tuple(this.keys.map((k) => k.exact ?? k.eq))}`
      : loose;
  }

  /**
   * `<key part> = <placeholder>` for lookups: the column's own equality (served by its indexes), narrowed to
   * byte equality under a nondeterministic collation.
   */
  static equals(k: KeyPart, placeholder: string): string {
    const eq = `${k.eq} = ${placeholder}`;
    return k.exact ? `${eq} AND ${k.exact} = ${placeholder}` : eq;
  }

  /**
   * True when the key can be looked up: integer parts within bigint, text parts without U+0000 (or NULL).
   * Another names no row the table can hold (PostgreSQL text holds no NUL, and refuses it as a parameter):
   * such a key is absent, as a read of another store's key must find it, not a failed read.
   */
  lookupable(key: Key): boolean {
    return this.keys.every((k, i) => {
      const part = key[i];
      if (part === null || part === undefined) return true;
      if (k.param === "int8") return fitsInt8(part);
      if (k.param === "uuid") return CANONICAL_UUID.test(part);
      return k.param === "bytea" || !part.includes("\u0000");
    });
  }
}

/**
 * Where a column's exact text is read (see `PostgresShapeSql.record`): types whose write is not a plain cast
 * of the text to the column's type, or whose canonical value already is their exact value, are written
 * canonically (`none`); a numeric array's raw read trims its elements (`extra`); the rest read `::text` or a
 * text a cast gives back as the same value (a real as its double's text, a float array before its elements
 * are laid out).
 */
function nativeKindOf(column: PgColumn): "raw" | "extra" | "none" {
  switch (column.baseType) {
    case "timestamptz":
    case "timestamp":
    case "date":
    case "time":
    case "bytea":
    case "money":
    case "inet":
    case "varchar":
    case "bpchar":
    case "bit":
    case "varbit":
      return "none";
    case "_numeric":
      return "extra";
    default:
      return "raw";
  }
}

/** A column reference through the table alias. */
export function ref(name: string): string {
  return `${T}.${quoteName(name)}`;
}

/** A uuid as PostgreSQL prints it: the only spelling a uuid key column's keys have. */
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The least canonical uuid text at or above `text` by code point (the order of PostgreSQL's uuid, that of its
 * bytes), or undefined when `text` is above every uuid: the longest prefix spelt like a uuid, then at the
 * first character that is not, the least allowed one above it (or above an earlier one), then zeros.
 */
export function ceilUuid(text: string): string | undefined {
  const allowed = (i: number) => (i === 8 || i === 13 || i === 18 || i === 23 ? "-" : "0123456789abcdef");
  const complete = (prefix: string) => {
    let out = prefix;
    for (let i = prefix.length; i < 36; i++) out += allowed(i)[0];
    return out;
  };
  let i = 0;
  while (i < text.length && i < 36 && allowed(i).includes(text[i]!)) i++;
  if (i === text.length) return complete(text);
  for (let j = Math.min(i, 35); j >= 0; j--) {
    const next = [...allowed(j)].find((c) => c > text[j]!);
    if (next) return complete(text.slice(0, j) + next);
  }
  return undefined;
}

function fitsInt8(text: string): boolean {
  try {
    const v = BigInt(text);
    return v >= INT8_MIN && v <= INT8_MAX;
  } catch {
    return false;
  }
}

/** True when an index column orders a key part exactly as its `order` expression does. */
function servesOrder(
  k: Omit<KeyPart, "nullable">,
  col: PgColumn,
  ix: { name: string; collation: string } | undefined,
): boolean {
  if (!ix || ix.name !== k.name) return false;
  if (k.order === k.eq) return ix.collation === col.collation;
  // A COLLATE "C" comparison can use only an index built in collation "C".
  return k.order === `${k.eq} COLLATE "C"` && ix.collation === "C";
}

function keyPart(name: string, type: ColumnType, col: PgColumn): Omit<KeyPart, "nullable"> {
  const r = ref(name);
  const base = col.baseType;
  if (type === "integer") {
    if (base === "int2" || base === "int4" || base === "int8")
      return { name, order: r, eq: r, param: "int8", out: `${r}::text` };
    if (base === "numeric") return { name, order: r, eq: r, param: "numeric", out: `trim_scale(${r})::text` };
    throw new Error(`key column ${name} is ${col.nativeType}, which cannot be read as an integer key`);
  }
  if (type === "bytes") {
    // bytea orders by its bytes (memcmp, a prefix first), as lowercase hex does by code point.
    if (base === "bytea") return { name, order: r, eq: r, param: "bytea", out: `encode(${r}, 'hex')` };
    throw new Error(`key column ${name} is ${col.nativeType}, which cannot be read as a bytes key`);
  }
  if (type !== "text") throw new Error(`key column ${name} is ${type}; keys must be integer, text or bytes`);
  if (TEXT_BASE_TYPES.has(base)) {
    return {
      name,
      order: col.binaryCollation ? r : `${r} COLLATE "C"`,
      eq: r,
      ...(col.deterministic ? {} : { exact: `${r} COLLATE "C"` }),
      param: "text",
      out: col.deterministic ? `${r}::text` : `${r}::text COLLATE "C"`,
    };
  }
  // uuid's own order is that of its lowercase hex text.
  if (base === "uuid") return { name, order: r, eq: r, param: "uuid", out: `${r}::text` };
  const raw = rawSql(r, col);
  return { name, order: `(${raw}) COLLATE "C"`, eq: raw, param: "text", out: raw };
}
