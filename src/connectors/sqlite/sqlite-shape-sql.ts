/** The SQL one record shape needs on one SQLite table: registered fingerprint functions, key predicates, statements. */
import type Database from "better-sqlite3";
import { type CanonicalValue, canonicalJsonValue } from "../../core/canonical.js";
import { ChecksumAccumulator } from "../../core/fingerprint.js";
import {
  type Key,
  type KeyRange,
  keyHasNull,
  type RecordShape,
  type StoredRecord,
} from "../../core/model.js";
import { type NativeRow, nativeValueAt, withNative } from "../../core/native-values.js";
import { type RawPrepare, type RawReader, RowCodec } from "../../core/row-codec.js";
import { type KeyCompareTerm, keyEqualsSql, keyRangeSql } from "../key-compare-sql.js";
import { sqliteAffinity, toSqlite } from "./sqlite-column-types.js";
import {
  type ForeignKeyClass,
  foreignKeyClass,
  foreignKeyLine,
  foreignKeySql,
} from "./sqlite-key-classes.js";
import { quoteIdent } from "./sqlite-table-meta.js";

type Db = Database.Database;
type Statement = Database.Statement<unknown[], unknown>;

/**
 * Thrown while reading a compared column's text that holds U+FFFD: better-sqlite3 decodes a TEXT value that
 * is not UTF-8 (`CAST(x'61ff' AS TEXT)`) with U+FFFD, so `a\xff`, `a\xfe` and the text `a\ufffd` would be
 * one value. The statement is then run again reading such values as their bytes (`SqliteShapeSql.exactly`).
 */
export class LossyTextError extends Error {
  override readonly name = "LossyTextError";
}

/** Any character outside U+0001–U+007F: a text SQLite hands over as bytes in exact reads (decoded strictly). */
const NOT_ASCII = "'*[^\u0001-\u007f]*'";

/**
 * A compared column as reads select it: as it is, so that a repair can tell a TEXT value (a string) from a
 * BLOB and write each back as it was. A TEXT value in a bytes column is its stored bytes (not its text, which
 * `canonicalBytes` would read as hex when it looks like hex: the text `cafe` is the bytes 63616665, not cafe):
 * the column's prepare (`bytesOfText`) takes a string as its UTF-8 bytes. Text, JSON and bytes in exact reads:
 * any text that is not plain ASCII as its bytes, decoded strictly (`GLOB` misses what follows a NUL, hence
 * `instr`); that costs about 0.25 µs a value, so only tables where a text read held U+FFFD are read so. `guard`:
 * a `WHEN … THEN …` branch that comes first (a key's, see `SqliteShapeSql.keyGuard`).
 */
function readExpression(ref: string, type: string, exact: boolean, guard = ""): string {
  if (!exact || (type !== "text" && type !== "json" && type !== "bytes"))
    return guard ? `CASE ${guard}ELSE ${ref} END` : ref;
  return (
    `CASE ${guard}WHEN typeof(${ref}) = 'text' AND (${ref} GLOB ${NOT_ASCII} OR instr(${ref}, char(0)) > 0) ` +
    `THEN CAST(${ref} AS BLOB) ELSE ${ref} END`
  );
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * A key part as a lookup or a range bound binds it: as `toSqlite` writes it, but an integer past 64 bits
 * (another store's key: MariaDB's BIGINT UNSIGNED, PostgreSQL's numeric) as the double nearest it, which
 * better-sqlite3 binds where it refuses the bigint ("too big"). SQLite compares an integer with a double by
 * value, and that double lies past every 64-bit integer on the same side, so a bound cuts the table's keys
 * where the key would sit and a lookup finds no row, as none can hold it.
 */
function keyParam(type: string, v: string): unknown {
  if (type === "integer") {
    const n = BigInt(v);
    if (n < INT64_MIN || n > INT64_MAX) return Number(n);
  }
  return toSqlite(type as Parameters<typeof toSqlite>[0], v);
}

/** True when every byte is U+0001–U+007F: bytes exact reads never make of a text (see `readExpression`). */
function plainAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b === 0 || b > 0x7f) return false;
  return true;
}

