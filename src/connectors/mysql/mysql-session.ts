/** Borrowing MariaDB/MySQL connections from a caller's pool: session setup, string reads, timeouts, retries, errors. */
import type { EventEmitter } from "node:events";
import type { Pool, PoolConnection, QueryOptions, TypeCast } from "mysql2/promise";
import { ConnectorError, type ConnectorStats } from "../connector.js";
import { isMysqlFatal, isMysqlTransient, mysqlError } from "./mysql-errors.js";

/** Which server answers: the SQL dialects differ in a few places (timeouts, JSON, window syntax is shared). */
export type MysqlFlavor = "mariadb" | "mysql";

export interface MysqlSessionOptions {
  /** Replica label that starts every error message. */
  readonly label: string;
  /** Where the store is, for messages (credentials are redacted again before use). */
  readonly where: string;
  /** Server-side limit on one read statement, in ms (0: none). Streams are not limited. */
  readonly queryTimeoutMs: number;
  /** Attempts for a read that failed for a transient reason (connection lost, too many connections, deadlock). */
  readonly readAttempts: number;
}

/**
 * Every value is read as text (or bytes for binary strings), whatever the pool's own options say:
 * integers beyond 2^53, decimals and dates must reach the engine's canonical encoder unrounded and without
 * a local time zone. BIT arrives as bytes and is read as an unsigned integer; geometry as its stored bytes.
 */
const readAsText: TypeCast = (field, next) => {
  if (field.type === "JSON" || field.extendedFormat === "json") return field.string("utf8");
  // Geometry as stored: SRID then WKB, read as bytes (mysql2 would parse it into an object).
  if (field.type === "GEOMETRY") return field.buffer();
  if (field.type === "BIT") {
    const b = field.buffer();
    return b === null ? null : BigInt(`0x${b.toString("hex") || "0"}`).toString();
  }
  switch (field.type) {
    case "BLOB":
    case "TINY_BLOB":
    case "MEDIUM_BLOB":
    case "LONG_BLOB":
    case "STRING":
    case "VAR_STRING":
    case "VARCHAR":
      return next(); // a Buffer for binary strings, text decoded from the column's charset otherwise
    default:
      return field.string();
  }
};

const SESSION_KEY = Symbol("concord.mysql.session");

/** Connections of the pool, with what their session was set up for. */
interface SessionState {
  readonly flavor: MysqlFlavor;
  /** VERSION() as the server reports it ("10.11.19-MariaDB-0+deb12u1", "8.0.36"). */
  readonly version: string;
  /** @@max_allowed_packet: the longest statement, and the longest string a function may build, in bytes. */
  readonly maxPacket: number;
}

