/** MariaDB/MySQL connector (mysql2): fingerprints and range checksums computed in SQL. Only this folder imports the driver. */
import { randomUUID } from "node:crypto";
import { createPool, type Pool } from "mysql2/promise";
import { redactUrl } from "../../config/redact.js";
import { resolveTimeouts, type TimeoutsConfig } from "../../config/timeouts.js";
import { ChecksumAccumulator, type RangeChecksum } from "../../core/fingerprint.js";
import {
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
  type NativeHashCapability,
  type PairDiffCapability,
  type TableDescription,
  type WriteOutcome,
} from "../connector.js";
import { oneLine } from "../connector-errors.js";
import type { RowHash } from "../row-hash.js";
import {
  duplicateKeyMessage,
  duplicateNullKeyMessage,
  keyUniqueness,
  notUniqueMessage,
} from "../unique-key.js";
import { stringLiteral } from "./mysql-canonical-sql.js";
import { diagnoseMysqlCheckViolation, isMysqlCheckViolation } from "./mysql-check-refusal.js";
import { bucketSql } from "./mysql-checksum-sql.js";
import { mysqlColumnInfo } from "./mysql-column-types.js";
import { writeConditionally } from "./mysql-conditional-writes.js";
import { isMysqlRolledBack, mysqlErrorCode, UnstorableValueError } from "./mysql-errors.js";
import { diagnoseMysqlGeometryRefusal, isMysqlGeometryRefusal } from "./mysql-geometry-refusal.js";
import { MysqlListing } from "./mysql-listing.js";
import { type MysqlPairSide, mysqlPair, mysqlPairRefusal } from "./mysql-pair-diff.js";
import { MysqlSession, mysqlPoolTimeouts } from "./mysql-session.js";
import { MysqlShapeSql } from "./mysql-shape-sql.js";
import { mysqlSplitKeys } from "./mysql-split.js";
import { type MysqlTableMeta, mysqlKeyIndex, readMysqlTableMeta } from "./mysql-table-meta.js";
import { printMysqlWrites } from "./mysql-write-print.js";

export interface MysqlConnectorOptions {
  /** Label used in error messages (the replica name). */
  readonly label?: string;
  /**
   * An SQL predicate on the table's columns (config `where:`): every range read (count, checksums, splits,
   * key lists) sees only the rows it holds. Reads by key (`fetchRecords`) and conditional writes see the
   * whole table, so a write never misses a row.
   */
  readonly rowFilter?: string | undefined;
  /** Where the store is, for error messages (a URL; its password is redacted). */
  readonly where?: string;
  /** Refuse writes (scan and plan never write). */
  readonly readonly?: boolean;
  /** Server-side limit on one read statement in ms (default: `timeouts.statementMs`, which is 0: none). */
  readonly queryTimeoutMs?: number;
  /** Deadlines of every call (default: DEFAULT_TIMEOUTS; see MysqlSession). */
  readonly timeouts?: TimeoutsConfig;
  /** Keys per statement in fetches and writes (default 500). */
  readonly keysPerStatement?: number;
  /**
   * Longest checksum statement sent at once, in characters (default 4 MiB, well under max_allowed_packet:
   * 16 MiB by default on MariaDB, 64 MiB on MySQL 8); a longer round is sent in parts.
   */
  readonly maxStatementChars?: number;
  /** Close the pool in `close()` (set by `openMysqlConnector`, which created it). */
  readonly ownsPool?: boolean;
}