/**
 * Everything shape-specific, built once per (shape, table). Fingerprints are computed inside SQLite by
 * functions registered on the connection that run the engine's own canonical encoder, so pushdown and
 * engine always agree. Key order is binary whatever the columns' collation: a text key column declared in
 * another collation (NOCASE, RTRIM) is compared and ordered `COLLATE BINARY`, which its index cannot serve.
 */
export class SqliteShapeSql {
  readonly codec: RowCodec;
  /** Registered scalar function: the fingerprint of a row's columns (key first, shape order). */
  readonly fpFn: string;
  /** Registered aggregate: "count:xor" of the fingerprints of the rows it sees. */
  readonly sumFn: string;
  /**
   * Registered functions `<keyGuardFn>_<i>(value[, replica])`, one per key column i that refuses a storage
   * class (`foreignKeyClass`), that fail naming the value (`foreignKeyLine`): every read of such a key goes
   * through one (`keyGuard`), and so does the in-SQLite comparison's pass over both tables.
   */
  readonly keyGuardFn: string;
  /** By key column: the storage classes it refuses as keys, or null (see `foreignKeyClass`). */
  readonly keyClasses: readonly (ForeignKeyClass | null)[];
  /** Quoted key columns, for select lists. */
  readonly keyList: string;
  /** Key expressions for comparisons, lookups and ORDER BY, binary-safe. */
  readonly keyOrder: readonly string[];
  /** ORDER BY list of the key order. */
  readonly orderBy: string;
  /** Quoted key and compared columns, in shape order (for INSERT). */
  readonly allList: string;
  /** True once a text read held U+FFFD: from then on `readList` reads non-ASCII text as bytes. */
  private exact = false;
  private readonly readLists: readonly [string, string];
  private readonly keyReadLists: readonly [string, string];
  /** Prepared statements, by what they do and which bounds they bind. */
  private readonly statements = new Map<string, Statement>();
  /** Whether an index (or the rowid) serves the key order; learnt on first use. */
  indexed?: boolean;
  /**
   * Whether a key column Concord compares as text (any type but integer) may hold numbers, which SQLite
   * orders by value and before every text: its type affinity is not TEXT. Streams of such a shape check the
   * order they read (`keyClassClash`).
   */
  readonly numbersInTextKeys: boolean;

  /**
   * By compared column: its declared type, with " STRICT" in a STRICT table (which converts nothing), as a
   * record's native row names it (`record`).
   */
  private readonly nativeTypes: readonly string[];

