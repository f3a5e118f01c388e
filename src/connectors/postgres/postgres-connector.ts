/** PostgreSQL connector (node-postgres): range checksums pushed down as one aggregate query per round. Only this folder imports the driver. */
import type { Pool } from "pg";
import { redactText, redactUrl } from "../../config/redact.js";
import { resolveTimeouts, type TimeoutsConfig } from "../../config/timeouts.js";
import type { RangeChecksum } from "../../core/fingerprint.js";
import type { Key, KeyFingerprint, KeyRange, RecordShape, StoredRecord } from "../../core/model.js";
import type { RowImage } from "../change-feed.js";
import {
  type ConditionalWrite,
  type Connector,
  ConnectorError,
  type ConnectorStats,
  emptyStats,
  type KeyBucketsCapability,
  type NativeHashCapability,
  type PairDiffCapability,
  type TableDescription,
  type WriteOutcome,
} from "../connector.js";
import type { RowHash } from "../row-hash.js";
import {
  duplicateKeyMessage,
  duplicateNullKeyMessage,
  keyUniqueness,
  notUniqueMessage,
} from "../unique-key.js";
import { pg } from "./node-postgres.js";
import { quoteName, quotePostgresTable } from "./postgres-canonical-sql.js";
import { checksumQuery, listedHash } from "./postgres-checksum-sql.js";
import { applyConditionalWrites } from "./postgres-conditional-writes.js";
import { PostgresListing } from "./postgres-listing.js";
import { postgresNativeSignature, SERVER_FACTS_SQL } from "./postgres-native-hash.js";
import { type PostgresPairSide, postgresPair, postgresPairRefusal } from "./postgres-pair-diff.js";
import {
  isPool,
  type PostgresClient,
  PostgresSession,
  postgresPoolTimeouts,
  type RunQuery,
  postgresRowBytes as rowBytes,
} from "./postgres-session.js";
import { type ClientSideColumn, Params, type PgRange, PostgresShapeSql, T } from "./postgres-shape-sql.js";
import { hopSplitSql, windowSplitSql } from "./postgres-split.js";
import { type PgTableMeta, readPostgresTableMeta, readPostgresTableStamp } from "./postgres-table-meta.js";
import { printPostgresWrites } from "./postgres-write-print.js";
import {
  diagnoseCheckViolation,
  diagnoseDataException,
  isCheckViolation,
  isDataException,
  refusedReadback,
  refusedWrite,
  WriteRefusal,
} from "./postgres-write-refusals.js";

export type { PostgresClient } from "./postgres-session.js";

export interface PostgresConnectorOptions {
  /** Label used in error messages (`dataset.replica`). */
  readonly label?: string;
  /**
   * An SQL predicate on the table's columns (config `where:`): every range read (count, checksums, splits,
   * key lists) sees only the rows it holds. Reads by key (`fetchRecords`) and conditional writes see the
   * whole table, so a write never misses a row.
   */
  readonly rowFilter?: string | undefined;
  /** The server as messages name it: a URL with the password already removed. */
  readonly server?: string;
  /** Refuse `applyWrites` (scan and plan never write). */
  readonly readonly?: boolean;
  /** Attempts of a read that fails transiently, the first included (default 3). Writes are never retried here. */
  readonly readAttempts?: number;
  /** Rows per page when rows are read to be fingerprinted in the engine (default 5000). */
  readonly pageRows?: number;
  /** Keys per `fetchRecords` statement (default 1000). */
  readonly fetchBatch?: number;
  /** Deadlines of every call (default: DEFAULT_TIMEOUTS; see PostgresSession). */
  readonly timeouts?: TimeoutsConfig;
}

const ZERO = "0000000000000000";

/**
 * Base types whose text output is the record fetch's text (`rawSql`: a plain `::text`) whatever the
 * session's settings, so a change feed's row image gives the fetched record exactly (`recordFromImage`).
 * Not char(n): its output keeps the padding that `::text` strips.
 */
const IMAGE_TYPES: ReadonlySet<string> = new Set([
  "bool",
  "int2",
  "int4",
  "int8",
  "numeric",
  "text",
  "varchar",
  "uuid",
  "json",
  "jsonb",
]);

/** A bool's output (what a feed sends) as its `::text` (what a fetch reads). */
const BOOL_TEXT: Readonly<Record<string, string>> = { t: "true", f: "false" };

/**
 * How long the row estimate a describe read stays good for `estimateCount` (planner estimates move only with
 * VACUUM and ANALYZE: this is about not handing an old one to a much later caller).
 */
const ESTIMATE_KEPT_MS = 10_000;

/** What the per-shape caches are keyed by: the shape's content (an equal shape resolved again shares them). */
function shapeId(shape: RecordShape): string {
  return JSON.stringify(shape);
}

