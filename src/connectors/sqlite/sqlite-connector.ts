/** SQLite connector (better-sqlite3): range checksums pushed down through registered functions. Only this folder imports the driver. */
import Database from "better-sqlite3";
import type { CanonicalValue, ColumnType } from "../../core/canonical.js";
import { ChecksumAccumulator, fingerprintRow, type RangeChecksum } from "../../core/fingerprint.js";
import type { Key, KeyFingerprint, KeyRange, RecordShape, StoredRecord } from "../../core/model.js";
import { RowCodec } from "../../core/row-codec.js";
import {
  type ColumnInfo,
  type ConditionalWrite,
  type Connector,
  ConnectorError,
  type ConnectorStats,
  emptyStats,
  type TableDescription,
  type WriteOutcome,
} from "../connector.js";

type Db = Database.Database;
type Statement = Database.Statement<unknown[], unknown>;

/** Quotes an SQL identifier, allowing `schema.table`. */
export function quoteIdent(name: string): string {
  return name
    .split(".")
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join(".");
}

/** The logical type of a declared SQLite column type (declared types are free text in SQLite). */
export function sqliteLogicalType(declared: string): ColumnType {
  const t = declared.toUpperCase();
  if (t.includes("BOOL")) return "boolean";
  if (t.includes("TIMESTAMP") || t.includes("DATETIME") || t === "DATE") return "timestamp";
  if (t.includes("JSON")) return "json";
  if (t.includes("DEC") || t.includes("NUMERIC") || t.includes("MONEY")) return "decimal";
  if (t.includes("INT")) return "integer";
  if (t.includes("REAL") || t.includes("FLOA") || t.includes("DOUB")) return "float";
  if (t.includes("BLOB") || t.includes("BINARY")) return "bytes";
  return "text";
}

/** The native SQLite value for a canonical value of a logical type. */
function toSqlite(type: ColumnType, v: CanonicalValue): unknown {
  if (v === null) return null;
  switch (type) {
    case "integer":
      return BigInt(v);
    case "float":
      return Number(v);
    case "boolean":
      return v === "t" ? 1n : 0n;
    case "decimal": {
      const n = Number(v);
      return String(n) === v ? n : v;
    }
    case "bytes":
      return Buffer.from(v, "hex");
    default:
      return v;
  }
}

/**
 * How a table stores timestamps, learned from a value already in the column, so that repairs write the
 * same format applications use (SQLite has no timestamp type: text in some layout, or epoch numbers).
 */
type TimestampStyle =
  | { readonly kind: "epoch" }
  | {
      readonly kind: "text";
      readonly sep: " " | "T";
      readonly fraction: number;
      readonly zone: "" | "Z" | "+00:00";
    }
  | { readonly kind: "date" };

const CANONICAL_STYLE: TimestampStyle = { kind: "text", sep: "T", fraction: 6, zone: "Z" };

/** The style of a sample value (canonical when nothing tells). */
export function timestampStyleOf(sample: unknown): TimestampStyle {
  if (typeof sample === "number" || typeof sample === "bigint") return { kind: "epoch" };
  if (typeof sample !== "string") return CANONICAL_STYLE;
  if (/^\d{4}-\d{2}-\d{2}$/.test(sample)) return { kind: "date" };
  const m = /^\d{4}-\d{2}-\d{2}([ T])\d{2}:\d{2}:\d{2}(?:\.(\d+))?(Z|[+-]00:?00)?$/.exec(sample);
  if (!m) return CANONICAL_STYLE;
  return {
    kind: "text",
    sep: m[1] as " " | "T",
    fraction: m[2]?.length ?? 0,
    zone: m[3] === "Z" ? "Z" : m[3] ? "+00:00" : "",
  };
}

