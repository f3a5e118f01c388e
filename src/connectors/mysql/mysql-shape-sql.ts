/** The SQL one record shape needs on one MariaDB/MySQL table: fingerprints, key predicates, bucket checksums. No I/O. */
import { escapeId } from "mysql2/promise";
import { type ColumnType, canonicalJsonValue, canonicalValue } from "../../core/canonical.js";
import { canonicalInetText } from "../../core/canonical-inet.js";
import {
  compareKeys,
  type Key,
  type KeyRange,
  keyHasNull,
  type RecordShape,
  type StoredRecord,
} from "../../core/model.js";
import { type NativeRow, nativeValueAt, withNative } from "../../core/native-values.js";
import { type RawReader, RowCodec } from "../../core/row-codec.js";
import { ConnectorError } from "../connector.js";
import {
  type KeyCompareTerm,
  keyCompareSql,
  keyEqualsSql,
  keyRangeSql,
  needsNullAware,
} from "../key-compare-sql.js";
import type { RowHash } from "../row-hash.js";
import {
  keyLiteral,
  keyOrderSql,
  mysqlCanonicalSql,
  mysqlReadSql,
  stringLiteral,
} from "./mysql-canonical-sql.js";
import {
  BINARY_TYPES,
  exactTextOrder,
  GEOMETRY_TYPES,
  isBinaryString,
  type MysqlColumn,
  mysqlLogicalType,
  TEXT_TYPES,
} from "./mysql-column-types.js";
import { LONG_TYPES, type NativeRowHash, nativeRowHash } from "./mysql-native-hash.js";
import { charsetHolds, writeLiteral } from "./mysql-write-literals.js";

/** Reads a MariaDB JSON document (held as text) as MariaDB's JSON functions do: a repeated name's first value. */
const firstWinsJson: RawReader = (raw) => canonicalJsonValue(raw, "first");

/** Reads an INET6's text as its canonical address (`canonicalInetText`). */
const inet6Address: RawReader = (raw) => {
  const text = canonicalValue("text", raw);
  return text === null ? null : canonicalInetText(text);
};

/** The reader a column needs in place of its logical type's `canonicalValue`, if any. */
function rawReader(type: ColumnType, col: MysqlColumn | undefined, mariadb: boolean): RawReader | undefined {
  if (!col) return undefined;
  if (type === "json" && mariadb && col.dataType !== "json") return firstWinsJson;
  if (type === "text" && col.dataType === "inet6") return inet6Address;
  return undefined;
}

/** Quotes a table name, allowing `schema.table`. */
export function quoteMysqlTable(name: string): string {
  return name
    .split(".")
    .map((part) => escapeId(part))
    .join(".");
}

const ALIAS = "t";

/** `k >= lit` (or `>`, `<`) for a key tuple, expanded lexicographically so the range optimizer can use the index. */
export function tupleCompare(
  exprs: readonly string[],
  lits: readonly string[],
  last: ">=" | ">" | "<",
): string {
  const strict = last === "<" ? "<" : ">";
  let out = `${exprs.at(-1)} ${last} ${lits.at(-1)}`;
  for (let i = exprs.length - 2; i >= 0; i--) {
    out = `(${exprs[i]} ${strict} ${lits[i]} OR (${exprs[i]} = ${lits[i]} AND ${out}))`;
  }
  return out;
}

/**
 * Compiled SQL for one RecordShape over one table. Every column is referenced through the alias `t`.
 * `pushable` is false when a column's canonical text cannot be built exactly in SQL (FLOAT/DOUBLE, JSON
 * before MariaDB 10.7 and MySQL 8's JSON, or a logical type declared over an unrelated native type): then
 * rows are fingerprinted by `codec`.
 */