  constructor(
    private readonly db: Db,
    readonly shape: RecordShape,
    id: number,
    /** The table, quoted, as messages name it. */
    table: string,
    /** Each of the shape's key columns' declared type (its type affinity decides what the column may hold). */
    declared: ReadonlyMap<string, string>,
    /** Key columns whose own collation is not BINARY, and that collation. */
    readonly collated: ReadonlyMap<string, string>,
    /** Key columns that may hold NULL (not declared NOT NULL; SQLite lets even a primary key hold NULL). */
    readonly nullable: ReadonlySet<string> = new Set(),
    /** The replica's row filter (config `where:`), an SQL predicate every range read applies; none if undefined. */
    private readonly filter?: string | undefined,
    /** A STRICT table (see `nativeTypes`). */
    strict = false,
  ) {
    // Compared text or JSON columns holding U+FFFD, read as text, may be lossy decodes: read them again exactly.
    const lossless: RawPrepare = (raw) => {
      if (!this.exact && typeof raw === "string" && raw.includes("\ufffd")) throw new LossyTextError();
      return raw;
    };
    // A TEXT value in a bytes column, read as text (not exact reads): its stored UTF-8 bytes.
    const bytesOfText: RawPrepare = (raw) =>
      typeof raw === "string" ? Buffer.from(lossless(raw) as string, "utf8") : raw;
    this.nativeTypes = shape.columns.map((c) => `${declared.get(c.name) ?? ""}${strict ? " STRICT" : ""}`);
    // A JSON document means what SQLite's JSON functions read: a repeated member name's first value.
    const firstWins: RawReader = (raw) => canonicalJsonValue(raw, "first");
    const all = [...shape.key, ...shape.columns];
    const codec = new RowCodec(
      shape,
      [
        ...shape.key.map((c) => (c.type === "text" ? lossless : undefined)),
        ...shape.columns.map((c) =>
          c.type === "text" || c.type === "json" ? lossless : c.type === "bytes" ? bytesOfText : undefined,
        ),
      ],
      [],
      all.map((c) => (c.type === "json" ? firstWins : undefined)),
    );
    this.codec = codec;
    this.fpFn = `concord_fp_${id}`;
    this.sumFn = `concord_sum_${id}`;
    db.function(this.fpFn, { deterministic: true, varargs: true, safeIntegers: true }, (...vals: unknown[]) =>
      codec.fingerprintRaw(vals),
    );
    db.aggregate(this.sumFn, {
      start: () => new ChecksumAccumulator(),
      step: (acc: ChecksumAccumulator, ...vals: unknown[]) => {
        acc.add(codec.fingerprintRaw(vals));
      },
      result: (acc: ChecksumAccumulator) => {
        const r = acc.result();
        return `${r.count}:${r.xor}`;
      },
      varargs: true,
      safeIntegers: true,
    });
    const affinity = (c: { name: string }) => sqliteAffinity(declared.get(c.name) ?? "");
    this.numbersInTextKeys = shape.key.some((c) => c.type !== "integer" && affinity(c) !== "TEXT");
    this.keyClasses = shape.key.map((c) => foreignKeyClass(c.type, affinity(c)));
    this.keyGuardFn = `concord_key_guard_${id}`;
    this.keyClasses.forEach((kind, i) => {
      const column = shape.key[i]!.name;
      if (kind)
        db.function(
          `${this.keyGuardFn}_${i}`,
          { deterministic: true, varargs: true, safeIntegers: true },
          (raw: unknown, replica?: unknown, other?: unknown) => {
            const on = typeof replica === "string" ? replica : undefined;
            throw new Error(foreignKeyLine(typeof other === "string" ? other : table, column, kind, raw, on));
          },
        );
    });
    this.keyList = shape.key.map((c) => quoteIdent(c.name)).join(", ");
    this.keyOrder = shape.key.map((c) =>
      collated.has(c.name) ? `${quoteIdent(c.name)} COLLATE BINARY` : quoteIdent(c.name),
    );
    this.orderBy = this.keyOrder.join(", ");
    this.allList = [...shape.key, ...shape.columns].map((c) => quoteIdent(c.name)).join(", ");
    const keyReads = (exact: boolean) => shape.key.map((c, i) => this.keyRead(quoteIdent(c.name), i, exact));
    const reads = (exact: boolean) =>
      [
        ...keyReads(exact),
        ...shape.columns.map((c) => readExpression(quoteIdent(c.name), c.type, exact)),
      ].join(", ");
    this.readLists = [reads(false), reads(true)];
    this.keyReadLists = [keyReads(false).join(", "), keyReads(true).join(", ")];
  }

  /** The key columns as streamed reads select them (text keys as bytes once reads are exact). */
  get keyReadList(): string {
    return this.keyReadLists[this.exact ? 1 : 0];
  }

  /** The key columns as a read of a few rows selects them: text keys always exactly (`keyExact`). */
  get keyExactList(): string {
    return this.keyReadLists[1];
  }

  /**
   * Key expression `expr` (the key's `i`th column, or an alias of it) as a read of a few rows selects it:
   * a text key always exactly (see `readExpression`), so no lossy decode of it reaches the codec.
   */
  keyExact(expr: string, i: number): string {
    return this.keyRead(expr, i, true);
  }

  /**
   * The guard of key column `i` read from `ref` as a `WHEN … THEN …` branch that fails on a value of a class
   * the column refuses (`foreignKeyClass`); "" for a column that refuses none. `side` names the replica and
   * its table (quoted) where a statement reads two tables.
   */
  keyGuard(ref: string, i: number, side?: { readonly replica: string; readonly table: string }): string {
    const kind = this.keyClasses[i];
    if (!kind) return "";
    const text = (v: string) => `'${v.replaceAll("'", "''")}'`;
    const named = side ? `, ${text(side.replica)}, ${text(side.table)}` : "";
    return `WHEN ${foreignKeySql(kind, ref)} THEN ${this.keyGuardFn}_${i}(${ref}${named}) `;
  }