/** A canonical timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) in a style, without losing precision. */
export function formatTimestamp(canonical: string, style: TimestampStyle): unknown {
  const date = canonical.slice(0, 10);
  const time = canonical.slice(11, 19);
  const micros = canonical.slice(20, 26);
  const needed = micros.replace(/0+$/, "").length;
  if (style.kind === "epoch") {
    const seconds = Date.parse(`${date}T${time}Z`) / 1000;
    return needed === 0 ? seconds : Number(`${seconds}.${micros}`);
  }
  if (style.kind === "date" && time === "00:00:00" && needed === 0) return date;
  const s = style.kind === "text" ? style : { sep: " " as const, fraction: 0, zone: "" as const };
  const digits = Math.max(s.fraction, needed);
  return `${date}${s.sep}${time}${digits > 0 ? `.${micros.slice(0, digits).padEnd(digits, "0")}` : ""}${s.zone}`;
}

interface ShapeSql {
  readonly codec: RowCodec;
  readonly fpFn: string;
  readonly sumFn: string;
  readonly keyList: string;
  readonly keyCols: readonly string[];
  readonly allList: string;
  readonly statements: Map<string, Statement>;
  /** Whether an index (or the rowid) serves the key order; learnt on first use. */
  indexed?: boolean;
}

export interface SqliteConnectorOptions {
  /** Label used in error messages (the replica name). */
  readonly label?: string;
}

/**
 * A connector over one table of a better-sqlite3 database it is given (it does not open files itself;
 * see `openSqliteConnector`). Fingerprints are computed inside SQLite by a registered deterministic
 * function that runs the engine's own canonical encoder, so pushdown and engine always agree.
 */
export class SqliteConnector implements Connector {
  readonly kind = "sqlite";
  readonly pushdown = true;
  readonly stats: ConnectorStats = emptyStats();
  private readonly shapes = new Map<RecordShape, ShapeSql>();
  private readonly styles = new Map<string, TimestampStyle>();
  private readonly table: string;

  constructor(
    private readonly db: Db,
    table: string,
    private readonly options: SqliteConnectorOptions = {},
  ) {
    this.table = quoteIdent(table);
  }

  private fail(what: string, err: unknown): never {
    const label = this.options.label ? `${this.options.label}: ` : "";
    throw new ConnectorError(`${label}${what}: ${err instanceof Error ? err.message : String(err)}`);
  }

  async describe(): Promise<TableDescription> {
    let rows: { name: string; type: string }[];
    try {
      rows = this.db.prepare(this.pragma("table_info")).all() as {
        name: string;
        type: string;
      }[];
    } catch (err) {
      this.fail("cannot describe table", err);
    }
    this.stats.queries++;
    if (rows.length === 0)
      this.fail("cannot describe table", new Error(`table ${this.table} does not exist`));
    const columns: ColumnInfo[] = rows.map((r) => ({
      name: r.name,
      type: sqliteLogicalType(r.type),
      nativeType: r.type || "ANY",
    }));
    return { columns };
  }

