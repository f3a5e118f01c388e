/** SQLite connector (better-sqlite3): range checksums pushed down through registered functions. Only this folder imports the driver. */
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import Database from "better-sqlite3";
import type { RangeChecksum } from "../../core/fingerprint.js";
import {
  compareKeys,
  type Key,
  type KeyFingerprint,
  type KeyRange,
  keyHasNull,
  type RecordShape,
  type StoredRecord,
} from "../../core/model.js";
import {
  type ConditionalWrite,
  type Connector,
  ConnectorError,
  type ConnectorStats,
  emptyStats,
  type PairDiffCapability,
  type TableDescription,
  type WriteOutcome,
} from "../connector.js";
import { connectorErrorLine } from "../connector-errors.js";
import {
  duplicateKeyMessage,
  duplicateNullKeyMessage,
  keyUniqueness,
  notUniqueMessage,
} from "../unique-key.js";
import {
  sqliteColumnInfo,
  sqliteLogicalType,
  type TimestampStyle,
  timestampStyleOf,
} from "./sqlite-column-types.js";
import { applySqliteWrites } from "./sqlite-conditional-writes.js";
import { sqliteError } from "./sqlite-errors.js";
import { keyClassClash } from "./sqlite-key-classes.js";
import { onePass, SCATTERED_CACHE } from "./sqlite-page-cache.js";
import { attachPeer, pairRefusal, type SqlitePairSide, sqlitePair } from "./sqlite-pair-diff.js";
import { boundsId, nullMask, SqliteShapeSql } from "./sqlite-shape-sql.js";
import {
  quoteIdent,
  readSqliteTableMeta,
  type SqliteTableMeta,
  sqliteCollation,
  sqliteKeyIndexed,
} from "./sqlite-table-meta.js";
import { printSqliteWrites } from "./sqlite-write-print.js";

export { formatTimestamp, sqliteLogicalType, timestampStyleOf } from "./sqlite-column-types.js";
export { quoteIdent } from "./sqlite-table-meta.js";

type Db = Database.Database;

export interface SqliteConnectorOptions {
  /** Label used in error messages (the replica name). */
  readonly label?: string;
  /**
   * An SQL predicate on the table's columns (config `where:`): every range read (count, checksums, splits,
   * key lists) sees only the rows it holds, so rows outside it are neither compared nor reported. Reads by
   * key (`fetchRecords`) and conditional writes see the whole table, so a write never misses a row.
   */
  readonly rowFilter?: string | undefined;
}

/**
 * A connector over one table (or view) of a better-sqlite3 database it is given (it does not open files
 * itself; see `openSqliteConnector`). Fingerprints are computed inside SQLite by a registered deterministic
 * function that runs the engine's own canonical encoder, so pushdown and engine always agree (see
 * SqliteShapeSql). Key order is binary whatever the key columns' collation. A key must be kept unique by
 * the rowid, the primary key or a unique index; a view's rows are searched for a duplicate instead.
 */
export class SqliteConnector implements Connector {
  readonly kind = "sqlite";
  readonly pushdown = true;
  readonly filtered: boolean;
  readonly stats: ConnectorStats = emptyStats();
  private readonly shapes = new Map<RecordShape, SqliteShapeSql>();
  private readonly styles = new Map<string, TimestampStyle>();
  /** Keys (by column names) already found unique. */
  private readonly uniqueKeys = new Set<string>();
  private readonly rowFilter: string | undefined;
  private readonly table: string;
  /** The table as configured, unquoted. */
  private readonly tableName: string;
  private readonly label: string;
  /** Whether the journal mode was seen to (see `useWal`). */
  private walChecked = false;
  /** Whether the database was found to keep its text in UTF-8 (see `utf16Refusal`). */
  private encodingChecked = false;

  constructor(
    private readonly db: Db,
    table: string,
    options: SqliteConnectorOptions = {},
  ) {
    this.table = quoteIdent(table);
    this.tableName = table;
    this.label = options.label ?? "";
    this.rowFilter = options.rowFilter;
    this.filtered = options.rowFilter !== undefined;
  }

  private fail(what: string, err: unknown): never {
    throw sqliteError(this.label, what, err);
  }

  private meta(): SqliteTableMeta {
    if (!this.encodingChecked) {
      this.stats.queries++;
      const refused = utf16Refusal(this.db);
      if (refused) throw connectorErrorLine(this.label, refused);
      this.encodingChecked = true;
    }
    this.stats.queries++;
    const meta = readSqliteTableMeta(this.db, this.table);
    if (meta.columns.length === 0) throw new Error(`table ${this.table} does not exist`);
    return meta;
  }