/**
 * A connector over one table of a MariaDB (10.6+) or MySQL (8.0+) database, reached through a mysql2 pool it
 * is given and does not own (see `openMysqlConnector` for one that opens its own). Every connection it
 * borrows is switched to UTC, utf8mb4 and backslash escapes.
 *
 * Range checksums run as one aggregate statement per round over all of the round's ranges, with each row's
 * fingerprint (MD5 of the canonical encoding, built in SQL) equal to the engine's. Shapes with a column
 * whose canonical text SQL cannot build exactly (FLOAT/DOUBLE, JSON) are fingerprinted in the engine from
 * rows streamed by the same statements: still correct, not pushed down; `pushdownLimits` says so.
 * Between MariaDB/MySQL tables whose columns have the same native types, checksums and listings can use a
 * cheaper native row hash instead (SHA1 of the columns' length-prefixed native texts; see `nativeHash`),
 * and `keyBounds` finds a range's first and last key in the key's index. A key must be kept unique by a
 * primary key or unique index (a view's rows are searched for a duplicate instead), and spatial columns
 * are read as the bytes the server stores (SRID, then WKB).
 *
 * MariaDB and MySQL 8 differ where it matters here, and each place says so: JSON (MariaDB: LONGTEXT with a
 * json_valid() check, found through CHECK_CONSTRAINTS; MySQL: a JSON type), statement timeouts (MariaDB:
 * SET STATEMENT max_statement_time; MySQL: the MAX_EXECUTION_TIME hint), NO PAD binary collations
 * (utf8mb4_nopad_bin; utf8mb4_0900_bin), and error numbers mysql2 names only for MySQL.
 */
export class MysqlConnector implements Connector {
  readonly kind = "mysql";
  readonly pushdown = true;
  readonly filtered: boolean;
  readonly stats: ConnectorStats = emptyStats();
  private readonly session: MysqlSession;
  private meta: Promise<MysqlTableMeta> | undefined;
  private readonly shapes = new Map<RecordShape, Promise<MysqlShapeSql>>();
  private readonly label: string;
  private readonly keysPerStatement: number;
  private readonly maxStatementChars: number;
  private readonly listing: MysqlListing;
  /** Each shape's side of an in-store pair, and each other replica's verdict on joining it (see `pairDiff`). */
  private readonly pairSides = new Map<RecordShape, Promise<MysqlPairSide>>();
  private readonly pairReach = new Map<MysqlConnector, Promise<string | undefined>>();
  /** The verdict on each key (by its column names) being unique: checked once, shared by shapes. */
  private readonly keyChecks = new Map<string, Promise<void>>();

  constructor(
    pool: Pool,
    private readonly table: string,
    private readonly options: MysqlConnectorOptions = {},
  ) {
    this.label = options.label || table;
    this.filtered = options.rowFilter !== undefined;
    this.keysPerStatement = Math.max(1, options.keysPerStatement ?? 500);
    this.maxStatementChars = options.maxStatementChars ?? 4 * 1024 * 1024;
    this.session = new MysqlSession(
      pool,
      {
        label: this.label,
        where: options.where ?? "the MySQL server",
        queryTimeoutMs: options.queryTimeoutMs ?? options.timeouts?.statementMs ?? 0,
        readAttempts: 3,
        ...(options.timeouts ? { timeouts: options.timeouts } : {}),
      },
      this.stats,
    );
    this.listing = new MysqlListing(this.session, this.stats, this.maxStatementChars);
  }

  /** The columns as information_schema declares them (see `mysqlColumnInfo`), read afresh. */
  async describe(): Promise<TableDescription> {
    this.meta = this.readMeta();
    // An in-store pair is checked again against the table as described now.
    this.pairSides.clear();
    this.pairReach.clear();
    const meta = await this.meta;
    const store = this.session.flavor === "mariadb" ? "MariaDB" : "MySQL";
    return { columns: meta.columns.map(mysqlColumnInfo), store };
  }

  private readMeta(): Promise<MysqlTableMeta> {
    const meta = readMysqlTableMeta(this.session, this.table, this.label);
    meta.catch(() => {
      this.meta = undefined;
    });
    return meta;
  }

  /** True on MariaDB ≥ 10.7, which has JSON_NORMALIZE: MariaDB's JSON is then canonicalised in SQL. */
  private jsonNormalize(): boolean {
    const m = /^(\d+)\.(\d+)/.exec(this.session.version ?? "");
    if (this.session.flavor !== "mariadb" || !m) return false;
    const [major, minor] = [Number(m[1]), Number(m[2])];
    return major > 10 || (major === 10 && minor >= 7);
  }

