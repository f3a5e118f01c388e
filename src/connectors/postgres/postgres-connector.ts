/** PostgreSQL connector (node-postgres): range checksums pushed down as one aggregate query per round. Only this folder imports the driver. */
import { Pool } from "pg";
import { redactText, redactUrl } from "../../config/redact.js";
import { ChecksumAccumulator, type RangeChecksum } from "../../core/fingerprint.js";
import {
  compareKeys,
  type Key,
  type KeyFingerprint,
  type KeyRange,
  type RecordShape,
  type StoredRecord,
} from "../../core/model.js";
import {
  type ConditionalWrite,
  type Connector,
  ConnectorError,
  type ConnectorStats,
  emptyStats,
  type TableDescription,
  type WriteOutcome,
} from "../connector.js";
import { quoteTable } from "./canonical-sql.js";
import { checksumQuery, listedHash, listQuery, type RowHash } from "./checksum-sql.js";
import { applyConditionalWrites, keyIn, type RunQuery } from "./conditional-writes.js";
import { isPool, type PostgresClient, PostgresSession, rowBytes } from "./postgres-session.js";
import { DESCRIBE_SQL, INDEXES_SQL, type PgColumn, type PgIndex, pgColumnOf } from "./postgres-types.js";
import { type ClientSideColumn, Params, type PgRange, ShapeSql, T } from "./shape-sql.js";
import { hopSplitSql, windowSplitSql } from "./split-sql.js";

export type { PostgresClient } from "./postgres-session.js";

export interface PostgresConnectorOptions {
  /** Label used in error messages (`dataset.replica`). */
  readonly label?: string;
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
}

const ZERO = "0000000000000000";

/**
 * A connector over one table of a PostgreSQL database, through a node-postgres Pool or Client it is
 * given (it does not connect itself; see `openPostgresConnector`) and ends on `close()`.
 *
 * Fingerprints are `left(md5(canonical encoding), 16)` built in SQL from each column's canonical text
 * (see canonical-sql.ts), so a round of range checksums is one aggregate query (see checksum-sql.ts)
 * and only checksums cross the wire. Shapes with columns PostgreSQL cannot canonicalise exactly (float,
 * json) are fingerprinted by the engine's RowCodec from rows read page by page: still correct, not
 * pushed down; `pushdownLimits` says so up front. Key order is binary: integers numerically, text with
 * COLLATE "C". Conditional writes lock the batch's rows (FOR UPDATE), decide, and write with set-based
 * statements guarded by the fingerprint, in one READ COMMITTED transaction.
 */