/**
 * A connector over one table of a PostgreSQL database, through a node-postgres Pool or Client it is
 * given (it does not connect itself; see `openPostgresConnector`) and ends on `close()`.
 *
 * Fingerprints are `left(md5(canonical encoding), 16)` built in SQL from each column's canonical text
 * (see postgres-canonical-sql.ts), so a round of range checksums is one aggregate query (see
 * postgres-checksum-sql.ts) and only checksums cross the wire. Shapes with columns PostgreSQL cannot
 * canonicalise exactly (float, json) are fingerprinted by the engine's RowCodec from rows read page by page
 * (postgres-listing.ts): still correct, not pushed down; `pushdownLimits` says so up front. Key order is
 * binary: integers numerically, text with COLLATE "C". A key must be kept unique by a primary key or unique
 * index (a view's rows are searched for a duplicate instead). Conditional writes lock the batch's rows
 * (FOR UPDATE), decide, and write with set-based statements guarded by the fingerprint, in one READ
 * COMMITTED transaction. A batch holding a value its column cannot keep exactly is refused before it is sent,
 * in one line naming the column and its type (postgres-write-values.ts, postgres-write-refusals.ts); so is an
 * insert a nondeterministic collation makes impossible (the key equals another one byte-wise different).
 * Types and their canonical texts: docs/types.md.
 */