  /** The declared columns (see `sqliteColumnInfo`); text columns in NOCASE or RTRIM say so. */
  async describe(): Promise<TableDescription> {
    let meta: SqliteTableMeta;
    try {
      meta = this.meta();
    } catch (err) {
      this.fail("cannot describe table", err);
    }
    const columns = meta.columns.map((c) => {
      const info = sqliteColumnInfo(c.name, c.type);
      if (info.type !== "text") return info;
      const collation = sqliteCollation(this.db, this.table, c.name);
      return collation === "BINARY" ? info : { ...info, lenientCollation: collation };
    });
    return { columns, store: "SQLite" };
  }

  /** The shape's SQL, once its key is known to be unique (see `checkKey`). */
  private sql(shape: RecordShape): SqliteShapeSql {
    const known = this.shapes.get(shape);
    if (known) return known;
    let s: SqliteShapeSql;
    try {
      const meta = this.meta();
      const collated = new Map<string, string>();
      for (const c of shape.key) {
        // A bytes key is compared and looked up as blobs; a column of another affinity keeps text there.
        const declared = meta.columns.find((m) => m.name === c.name)?.type ?? "";
        if (c.type === "bytes" && sqliteLogicalType(declared) !== "bytes")
          throw new Error(
            `key column ${c.name} is declared ${declared || "without a type"}, which cannot be compared as a bytes key (declare it BLOB)`,
          );
        const collation = c.type === "text" ? sqliteCollation(this.db, this.table, c.name) : "BINARY";
        if (collation !== "BINARY") collated.set(c.name, collation);
      }
      const notNull = new Set(meta.columns.filter((c) => c.notNull).map((c) => c.name));
      // The rowid (INTEGER PRIMARY KEY) is never NULL, whatever the declaration says.
      const rowid = meta.unique?.find((u) => u.name === "rowid")?.columns[0];
      const nullable = new Set(shape.key.map((c) => c.name).filter((c) => !notNull.has(c) && c !== rowid));
      const declared = new Map(meta.columns.map((c) => [c.name, c.type]));
      s = new SqliteShapeSql(
        this.db,
        shape,
        this.shapes.size,
        this.table,
        declared,
        collated,
        nullable,
        this.rowFilter,
        meta.strict,
      );
      // A value error names the replica, as PostgreSQL's and MariaDB's do.
      s.codec.label = this.label;
      this.checkKey(s, meta);
    } catch (err) {
      this.fail("cannot read the dataset's columns", err);
    }
    this.shapes.set(shape, s);
    return s;
  }

  /**
   * Refuses a key the table does not keep unique: neither the rowid nor a primary key or unique index made of
   * key columns. A key with NULL parts is a key like any other, but a unique index lets rows whose key holds
   * NULL repeat (NULL ≠ NULL), and such a key names no single row: the first one found is refused, naming it
   * (one aggregate over the rows holding NULL in a key column). A view's rows are searched for a duplicate key
   * instead (one aggregate over it).
   */
  private checkKey(s: SqliteShapeSql, meta: SqliteTableMeta): void {
    const key = s.shape.key.map((c) => c.name);
    const id = JSON.stringify(key);
    if (this.uniqueKeys.has(id)) return;
    const duplicate = (where: string) => {
      this.stats.queries++;
      return this.db
        .prepare(
          `SELECT ${s.keyExactList} FROM ${this.table}${where} GROUP BY ${s.orderBy} HAVING count(*) > 1 LIMIT 1`,
        )
        .raw(true)
        .safeIntegers(true)
        .get() as unknown[] | undefined;
    };
    if (meta.unique === null) {
      const dup = duplicate("");
      if (dup) throw new ConnectorError(duplicateKeyMessage(this.label, this.table, s.codec.key(dup)));
    } else {
      const notNull = new Set(meta.columns.filter((c) => c.notNull).map((c) => c.name));
      const unique = keyUniqueness(key, meta.unique, (c) => notNull.has(c));
      if (!unique) throw new ConnectorError(notUniqueMessage(this.label, this.table, key));
      if (unique.nullable.length > 0) {
        const held = unique.nullable.map((c) => `${quoteIdent(c)} IS NULL`).join(" OR ");
        const dup = duplicate(` WHERE ${held}`);
        if (dup)
          throw new ConnectorError(
            duplicateNullKeyMessage(this.label, this.table, s.codec.key(dup), unique.index.name),
          );
      }
    }
    this.uniqueKeys.add(id);
  }