export class MysqlShapeSql {
  readonly codec: RowCodec;
  /** The table with its alias: `db`.`items` AS t. */
  readonly table: string;
  /** The quoted table name alone (INSERT takes no alias). */
  readonly tableName: string;
  /** What range reads select from: `table`, or the rows of it the row filter keeps, aliased alike. */
  readonly source: string;
  readonly keyWidth: number;
  /** Raw key columns (`t`.`id`). */
  readonly keyRefs: readonly string[];
  /** Binary-safe key expressions for comparisons and ORDER BY. */
  readonly keyOrder: readonly string[];
  /** True when every key expression is a bare column, so ranges and ORDER BY can use the key's index. */
  readonly sargable: boolean;
  /**
   * Per key column, true when it may hold NULL (a nullable unique key): its comparisons are then NULL-aware
   * (NULL before every value, as MariaDB/MySQL order it ascending), never row-value comparisons.
   */
  readonly keyNullable: readonly boolean[];
  /** Columns (with native types) whose canonical text is computed in the engine, not in SQL. */
  readonly clientColumns: readonly string[];
  readonly pushable: boolean;
  /**
   * True when `fingerprint` is every row's canonical fingerprint (`pushable`, and no JSON column canonicalised
   * in SQL: a document SQL leaves to the engine has a fingerprint that is not the canonical one). Conditional
   * writes compare fingerprints with the engine's, so they read raw rows otherwise.
   */
  readonly fingerprintExact: boolean;
  /**
   * First 16 hex digits of MD5 of the canonical row encoding, built in SQL (only when `pushable`); NULL for a
   * row `oversize` marks, whose fingerprint the engine computes from its raw columns. A row whose JSON
   * document SQL cannot canonicalise exactly gets a fingerprint no other store's row has (see
   * `mariadbCanonicalJsonSql`): it is listed, fetched and fingerprinted by the engine.
   */
  readonly fingerprint: string;
  /**
   * A condition true for rows whose canonical text could pass max_allowed_packet, or null when no column can
   * be that long. The server builds no string longer than the packet (HEX, REPLACE and CONCAT return NULL
   * instead, with a warning), so such a row's fingerprint is left to the engine: in SQL a 9 MB blob would
   * read as NULL, equal to every other.
   */
  readonly oversize: string | null;
  /** The raw columns (a FLOAT widened to DOUBLE), key first, in shape order: what RowCodec reads. */
  readonly rawList: string;
  /** ` FORCE INDEX (...)` for the index on the key columns, or "". */
  readonly forceIndex: string;
  /**
   * The store-native row hash (see `nativeRowHash`), or null when a column has none. It does not need
   * `pushable`: a MariaDB JSON column has a native hash (its text) but no canonical SQL.
   */
  readonly native: NativeRowHash | null;
  private readonly types: readonly ColumnType[];
  private readonly natives: readonly MysqlColumn[];
  /** By compared column: its data and column type, as a record's native row names it (`record`). */
  private readonly nativeTypes: readonly string[];