  /**
   * Key expression `expr` of the key's `i`th column as reads select it: a text key by `readExpression`,
   * guarded against values of a storage class it cannot hold as a key (`keyGuard`).
   */
  private keyRead(expr: string, i: number, exact: boolean): string {
    const type = this.shape.key[i]!.type;
    const guard = this.keyGuard(expr, i);
    // A bytes key's guard stops every text, so none is left to read as its bytes.
    if (type !== "text") return guard ? `CASE ${guard}ELSE ${expr} END` : expr;
    return readExpression(expr, type, exact, guard);
  }

  /**
   * A record from a row read with `readList`, with its values as SQLite handed them attached (`withNative`):
   * each with its storage class (REAL 1.0 stays REAL, a JSON text keeps its spacing and its numbers'
   * spelling, a BLOB in a text or untyped column stays a BLOB, a TEXT in a BLOB column a TEXT), which a repair
   * writes into a column of the same declared type instead of the canonical value. Not, in exact reads, a
   * bytes, text or JSON column's bytes that a text read as bytes could be (any but plain ASCII without NUL).
   */
  record(row: readonly unknown[]): StoredRecord {
    const rec = this.codec.record(row);
    const width = this.shape.key.length;
    const values: unknown[] = new Array(this.shape.columns.length);
    for (let j = 0; j < values.length; j++) {
      const type = this.shape.columns[j]!.type;
      const raw = row[width + j];
      values[j] =
        this.exact &&
        (type === "bytes" || type === "text" || type === "json") &&
        raw instanceof Uint8Array &&
        !plainAscii(raw)
          ? undefined
          : raw;
    }
    const native: NativeRow = { store: "sqlite", types: this.nativeTypes, values };
    withNative(rec.values, native);
    return rec;
  }

  /**
   * The source's own value of compared column `i` of `values`, with its storage class, where a repair writes
   * it (read by SQLite from a column of the same declared type, and, from the ledger, reading as the vouched
   * value by this codec: `nativeValueAt`), else undefined. The write and `repair --print` both ask here.
   */
  exactValue(values: readonly CanonicalValue[], i: number): unknown {
    if (values[i] === null || values[i] === undefined) return undefined;
    return nativeValueAt(values, i, "sqlite", this.nativeTypes[i]!, (raw) => this.codec.columnValue(i, raw));
  }

  /** Key and compared columns as reads select them (see `readExpression`): what the codec is handed. */
  get readList(): string {
    return this.readLists[this.exact ? 1 : 0];
  }