  /** The shape's SQL, once its key is known to be unique (see `checkKey`). */
  private sql(shape: RecordShape): Promise<MysqlShapeSql> {
    let s = this.shapes.get(shape);
    if (!s) {
      s = (async () => {
        this.meta ??= this.readMeta();
        const meta = await this.meta;
        const names = shape.key.map((c) => c.name);
        let built: MysqlShapeSql;
        try {
          built = new MysqlShapeSql(
            shape,
            this.table,
            meta.byName,
            mysqlKeyIndex(meta, names),
            this.options.rowFilter,
            this.jsonNormalize(),
            this.session.flavor === "mariadb",
          );
          built.codec.label = this.label;
        } catch (err) {
          throw this.session.error("cannot read the dataset's columns", err);
        }
        const id = JSON.stringify(names);
        let check = this.keyChecks.get(id);
        if (!check) {
          check = this.checkKey(built, meta);
          check.catch(() => this.keyChecks.delete(id));
          this.keyChecks.set(id, check);
        }
        await check;
        return built;
      })();
      s.catch(() => this.shapes.delete(shape));
      this.shapes.set(shape, s);
    }
    return s;
  }

  /**
   * Refuses a key the table does not keep unique: no primary key or unique index made of key columns. A key
   * with NULL parts is a key like any other, but a unique index lets rows whose key holds NULL repeat, and
   * such a key names no single row: the first one found is refused, naming it (one aggregate over the rows
   * holding NULL in a key column, once per run). A view's rows are searched for a duplicate key instead.
   */
  private async checkKey(s: MysqlShapeSql, meta: MysqlTableMeta): Promise<void> {
    const key = s.shape.key.map((c) => c.name);
    const what = "cannot check that keys are unique";
    // MIN of a group's equal keys: MySQL's ONLY_FULL_GROUP_BY refuses a bare column grouped by an expression.
    const duplicate = async (where: string) => {
      const sql =
        `SELECT ${s.keyRefs.map((k) => `MIN(${k})`).join(", ")} FROM ${s.table}${where} ` +
        `GROUP BY ${s.keyOrder.join(", ")} HAVING COUNT(*) > 1 LIMIT 1`;
      const [dup] = await this.session.read(what, (conn) => this.session.rows(conn, sql));
      return dup ? this.decode(what, () => s.codec.key(dup)) : undefined;
    };
    if (meta.unique === null) {
      const found = await duplicate("");
      if (found) throw new ConnectorError(duplicateKeyMessage(this.label, this.table, found));
      return;
    }
    const unique = keyUniqueness(key, meta.unique, (c) => meta.byName.get(c)?.nullable === false);
    if (!unique) throw new ConnectorError(notUniqueMessage(this.label, this.table, key));
    if (unique.nullable.length === 0) return;
    const held = unique.nullable.map((c) => `${s.keyRefs[key.indexOf(c)]!} IS NULL`).join(" OR ");
    const found = await duplicate(` WHERE ${held}`);
    if (found)
      throw new ConnectorError(duplicateNullKeyMessage(this.label, this.table, found, unique.index.name));
  }

  /**
   * Why this shape's detection is slower than full pushdown, one sentence each (empty when checksums run in
   * the store over index ranges). The engine can print these before a scan starts.
   */
  async pushdownLimits(shape: RecordShape): Promise<string[]> {
    const s = await this.sql(shape);
    const notes: string[] = [];
    if (!s.pushable) {
      notes.push(
        `${this.label}: rows are fingerprinted in the engine, not in the store, because SQL cannot reproduce ` +
          `the canonical text of ${s.clientColumns.join(", ")}: checksums stream those rows` +
          (s.native
            ? " (beside a table of the same types, the native row hash still runs in the store)"
            : ""),
      );
    }
    if (!s.sargable) {
      notes.push(
        `${this.label}: text key columns without a NO PAD binary collation are compared as BINARY, so range ` +
          "queries cannot use the index (use utf8mb4_nopad_bin on MariaDB, utf8mb4_0900_bin on MySQL 8)",
      );
    }
    if (!s.forceIndex)
      notes.push(`${this.label}: no index starts with the key columns; ranges scan the table`);
    return notes;
  }

  async count(shape: RecordShape, range: KeyRange): Promise<number> {
    const s = await this.sql(shape);
    const rows = await this.session.read("count failed", (conn) =>
      this.session.rows(conn, `SELECT COUNT(*) FROM ${s.from(range)}`),
    );
    return Number(rows[0]?.[0] ?? 0);
  }