  constructor(
    readonly shape: RecordShape,
    table: string,
    columns: ReadonlyMap<string, MysqlColumn>,
    keyIndex: string | null,
    /** The replica's row filter (config `where:`): an SQL predicate every range read applies. */
    filter?: string | undefined,
    /** True on MariaDB ≥ 10.7: JSON columns are canonicalised in SQL (`mariadbCanonicalJsonSql`). */
    jsonInSql = false,
    /**
     * True on MariaDB: a JSON document held as text means what MariaDB's JSON functions read (a repeated member
     * name's first value); MySQL 8's JSON type keeps the last.
     */
    mariadb = false,
  ) {
    this.codec = new RowCodec(
      shape,
      [],
      [...shape.key, ...shape.columns].map((c) => readAsHint(columns.get(c.name))),
      [...shape.key, ...shape.columns].map((c) => rawReader(c.type, columns.get(c.name), mariadb)),
    );
    this.tableName = quoteMysqlTable(table);
    this.table = `${this.tableName} AS ${ALIAS}`;
    // A derived table takes no index hint; MariaDB and MySQL merge it into the outer query, so the key's
    // index still serves its order and ranges.
    this.source = filter ? `(SELECT * FROM ${this.tableName} WHERE ${filter}) AS ${ALIAS}` : this.table;
    this.forceIndex = keyIndex && !filter ? ` FORCE INDEX (${escapeId(keyIndex)})` : "";
    const all = [...shape.key, ...shape.columns];
    this.natives = all.map((c) => {
      const native = columns.get(c.name);
      if (!native) throw new ConnectorError(`column ${c.name} does not exist in table ${table}`);
      return native;
    });
    this.types = all.map((c) => c.type);
    this.keyWidth = shape.key.length;
    this.nativeTypes = this.natives.slice(this.keyWidth).map((c) => `${c.dataType} ${c.columnType}`);
    const refs = all.map((c) => `${ALIAS}.${escapeId(c.name)}`);
    this.keyRefs = refs.slice(0, this.keyWidth);
    shape.key.forEach((c, i) => {
      // A bytes key is compared as its bytes only in a binary string; a text column has a collation.
      if (c.type === "bytes" && !isBinaryString(this.natives[i]!))
        throw new ConnectorError(
          `key column ${c.name} is ${this.natives[i]!.columnType} in table ${table}, which cannot be compared as a bytes key`,
        );
    });
    this.keyOrder = shape.key.map((c, i) => keyOrderSql(c.type, this.natives[i]!, refs[i]!));
    this.sargable = this.keyOrder.every((e, i) => e === refs[i]);
    this.keyNullable = this.natives.slice(0, this.keyWidth).map((n) => n.nullable);
    this.rawList = refs.map((ref, i) => mysqlReadSql(this.natives[i]!, ref)).join(", ");

    const parts: string[] = [];
    const client: string[] = [];
    all.forEach((c, i) => {
      const native = this.natives[i]!;
      const canon = mysqlCanonicalSql(c.type, native, refs[i]!, jsonInSql);
      if (canon === null) {
        client.push(`${c.name} (${native.columnType} as ${c.type})`);
        return;
      }
      // Only text and JSON can hold the separator or the escape character; null is \N.
      const escapeSql = (v: string) => `REPLACE(REPLACE(${v}, '\\\\', '\\\\\\\\'), '|', '\\\\|')`;
      const escaped = c.type === "text" || c.type === "json" ? escapeSql(canon) : canon;
      parts.push(!native.nullable ? escaped : `COALESCE(${escaped}, '\\\\N')`);
    });
    this.clientColumns = client;
    this.pushable = client.length === 0;
    this.fingerprintExact = this.pushable && !shape.columns.some((c) => c.type === "json");
    const long = this.natives.some((n) => LONG_TYPES.has(n.dataType));
    if (long && this.pushable) {
      // Canonical text is at most twice a string's bytes (hex; escapes), plus a little per other column.
      const lengths = refs
        .filter((_, i) => {
          const t = this.natives[i]!.dataType;
          return TEXT_TYPES.has(t) || BINARY_TYPES.has(t) || GEOMETRY_TYPES.has(t);
        })
        .map((ref) => `COALESCE(LENGTH(${ref}), 0)`);
      this.oversize = `(2 * (${lengths.join(" + ")}) + ${64 * all.length} > @@max_allowed_packet)`;
    } else this.oversize = null;
    // CONCAT, not CONCAT_WS: every part is already non-null, and it is the cheaper call per row.
    const md5 = `LEFT(MD5(CONCAT(${parts.join(", '|', ")})), 16)`;
    this.fingerprint = !this.pushable ? "" : this.oversize ? `IF(${this.oversize}, NULL, ${md5})` : md5;
    // A JSON column is hashed natively by its text (and canonicalised in SQL only on MariaDB ≥ 10.7); every
    // other column a native hash takes has canonical SQL too.
    this.native = nativeRowHash(all, this.natives, refs);
  }

  /** The per-row hash as 16 hex digits; the native one only when `native` is set. */
  rowHash(hash: RowHash): string {
    if (hash === "fingerprint") return this.fingerprint;
    if (!this.native) throw new ConnectorError("the shape has no native row hash");
    return this.native.expression;
  }

  /** Literals a key is compared with, matching `keyOrder` (`NULL` for a NULL part). */
  keyLiterals(key: Key): string[] {
    return this.shape.key.map((c, i) => {
      const v = key[i];
      return v === null || v === undefined ? "NULL" : keyLiteral(c.type, this.natives[i]!, v);
    });
  }

  /** A key as NULL-aware comparison terms against `keyOrder`. */
  private terms(key: Key): KeyCompareTerm[] {
    const lits = this.keyLiterals(key);
    return this.keyOrder.map((expr, i) => ({
      expr,
      bound: lits[i]!,
      boundNull: key[i] === null,
      nullable: this.keyNullable[i]!,
    }));
  }