export class PostgresConnector implements Connector {
  readonly kind = "postgres";
  readonly pushdown = true;
  readonly filtered: boolean;
  readonly stats: ConnectorStats = emptyStats();
  private readonly table: string;
  /** What range reads select from: the table, or the rows of it the `rowFilter` option keeps. */
  private readonly source: string;
  private described: Promise<PgTableMeta> | undefined;
  /**
   * The row estimate the last stamp check read beside the stamp (`describe`), and when: `estimateCount` soon
   * after (a pass's split points, right after its describe) takes it instead of asking again.
   */
  private estimated: { rows: number; at: number } | undefined;
  /**
   * The shape (`shapeId`) whose first and last keys over the whole table the last `keyBounds` asked for: a
   * describe reads them again beside its stamp (one key column, an index serving its order), and the next
   * `keyBounds` of that shape over the whole table soon after takes them (`bounded`).
   */
  private boundsShape: string | undefined;
  private bounded: { shape: string; first: Key; last: Key; at: number } | undefined;
  /**
   * The whole table's first and last keys the last `keyBounds` of a shape over the whole table gave (a run's
   * split points ask for them): where the in-PostgreSQL pair cuts a range open at one end (`pairCut`).
   */
  private wholeBounds: { shape: string; first: Key; last: Key } | undefined;
  /** By the shape's content (`shapeId`): a pass resolves an equal shape anew each time. */
  private readonly shapes = new Map<string, Promise<PostgresShapeSql>>();
  /** The verdict on each key (by its column names) being unique: checked once, shared by shapes. */
  private readonly keyChecks = new Map<string, Promise<void>>();
  /**
   * What this replica tells the other of a pair, by shape: read once (a worker pairs the same two tables for
   * every job of a pass, and its shape is kept while the description holds), read again after a failure.
   */
  private readonly pairSides = new Map<string, Promise<PostgresPairSide>>();
  private readonly session: PostgresSession;
  private readonly listing: PostgresListing;
  /** One transaction at a time on a single Client. */
  private writing: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    db: PostgresClient,
    table: string,
    private readonly options: PostgresConnectorOptions = {},
  ) {
    this.table = quotePostgresTable(table);
    this.filtered = options.rowFilter !== undefined;
    this.source = options.rowFilter ? `(SELECT * FROM ${this.table} WHERE ${options.rowFilter})` : this.table;
    this.session = new PostgresSession(db, this.stats, {
      label: options.label ?? "",
      server: options.server ?? "",
      table: this.table,
      readAttempts: options.readAttempts ?? 3,
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
      rowFilter: options.rowFilter,
    });
    this.listing = new PostgresListing(this.session, this.stats, this.source, options.pageRows ?? 5000);
  }

  private error(what: string, err: unknown): ConnectorError {
    return this.session.error(what, err);
  }

  private read<R>(what: string, fn: (run: RunQuery) => Promise<R>): Promise<R> {
    return this.session.read(what, fn);
  }

  private columns(): Promise<PgTableMeta> {
    this.described ??= this.read("cannot describe table", (run) =>
      readPostgresTableMeta(run, this.table),
    ).catch((err: unknown) => {
      this.described = undefined;
      throw err;
    });
    return this.described;
  }

  /**
   * The probes `describe` adds to its stamp statement: the first and last key of the whole table in the order
   * of the shape `keyBounds` last bounded, when it has one key column and an index serves its order.
   */
  private async boundsProbe(): Promise<
    { shape: string; s: PostgresShapeSql; probes: readonly string[] } | undefined
  > {
    const id = this.boundsShape;
    const built = id === undefined ? undefined : await this.shapes.get(id)?.catch(() => undefined);
    if (id === undefined || !built || !built.indexed || built.keys.length !== 1) return undefined;
    const probe = (dir: "ASC" | "DESC") =>
      `(SELECT ${built.keyOut} FROM ${built.source} AS ${T} ORDER BY ${built.orderIn(dir)} LIMIT 1)`;
    return { shape: id, s: built, probes: [probe("ASC"), probe("DESC")] };
  }

  /**
   * Forgets the description and everything built from it (shapes' SQL, key checks, pair sides): the table
   * changed, or reading it failed.
   */
  private forgetDescription(): void {
    this.described = undefined;
    this.boundsShape = undefined;
    this.bounded = undefined;
    this.wholeBounds = undefined;
    this.shapes.clear();
    this.keyChecks.clear();
    this.pairSides.clear();
  }

  /** The shape's SQL, once its key is known to be unique (see `checkKey`). */
  private sql(shape: RecordShape): Promise<PostgresShapeSql> {
    const id = shapeId(shape);
    let s = this.shapes.get(id);
    if (!s) {
      s = this.columns().then(async (meta) => {
        let built: PostgresShapeSql;
        try {
          built = new PostgresShapeSql(shape, meta.columns, meta.indexes, this.table, this.source);
          built.codec.label = this.options.label ?? "";
        } catch (err) {
          throw this.error("unsupported record shape", err);
        }
        const keyId = JSON.stringify(shape.key.map((c) => c.name));
        let check = this.keyChecks.get(keyId);
        if (!check) {
          check = this.checkKey(built, meta);
          check.catch(() => this.keyChecks.delete(keyId));
          this.keyChecks.set(keyId, check);
        }
        await check;
        return built;
      });
      s.catch(() => this.shapes.delete(id));
      this.shapes.set(id, s);
    }
    return s;
  }

  /**
   * Refuses a key the table does not keep unique: no primary key or unique index made of key columns. A key
   * with NULL parts is a key like any other, but a unique index lets rows whose key holds NULL repeat (unless
   * it is NULLS NOT DISTINCT), and such a key names no single row: the first one found is refused, naming it
   * (one aggregate over the rows holding NULL in a key column, once per run). A relation without indexes (a
   * view, a foreign table) is searched for a duplicate key instead (one aggregate over it, once per run).
   */
  private async checkKey(s: PostgresShapeSql, meta: PgTableMeta): Promise<void> {
    const key = s.shape.key.map((c) => c.name);
    const label = this.options.label ?? "";
    const outs = s.keys.map((k) => k.out).join(", ");
    const duplicate = async (where: string) => {
      const dup = await this.read("cannot check that keys are unique", (run) =>
        run(
          `SELECT ${outs} FROM ${this.table} AS ${T}${where} GROUP BY ${outs} HAVING count(*) > 1 LIMIT 1`,
          [],
        ),
      );
      return dup[0] ? s.codec.key(dup[0]) : undefined;
    };
    if (meta.unique === null) {
      const found = await duplicate("");
      if (found) throw new ConnectorError(duplicateKeyMessage(label, this.table, found));
      return;
    }
    const unique = keyUniqueness(key, meta.unique, (c) => meta.columns.get(c)?.notNull ?? false);
    if (!unique) throw new ConnectorError(notUniqueMessage(label, this.table, key));
    if (unique.nullable.length === 0) return;
    const held = unique.nullable.map((c) => `${T}.${quoteName(c)} IS NULL`).join(" OR ");
    const found = await duplicate(` WHERE ${held}`);
    if (found) throw new ConnectorError(duplicateNullKeyMessage(label, this.table, found, unique.index.name));
  }

  private normalize(s: PostgresShapeSql, range: KeyRange): PgRange | null {
    try {
      return s.normalize(range);
    } catch (err) {
      throw this.error("invalid key range", err);
    }
  }

  /**
   * The columns as the catalog declares them (see `postgresColumnInfo`). Read once and kept while the table's
   * catalog stamp holds: a describe after the first costs one statement (the stamp, with the row estimate
   * `estimateCount` then takes), and a table altered since is described afresh.
   */
  async describe(): Promise<TableDescription> {
    const kept = this.described;
    if (kept !== undefined) {
      const meta = await kept.catch(() => undefined);
      if (meta !== undefined) {
        // The whole table's first and last keys of the shape split points were last asked of, in the same
        // statement: a pass asks for them next (its split points), and the stamp says they are of this table.
        const bounds = await this.boundsProbe();
        const now = await this.read("cannot describe table", (run) =>
          readPostgresTableStamp(run, this.table, bounds ? bounds.probes : []),
        ).catch((err: unknown) => {
          // A probe of a column no longer there fails the statement: described afresh below, as changed.
          if (bounds) return undefined;
          throw err;
        });
        if (now?.stamp === meta.stamp) {
          const at = performance.now();
          this.estimated = { rows: now.estimate, at };
          const [first, last] = now.extra;
          this.bounded =
            bounds && first != null && last != null
              ? {
                  shape: bounds.shape,
                  first: bounds.s.codec.key([first]),
                  last: bounds.s.codec.key([last]),
                  at,
                }
              : undefined;
          return meta.description;
        }
        // Changed (or gone): what was built from the old description goes with it.
        if (this.described === kept) this.forgetDescription();
      }
    }
    return (await this.columns()).description;
  }

  /**
   * Why this shape's detection is slower than full pushdown, one sentence each (empty when checksums run
   * in PostgreSQL over index ranges): columns fingerprinted in the engine (float, json), a key order no
   * index serves. The engine can print these before a scan starts.
   */
  async pushdownLimits(shape: RecordShape): Promise<string[]> {
    const s = await this.sql(shape);
    const label = this.options.label ? `${this.options.label}: ` : "";
    const notes = s.clientSide.map(
      (c) => `${label}column ${c.column} (${c.nativeType}) is compared client-side: ${c.reason}`,
    );
    if (notes.length > 0)
      notes.push(`${label}checksums therefore stream the rows instead of running in the store`);
    if (!s.indexed) {
      notes.push(
        `${label}no btree index serves the key order (${s.orderBy}): key ranges scan the table ` +
          `(detection compares key-hash buckets instead when every replica can); ` +
          `index the key columns (text key columns with COLLATE "C"${s.nullableKey ? "; nullable ones NULLS FIRST, Concord's key order" : ""})`,
      );
    }
    return notes;
  }

  /** The columns of `shape` fingerprinted in the engine rather than in PostgreSQL, and why (empty: full pushdown). */
  async clientSideColumns(shape: RecordShape): Promise<readonly ClientSideColumn[]> {
    return (await this.sql(shape)).clientSide;
  }

  async count(shape: RecordShape, range: KeyRange): Promise<number> {
    const s = await this.sql(shape);
    const r = this.normalize(s, range);
    if (!r) return 0;
    return this.read("count failed", async (run) => {
      const params = new Params();
      const where = s.rangeWhere(r, params);
      const rows = await run(
        `SELECT count(*)::text FROM ${s.source} AS ${T}${where ? ` WHERE ${where}` : ""}`,
        params.values,
        true,
      );
      this.stats.rowsRead++;
      this.stats.bytesRead += rowBytes(rows);
      return Number(rows[0]![0]);
    });
  }

  /**
   * The planner's row estimate (`pg_class.reltuples`, kept by VACUUM and ANALYZE): no pass over the table.
   * The exact count when the table has never been analyzed.
   */
  async estimateCount(shape: RecordShape): Promise<number> {
    const stamped = this.estimated;
    this.estimated = undefined;
    const fresh = stamped && performance.now() - stamped.at < ESTIMATE_KEPT_MS ? stamped.rows : undefined;
    const estimate =
      fresh ??
      (await this.read("row estimate failed", async (run) => {
        const rows = await run(
          `SELECT c.reltuples::bigint::text FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass`,
          [this.table],
          true,
        );
        return Number(rows[0]?.[0] ?? -1);
      }));
    return estimate >= 0 ? estimate : this.count(shape, { lo: null, hi: null });
  }

  /** Two index probes (first and last key in key order); null without an index serving that order. */
  async keyBounds(shape: RecordShape, range: KeyRange): Promise<{ first: Key; last: Key } | null> {
    const s = await this.sql(shape);
    const r = this.normalize(s, range);
    if (!r || !s.indexed) return null;
    const kept = this.bounded;
    this.bounded = undefined;
    const whole = range.lo === null && range.hi === null ? shapeId(shape) : undefined;
    if (whole !== undefined) {
      this.boundsShape = whole;
      if (kept?.shape === whole && performance.now() - kept.at < ESTIMATE_KEPT_MS) {
        this.wholeBounds = { shape: whole, first: kept.first, last: kept.last };
        return { first: kept.first, last: kept.last };
      }
    }
    const bounds = await this.read("key bounds failed", async (run) => {
      const params = new Params();
      const where = s.rangeWhere(r, params);
      const probe = (dir: "ASC" | "DESC") =>
        `(SELECT ${s.keyOut} FROM ${s.source} AS ${T}${where ? ` WHERE ${where}` : ""} ` +
        `ORDER BY ${s.orderIn(dir)} LIMIT 1)`;
      const rows = await run(`${probe("ASC")} UNION ALL ${probe("DESC")}`, params.values, true);
      this.stats.rowsRead += rows.length;
      this.stats.bytesRead += rowBytes(rows);
      if (rows.length < 2) return null;
      return { first: s.codec.key(rows[0]!), last: s.codec.key(rows[1]!) };
    });
    if (whole !== undefined) this.wholeBounds = bounds ? { shape: whole, ...bounds } : undefined;
    return bounds;
  }

  /**
   * The keys the in-PostgreSQL pair closes a range's open end at to cut it in halves (`pairHalvesOf`): for a
   * range open at one end only (a run's first or last segment), the whole table's first and last keys as
   * `keyBounds` last read them (the run's split points, just before), instead of two index probes of the
   * range; otherwise the range's own. A key read before the table changed only moves where the halves meet:
   * they keep the range's open ends, so no key is left out.
   */
  private pairCut(shape: RecordShape, range: KeyRange): Promise<{ first: Key; last: Key } | null> {
    const whole = this.wholeBounds;
    if (whole?.shape === shapeId(shape) && (range.lo === null) !== (range.hi === null))
      return Promise.resolve({ first: whole.first, last: whole.last });
    return this.keyBounds(shape, range);
  }

  async checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    if (ranges.length === 0) return [];
    const s = await this.sql(shape);
    const live = this.live(s, ranges);
    if (!s.pushdown) return this.listing.checksumInEngine(s, live, ranges.length);
    return this.checksumInStore(s, live, ranges.length, "fingerprint");
  }

  /** The ranges that can hold rows, normalised, with their positions in `ranges`. */
  private live(s: PostgresShapeSql, ranges: readonly KeyRange[]): { index: number; range: PgRange }[] {
    const live: { index: number; range: PgRange }[] = [];
    ranges.forEach((range, index) => {
      const r = this.normalize(s, range);
      if (r) live.push({ index, range: r });
    });
    return live;
  }

  /** One aggregate statement (see `checksumQuery`); ranges without rows are (0, zeros). */
  private async checksumInStore(
    s: PostgresShapeSql,
    live: readonly { index: number; range: PgRange }[],
    n: number,
    hash: RowHash,
  ): Promise<RangeChecksum[]> {
    const out: RangeChecksum[] = Array.from({ length: n }, () => ({ count: 0, xor: ZERO }));
    if (live.length === 0) return out;
    const q = checksumQuery(s, live, hash);
    const rows = await this.read("range checksum failed", (run) => run(q.text, q.values));
    for (const [i, count, x] of rows) {
      const checksum = { count: Number(count), xor: x ?? ZERO };
      out[Number(i)] = checksum;
      this.stats.rowsScanned += checksum.count;
    }
    this.stats.rowsRead += rows.length;
    this.stats.bytesRead += rowBytes(rows);
    return out;
  }

  /** "<major version>/<server encoding>", read once (see `postgresNativeSignature`). */
  private serverFacts: Promise<string> | undefined;

  /**
   * `hash_record_extended` of each row, for shapes pushed down whose columns all have an exact native hash
   * (see `postgresNativeHashable`); the signature names the server's major version and encoding and each
   * column's native type.
   */
  readonly nativeHash: NativeHashCapability = {
    signature: async (shape) => {
      const s = await this.sql(shape);
      if (!s.nativeHashable) return null;
      this.serverFacts ??= this.read("cannot read server settings", async (run) => {
        const rows = await run(SERVER_FACTS_SQL, []);
        return `${rows[0]![0]}/${rows[0]![1]}`;
      }).catch((err: unknown) => {
        this.serverFacts = undefined;
        throw err;
      });
      return postgresNativeSignature(await this.serverFacts, s.native);
    },
    checksumRanges: (shape, ranges) => this.checksumNative(shape, ranges),
    streamHashesIn: (shape, ranges, batchSize) => this.listIn(shape, ranges, batchSize, "native"),
  };

  /**
   * Two PostgreSQL replicas one connection reaches (same host or socket, port, database and user, and the
   * same server answering) compared inside PostgreSQL by one keyed FULL OUTER JOIN (see `postgresPair`), each
   * side through its own row filter. Declined, with the reason, for another kind of store, another server or
   * database, columns of different types, a key column that may hold NULL or whose type the join cannot match
   * and order as Concord does, or a single connection (the cursor would hold it while records are fetched).
   */
  readonly pairDiff: PairDiffCapability = {
    pair: async (shape, other) => {
      if (!(other instanceof PostgresConnector))
        return `${this.options.label || "a PostgreSQL replica"} is compared with a ${other.kind} replica`;
      // The join's cursor holds a connection while the engine fetches the records of the keys it listed.
      if (!this.session.concurrent)
        return `${this.options.label || "a PostgreSQL replica"} reads through a single connection, which the join's cursor would hold while the listed records are fetched`;
      const [here, there] = await Promise.all([this.pairSide(shape), other.pairSide(shape)]);
      const refused = postgresPairRefusal(here, there);
      if (refused) return refused;
      // A segment's comparison holds a cursor on each half at once. The second runs on the other replica's
      // pool, whose connection that described its table is idle by then (both tables are reached alike, so
      // either side's connection can run the join): the pair then needs no connection beyond the two that
      // described the tables. The other replica may hold a single connection, which a cursor must not hold
      // while its other statements wait: then this side's spare runs it, connected while the run is set up.
      const lender = other.session.concurrent ? other.session : undefined;
      if (!lender) this.session.warm();
      return postgresPair(
        {
          session: this.session,
          ...(lender ? { lender: { session: lender, label: other.options.label ?? "" } } : {}),
          label: this.options.label ?? "",
          stats: this.stats,
          keyBounds: (range) => this.pairCut(shape, range),
        },
        here,
        there,
      );
    },
  };

  /**
   * What the other replica of a pair needs to know of this one (see `PostgresPairSide`): asked of the server
   * once per shape. The connection target cannot change under a connector, so neither can the server that
   * answers it (a restart changes its start time, on both sides alike: the pair still holds).
   */
  pairSide(shape: RecordShape): Promise<PostgresPairSide> {
    const id = shapeId(shape);
    let side = this.pairSides.get(id);
    if (!side) {
      side = this.readPairSide(shape);
      this.pairSides.set(id, side);
      side.catch(() => this.pairSides.delete(id));
    }
    return side;
  }

  private async readPairSide(shape: RecordShape): Promise<PostgresPairSide> {
    const s = await this.sql(shape);
    const facts = await this.read("cannot prepare the in-PostgreSQL comparison", (run) =>
      run(
        "SELECT current_database()::text, current_user::text, current_setting('port'), " +
          "pg_postmaster_start_time()::text, quote_ident(n.nspname) || '.' || quote_ident(c.relname), " +
          "current_setting('standard_conforming_strings') " +
          "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " +
          "WHERE c.oid = to_regclass($1)",
        [this.table],
      ),
    );
    const row = facts[0];
    if (!row) throw this.error("cannot prepare the in-PostgreSQL comparison", new Error("table not found"));
    const relation = row[4]!;
    return {
      label: this.options.label ?? "",
      target: this.session.target(),
      server: row.slice(0, 4).map(String),
      standardStrings: String(row[5]),
      relation,
      source: this.options.rowFilter
        ? `(SELECT * FROM ${relation} WHERE ${this.options.rowFilter})`
        : relation,
      s,
    };
  }

  /**
   * Key-hash buckets (see KeyBucketsCapability): one aggregate pass for a round's checksums, one pass per
   * listing, no sort. Only for shapes pushed down (the bucket and the fingerprints are computed here).
   */
  readonly keyBuckets: KeyBucketsCapability = {
    orderServed: async (shape) => {
      const s = await this.sql(shape);
      // A shape fingerprinted in the engine (a json or float column) cannot be bucketed: saying so here keeps
      // detection on key ranges (bucketedReason) instead of failing at the first bucket checksum.
      if (!s.pushdown) throw this.error("cannot bucket", new Error("shape is fingerprinted client-side"));
      return s.indexed;
    },
    checksumBuckets: (shape, modulus, buckets, hash) => this.checksumBuckets(shape, modulus, buckets, hash),
    streamBuckets: (shape, modulus, buckets, hash, batchSize) =>
      this.streamBuckets(shape, modulus, buckets, hash, batchSize),
  };

  private async bucketed(shape: RecordShape, what: string, hash: RowHash): Promise<PostgresShapeSql> {
    const s = await this.sql(shape);
    if (!s.pushdown) throw this.error(what, new Error("shape is fingerprinted client-side"));
    if (hash === "native" && !s.nativeHashable)
      throw this.error(what, new Error("shape has no native row hash"));
    return s;
  }

  private async checksumBuckets(
    shape: RecordShape,
    modulus: number,
    buckets: readonly number[],
    hash: RowHash,
  ): Promise<RangeChecksum[]> {
    const s = await this.bucketed(shape, "bucket checksum failed", hash);
    if (buckets.length === 0) return [];
    const params = new Params();
    const m = params.add(String(modulus), "int8");
    // Every bucket of the modulus: no filter, the pass groups all rows.
    const filter =
      buckets.length === modulus
        ? ""
        : ` WHERE ${s.bucket(m, hash)} = ANY(${params.add(buckets.map(String), "int8[]")})`;
    const row = hash === "native" ? s.nativeHash64() : s.fingerprint64();
    const text =
      `SELECT ${s.bucket(m, hash)}::text, count(*)::text, ` +
      `lpad(to_hex(bit_xor(${row})), 16, '0') FROM ${s.source} AS ${T}${filter} GROUP BY 1`;
    const rows = await this.read("bucket checksum failed", (run) => run(text, params.values));
    const found = new Map<number, RangeChecksum>();
    for (const [b, count, x] of rows) found.set(Number(b), { count: Number(count), xor: x ?? ZERO });
    this.stats.rowsRead += rows.length;
    this.stats.bytesRead += rowBytes(rows);
    return buckets.map((b) => {
      const c = found.get(b) ?? { count: 0, xor: ZERO };
      this.stats.rowsScanned += c.count;
      return c;
    });
  }

  private async *streamBuckets(
    shape: RecordShape,
    modulus: number,
    buckets: readonly number[],
    hash: RowHash,
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const s = await this.bucketed(shape, "bucket listing failed", hash);
    if (buckets.length === 0) return;
    const params = new Params();
    const m = params.add(String(modulus), "int8");
    const text =
      `SELECT ${s.keyOut}, ${listedHash(s, hash)} FROM ${s.source} AS ${T} ` +
      `WHERE ${s.bucket(m, hash)} = ANY(${params.add(buckets.map(String), "int8[]")})`;
    // The caller bounds the rows a call lists (detection lists a bounded group of buckets at a time).
    const rows = await this.read("bucket listing failed", (run) => run(text, params.values));
    this.stats.rowsRead += rows.length;
    this.stats.bytesRead += rowBytes(rows);
    const width = s.keys.length;
    const size = Math.max(1, batchSize);
    for (let i = 0; i < rows.length; i += size) {
      yield rows.slice(i, i + size).map((row) => ({ key: s.codec.key(row), fingerprint: row[width]! }));
    }
  }

  private async checksumNative(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    const s = await this.sql(shape);
    if (!s.nativeHashable)
      throw this.error("native checksum failed", new Error("shape has no native row hash"));
    const live = this.live(s, ranges);
    return this.checksumInStore(s, live, ranges.length, "native");
  }

  /**
   * Pairs of many small ranges (detection's leaves) with one statement per 256 bounded ranges (see
   * `listQuery`); ranges open on a side, and shapes fingerprinted in the engine, are streamed one by one.
   */
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
    if (hash === "native" && !s.nativeHashable)
      throw this.error("native hash stream failed", new Error("shape has no native row hash"));
    const normalized = ranges.map((r) => this.normalize(s, r));
    yield* this.listing.listIn(s, normalized, Math.max(1, batchSize), hash);
  }

  async splitRange(shape: RecordShape, range: KeyRange, parts: number): Promise<Key[]> {
    const s = await this.sql(shape);
    const r = this.normalize(s, range);
    if (!r || parts < 2) return [];
    return this.read("range split failed", async (run) => {
      // A hop compares with the previous split key, which may hold NULL: no index condition then.
      const q =
        s.indexed && !s.nullableKey
          ? hopSplitSql(s, s.source, r, parts)
          : windowSplitSql(s, s.source, r, parts);
      const rows = await run(q.text, q.values, true);
      this.stats.rowsRead += rows.length;
      this.stats.bytesRead += rowBytes(rows);
      return rows.map((row) => s.codec.key(row));
    });
  }

  async *streamFingerprints(
    shape: RecordShape,
    range: KeyRange,
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const s = await this.sql(shape);
    const r = this.normalize(s, range);
    if (r) yield* this.listing.streamRange(s, r, Math.max(1, batchSize), "fingerprint");
  }

  async fetchRecords(shape: RecordShape, keys: readonly Key[]): Promise<StoredRecord[]> {
    if (keys.length === 0) return [];
    const s = await this.sql(shape);
    const usable = keys.filter((k) => s.lookupable(k));
    const chunk = Math.max(1, this.options.fetchBatch ?? 1000);
    const out: StoredRecord[] = [];
    for (let i = 0; i < usable.length; i += chunk) {
      const part = usable.slice(i, i + chunk);
      const records = await this.read("record fetch failed", async (run) => {
        const params = new Params();
        const rows = await run(
          `SELECT ${s.fetchList} FROM ${this.table} AS ${T} WHERE ${s.keyIn(part, params)}`,
          params.values,
          true,
        );
        this.stats.bytesRead += rowBytes(rows);
        return rows.map((row) => s.record(row));
      });
      this.stats.rowsRead += records.length;
      out.push(...records);
    }
    return out;
  }

  /**
   * A feed's row image as `fetchRecords` reads it: each column's text output is what the record fetch's
   * `::text` gives, for the base types whose text depends on no session setting (IMAGE_TYPES); a shape with
   * another (timestamps, floats, bytea, money…: DateStyle, TimeZone, extra_float_digits, bytea_output…) is
   * fetched. The texts are those a fetch reads (`fetchList`: each one's `::text`, none a `numeric[]`'s
   * second text; a bool's output `t` is its `::text` `true`), so the record carries the same native values
   * (`PostgresShapeSql.record`): a repair from it writes numeric 1.50 and a json text's spacing as the row
   * holds them.
   */
  async recordFromImage(shape: RecordShape, image: RowImage): Promise<StoredRecord | undefined> {
    const s = await this.sql(shape);
    if (!s.native.every((c) => IMAGE_TYPES.has(c.baseType))) return undefined;
    const raw: (string | null)[] = [];
    for (const c of s.native) {
      const text = image[c.name];
      if (text === undefined) return undefined;
      raw.push(c.baseType === "bool" && text !== null ? (BOOL_TEXT[text] ?? text) : text);
    }
    return s.record(raw);
  }

  async applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]> {
    if (this.options.readonly) throw this.error("conditional write refused", new Error("opened read-only"));
    if (writes.length === 0) return [];
    const s = await this.sql(shape);
    const refused = refusedWrite(s, writes);
    if (refused) throw this.error("conditional write refused", new WriteRefusal(refused));
    const write = () =>
      this.session.withClient(async (plain) => {
        // A column compared by its text may hold a written text as another (an interval, a range): checked
        // before the transaction, so a refused batch writes nothing; on the batch's own turn, since a single
        // Client would otherwise run it inside another batch's transaction.
        const changed = await refusedReadback(s, writes, plain);
        if (changed) throw new WriteRefusal(changed);
        // BEGIN travels with the first statement when that one has no parameters (the lock's read): one
        // round trip fewer per batch, which a remote store charges.
        let begun = false;
        const begin = "BEGIN ISOLATION LEVEL READ COMMITTED";
        const run: RunQuery = async (text, values, prepare) => {
          if (begun) return plain(text, values, prepare);
          begun = true;
          if (values.length === 0) return plain(`${begin}; ${text}`, []);
          await plain(begin, []);
          return plain(text, values, prepare);
        };
        try {
          const { outcomes, rowsWritten } = await applyConditionalWrites(s, writes, run);
          if (begun) await run("COMMIT", []);
          this.stats.rowsWritten += rowsWritten;
          return outcomes;
        } catch (err) {
          if (begun) await plain("ROLLBACK", []).catch(() => undefined);
          throw err;
        }
      });
    // A single Client cannot hold two transactions: batches on it wait for each other.
    const turn = isPool(this.session.db) ? write() : this.writing.then(write, write);
    this.writing = turn.catch(() => undefined);
    try {
      return await turn;
    } catch (err) {
      if (err instanceof WriteRefusal) throw this.error("conditional write refused", err);
      if (isDataException(err)) {
        // Which value? Cast them one by one (outside the failed transaction) to name its column.
        const why = await this.session
          .withClient((run) => diagnoseDataException(s, writes, run))
          .catch(() => undefined);
        if (why) throw this.error("conditional write refused", new WriteRefusal(why));
      }
      if (isCheckViolation(err)) {
        // Which column and key? The catalog names a table check's columns; a domain's, its values cast alone.
        const why = await this.session
          .withClient((run) => diagnoseCheckViolation(s, writes, err, run))
          .catch(() => undefined);
        if (why) throw this.error("conditional write refused", new WriteRefusal(why));
      }
      throw this.error("conditional write failed", err);
    }
  }

  async printWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<string[]> {
    return printPostgresWrites(await this.sql(shape), writes);
  }

  /** Resolves once the connection an in-PostgreSQL pair connects ahead of its comparison (if any) is set up. */
  async warmed(): Promise<void> {
    await this.session.warmed();
  }

  /** Ends the pool or client it was given (destroying its connections when the server does not answer). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.close();
  }
}

export interface OpenPostgresOptions {
  /** Open for reading only: sessions default to read-only transactions and `applyWrites` is refused. */
  readonly readonly?: boolean;
  /** The row filter (see PostgresConnectorOptions.rowFilter). */
  readonly rowFilter?: string | undefined;
  /** Label used in error messages (`dataset.replica`). */
  readonly label?: string;
  /** Connections the pool may open (default 4). */
  readonly maxConnections?: number;
  /** How long to wait for a connection before reporting the server unreachable (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Server-side `statement_timeout` for every statement (default: the server's). */
  readonly statementTimeoutMs?: number;
  /** Every deadline at once (config `timeouts`); `connectTimeoutMs` and `statementTimeoutMs` override it. */
  readonly timeouts?: Partial<TimeoutsConfig>;
}

/** A PostgresConnector over its own pool for `postgres://` or `postgresql://` URLs; `table` may be `schema.table`. */
export function openPostgresConnector(
  url: string,
  table: string,
  options: OpenPostgresOptions = {},
): PostgresConnector {
  const label = options.label ?? "";
  const timeouts = resolveTimeouts(options.timeouts, {
    connectMs: options.connectTimeoutMs,
    statementMs: options.statementTimeoutMs,
  });
  let pool: Pool;
  try {
    pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 4,
      application_name: "concord",
      ...postgresPoolTimeouts(timeouts),
      ...(options.readonly ? { options: "-c default_transaction_read_only=on" } : {}),
    });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new ConnectorError(
      redactText(`${label ? `${label}: ` : ""}cannot open ${redactUrl(url)}: ${detail}`),
    );
  }
  return new PostgresConnector(pool, table, {
    label,
    server: redactUrl(url),
    readonly: options.readonly ?? false,
    timeouts,
    rowFilter: options.rowFilter,
  });
}