  /**
   * Two dives into the key's index: MIN and MAX of a single key column ("Select tables optimized away"), the
   * first row each way of a composite key. Null for an empty range, and when no index serves the binary-safe
   * key order (text keys without a NO PAD binary collation would need a scan).
   */
  async keyBounds(shape: RecordShape, range: KeyRange): Promise<{ first: Key; last: Key } | null> {
    const s = await this.sql(shape);
    if (!s.sargable || !s.forceIndex) return null;
    const from = `${s.source}${s.forceIndex}${s.where(range)}`;
    const keys = s.keyRefs.join(", ");
    const probe = (order: number, dir: string) =>
      `(SELECT ${order} AS o, ${keys} FROM ${from} ORDER BY ${s.keyOrder.map((k) => `${k} ${dir}`).join(", ")} LIMIT 1)`;
    // MIN and MAX skip NULLs: a key that may hold NULL is probed in key order (NULL first) instead.
    const sql =
      s.keyWidth === 1 && !s.nullableKey
        ? `SELECT MIN(${keys}), MAX(${keys}) FROM ${from}`
        : `SELECT b.* FROM (${probe(0, "ASC")} UNION ALL ${probe(1, "DESC")}) AS b ORDER BY b.o`;
    const rows = await this.session.read("key bounds failed", (conn) => this.session.rows(conn, sql));
    return this.decode("key bounds failed", () => {
      if (s.keyWidth === 1 && !s.nullableKey) {
        const [min, max] = rows[0] ?? [];
        return min == null || max == null ? null : { first: s.codec.key([min]), last: s.codec.key([max]) };
      }
      if (rows.length < 2) return null;
      return { first: s.codec.key(rows[0]!.slice(1)), last: s.codec.key(rows[1]!.slice(1)) };
    });
  }