  /**
   * Runs `read` (which prepares its statements with `readList` through `statement`); when it meets a text
   * that may have been decoded lossily (`LossyTextError`), switches this shape to exact reads for good and
   * runs it again.
   */
  exactly<T>(read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (!this.readExactlyAfter(err)) throw err;
      return read();
    }
  }

  /**
   * Switches this shape to exact reads when `err` is a lossy text met while reads were not exact yet; true
   * when the read should run again (a streamed one restarts after the last key it gave).
   */
  readExactlyAfter(err: unknown): boolean {
    if (this.exact || !(err instanceof LossyTextError)) return false;
    this.exact = true;
    return true;
  }

  /** The key as a comparable tuple (a bare expression for one column). */
  private tuple(): string {
    return this.keyOrder.length === 1 ? this.keyOrder[0]! : `(${this.orderBy})`;
  }

  /** Placeholders shaped like `tuple()`. */
  private marks(): string {
    return this.keyOrder.length === 1 ? "?" : `(${this.keyOrder.map(() => "?").join(", ")})`;
  }

  /**
   * True when a range's predicates must be NULL-aware (a key column may hold NULL, or a bound has a NULL
   * part): a row-value comparison is NULL, so no row, as soon as a part is NULL.
   */
  private nullAware(range: KeyRange): boolean {
    return (
      this.nullable.size > 0 ||
      (range.lo !== null && keyHasNull(range.lo)) ||
      (range.hi !== null && keyHasNull(range.hi))
    );
  }

  /** A bound as comparison terms with named parameters (`@l0`, `@h1`, …). */
  private terms(bound: Key, side: "l" | "h"): KeyCompareTerm[] {
    return this.shape.key.map((c, i) => ({
      expr: this.keyOrder[i]!,
      bound: `@${side}${i}`,
      boundNull: bound[i] === null,
      nullable: this.nullable.has(c.name),
    }));
  }

  /** `WHERE` for a range (bind `rangeParams`) and the row filter, or "" for the full range of an unfiltered table. */
  where(range: KeyRange): string {
    const parts: string[] = this.filter ? [`(${this.filter})`] : [];
    if (this.nullAware(range)) {
      const cond = keyRangeSql(
        range.lo ? this.terms(range.lo, "l") : null,
        range.hi ? this.terms(range.hi, "h") : null,
        { rowValues: true },
      );
      if (cond) parts.push(`(${cond})`);
      return parts.length ? `WHERE ${parts.join(" AND ")}` : "";
    }
    if (range.lo) parts.push(`${this.tuple()} >= ${this.marks()}`);
    if (range.hi) parts.push(`${this.tuple()} < ${this.marks()}`);
    return parts.length ? `WHERE ${parts.join(" AND ")}` : "";
  }

  /** A condition matching exactly `count` keys without NULL parts (bind them with `bindKey`, one after the other). */
  keysIn(count: number): string {
    if (this.keyOrder.length === 1) return `${this.keyOrder[0]} IN (${Array(count).fill("?").join(", ")})`;
    return `${this.tuple()} IN (VALUES ${Array(count).fill(this.marks()).join(", ")})`;
  }

  /**
   * A condition matching exactly `key`, shaped by which of its parts are NULL (`IS NULL` for those); bind
   * `bindKeyValues(key)`.
   */
  keyEquals(key: Key): string {
    return keyEqualsSql(
      this.shape.key.map((_, i) => ({
        expr: this.keyOrder[i]!,
        bound: "?",
        boundNull: key[i] === null,
        nullable: true,
      })),
    );
  }

  /** The native values a key without NULL parts binds as (see `keyParam`). */
  bindKey(key: Key): unknown[] {
    return this.shape.key.map((c, i) => keyParam(c.type, key[i]!));
  }

  /** What `keyEquals(key)` binds: the key's non-NULL parts. */
  bindKeyValues(key: Key): unknown[] {
    return this.shape.key.flatMap((c, i) => (key[i] === null ? [] : [keyParam(c.type, key[i]!)]));
  }

  /** What `where(range)` binds. */
  rangeParams(range: KeyRange): unknown[] {
    if (this.nullAware(range)) {
      const named: Record<string, unknown> = {};
      for (const [side, bound] of [
        ["l", range.lo],
        ["h", range.hi],
      ] as const) {
        bound?.forEach((v, i) => {
          if (v !== null) named[`${side}${i}`] = keyParam(this.shape.key[i]!.type, v);
        });
      }
      return Object.keys(named).length ? [named] : [];
    }
    return [...(range.lo ? this.bindKey(range.lo) : []), ...(range.hi ? this.bindKey(range.hi) : [])];
  }

  /** The statement `id`, prepared once from `build()` (once per read mode: `build` may use `readList`). */
  statement(id: string, build: () => string): Statement {
    const key = this.exact ? `x:${id}` : id;
    let st = this.statements.get(key);
    if (!st) {
      st = this.db.prepare(build());
      this.statements.set(key, st);
    }
    return st;
  }
}

/**
 * Which bounds a range has, and which of their parts are NULL, for naming prepared statements: "", "l",
 * "h", "lh", with a mask after a bound holding NULL parts ("l01h").
 */
export function boundsId(range: KeyRange): string {
  return `${range.lo ? `l${nullMask(range.lo)}` : ""}${range.hi ? `h${nullMask(range.hi)}` : ""}`;
}

/** "" for a key without NULL parts, else one digit per part (1 for NULL). */
export function nullMask(key: Key): string {
  return keyHasNull(key) ? key.map((p) => (p === null ? "1" : "0")).join("") : "";
}