  /** The key compared with `bound` by `op` in key order (NULL first), expanded so the index can serve it. */
  compareKey(bound: Key, op: ">=" | ">" | "<"): string {
    const terms = this.terms(bound);
    if (!needsNullAware(terms))
      return tupleCompare(
        this.keyOrder,
        terms.map((t) => t.bound),
        op,
      );
    return keyCompareSql(terms, op);
  }

  /** True when some comparison of this shape's keys must be NULL-aware (see `keyNullable`). */
  get nullableKey(): boolean {
    return this.keyNullable.some((n) => n);
  }

  /** The WHERE condition of a range (without WHERE), or "" for the whole table. */
  rangeCondition(range: KeyRange): string {
    return this.pageCondition(range, null);
  }

  /** The condition for the keys of `range` after `after` (keyset pagination), or of the whole range. */
  pageCondition(range: KeyRange, after: Key | null): string {
    const lo = after ?? range.lo;
    const bounds = [lo, range.hi].filter((b): b is Key => b !== null);
    if (this.nullableKey || bounds.some(keyHasNull))
      return keyRangeSql(lo ? this.terms(lo) : null, range.hi ? this.terms(range.hi) : null, {
        loStrict: after !== null,
      });
    const parts: string[] = [];
    if (lo) parts.push(this.compareKey(lo, after ? ">" : ">="));
    if (range.hi) parts.push(this.compareKey(range.hi, "<"));
    return parts.join(" AND ");
  }

  /** Keys strictly after `after` in key order. */
  afterCondition(after: Key): string {
    return this.compareKey(after, ">");
  }

  /** COLUMN_TYPE of shape column `i` (key columns first), as messages name it: `decimal(10,2)`. */
  columnType(i: number): string {
    return this.natives[i]!.columnType;
  }

  /**
   * The keys of any of `ranges` (ascending, disjoint, none empty; only the first may lack `lo`, only the last
   * `hi`), or "" for the whole table. Nested as a binary search, `(k < lo(mid) AND (first half)) OR (second
   * half)`, so a row costs about log2(n) comparisons: MariaDB checks the whole WHERE against every row the
   * index returns, and a flat OR of 256 ranges costs 128 on average (more than doubling the statement's
   * time at 64 rows a range). The range optimizer still reads either as one multi-range index scan of
   * exactly the ranges when the key is sargable (EXPLAIN: range on the key's index, no filesort).
   */
  rangesCondition(ranges: readonly KeyRange[]): string {
    const nest = (a: number, b: number): string => {
      if (b - a === 1) return this.rangeCondition(ranges[a]!);
      const mid = Math.floor((a + b) / 2);
      const guard = this.compareKey(ranges[mid]!.lo!, "<");
      return `(${guard} AND (${nest(a, mid)}) OR (${nest(mid, b)}))`;
    };
    return ranges.length === 0 ? "FALSE" : nest(0, ranges.length);
  }

  /**
   * What listing statements select per row: key columns and fingerprint (or native hash), or (not `pushable`)
   * the raw columns, key first, that the codec fingerprints.
   */
  listColumns(hash: RowHash = "fingerprint"): string {
    if (this.hashedInSql(hash)) return `${this.keyRefs.join(", ")}, ${this.rowHash(hash)}`;
    return this.rawList;
  }

  /** True when SQL computes the row hash (the native one always; the fingerprint when `pushable`). */
  hashedInSql(hash: RowHash): boolean {
    return hash === "native" || this.pushable;
  }

  /**
   * One statement listing `listColumns` of the rows in any of `ranges` (as `rangesCondition` takes them)
   * after `after` (a resumed read), in key order through the key's index.
   */
  listSql(ranges: readonly KeyRange[], after: Key | null, hash: RowHash = "fingerprint"): string {
    const all = this.rangesCondition(ranges);
    const where = [after ? this.afterCondition(after) : "", all ? `(${all})` : ""]
      .filter((c) => c)
      .join(" AND ");
    return `SELECT ${this.listColumns(hash)} FROM ${this.source}${this.forceIndex}${where ? ` WHERE ${where}` : ""}${this.orderBy()}`;
  }

  where(range: KeyRange): string {
    const c = this.rangeCondition(range);
    return c ? ` WHERE ${c}` : "";
  }