  /**
   * What slows this shape's detection: a key order no index serves, because no index starts with the key
   * columns or a text key column's collation is not BINARY (its index orders another way).
   */
  async pushdownLimits(shape: RecordShape): Promise<string[]> {
    const s = this.sql(shape);
    const label = this.label ? `${this.label}: ` : "";
    const notes = [...s.collated].map(
      ([column, collation]) =>
        `${label}key column ${column} has collation ${collation}: keys are compared and ordered as BINARY ` +
        `(code points), which its index cannot serve; declare the column (or an index on it) COLLATE BINARY`,
    );
    if (notes.length === 0 && !this.indexed(s))
      notes.push(`${label}no index serves the key order (${s.orderBy}): range queries scan the table`);
    return notes;
  }

  private indexed(s: SqliteShapeSql): boolean {
    s.indexed ??=
      s.collated.size === 0 &&
      sqliteKeyIndexed(
        this.db,
        this.table,
        this.meta(),
        s.shape.key.map((c) => c.name),
      );
    return s.indexed;
  }

  /**
   * Two SQLite replicas compared inside SQLite (see `sqlitePair`): the other's file attached to this
   * connection. Declined, with the reason, for another kind of store, an in-memory database, or columns whose
   * declared types store values differently on the two sides.
   */
  readonly pairDiff: PairDiffCapability = {
    pair: async (shape, other) => {
      if (!(other instanceof SqliteConnector))
        return `${this.label || "a SQLite replica"} is compared with a ${other.kind} replica`;
      let here: SqlitePairSide;
      let there: SqlitePairSide;
      const s = this.sql(shape);
      try {
        here = this.pairSide(shape);
        there = other.pairSide(shape);
      } catch (err) {
        this.fail("cannot prepare the in-SQLite comparison", err);
      }
      const refused = pairRefusal(s, here, there);
      if (refused) return refused;
      let peer = "main";
      try {
        if (here.file !== there.file) peer = attachPeer(this.db, there.file);
      } catch (err) {
        return `${there.label}'s file cannot be attached to ${this.label}'s connection (${err instanceof Error ? err.message : String(err)})`;
      }
      return sqlitePair({ db: this.db, label: this.label, stats: this.stats }, s, here, there, peer);
    },
  };

  /** Whether a row's key holds NULL in a column that may (SQLite lets even a primary key hold NULL). */
  private holdsNullKey(s: SqliteShapeSql): boolean {
    const cond = [...s.nullable].map((c) => `${quoteIdent(c)} IS NULL`).join(" OR ");
    this.stats.queries++;
    return this.db.prepare(`SELECT 1 FROM ${this.table} WHERE ${cond} LIMIT 1`).get() !== undefined;
  }

  /** What the other replica of a pair needs to know of this one (see `SqlitePairSide`). */
  pairSide(shape: RecordShape): SqlitePairSide {
    const s = this.sql(shape);
    let file = "";
    if (!this.db.memory && this.db.name !== "") {
      try {
        file = realpathSync(this.db.name);
      } catch {
        file = resolve(this.db.name);
      }
    }
    const declared = new Map(this.meta().columns.map((c) => [c.name, c.type]));
    // The layout of a stored timestamp, where the column holds one (an empty column tells nothing).
    const styles = new Map<string, string>();
    for (const c of [...shape.key, ...shape.columns]) {
      if (c.type !== "timestamp") continue;
      const q = quoteIdent(c.name);
      const held = this.db.prepare(`SELECT 1 FROM ${this.table} WHERE ${q} IS NOT NULL LIMIT 1`).get();
      if (held) styles.set(c.name, JSON.stringify(this.timestampStyle(c.name)));
    }
    this.stats.queries++;
    return {
      label: this.label,
      file,
      table: this.tableName.includes(".") ? undefined : this.table,
      encoding: String(this.db.pragma("encoding", { simple: true })),
      declared,
      styles,
      indexed: this.indexed(s),
      nullableKey: s.nullable.size > 0 && this.holdsNullKey(s),
      filtered: this.rowFilter !== undefined,
    };
  }

  async count(shape: RecordShape, range: KeyRange): Promise<number> {
    const s = this.sql(shape);
    try {
      const st = s.statement(
        `count${boundsId(range)}`,
        () => `SELECT count(*) FROM ${this.table} ${s.where(range)}`,
      );
      this.stats.queries++;
      const done = onePass(this.db);
      try {
        return Number(st.pluck().get(...s.rangeParams(range)));
      } finally {
        done();
      }
    } catch (err) {
      this.fail("count failed", err);
    }
  }