  /** One statement per call (see `bucketSql`), split only when its text would pass `maxStatementChars`. */
  checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    return this.checksum(shape, ranges, "fingerprint");
  }

  /**
   * SHA1 of each row's length-prefixed native texts (see `nativeRowHash`), for shapes whose columns all have
   * one. The signature names the server (flavour and major.minor version) and each column's name, native
   * type, logical type and character set family (collations are left out: they order and compare text but
   * do not change its bytes). MariaDB's JSON is hashed by its stored text, although the engine fingerprints
   * it. None for FLOAT/DOUBLE, MySQL 8's JSON, BIT, TIME, ENUM, non-UTF-8 text, or a type read as another
   * logical type.
   */
  readonly nativeHash: NativeHashCapability = {
    signature: async (shape) => {
      const s = await this.sql(shape);
      if (!s.native) return null;
      const version = /^\d+\.\d+/.exec(this.session.version ?? "")?.[0];
      if (!this.session.flavor || !version) return null;
      return JSON.stringify([
        "mysql",
        "sha1-length-prefixed/2",
        this.session.flavor,
        version,
        s.native.columns,
      ]);
    },
    checksumRanges: (shape, ranges) => this.checksum(shape, ranges, "native"),
    streamHashesIn: (shape, ranges, batchSize) => this.listIn(shape, ranges, batchSize, "native"),
  };

  /**
   * Two MariaDB replicas on one server (the same server answers both connections; two databases or two
   * tables) compared inside MariaDB by one keyed join (see `mysqlPair`), each side through its own row filter.
   * Declined, with the reason, for another kind of store, another server, a table this replica's connection
   * cannot read, MySQL, columns of different types or of a type the join cannot compare exactly, or a key
   * column that may hold NULL or whose collation does not order keys as Concord does.
   */
  readonly pairDiff: PairDiffCapability = {
    pair: async (shape, other) => {
      if (!(other instanceof MysqlConnector))
        return `${this.label || "a MariaDB replica"} is compared with a ${other.kind} replica`;
      const [here, there] = await Promise.all([this.pairSide(shape), other.pairSide(shape)]);
      const refused = mysqlPairRefusal(here, there);
      if (refused) return refused;
      let reaching = this.pairReach.get(other);
      if (!reaching) {
        reaching = this.reaches(other, there);
        reaching.catch(() => this.pairReach.delete(other));
        this.pairReach.set(other, reaching);
      }
      const reach = await reaching;
      if (reach) return reach;
      return mysqlPair(
        {
          session: this.session,
          label: this.label,
          stats: this.stats,
          keyBounds: (range) => this.keyBounds(shape, range),
        },
        here,
        there,
      );
    },
  };

  /** This replica's side of an in-store pair (see `pairSideOf`), built once per shape while the description holds. */
  private pairSide(shape: RecordShape): Promise<MysqlPairSide> {
    let side = this.pairSides.get(shape);
    if (!side) {
      side = this.pairSideOf(shape);
      side.catch(() => this.pairSides.delete(shape));
      this.pairSides.set(shape, side);
    }
    return side;
  }

  /** This replica's side of an in-store pair: its shape's SQL over its table named with its database. */
  private async pairSideOf(shape: RecordShape): Promise<MysqlPairSide> {
    await this.sql(shape);
    const meta = await this.meta!;
    let table = this.table;
    if (!table.includes(".")) {
      const [[db] = []] = await this.session.read("cannot describe table", (conn) =>
        this.session.rows(conn, "SELECT DATABASE()"),
      );
      table = `${String(db)}.${table}`;
    }
    let s: MysqlShapeSql;
    try {
      s = new MysqlShapeSql(
        shape,
        table,
        meta.byName,
        mysqlKeyIndex(
          meta,
          shape.key.map((c) => c.name),
        ),
        this.options.rowFilter,
        this.jsonNormalize(),
        this.session.flavor === "mariadb",
      );
      s.codec.label = this.label;
    } catch (err) {
      throw this.session.error("cannot read the dataset's columns", err);
    }
    return { label: this.label, s, flavor: this.session.flavor };
  }

  /**
   * Why this replica's connection cannot join `other`'s table, or undefined when it can: both connections must
   * be answered by the same server (a lock one holds is seen held by the other), and this one must read the
   * other's table.
   */
  private async reaches(other: MysqlConnector, there: MysqlPairSide): Promise<string | undefined> {
    const a = this.label || "this replica";
    const b = other.label || "the other replica";
    const lock = `concord-pair-${randomUUID()}`;
    const what = "cannot compare in the store";
    return this.session.read(what, async (conn) => {
      const [[id, got] = []] = await this.session.rows(
        conn,
        `SELECT CONNECTION_ID(), GET_LOCK(${stringLiteral(lock)}, 0)`,
      );
      if (String(got) !== "1") return `${a} could not take a lock to check that one server holds ${b}`;
      try {
        const [[user] = []] = await other.session.read(what, (c) =>
          other.session.rows(c, `SELECT IS_USED_LOCK(${stringLiteral(lock)})`),
        );
        if (user == null || String(user) !== String(id))
          return `${a} and ${b} are answered by different servers, which one statement cannot join`;
      } finally {
        await this.session.rows(conn, `SELECT RELEASE_LOCK(${stringLiteral(lock)})`);
      }
      try {
        await this.session.rows(conn, `SELECT 1 FROM ${there.s.tableName} LIMIT 0`);
      } catch (err) {
        return `${a}'s connection cannot read ${b}'s table ${there.s.tableName} (${oneLine(err instanceof Error ? err.message : String(err))})`;
      }
      return undefined;
    });
  }

  private async checksum(
    shape: RecordShape,
    ranges: readonly KeyRange[],
    hash: RowHash,
  ): Promise<RangeChecksum[]> {
    const s = await this.sql(shape);
    if (hash === "native" && !s.native)
      throw new ConnectorError(`${this.label}: native checksum failed: the shape has no native row hash`);
    const inStore = s.hashedInSql(hash);
    const out: RangeChecksum[] = ranges.map(() => ({ count: 0, xor: "0000000000000000" }));
    const run = async (from: number, to: number): Promise<void> => {
      const part = ranges.slice(from, to);
      const sql = bucketSql(s, part, inStore ? "aggregate" : "rows", hash);
      if (!sql) return;
      if (sql.length > this.maxStatementChars && part.length > 1) {
        const mid = from + Math.floor(part.length / 2);
        await run(from, mid);
        await run(mid, to);
        return;
      }
      const sums = inStore
        ? await this.checksumInStore(s, sql, part)
        : await this.listing.checksumInEngine(s, sql, part.length);
      sums.forEach((sum, i) => {
        out[from + i] = sum;
      });
    };
    await run(0, ranges.length);
    return out;
  }

  /**
   * Runs an aggregate checksum statement. Rows too long for the server to fingerprint (see
   * `MysqlShapeSql.oversize`) are left out of its XOR and counted apart; they are read and fingerprinted here.
   */
  private async checksumInStore(
    s: MysqlShapeSql,
    sql: string,
    ranges: readonly KeyRange[],
  ): Promise<RangeChecksum[]> {
    const out: RangeChecksum[] = ranges.map(() => ({ count: 0, xor: "0000000000000000" }));
    const rows = await this.session.read("range checksum failed", (conn) => this.session.rows(conn, sql));
    for (const [i, count, xor, oversize] of rows) {
      const c = Number(count);
      let sum = String(xor);
      if (Number(oversize ?? 0) > 0) sum = await this.xorOversize(s, ranges[Number(i)]!, sum);
      out[Number(i)] = { count: c, xor: sum };
      this.stats.rowsScanned += c;
    }
    return out;
  }

  /** `xor` with the fingerprints of the range's oversize rows XORed in, computed by the engine from raw rows. */
  private async xorOversize(s: MysqlShapeSql, range: KeyRange, xor: string): Promise<string> {
    const acc = new ChecksumAccumulator();
    acc.add(xor);
    const cond = s.rangeCondition(range);
    const sql = `SELECT ${s.rawList} FROM ${s.source} WHERE ${cond ? `(${cond}) AND ` : ""}${s.oversize}`;
    // A few rows a batch: each may be as long as the packet.
    for await (const rows of this.session.stream("range checksum failed", sql, 4)) {
      for (const row of rows)
        acc.add(this.decode("range checksum failed", () => s.codec.fingerprintRaw(row)));
      this.stats.rowsRead += rows.length;
    }
    return acc.result().xor;
  }

  /** Split points by the cheapest of three ways (see `mysqlSplitKeys`). */
  async splitRange(shape: RecordShape, range: KeyRange, parts: number): Promise<Key[]> {
    if (parts < 2) return [];
    const s = await this.sql(shape);
    return this.session.read("range split failed", (conn) =>
      mysqlSplitKeys(s, range, Math.floor(parts), (sql) => this.session.rows(conn, sql)),
    );
  }

  /**
   * In keyset pages where the index serves the key order, else one streamed statement (see
   * `MysqlListing.streamRange`).
   */
  async *streamFingerprints(
    shape: RecordShape,
    range: KeyRange,
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const s = await this.sql(shape);
    yield* this.listing.streamRange(s, range, Math.max(1, Math.floor(batchSize)), "fingerprint");
  }

  /** Many ranges with few statements (see `MysqlListing.listIn`). */
  streamFingerprintsIn(
    shape: RecordShape,
    ranges: readonly KeyRange[],
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    return this.listIn(shape, ranges, batchSize, "fingerprint");
  }

  private async *listIn(
    shape: RecordShape,
    ranges: readonly KeyRange[],
    batchSize: number,
    hash: RowHash,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const s = await this.sql(shape);
    if (hash === "native" && !s.native)
      throw new ConnectorError(`${this.label}: native hash stream failed: the shape has no native row hash`);
    yield* this.listing.listIn(s, ranges, Math.max(1, Math.floor(batchSize)), hash);
  }

  /** Runs the engine's codec over rows read; a value it cannot read becomes a ConnectorError naming the column. */
  private decode<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.session.error(what, err);
    }
  }

  async fetchRecords(shape: RecordShape, keys: readonly Key[]): Promise<StoredRecord[]> {
    if (keys.length === 0) return [];
    const s = await this.sql(shape);
    const out: StoredRecord[] = [];
    const held = keys.filter((k) => s.holdsKey(k));
    for (let i = 0; i < held.length; i += this.keysPerStatement) {
      const part = held.slice(i, i + this.keysPerStatement);
      const rows = await this.session.read("record fetch failed", (conn) =>
        this.session.rows(conn, `SELECT ${s.rawList} FROM ${s.table} WHERE ${s.keysCondition(part)}`),
      );
      this.decode("record fetch failed", () => {
        for (const row of rows) out.push(s.record(row));
      });
    }
    return out;
  }

  /**
   * One transaction per call (see `writeConditionally`). A deadlock or a duplicate key (a concurrent insert
   * under READ COMMITTED, where absent keys are not gap-locked) has rolled everything back, so the batch is
   * tried again from the start: safe, because every write is conditional. Nothing else is repeated.
   */
  async applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]> {
    if (writes.length === 0) return [];
    if (this.options.readonly) throw new ConnectorError(`${this.label}: opened read-only; no writes`);
    const s = await this.sql(shape);
    const plain = (await this.meta)?.nonTransactional;
    if (plain) {
      // Its statements commit one by one and FOR UPDATE locks nothing: a row could change between the check
      // and the write, and a batch refused half-way (a generated column, a constraint) would stay half written.
      const { engine, baseTable } = plain;
      const which = baseTable
        ? `view ${this.table} writes into table ${baseTable}, which uses the ${engine} engine`
        : `table ${this.table} uses the ${engine} engine`;
      throw this.session.error(
        "conditional write refused",
        new Error(
          `${which}, which has no transactions: a conditional write could not lock, check and write a batch at ` +
            `once, nor undo one refused half-way (ALTER TABLE ${baseTable ?? this.table} ENGINE=InnoDB to repair it)`,
        ),
      );
    }
    for (const w of writes) {
      if (w.next && w.next.length !== shape.columns.length) {
        throw new ConnectorError(
          `${this.label}: a write to ${JSON.stringify(w.key)} has the wrong column count`,
        );
      }
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const outcomes = await this.session.withConnection((conn) =>
          writeConditionally(this.session, conn, s, writes, this.keysPerStatement),
        );
        this.stats.rowsWritten += outcomes.filter((o) => o === "applied").length;
        return outcomes;
      } catch (err) {
        if (mysqlErrorCode(err) === "ER_DUP_ENTRY") await this.refuseCollidingKeys(s, writes);
        // A refused value: which column and key? (A CHECK's columns from the catalog, a refused geometry's from
        // the server or a read of each value; the key by a probe per write.)
        const diagnose = isMysqlCheckViolation(err)
          ? diagnoseMysqlCheckViolation
          : isMysqlGeometryRefusal(s, err)
            ? diagnoseMysqlGeometryRefusal
            : undefined;
        if (diagnose) {
          const why = await diagnose(this.session, s, writes, err, this.keysPerStatement).catch(
            () => undefined,
          );
          if (why) throw this.session.error("conditional write refused", new Error(why));
        }
        if (attempt >= 3 || !isMysqlRolledBack(err))
          throw this.session.error("conditional write failed", err);
      }
    }
  }

  async printWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<string[]> {
    return printMysqlWrites(await this.sql(shape), writes, this.session.maxPacket ?? 4 * 1024 * 1024);
  }

  /**
   * After a duplicate-key failure: when a key to be written equals one the table holds under a key column's
   * collation (utf8mb4_general_ci holds 'a' or 'A', not both), no retry can succeed; throws one line naming
   * both keys and the collation. Otherwise (a concurrent insert of the same key) returns, and the batch is
   * tried again.
   */
  private async refuseCollidingKeys(s: MysqlShapeSql, writes: readonly ConditionalWrite[]): Promise<void> {
    const lenient = s.lenientKeyColumns();
    if (lenient.length === 0) return;
    // A key with NULL parts collides with nothing: its unique index lets it repeat.
    const keys = writes.filter((w) => w.next && !keyHasNull(w.key)).map((w) => w.key);
    for (let i = 0; i < keys.length; i += this.keysPerStatement) {
      const part = keys.slice(i, i + this.keysPerStatement);
      const rows = await this.session.read("conditional write failed", (conn) =>
        this.session.rows(conn, s.collidingKeysSql(part)),
      );
      const [hit] = rows;
      if (!hit) continue;
      const held = this.decode("conditional write failed", () => s.codec.key(hit.slice(1)));
      const collations = lenient.map((c) => `${c.name} ${c.collation}`).join(", ");
      throw this.session.error(
        "conditional write failed",
        new UnstorableValueError(
          `key ${JSON.stringify(part[Number(hit[0])])} cannot be inserted: the table holds ${JSON.stringify(held)}, ` +
            `which equals it under the key's collation (${collations}); the replicas' keys differ only in what it ignores`,
        ),
      );
    }
  }

  async close(): Promise<void> {
    await this.session.close(this.options.ownsPool === true);
  }
}