  /**
   * FROM for an unordered read of a range: the key's index is forced for a bounded range (the optimizer
   * misjudges wide ones), left to the optimizer for the whole table (COUNT(*) may prefer a smaller index).
   */
  from(range: KeyRange): string {
    return `${this.source}${range.lo || range.hi ? this.forceIndex : ""}${this.where(range)}`;
  }

  orderBy(): string {
    return ` ORDER BY ${this.keyOrder.join(", ")}`;
  }

  /** Key columns whose collation equates distinct texts ('a' = 'A', 'a' = 'a '), with their collation. */
  lenientKeyColumns(): { name: string; collation: string }[] {
    return this.shape.key.flatMap((c, i) => {
      const n = this.natives[i]!;
      return c.type === "text" && !exactTextOrder(n) && !isBinaryString(n)
        ? [{ name: c.name, collation: n.collation ?? "?" }]
        : [];
    });
  }

  /**
   * One statement finding, for each key, a row whose key differs from it but equals it under the key
   * columns' collations (the row an INSERT of that key collides with): rows of (position in `keys`, key…).
   */
  collidingKeysSql(keys: readonly Key[]): string {
    return keys
      .map((key, i) => {
        const lits = this.keyLiterals(key);
        const exact = this.keyOrder.map((e, j) => `${e} = ${lits[j]}`).join(" AND ");
        const lenient = this.keyRefs
          .map(
            (ref, j) =>
              `${ref} = ${this.shape.key[j]!.type === "text" ? stringLiteral(key[j]!) : keyLiteral(this.shape.key[j]!.type, this.natives[j]!, key[j]!)}`,
          )
          .join(" AND ");
        return `(SELECT ${i}, ${this.keyRefs.join(", ")} FROM ${this.table} WHERE ${lenient} AND NOT (${exact}) LIMIT 1)`;
      })
      .join(" UNION ALL ");
  }

  /**
   * A condition matching exactly the given keys. Binary-compared text keys also get an equality on the
   * bare column, which is looser (case- or pad-insensitive) but lets the index find the candidates.
   */
  keysCondition(keys: readonly Key[]): string {
    const plain = keys.filter((k) => !keyHasNull(k));
    // A key with NULL parts matches by IS NULL there (never `= NULL`, which matches no row).
    const nulls = keys.filter(keyHasNull).map((k) => `(${keyEqualsSql(this.terms(k))})`);
    if (nulls.length === 0) return this.plainKeysCondition(plain);
    if (plain.length === 0) return nulls.join(" OR ");
    return `(${this.plainKeysCondition(plain)}) OR ${nulls.join(" OR ")}`;
  }

  private plainKeysCondition(keys: readonly Key[]): string {
    const loose = this.shape.key.map((c, i) => {
      const n = this.natives[i]!;
      return c.type === "text" && !exactTextOrder(n) && (n.charset ?? "").startsWith("utf8");
    });
    if (this.keyWidth === 1) {
      const exact = `${this.keyOrder[0]} IN (${keys.map((k) => this.keyLiterals(k)[0]).join(", ")})`;
      if (!loose[0]) return exact;
      return `${this.keyRefs[0]} IN (${keys.map((k) => stringLiteral(k[0]!)).join(", ")}) AND ${exact}`;
    }
    return keys
      .map((k) => {
        const lits = this.keyLiterals(k);
        const terms = this.keyOrder.map((e, i) => `${e} = ${lits[i]}`);
        loose.forEach((l, i) => {
          if (l) terms.unshift(`${this.keyRefs[i]} = ${stringLiteral(k[i]!)}`);
        });
        return `(${terms.join(" AND ")})`;
      })
      .join(" OR ");
  }

  /**
   * Ascending, disjoint `ranges` with each run of adjacent ones (one's `hi` equal to the next one's `lo`)
   * joined into one range: the same keys, in fewer conditions. A dense detection round lists runs of
   * adjacent leaves; each range costs the optimizer an index dive and each row about log2(ranges)
   * comparisons.
   */
  mergeAdjacent(ranges: readonly KeyRange[]): KeyRange[] {
    const out: KeyRange[] = [];
    for (const range of ranges) {
      const last = out.at(-1);
      if (last?.hi && range.lo && compareKeys(this.shape.key, last.hi, range.lo) === 0) {
        out[out.length - 1] = { lo: last.lo, hi: range.hi };
      } else out.push(range);
    }
    return out;
  }