  /**
   * First and last key of the range in key order, each one index probe: only when the key is the table's
   * integer primary key (the rowid) or the leading columns of an index in collation BINARY (the primary
   * key's included); otherwise null, as finding them would read every row.
   */
  async keyBounds(shape: RecordShape, range: KeyRange): Promise<{ first: Key; last: Key } | null> {
    const s = this.sql(shape);
    try {
      if (!this.indexed(s)) return null;
      const probe = (dir: "ASC" | "DESC") =>
        s.statement(
          `bound${dir}${boundsId(range)}`,
          () =>
            `SELECT ${s.keyExactList} FROM ${this.table} ${s.where(range)} ` +
            `ORDER BY ${s.keyOrder.map((k) => `${k} ${dir}`).join(", ")} LIMIT 1`,
        );
      const params = s.rangeParams(range);
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

  async checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    const s = this.sql(shape);
    const out: RangeChecksum[] = [];
    try {
      for (const range of ranges) {
        const text = s.exactly(() =>
          s
            .statement(
              `sum${boundsId(range)}`,
              () => `SELECT ${s.sumFn}(${s.readList}) FROM ${this.table} ${s.where(range)}`,
            )
            .pluck()
            .get(...s.rangeParams(range)),
        ) as string;
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
      const cols = s.keyOrder.map((k, i) => `${k} AS k${i}`).join(", ");
      const picked = s.keyOrder.map((_, i) => s.keyExact(`k${i}`, i)).join(", ");
      const st = s.statement(
        `split${boundsId(range)}`,
        () =>
          `SELECT ${picked} FROM (SELECT ${cols}, row_number() OVER (ORDER BY ${s.orderBy}) AS rn ` +
          `FROM ${this.table} ${s.where(range)}) WHERE (rn - 1) % ? = 0 AND rn > 1 ORDER BY rn`,
      );
      const rows = st
        .raw(true)
        .safeIntegers(true)
        .all(...s.rangeParams(range), BigInt(step)) as unknown[][];
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
    const open = () => {
      try {
        const st = s.statement(
          `stream${boundsId(range)}`,
          () =>
            `SELECT ${s.keyReadList}, ${s.fpFn}(${s.readList}) FROM ${this.table} ${s.where(range)} ORDER BY ${s.orderBy}`,
        );
        this.stats.queries++;
        return st
          .raw(true)
          .safeIntegers(true)
          .iterate(...s.rangeParams(range)) as IterableIterator<unknown[]>;
      } catch (err) {
        this.fail("fingerprint stream failed", err);
      }
    };
    let iterator = open();
    const width = shape.key.length;
    let batch: KeyFingerprint[] = [];
    // The last key listed: a read that met a lossy text restarts in exact reads after it.
    let last: Key | null = null;
    // The row read before, to name both rows when SQLite's order is not Concord's (keyClassClash).
    let prevKey: Key | undefined;
    let prevRow: unknown[] = [];
    try {
      for (;;) {
        let row: unknown[];
        try {
          const next = iterator.next();
          if (next.done) break;
          row = next.value;
        } catch (err) {
          if (!s.readExactlyAfter(err)) throw err;
          iterator = open();
          batch = [];
          prevKey = undefined;
          continue;
        }
        const key = s.codec.key(row);
        if (last && compareKeys(shape.key, key, last) <= 0) continue;
        if (s.numbersInTextKeys) {
          if (prevKey && compareKeys(shape.key, prevKey, key) >= 0) {
            const clash = keyClassClash(shape, this.table, { key: prevKey, row: prevRow }, { key, row });
            if (clash) throw connectorErrorLine(this.label, clash);
          }
        }
        prevKey = key;
        prevRow = row;
        const fingerprint = row[width] as string;
        batch.push({ key, fingerprint });
        this.stats.bytesRead += 16 + key.reduce((n, k) => n + (k?.length ?? 0), 0);
        if (batch.length >= batchSize) {
          this.stats.rowsRead += batch.length;
          last = key;
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
    const read = (statement: () => ReturnType<SqliteShapeSql["statement"]>, params: unknown[]) => {
      const records = s.exactly(() => {
        const rows = statement()
          .raw(true)
          .safeIntegers(true)
          .all(...params) as unknown[][];
        this.stats.queries++;
        return rows.map((row) => s.record(row));
      });
      for (const rec of records) {
        this.stats.rowsRead++;
        this.stats.bytesRead += rec.values.reduce((n, v) => n + (v?.length ?? 0), 0);
        out.push(rec);
      }
    };
    try {
      const plain = keys.filter((k) => !keyHasNull(k));
      for (let i = 0; i < plain.length; i += chunk) {
        const part = plain.slice(i, i + chunk);
        const st = () =>
          s.statement(
            `fetch${part.length}`,
            () => `SELECT ${s.readList} FROM ${this.table} WHERE ${s.keysIn(part.length)}`,
          );
        read(
          st,
          part.flatMap((k) => s.bindKey(k)),
        );
      }
      // A key with NULL parts matches by IS NULL, which no IN list can say: one lookup each (they are rare).
      for (const k of keys) {
        if (!keyHasNull(k)) continue;
        const st = () =>
          s.statement(
            `fetchn${nullMask(k)}`,
            () => `SELECT ${s.readList} FROM ${this.table} WHERE ${s.keyEquals(k)}`,
          );
        read(st, s.bindKeyValues(k));
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

  /**
   * One IMMEDIATE transaction per call (see `applySqliteWrites`). The first call that has something to write
   * switches the database to WAL (so the application's readers do not block Concord's writes, nor these
   * theirs); nothing else Concord does changes the file, so a scan, or a repair that fails before writing,
   * leaves it as it was.
   */
  async printWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<string[]> {
    try {
      return printSqliteWrites(this.sql(shape), this.table, writes, (c) => this.timestampStyle(c));
    } catch (err) {
      this.fail("printing the writes failed", err);
    }
  }

  async applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]> {
    if (writes.length === 0) return [];
    const s = this.sql(shape);
    try {
      this.useWal();
      const meta = this.meta();
      const declared = new Map(meta.columns.map((c) => [c.name, c.type]));
      return applySqliteWrites(
        {
          label: this.label,
          db: this.db,
          table: this.table,
          declared,
          styleOf: (c) => this.timestampStyle(c),
          strict: meta.strict,
        },
        s,
        writes,
        this.stats,
      );
    } catch (err) {
      this.fail("conditional write failed", err);
    }
  }

  /** WAL journal mode, once, before the first write (a read-only or in-memory database keeps its mode). */
  private useWal(): void {
    if (this.walChecked) return;
    this.walChecked = true;
    if (this.db.readonly || this.db.memory) return;
    try {
      if (String(this.db.pragma("journal_mode", { simple: true })).toLowerCase() !== "wal")
        this.db.pragma("journal_mode = WAL");
    } catch {
      // Another connection holds the file: the writes work in its current mode too, only less concurrently.
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/**
 * The one line refusing a database that keeps its text in UTF-16 (`PRAGMA encoding = 'UTF-16le'` before its
 * first table), naming the file and the setting; undefined for UTF-8. SQLite orders and compares UTF-16 text
 * by its UTF-16 bytes (in UTF-16le, U+0100 before 'a'), so keys would come out of the code-point order every
 * other replica lists them in (and range bounds would cut them elsewhere), and a text read as its bytes
 * (exact reads, a TEXT value in a BLOB column) would be its UTF-16 bytes, not the UTF-8 ones the same value
 * has in any other store. Exactness would need every key range ordered through a function no index serves.
 */
export function utf16Refusal(db: Db): string | undefined {
  const encoding = String(db.pragma("encoding", { simple: true }));
  if (encoding.toUpperCase() === "UTF-8") return undefined;
  const file = db.memory || db.name === "" ? "an in-memory database" : `sqlite:${db.name}`;
  const shown = db.memory || db.name === "" ? "old.db" : db.name;
  return (
    `${file} keeps its text in ${encoding} (PRAGMA encoding), which Concord does not compare: SQLite orders ` +
    `and compares such text by its UTF-16 bytes, not by code point as every other replica does; copy it into a ` +
    `UTF-8 database (sqlite3 ${shown} .dump | sqlite3 new.db) and point the replica there`
  );
}

export interface OpenSqliteOptions {
  /** Open read-only (scan and plan never write). */
  readonly readonly?: boolean;
  /** The row filter (see SqliteConnectorOptions.rowFilter). */
  readonly rowFilter?: string | undefined;
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
    // Nothing is changed on open: the journal mode is switched to WAL by the first write (see applyWrites).
    db = new Database(path, { fileMustExist: true, readonly: options.readonly ?? false, timeout: 5000 });
    // A bigger page cache than the 2 MB default: repairs and verification read scattered rows.
    db.pragma(SCATTERED_CACHE);
  } catch (err) {
    // Opened, but no database (or locked): close it, or the file stays open until garbage collection.
    db?.close();
    throw sqliteError(options.label ?? "", `cannot open sqlite:${path}`, err);
  }
  return new SqliteConnector(db, table, { label: options.label ?? "", rowFilter: options.rowFilter });
}