  private sql(shape: RecordShape): ShapeSql {
    let s = this.shapes.get(shape);
    if (s) return s;
    const codec = new RowCodec(shape);
    const n = this.shapes.size;
    const fpFn = `concord_fp_${n}`;
    const sumFn = `concord_sum_${n}`;
    this.db.function(fpFn, { deterministic: true, varargs: true, safeIntegers: true }, (...vals: unknown[]) =>
      codec.fingerprintRaw(vals),
    );
    this.db.aggregate(sumFn, {
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
    const keyCols = shape.key.map((c) => quoteIdent(c.name));
    const keyList = keyCols.join(", ");
    const allList = [...shape.key, ...shape.columns].map((c) => quoteIdent(c.name)).join(", ");
    s = { codec, fpFn, sumFn, keyList, keyCols, allList, statements: new Map() };
    this.shapes.set(shape, s);
    return s;
  }

  private where(s: ShapeSql, range: KeyRange): string {
    const parts: string[] = [];
    const tuple = s.keyCols.length === 1 ? s.keyCols[0]! : `(${s.keyList})`;
    const marks = s.keyCols.length === 1 ? "?" : `(${s.keyCols.map(() => "?").join(", ")})`;
    if (range.lo) parts.push(`${tuple} >= ${marks}`);
    if (range.hi) parts.push(`${tuple} < ${marks}`);
    return parts.length ? `WHERE ${parts.join(" AND ")}` : "";
  }

  private bindKey(shape: RecordShape, key: Key): unknown[] {
    return shape.key.map((c, i) => toSqlite(c.type, key[i]!));
  }

  private rangeParams(shape: RecordShape, range: KeyRange): unknown[] {
    return [
      ...(range.lo ? this.bindKey(shape, range.lo) : []),
      ...(range.hi ? this.bindKey(shape, range.hi) : []),
    ];
  }

  private statement(s: ShapeSql, id: string, build: () => string): Statement {
    let st = s.statements.get(id);
    if (!st) {
      st = this.db.prepare(build());
      s.statements.set(id, st);
    }
    return st;
  }

  private rangeId(range: KeyRange): string {
    return `${range.lo ? "l" : ""}${range.hi ? "h" : ""}`;
  }

  async count(shape: RecordShape, range: KeyRange): Promise<number> {
    const s = this.sql(shape);
    try {
      const st = this.statement(
        s,
        `count${this.rangeId(range)}`,
        () => `SELECT count(*) FROM ${this.table} ${this.where(s, range)}`,
      );
      this.stats.queries++;
      return Number(st.pluck().get(...this.rangeParams(shape, range)));
    } catch (err) {
      this.fail("count failed", err);
    }
  }

  /**
   * First and last key of the range in key order, each one index probe: only when the key is the table's
   * integer primary key (the rowid) or the leading columns of an index (the primary key's included);
   * otherwise null, as finding them would read every row.
   */
  async keyBounds(shape: RecordShape, range: KeyRange): Promise<{ first: Key; last: Key } | null> {
    const s = this.sql(shape);
    try {
      s.indexed ??= this.keyIndexed(shape);
      if (!s.indexed) return null;
      const probe = (dir: "ASC" | "DESC") =>
        this.statement(
          s,
          `bound${dir}${this.rangeId(range)}`,
          () =>
            `SELECT ${s.keyList} FROM ${this.table} ${this.where(s, range)} ` +
            `ORDER BY ${s.keyCols.map((k) => `${k} ${dir}`).join(", ")} LIMIT 1`,
        );
      const params = this.rangeParams(shape, range);
      const first = probe("ASC")
        .raw(true)
        .safeIntegers(true)
        .get(...params) as unknown[] | undefined;
      const last = probe("DESC")
        .raw(true)
        .safeIntegers(true)
        .get(...params) as unknown[] | undefined;
      this.stats.queries += 2;
      if (!first || !last) return null;
      this.stats.rowsRead += 2;
      return { first: s.codec.key(first), last: s.codec.key(last) };
    } catch (err) {
      this.fail("key bounds failed", err);
    }
  }

  /** `PRAGMA <schema>.<name>(<arg>)` for the table (or `arg`, an index of its schema). */
  private pragma(name: string, arg?: string): string {
    const [schema, table] = this.table.includes(".") ? this.table.split(".") : ['"main"', this.table];
    return `PRAGMA ${schema}.${name}(${arg ?? table})`;
  }

  /** True when the key is the rowid or the leading columns of an index of the table. */
  private keyIndexed(shape: RecordShape): boolean {
    const columns = this.db.prepare(this.pragma("table_info")).all() as {
      name: string;
      type: string;
      pk: number;
    }[];
    const keys = shape.key.map((c) => c.name);
    const pk = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    // INTEGER PRIMARY KEY is the rowid itself.
    if (keys.length === 1 && pk.length === 1 && pk[0]!.name === keys[0] && /^integer$/i.test(pk[0]!.type))
      return true;
    const indexes = this.db.prepare(this.pragma("index_list")).all() as { name: string }[];
    return indexes.some((ix) => {
      const cols = (
        this.db.prepare(this.pragma("index_xinfo", quoteIdent(ix.name))).all() as {
          name: string | null;
          key: number;
          coll: string | null;
          desc: number;
        }[]
      ).filter((c) => c.key === 1);
      // Key order is binary: an index in another collation would not give the first and last key.
      return keys.every(
        (k, i) => cols[i]?.name === k && (cols[i]?.coll ?? "BINARY").toUpperCase() === "BINARY",
      );
    });
  }

  async checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    const s = this.sql(shape);
    const out: RangeChecksum[] = [];
    try {
      for (const range of ranges) {
        const st = this.statement(
          s,
          `sum${this.rangeId(range)}`,
          () => `SELECT ${s.sumFn}(${s.allList}) FROM ${this.table} ${this.where(s, range)}`,
        );
        const text = st.pluck().get(...this.rangeParams(shape, range)) as string;
        const colon = text.indexOf(":");
        const checksum = { count: Number(text.slice(0, colon)), xor: text.slice(colon + 1) };
        this.stats.queries++;
        this.stats.rowsRead++;
        this.stats.bytesRead += text.length;
        this.stats.rowsScanned += checksum.count;
        out.push(checksum);
      }
    } catch (err) {
      this.fail("range checksum failed", err);
    }
    return out;
  }

  async splitRange(shape: RecordShape, range: KeyRange, parts: number): Promise<Key[]> {
    const total = await this.count(shape, range);
    const step = Math.ceil(total / parts);
    if (step < 1 || total < 2) return [];
    const s = this.sql(shape);
    try {
      const st = this.statement(
        s,
        `split${this.rangeId(range)}`,
        () =>
          `SELECT ${s.keyList} FROM (SELECT ${s.keyList}, row_number() OVER (ORDER BY ${s.keyList}) AS rn ` +
          `FROM ${this.table} ${this.where(s, range)}) WHERE (rn - 1) % ? = 0 AND rn > 1 ORDER BY ${s.keyList}`,
      );
      const rows = st
        .raw(true)
        .safeIntegers(true)
        .all(...this.rangeParams(shape, range), BigInt(step)) as unknown[][];
      this.stats.queries++;
      this.stats.rowsRead += rows.length;
      return rows.map((r) => s.codec.key(r));
    } catch (err) {
      this.fail("range split failed", err);
    }
  }

  async *streamFingerprints(
    shape: RecordShape,
    range: KeyRange,
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const s = this.sql(shape);
    let iterator: IterableIterator<unknown[]>;
    try {
      const st = this.statement(
        s,
        `stream${this.rangeId(range)}`,
        () =>
          `SELECT ${s.keyList}, ${s.fpFn}(${s.allList}) FROM ${this.table} ${this.where(s, range)} ORDER BY ${s.keyList}`,
      );
      iterator = st
        .raw(true)
        .safeIntegers(true)
        .iterate(...this.rangeParams(shape, range)) as IterableIterator<unknown[]>;
      this.stats.queries++;
    } catch (err) {
      this.fail("fingerprint stream failed", err);
    }
    const width = shape.key.length;
    let batch: KeyFingerprint[] = [];
    try {
      for (const row of iterator) {
        const fingerprint = row[width] as string;
        const key = s.codec.key(row);
        batch.push({ key, fingerprint });
        this.stats.bytesRead += 16 + key.reduce((n, k) => n + k.length, 0);
        if (batch.length >= batchSize) {
          this.stats.rowsRead += batch.length;
          yield batch;
          batch = [];
        }
      }
    } finally {
      iterator.return?.();
    }
    if (batch.length) {
      this.stats.rowsRead += batch.length;
      yield batch;
    }
  }

  async fetchRecords(shape: RecordShape, keys: readonly Key[]): Promise<StoredRecord[]> {
    const s = this.sql(shape);
    const out: StoredRecord[] = [];
    const chunk = Math.max(1, Math.floor(900 / shape.key.length));
    try {
      for (let i = 0; i < keys.length; i += chunk) {
        const part = keys.slice(i, i + chunk);
        const tuple = s.keyCols.length === 1 ? "?" : `(${s.keyCols.map(() => "?").join(", ")})`;
        const inList =
          s.keyCols.length === 1
            ? `${s.keyCols[0]} IN (${part.map(() => "?").join(", ")})`
            : `(${s.keyList}) IN (VALUES ${part.map(() => tuple).join(", ")})`;
        const st = this.statement(
          s,
          `fetch${part.length}`,
          () => `SELECT ${s.allList} FROM ${this.table} WHERE ${inList}`,
        );
        const rows = st
          .raw(true)
          .safeIntegers(true)
          .all(...part.flatMap((k) => this.bindKey(shape, k))) as unknown[][];
        this.stats.queries++;
        for (const row of rows) {
          const rec = s.codec.record(row);
          this.stats.rowsRead++;
          this.stats.bytesRead += rec.values.reduce((n, v) => n + (v?.length ?? 0), 0);
          out.push(rec);
        }
      }
    } catch (err) {
      this.fail("record fetch failed", err);
    }
    return out;
  }

  /** The column's timestamp style, sampled once from a stored value. */
  private timestampStyle(column: string): TimestampStyle {
    let style = this.styles.get(column);
    if (!style) {
      const sample = this.db
        .prepare(
          `SELECT ${quoteIdent(column)} FROM ${this.table} WHERE ${quoteIdent(column)} IS NOT NULL LIMIT 1`,
        )
        .pluck()
        .get();
      style = timestampStyleOf(sample);
      this.styles.set(column, style);
    }
    return style;
  }

  async applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]> {
    const s = this.sql(shape);
    const whereKey = s.keyCols.map((k) => `${k} = ?`).join(" AND ");
    const read = this.statement(s, "wread", () => `SELECT ${s.allList} FROM ${this.table} WHERE ${whereKey}`);
    const insert = this.statement(
      s,
      "winsert",
      () =>
        `INSERT INTO ${this.table} (${s.allList}) VALUES (${[...shape.key, ...shape.columns].map(() => "?").join(", ")})`,
    );
    const update = this.statement(
      s,
      "wupdate",
      () =>
        `UPDATE ${this.table} SET ${shape.columns.map((c) => `${quoteIdent(c.name)} = ?`).join(", ")} WHERE ${whereKey}`,
    );
    const del = this.statement(s, "wdelete", () => `DELETE FROM ${this.table} WHERE ${whereKey}`);
    const run = this.db.transaction((batch: readonly ConditionalWrite[]): WriteOutcome[] =>
      batch.map((w) => {
        const keyParams = this.bindKey(shape, w.key);
        const row = read
          .raw(true)
          .safeIntegers(true)
          .get(...keyParams) as unknown[] | undefined;
        const current = row ? s.codec.record(row).fingerprint : null;
        // `next` is canonical already: its fingerprint needs no decoding.
        const next = w.next ? fingerprintRow(w.key, w.next) : null;
        if (current === next) return "noop";
        if (current !== w.expected) return "superseded";
        const values = w.next
          ? shape.columns.map((c, i) => {
              const v = w.next![i] ?? null;
              return c.type === "timestamp" && v !== null
                ? formatTimestamp(v, this.timestampStyle(c.name))
                : toSqlite(c.type, v);
            })
          : [];
        if (!w.next) del.run(...keyParams);
        else if (row) update.run(...values, ...keyParams);
        else insert.run(...keyParams, ...values);
        this.stats.rowsWritten++;
        return "applied";
      }),
    );
    try {
      this.stats.queries++;
      return run.immediate(writes);
    } catch (err) {
      this.fail("conditional write failed", err);
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

export interface OpenSqliteOptions {
  /** Open read-only (scan and plan never write). */
  readonly readonly?: boolean;
  readonly label?: string;
}

/** Opens a SQLite file that must already exist and wraps one table of it. */
export function openSqliteConnector(
  path: string,
  table: string,
  options: OpenSqliteOptions = {},
): SqliteConnector {
  let db: Db | undefined;
  try {
    db = new Database(path, { fileMustExist: true, readonly: options.readonly ?? false, timeout: 5000 });
    if (!options.readonly) db.pragma("journal_mode = WAL");
    // A bigger page cache than the 2 MB default: repairs and verification read scattered rows.
    db.pragma("cache_size = -65536");
  } catch (err) {
    // Opened, but no database (or locked): close it, or the file stays open until garbage collection.
    db?.close();
    const label = options.label ? `${options.label}: ` : "";
    throw new ConnectorError(
      `${label}cannot open sqlite:${path}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return new SqliteConnector(db, table, { label: options.label ?? "" });
}