  /** True when each range ends at or before the next one starts (what detection asks for). */
  ascendingDisjoint(ranges: readonly KeyRange[]): boolean {
    for (let i = 0; i + 1 < ranges.length; i++) {
      const hi = ranges[i]!.hi;
      const lo = ranges[i + 1]!.lo;
      if (!hi || !lo || compareKeys(this.shape.key, hi, lo) > 0) return false;
    }
    return true;
  }

  /**
   * True when the table can hold `key`: every text part is within its column's character set. Another (an
   * emoji beside a `utf8mb3` key, `ā` beside a `latin1` one) names no row, and the server refuses it in a
   * lookup ("Illegal mix of collations"): such a key is absent, as a read of another store's key must find it.
   */
  holdsKey(key: Key): boolean {
    return key.every((v, i) => {
      const charset = this.natives[i]!.charset;
      return v === null || charset === null || charsetHolds(charset, v);
    });
  }

  /** Refuses (UnstorableValueError, naming the key column) a key the table cannot hold (see `holdsKey`). */
  refuseUnholdableKey(key: Key): void {
    if (this.holdsKey(key)) return;
    for (const [i, v] of key.entries()) writeLiteral(this.types[i]!, this.natives[i]!, v, key);
  }

  /** Literals that store a canonical row (key first) in shape order. */
  rowLiterals(values: readonly (string | null)[], next?: readonly (string | null)[]): string[] {
    const key = values.slice(0, this.shape.key.length);
    const width = this.keyWidth;
    return values.map((v, i) => {
      const literal = writeLiteral(this.types[i]!, this.natives[i]!, v, key);
      if (i < width || v === null || !next) return literal;
      // The source's own JSON text where it read it from a column of this very type (spacing, `1.50`, a
      // repeated member kept), checked as the canonical one is.
      const exact = nativeValueAt(next, i - width, "mysql", this.nativeTypes[i - width]!, (t) =>
        this.codec.columnValue(i - width, t),
      );
      return typeof exact === "string" ? writeLiteral(this.types[i]!, this.natives[i]!, exact, key) : literal;
    });
  }

  /**
   * A record from a row read with `rawList` (at `at`), with its JSON columns' texts as read attached
   * (`withNative`): a repair writes them into a column of the same type instead of the canonical text. The
   * other types' canonical values are what they hold (a DECIMAL keeps its scale, a DOUBLE's shortest digits
   * are the double; MariaDB keeps no -0).
   */
  record(row: ArrayLike<unknown>, at = 0): StoredRecord {
    const rec = this.codec.record(row, at);
    const width = this.keyWidth;
    const values: unknown[] = new Array(this.shape.columns.length);
    for (let j = 0; j < values.length; j++) {
      const raw = row[at + width + j];
      values[j] = this.types[width + j] === "json" && typeof raw === "string" ? raw : undefined;
    }
    const native: NativeRow = { store: "mysql", types: this.nativeTypes, values };
    withNative(rec.values, native);
    return rec;
  }

  /** The native column at position `i` (key first, shape order). */
  nativeColumn(i: number): MysqlColumn {
    return this.natives[i]!;
  }

  /** True when a write may name column `i` (key first, shape order): it is not a generated column. */
  writable(i: number): boolean {
    return !this.natives[i]!.generated;
  }

  /** Positions (key first, shape order) of the generated columns, which writes leave to the server. */
  generatedColumns(): number[] {
    return this.natives.flatMap((c, i) => (c.generated ? [i] : []));
  }

  /** Quoted column names, key first, in shape order. */
  columnNames(): string[] {
    return [...this.shape.key, ...this.shape.columns].map((c) => escapeId(c.name));
  }
}

/**
 * What a value error on a column read by its native type as something narrower than the type holds adds:
 * TINYINT(1) and BIT(1) are read as booleans, and a COMMENT declares them integers.
 */
function readAsHint(col: MysqlColumn | undefined): string | undefined {
  if (!col || col.declared || mysqlLogicalType(col) !== "boolean") return undefined;
  return `${col.columnType.toUpperCase()} is read as a boolean; COMMENT 'concord:integer' on the column reads it as an integer`;
}