export class MysqlSession {
  private flavorSeen: MysqlFlavor | undefined;
  private versionSeen: string | undefined;
  private maxPacketSeen: number | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly options: MysqlSessionOptions,
    private readonly stats: ConnectorStats,
  ) {}

  /** The server flavour, known after the first connection was set up. */
  get flavor(): MysqlFlavor | undefined {
    return this.flavorSeen;
  }

  /** The server's VERSION(), known after the first connection was set up. */
  get version(): string | undefined {
    return this.versionSeen;
  }

  /**
   * The server's max_allowed_packet in bytes, known after the first connection was set up: no statement may
   * be longer, and no string a function builds (HEX, CONCAT) may be either.
   */
  get maxPacket(): number | undefined {
    return this.maxPacketSeen;
  }

  /** A ConnectorError with one line: label, what failed, and why (credentials redacted). */
  error(what: string, err: unknown): ConnectorError {
    return mysqlError(this.options.label, this.options.where, what, err);
  }

  /**
   * Runs `fn` on a connection of the pool whose session is in UTC, utf8mb4 and backslash-escaping mode.
   * Connections that failed fatally are destroyed instead of returned.
   */
  async withConnection<T>(fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.pool.getConnection();
    let healthy = true;
    try {
      await this.setUp(conn);
      return await fn(conn);
    } catch (err) {
      if (isMysqlFatal(err)) healthy = false;
      throw err;
    } finally {
      if (healthy) conn.release();
      else conn.destroy();
    }
  }

  /** A read: `fn` on a connection, repeated on transient failures (a read changes nothing, so repeating is safe). */
  async read<T>(what: string, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.withConnection(fn);
      } catch (err) {
        if (attempt >= this.options.readAttempts || !isMysqlTransient(err)) throw this.error(what, err);
        await new Promise((r) => setTimeout(r, 50 * 4 ** (attempt - 1)));
      }
    }
  }

  private async setUp(conn: PoolConnection): Promise<void> {
    const core = (conn as unknown as { connection: Record<symbol, SessionState | undefined> }).connection;
    const state = core[SESSION_KEY];
    if (state) {
      this.flavorSeen = state.flavor;
      this.versionSeen = state.version;
      this.maxPacketSeen = state.maxPacket;
      return;
    }
    // NAMES utf8mb4: text arrives and MD5 hashes as UTF-8. UTC: TIMESTAMP reads as UTC, DATETIME is taken as
    // UTC. Backslash escapes: the literals built here and by mysql2 rely on them. net_write_timeout: a stream
    // waits while the engine merges; the server must not drop a slow reader after the default 60 s.
    await conn.query(
      "SET NAMES utf8mb4, time_zone = '+00:00', net_write_timeout = GREATEST(@@net_write_timeout, 3600), " +
        "sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))",
    );
    const [rows] = await conn.query({
      sql: "SELECT VERSION(), HEX(?), @@max_allowed_packet",
      values: ["é"],
      rowsAsArray: true,
    });
    const [version, hex, maxPacket] = (rows as unknown[][])[0] ?? [];
    if (hex !== "C3A9") {
      throw new ConnectorError(
        `${this.options.label}: the connection does not send UTF-8 (create the pool with charset utf8mb4)`,
      );
    }
    const flavor: MysqlFlavor = String(version).toLowerCase().includes("mariadb") ? "mariadb" : "mysql";
    core[SESSION_KEY] = { flavor, version: String(version), maxPacket: Number(maxPacket) };
    this.flavorSeen = flavor;
    this.versionSeen = String(version);
    this.maxPacketSeen = Number(maxPacket);
  }

  /** Adds the server-side statement timeout to a SELECT (dialects differ). */
  private limited(sql: string): string {
    const ms = this.options.queryTimeoutMs;
    if (!ms || !sql.startsWith("SELECT")) return sql;
    // MariaDB: SET STATEMENT … FOR (seconds, fractions allowed). MySQL 8: an optimizer hint (ms, SELECT only).
    if (this.flavorSeen === "mariadb") return `SET STATEMENT max_statement_time = ${ms / 1000} FOR ${sql}`;
    return sql.replace(/^SELECT/, `SELECT /*+ MAX_EXECUTION_TIME(${Math.round(ms)}) */`);
  }

  private queryOptions(sql: string, timeout: boolean): QueryOptions {
    const ms = this.options.queryTimeoutMs;
    return {
      sql: timeout ? this.limited(sql) : sql,
      rowsAsArray: true,
      typeCast: readAsText,
      // Client-side backstop for a server or network that stops answering; the connection is then destroyed.
      ...(timeout && ms ? { timeout: ms + 5000 } : {}),
    };
  }

  /** Runs one statement and returns its rows as arrays of text (or bytes); counts rows and bytes read. */
  async rows(conn: PoolConnection, sql: string): Promise<unknown[][]> {
    const [rows] = await conn.query(this.queryOptions(sql, true));
    this.stats.queries++;
    const list = rows as unknown[][];
    this.stats.rowsRead += list.length;
    for (const row of list) this.stats.bytesRead += mysqlRowBytes(row);
    return list;
  }

  /** Runs a statement that returns no rows (writes, transaction control); returns the affected row count. */
  async execute(conn: PoolConnection, sql: string): Promise<number> {
    const [result] = await conn.query({ sql });
    this.stats.queries++;
    return (result as { affectedRows?: number }).affectedRows ?? 0;
  }

  /**
   * Streams the rows of one statement in batches of `batchSize` rows (the last may be shorter, none is
   * empty), with backpressure: the connection is paused while a full batch waits for the consumer, so
   * memory stays bounded by one batch. One await per batch, not per row: listing a million pairs was
   * bound by Node's CPU. Leaving early destroys the connection (the cheapest way to stop a server
   * mid-result). A failure throws this session's error; rows of a batch not yet handed out are dropped.
   */
  async *stream(what: string, sql: string, batchSize: number): AsyncIterable<unknown[][]> {
    const size = Math.max(1, Math.floor(batchSize));
    let conn: PoolConnection;
    try {
      conn = await this.pool.getConnection();
    } catch (err) {
      throw this.error(what, err);
    }
    try {
      await this.setUp(conn);
    } catch (err) {
      conn.destroy();
      throw this.error(what, err);
    }
    const core = (conn as unknown as { connection: CoreConnection }).connection;
    this.stats.queries++;
    let batch: unknown[][] = [];
    let done = false;
    let failure: { err: unknown } | undefined;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const fail = (err: unknown) => {
      failure ??= { err };
      done = true;
      notify();
    };
    const query = core.query(this.queryOptions(sql, false));
    query.on("result", (row: unknown) => {
      batch.push(row as unknown[]);
      if (batch.length >= size) {
        core.pause();
        notify();
      }
    });
    query.on("error", fail);
    query.on("end", () => {
      done = true;
      notify();
    });
    // A connection lost mid-result is reported to the connection, not to a query without a callback.
    core.on("error", fail);
    let finished = false;
    try {
      for (;;) {
        while (batch.length < size && !done) await new Promise<void>((r) => (wake = r));
        if (failure) throw failure.err;
        const out = batch;
        batch = [];
        if (out.length > 0) {
          for (const row of out) this.stats.bytesRead += mysqlRowBytes(row);
          yield out;
        }
        // Ended while the consumer held that batch: rows that came meanwhile go out on the next turn, and a
        // failure is thrown there; only a clean end with nothing left stops here.
        if (done && batch.length === 0 && !failure) break;
        if (!done) core.resume();
      }
      finished = true;
    } catch (err) {
      throw this.error(what, err);
    } finally {
      core.removeListener("error", fail);
      if (finished) conn.release();
      else conn.destroy();
    }
  }
}

/** The parts of mysql2's callback connection that streaming uses (the promise wrapper has no row events). */
interface CoreConnection {
  query(options: QueryOptions): EventEmitter;
  pause(): void;
  resume(): void;
  on(event: "error", listener: (err: unknown) => void): void;
  removeListener(event: "error", listener: (err: unknown) => void): void;
}

/** Payload bytes of a row as read (an estimate of what crossed the wire). */
export function mysqlRowBytes(row: readonly unknown[]): number {
  let n = 0;
  for (const v of row) {
    if (typeof v === "string") n += v.length;
    else if (v instanceof Uint8Array) n += v.byteLength;
    else if (v !== null && v !== undefined) n += 8;
  }
  return n;
}