export interface OpenMysqlOptions {
  readonly label?: string;
  readonly readonly?: boolean;
  /** The row filter (see MysqlConnectorOptions.rowFilter). */
  readonly rowFilter?: string | undefined;
  /** Connections in the pool (default 4: detection reads each replica on one or two at a time). */
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
  /** Server-side limit on one read statement (see MysqlConnectorOptions). */
  readonly queryTimeoutMs?: number;
  /** Every deadline at once (config `timeouts`); `connectTimeoutMs` and `queryTimeoutMs` override it. */
  readonly timeouts?: Partial<TimeoutsConfig>;
}

/**
 * Opens a pool for `mysql://user:password@host:port/database` (or `mariadb://…`) and wraps one table of it.
 * Query parameters: `socket=PATH` (a unix socket, e.g. `mysql://root@localhost/db?socket=/run/mysqld/mysqld.sock`),
 * `ssl=true` (verified TLS), `connectTimeout` and `queryTimeout` (server-side statement limit) in ms, which
 * override `options.timeouts`. Nothing connects
 * until the first call; connection errors surface there as ConnectorErrors naming the label.
 */
export function openMysqlConnector(
  url: string,
  table: string,
  options: OpenMysqlOptions = {},
): MysqlConnector {
  const label = options.label ?? "";
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConnectorError(`${label ? `${label}: ` : ""}invalid URL ${redactUrl(url)}`);
  }
  if (u.protocol !== "mysql:" && u.protocol !== "mariadb:") {
    throw new ConnectorError(`${label ? `${label}: ` : ""}not a mysql: or mariadb: URL: ${redactUrl(url)}`);
  }
  const param = (name: string) => {
    const v = u.searchParams.get(name);
    return v === null || v === "" ? undefined : Number(v);
  };
  const timeouts = resolveTimeouts(options.timeouts, {
    connectMs: param("connectTimeout") ?? options.connectTimeoutMs,
    statementMs: param("queryTimeout") ?? options.queryTimeoutMs,
  });
  // A unix socket instead of TCP: `?socket=/run/mysqld/mysqld.sock` (host and port are then ignored).
  const socketPath = u.searchParams.get("socket") || undefined;
  const pool = createPool({
    ...(socketPath
      ? { socketPath }
      : { host: u.hostname || "127.0.0.1", port: u.port ? Number(u.port) : 3306 }),
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
    // A qualified table's database is the default when the URL names none: MariaDB resolves a multi-table
    // DELETE's alias (the conditional write's) in the default database and refuses without one.
    database:
      decodeURIComponent(u.pathname.replace(/^\//, "")) || /^`?([^`.]+)`?\./.exec(table)?.[1] || undefined,
    charset: "UTF8MB4_UNICODE_CI",
    connectionLimit: options.poolSize ?? 4,
    ...mysqlPoolTimeouts(timeouts),
    ...(u.searchParams.get("ssl") === "true" ? { ssl: { rejectUnauthorized: true } } : {}),
  });
  // An idle pooled connection that the server drops emits 'error' on the pool's connection; without a
  // listener Node would crash the process. The next borrow simply gets a fresh connection.
  pool.on("connection", (conn) => {
    conn.on("error", () => undefined);
  });
  return new MysqlConnector(pool, table, {
    label,
    where: redactUrl(url),
    rowFilter: options.rowFilter,
    readonly: options.readonly ?? false,
    queryTimeoutMs: timeouts.statementMs,
    timeouts,
    ownsPool: true,
  });
}