export class PostgresConnector implements Connector {
  readonly kind = "postgres";
  readonly pushdown = true;
  readonly stats: ConnectorStats = emptyStats();
  private readonly table: string;
  private described:
    | Promise<{ columns: Map<string, PgColumn>; indexes: PgIndex[]; description: TableDescription }>
    | undefined;
  private readonly shapes = new Map<RecordShape, Promise<ShapeSql>>();
  private readonly session: PostgresSession;
  /** One transaction at a time on a single Client. */
  private writing: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    db: PostgresClient,
    table: string,
    private readonly options: PostgresConnectorOptions = {},
  ) {
    this.table = quoteTable(table);
    this.session = new PostgresSession(db, this.stats, {
      label: options.label ?? "",
      server: options.server ?? "",
      table: this.table,
      readAttempts: options.readAttempts ?? 3,
    });
  }

  private error(what: string, err: unknown): ConnectorError {
    return this.session.error(what, err);
  }

  private read<R>(what: string, fn: (run: RunQuery) => Promise<R>): Promise<R> {
    return this.session.read(what, fn);
  }

  private columns() {
    this.described ??= this.read("cannot describe table", async (run) => {
      const rows = await run(DESCRIBE_SQL, [this.table]);
      if (rows.length === 0) throw new Error(`table ${this.table} does not exist`);
      const cols = rows.map((r) => pgColumnOf(r as string[]));
      const indexes = (await run(INDEXES_SQL, [this.table])).map((r) => {
        const [names, collations] = r as unknown as [string[], string[]];
        return { columns: names.map((name, i) => ({ name, collation: collations[i] ?? "" })) };
      });
      return {
        columns: new Map(cols.map((c) => [c.name, c])),
        indexes,
        description: { columns: cols.map((c) => ({ name: c.name, type: c.type, nativeType: c.nativeType })) },
      };
    }).catch((err: unknown) => {
      this.described = undefined;
      throw err;
    });
    return this.described;
  }

  private sql(shape: RecordShape): Promise<ShapeSql> {
    let s = this.shapes.get(shape);
    if (!s) {
      s = this.columns().then((d) => {
        try {
          return new ShapeSql(shape, d.columns, d.indexes, this.table);
        } catch (err) {
          throw this.error("unsupported record shape", err);
        }
      });
      s.catch(() => this.shapes.delete(shape));
      this.shapes.set(shape, s);
    }
    return s;
  }

  private normalize(s: ShapeSql, range: KeyRange): PgRange | null {
    try {
      return s.normalize(range);
    } catch (err) {
      throw this.error("invalid key range", err);
    }
  }

  async describe(): Promise<TableDescription> {
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
        `${label}no btree index serves the key order (${s.orderBy}): range queries scan the table; ` +
          `index the key columns (text key columns with COLLATE "C")`,
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
        `SELECT count(*)::text FROM ${this.table} AS ${T}${where ? ` WHERE ${where}` : ""}`,
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
    const estimate = await this.read("row estimate failed", async (run) => {
      const rows = await run(
        `SELECT c.reltuples::bigint::text FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass`,
        [this.table],
        true,
      );
      return Number(rows[0]?.[0] ?? -1);
    });
    return estimate >= 0 ? estimate : this.count(shape, { lo: null, hi: null });
  }

  /** Two index probes (first and last key in key order); null without an index serving that order. */
  async keyBounds(shape: RecordShape, range: KeyRange): Promise<{ first: Key; last: Key } | null> {
    const s = await this.sql(shape);
    const r = this.normalize(s, range);
    if (!r || !s.indexed) return null;
    return this.read("key bounds failed", async (run) => {
      const params = new Params();
      const where = s.rangeWhere(r, params);
      const probe = (dir: string) =>
        `(SELECT ${s.keyOut} FROM ${this.table} AS ${T}${where ? ` WHERE ${where}` : ""} ` +
        `ORDER BY ${s.keys.map((k) => `${k.order} ${dir}`).join(", ")} LIMIT 1)`;
      const rows = await run(`${probe("ASC")} UNION ALL ${probe("DESC")}`, params.values, true);
      this.stats.rowsRead += rows.length;
      this.stats.bytesRead += rowBytes(rows);
      if (rows.length < 2) return null;
      return { first: s.codec.key(rows[0]!), last: s.codec.key(rows[1]!) };
    });
  }

  async checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    const out: RangeChecksum[] = ranges.map(() => ({ count: 0, xor: ZERO }));
    if (ranges.length === 0) return out;
    const s = await this.sql(shape);
    const live: { index: number; range: PgRange }[] = [];
    ranges.forEach((range, index) => {
      const r = this.normalize(s, range);
      if (r) live.push({ index, range: r });
    });
    if (live.length === 0) return out;
    if (!s.pushdown) return this.checksumInEngine(s, live, out);
    const q = checksumQuery(s, live);
    const rows = await this.read("range checksum failed", (run) => run(q.text, q.values));
    for (const [i, n, x] of rows) {
      const checksum = { count: Number(n), xor: x ?? ZERO };
      out[Number(i)] = checksum;
      this.stats.rowsScanned += checksum.count;
    }
    this.stats.rowsRead += rows.length;
    this.stats.bytesRead += rowBytes(rows);
    return out;
  }

  /**
   * The server facts the native row hash depends on besides the columns: major version (hash functions
   * are stable across versions, but the signature does not rely on it) and server encoding (equal bytes
   * must mean equal text).
   */
  private serverFacts: Promise<string> | undefined;

  async nativeChecksumSignature(shape: RecordShape): Promise<string | null> {
    const s = await this.sql(shape);
    if (!s.nativeHashable) return null;
    this.serverFacts ??= this.read("cannot read server settings", async (run) => {
      const rows = await run(
        "SELECT current_setting('server_version_num')::int / 10000, current_setting('server_encoding')",
        [],
      );
      return `${rows[0]![0]}/${rows[0]![1]}`;
    }).catch((err: unknown) => {
      this.serverFacts = undefined;
      throw err;
    });
    const columns = s.native.map((c) => [c.name, c.nativeType, c.baseType]);
    return JSON.stringify(["postgres", "hash_record_extended/C/1", await this.serverFacts, columns]);
  }

  /** Like `checksumRanges`, over `hash_record_extended` of each row (see `nativeChecksumSignature`). */
  async nativeChecksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    const s = await this.sql(shape);
    if (!s.nativeHashable)
      throw this.error("native checksum failed", new Error("shape has no native row hash"));
    const out: RangeChecksum[] = ranges.map(() => ({ count: 0, xor: ZERO }));
    const live: { index: number; range: PgRange }[] = [];
    ranges.forEach((range, index) => {
      const r = this.normalize(s, range);
      if (r) live.push({ index, range: r });
    });
    if (live.length === 0) return out;
    const q = checksumQuery(s, live, "native");
    const rows = await this.read("range checksum failed", (run) => run(q.text, q.values));
    for (const [i, n, x] of rows) {
      const checksum = { count: Number(n), xor: x ?? ZERO };
      out[Number(i)] = checksum;
      this.stats.rowsScanned += checksum.count;
    }
    this.stats.rowsRead += rows.length;
    this.stats.bytesRead += rowBytes(rows);
    return out;
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

  /** Like `streamFingerprintsIn`, with `hash_record_extended` of each row (see `nativeChecksumSignature`). */
  streamNativeHashesIn(
    shape: RecordShape,
    ranges: readonly KeyRange[],
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    return this.listIn(shape, ranges, batchSize, "native");
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
    const size = Math.max(1, batchSize);
    const width = s.keys.length;
    const pair = (row: (string | null)[]): KeyFingerprint => ({
      key: s.codec.key(row),
      fingerprint: row[width]!,
    });
    let i = 0;
    while (i < ranges.length) {
      const first = this.normalize(s, ranges[i]!);
      if (!first) {
        i++;
        continue;
      }
      if (!first.lo || !first.hi || (hash === "fingerprint" && !s.pushdown)) {
        yield* this.streamRange(s, first, size, hash);
        i++;
        continue;
      }
      const chunk: PgRange[] = [];
      while (i < ranges.length && chunk.length < 256) {
        const r = this.normalize(s, ranges[i]!);
        if (r && (!r.lo || !r.hi)) break;
        if (r) chunk.push(r);
        i++;
      }
      const q = listQuery(s, chunk, hash);
      const pairs = await this.read("fingerprint stream failed", async (run) => {
        // Not a named statement: after five runs PostgreSQL may switch to a generic plan, which cannot see
        // the arrays' length and reads the whole table (seconds) instead of probing the index per range.
        const rows = await run(q.text, q.values);
        this.stats.bytesRead += rowBytes(rows);
        return rows.map(pair);
      });
      this.stats.rowsRead += pairs.length;
      for (let j = 0; j < pairs.length; j += size) yield pairs.slice(j, j + size);
    }
  }

  /** Checksums of shapes PostgreSQL cannot fingerprint: adjacent ranges are read as one ordered run. */
  private async checksumInEngine(
    s: ShapeSql,
    live: readonly { index: number; range: PgRange }[],
    out: RangeChecksum[],
  ): Promise<RangeChecksum[]> {
    const keyCols = s.shape.key;
    let start = 0;
    while (start < live.length) {
      let end = start + 1;
      while (end < live.length) {
        const prev = live[end - 1]!.range.hi;
        const next = live[end]!.range.lo;
        if (!prev || !next || compareKeys(keyCols, prev, next) !== 0) break;
        end++;
      }
      const run = live.slice(start, end);
      const accs = run.map(() => new ChecksumAccumulator());
      let j = 0;
      const cover = { lo: run[0]!.range.lo, hi: run.at(-1)!.range.hi };
      const pageRows = this.options.pageRows ?? 5000;
      for await (const page of this.pages(s, cover, s.rawList, pageRows, "range checksum failed", (row) =>
        s.codec.record(row),
      )) {
        for (const rec of page) {
          while (run[j]!.range.hi && compareKeys(keyCols, rec.key, run[j]!.range.hi!) >= 0) j++;
          accs[j]!.add(rec.fingerprint);
        }
      }
      run.forEach((r, k) => {
        out[r.index] = accs[k]!.result();
        this.stats.rowsScanned += accs[k]!.count;
      });
      start = end;
    }
    return out;
  }

  /**
   * Pages of rows in key order over a range, by keyset pagination (`WHERE key > last ORDER BY key LIMIT n`):
   * memory holds one page, no transaction or cursor stays open between pages, and each page is a read
   * that can be retried on its own.
   */
  private async *pages<R extends { key: Key }>(
    s: ShapeSql,
    range: PgRange,
    select: string,
    pageRows: number,
    what: string,
    decode: (row: (string | null)[]) => R,
  ): AsyncGenerator<R[]> {
    let after: Key | null = null;
    for (;;) {
      const from: Key | null = after;
      const page = await this.read(what, async (run) => {
        const params = new Params();
        const where: string[] = [];
        if (from) where.push(`${s.tuple()} > ${s.keyParams(from, params)}`);
        const bounds = s.rangeWhere(from ? { lo: null, hi: range.hi } : range, params);
        if (bounds) where.push(bounds);
        const limit = params.add(pageRows, "int8");
        const rows = await run(
          `SELECT ${select} FROM ${this.table} AS ${T}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ` +
            `ORDER BY ${s.orderBy} LIMIT ${limit}`,
          params.values,
          true,
        );
        this.stats.bytesRead += rowBytes(rows);
        return rows.map(decode);
      });
      if (page.length > 0) yield page;
      if (page.length < pageRows) return;
      after = page.at(-1)!.key;
    }
  }

  async splitRange(shape: RecordShape, range: KeyRange, parts: number): Promise<Key[]> {
    const s = await this.sql(shape);
    const r = this.normalize(s, range);
    if (!r || parts < 2) return [];
    return this.read("range split failed", async (run) => {
      const q = s.indexed ? hopSplitSql(s, this.table, r, parts) : windowSplitSql(s, this.table, r, parts);
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
    if (r) yield* this.streamRange(s, r, Math.max(1, batchSize), "fingerprint");
  }

  /**
   * Key and hash of every row of one range, in keyset pages: computed by PostgreSQL (fingerprint under
   * pushdown, or the native hash), or fingerprinted by the engine from the raw columns.
   */
  private async *streamRange(
    s: ShapeSql,
    r: PgRange,
    size: number,
    hash: RowHash,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const width = s.keys.length;
    const inStore = hash === "native" || s.pushdown;
    const select = inStore ? `${s.keyOut}, ${listedHash(s, hash)}` : s.rawList;
    const decode = inStore
      ? (row: (string | null)[]): KeyFingerprint => ({ key: s.codec.key(row), fingerprint: row[width]! })
      : (row: (string | null)[]): KeyFingerprint => {
          const rec = s.codec.record(row);
          return { key: rec.key, fingerprint: rec.fingerprint };
        };
    for await (const batch of this.pages(s, r, select, size, "fingerprint stream failed", decode)) {
      this.stats.rowsRead += batch.length;
      yield batch;
    }
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
          `SELECT ${s.rawList} FROM ${this.table} AS ${T} WHERE ${keyIn(s, part, params)}`,
          params.values,
          true,
        );
        this.stats.bytesRead += rowBytes(rows);
        return rows.map((row) => s.codec.record(row));
      });
      this.stats.rowsRead += records.length;
      out.push(...records);
    }
    return out;
  }

  async applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]> {
    if (this.options.readonly) throw this.error("conditional write refused", new Error("opened read-only"));
    if (writes.length === 0) return [];
    const s = await this.sql(shape);
    const write = () =>
      this.session.withClient(async (run) => {
        await run("BEGIN ISOLATION LEVEL READ COMMITTED", []);
        try {
          const { outcomes, rowsWritten } = await applyConditionalWrites(s, writes, run);
          await run("COMMIT", []);
          this.stats.rowsWritten += rowsWritten;
          return outcomes;
        } catch (err) {
          await run("ROLLBACK", []).catch(() => undefined);
          throw err;
        }
      });
    // A single Client cannot hold two transactions: batches on it wait for each other.
    const turn = isPool(this.session.db) ? write() : this.writing.then(write, write);
    this.writing = turn.catch(() => undefined);
    try {
      return await turn;
    } catch (err) {
      throw this.error("conditional write failed", err);
    }
  }

  /** Ends the pool or client it was given. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.db.end();
  }
}

export interface OpenPostgresOptions {
  /** Open for reading only: sessions default to read-only transactions and `applyWrites` is refused. */
  readonly readonly?: boolean;
  /** Label used in error messages (`dataset.replica`). */
  readonly label?: string;
  /** Connections the pool may open (default 4). */
  readonly maxConnections?: number;
  /** How long to wait for a connection before reporting the server unreachable (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Server-side `statement_timeout` for every statement (default: the server's). */
  readonly statementTimeoutMs?: number;
}

/** A PostgresConnector over its own pool for `postgres://` or `postgresql://` URLs; `table` may be `schema.table`. */
export function openPostgresConnector(
  url: string,
  table: string,
  options: OpenPostgresOptions = {},
): PostgresConnector {
  const label = options.label ?? "";
  let pool: Pool;
  try {
    pool = new Pool({
      connectionString: url,
      max: options.maxConnections ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: "concord",
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
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
  });
}
