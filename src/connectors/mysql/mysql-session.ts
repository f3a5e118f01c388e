/** Borrowing MariaDB/MySQL connections from a caller's pool: session setup, string reads, deadlines, retries, errors. */
import type { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { createConnection } from "mysql2";
import type { Pool, PoolConnection, PoolOptions, QueryOptions, TypeCast } from "mysql2/promise";
import { DEFAULT_TIMEOUTS, type TimeoutsConfig } from "../../config/timeouts.js";
import { boundSilence, boundTime } from "../../deadlines/bound-silence.js";
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
  /** Deadlines of every call (default: DEFAULT_TIMEOUTS); `connectMs`, `queryMs` and `idleMs` are used here. */
  readonly timeouts?: TimeoutsConfig;
}

/**
 * The settings of a pool Concord opens itself, from a replica's timeouts: connect timeout, idle connections
 * closed after `idle`, TCP keepalive. (The server-side idle-transaction limit is set per session.)
 */
export function mysqlPoolTimeouts(t: TimeoutsConfig): PoolOptions {
  return {
    connectTimeout: t.connectMs,
    // mysql2 closes free connections idle longer than this (0 would close them at once: "off" is never).
    idleTimeout: t.idleMs > 0 ? t.idleMs : Number.MAX_SAFE_INTEGER,
    enableKeepAlive: t.keepaliveMs > 0,
    ...(t.keepaliveMs > 0 ? { keepAliveInitialDelay: t.keepaliveMs } : {}),
  };
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

/**
 * The sql_mode flags a session drops (whatever the server's default): they change what a statement means or
 * a value reads as. NO_BACKSLASH_ESCAPES (literals are written with backslash escapes), PAD_CHAR_TO_FULL_LENGTH
 * (a CHAR would read with its padding: `a` in a CHAR(5) as `a    `, a false difference, and a repair of it
 * refused), EMPTY_STRING_IS_NULL (MariaDB: the literal '' is NULL, so a repair writing "" would store NULL),
 * ANSI_QUOTES and PIPES_AS_CONCAT (other meanings for `"` and `||`); and the combination modes that would
 * bring them back when the mode is set again (ANSI, ORACLE, DB2, MSSQL, POSTGRESQL, MAXDB).
 */
const DROPPED_MODES = [
  "NO_BACKSLASH_ESCAPES",
  "PAD_CHAR_TO_FULL_LENGTH",
  "EMPTY_STRING_IS_NULL",
  "ANSI_QUOTES",
  "PIPES_AS_CONCAT",
  "ANSI",
  "ORACLE",
  "DB2",
  "MSSQL",
  "POSTGRESQL",
  "MAXDB",
];

/** `list` (an SQL expression: `,mode,mode,`) without DROPPED_MODES. */
function withoutModes(list: string): string {
  return DROPPED_MODES.reduce((sql, mode) => `REPLACE(${sql}, ',${mode},', ',')`, list);
}

/**
 * Runs statements on connections of a pool. Deadlines: a connection within `timeouts.connectMs`; a statement
 * (or a stream waiting for its next rows) may go `timeouts.queryMs` without a byte from the server, and
 * when it has, the server is asked on a connection of its own whether the statement's thread is still
 * running it (an aggregate sends nothing until it is done): if so the wait goes on, otherwise the connection
 * is destroyed and the call fails with a StoreTimeoutError, which is not retried.
 */
export class MysqlSession {
  private flavorSeen: MysqlFlavor | undefined;
  private versionSeen: string | undefined;
  private maxPacketSeen: number | undefined;
  private readonly timeouts: TimeoutsConfig;
  /** Connections handed out at least once and still open: what `close` destroys when ending stalls. */
  private readonly connections = new Set<CoreConnection>();

  constructor(
    private readonly pool: Pool,
    private readonly options: MysqlSessionOptions,
    private readonly stats: ConnectorStats,
  ) {
    this.timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  }

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
    const conn = await this.checkout();
    let healthy = true;
    try {
      await this.setUp(conn);
      return await fn(conn);
    } catch (err) {
      if (isMysqlFatal(err)) healthy = false;
      throw err;
    } finally {
      if (healthy) conn.release();
      else this.drop(conn);
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

  /** A connection of the pool within the connect deadline (one that comes later goes back at once). */
  private async checkout(): Promise<PoolConnection> {
    const getting = this.pool.getConnection();
    const conn = await boundTime(getting, this.timeouts.connectMs, "connect", () => {
      getting.then(
        (late) => late.release(),
        () => undefined,
      );
    });
    const core = coreOf(conn);
    if (!this.connections.has(core)) {
      this.connections.add(core);
      core.stream?.once("close", () => this.connections.delete(core));
    }
    return conn;
  }

  /** Destroys a connection and its socket (mysql2's destroy only half-closes, waiting on the server). */
  private drop(conn: PoolConnection): void {
    const core = coreOf(conn);
    this.connections.delete(core);
    conn.destroy();
    core.stream?.destroy();
  }

  /** `work` (a statement on `conn`) within the silence deadline; on time-out the connection is destroyed. */
  private bounded<T>(conn: PoolConnection, work: Promise<T>): Promise<T> {
    const core = coreOf(conn);
    return boundSilence(work, {
      ms: this.timeouts.queryMs,
      socket: () => core.stream,
      stillWorking: () => this.stillRunning(core.threadId),
      onTimeout: () => this.drop(conn),
    });
  }

  /**
   * Whether the server thread `threadId` is still running a statement, asked on a connection of its own
   * (the pool may be full of stalled ones) within the connect and query deadlines. A thread writing to us
   * is not working: the network between us is the problem.
   */
  private async stillRunning(threadId: number | null | undefined): Promise<boolean> {
    if (!threadId) return false;
    const c = (this.pool as unknown as { pool: { config: { connectionConfig: Record<string, unknown> } } })
      .pool.config.connectionConfig;
    const check = createConnection({
      host: c.host as string,
      port: c.port as number,
      ...(c.socketPath ? { socketPath: c.socketPath as string } : {}),
      user: c.user as string,
      password: c.password as string,
      ...(c.ssl ? { ssl: c.ssl as object } : {}),
      connectTimeout: this.timeouts.connectMs,
    });
    check.on("error", () => undefined);
    const socket = () => (check as unknown as CoreConnection).stream;
    try {
      const [rows] = await boundTime(
        check.promise().query({
          sql: "SELECT COMMAND, STATE FROM information_schema.PROCESSLIST WHERE ID = ?",
          values: [threadId],
          rowsAsArray: true,
        }),
        this.timeouts.connectMs + this.timeouts.queryMs,
        "query",
        () => socket()?.destroy(),
      );
      const [command, state] = ((rows as unknown[][])[0] ?? []).map((v) => String(v ?? ""));
      return command === "Query" && !/^(Writing to net|Sending to client)/i.test(state ?? "");
    } finally {
      check.destroy();
      socket()?.destroy();
    }
  }

  /**
   * Ends the pool (when it is ours): connections quit politely when the server answers, and are destroyed
   * when it does not within the connect deadline (a stalled server never acknowledges the goodbye).
   */
  async close(endPool: boolean): Promise<void> {
    if (!endPool) return;
    const ending = this.pool.end();
    await boundTime(ending, this.timeouts.connectMs, "connect", () => {
      for (const core of this.connections) core.stream?.destroy();
      ending.catch(() => undefined);
    }).catch(() => undefined);
    // mysql2 ends a connection by sending QUIT and waiting for the server to close it: one whose server
    // never hears the QUIT would stay open (and keep the process alive). Those are destroyed after the
    // connect deadline; the timer itself does not hold the process.
    const open = [...this.connections].filter((c) => c.stream && !c.stream.destroyed);
    if (open.length) {
      const timer = setTimeout(() => {
        for (const c of open) c.stream?.destroy();
      }, this.timeouts.connectMs);
      timer.unref();
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
    // UTC. Backslash escapes: the literals built here and by mysql2 rely on them. Strict mode: a value the
    // checks before writing did not foresee fails its row instead of being stored changed (a character its
    // column's character set lacks as `?`, a cut string, a clipped number). net_write_timeout: a stream
    // waits while the engine merges; the server must not drop a slow reader after the default 60 s.
    // MariaDB 10.3+ (an executable comment MySQL skips): a transaction left idle past timeouts.idle is
    // ended by the server, so a Concord cut off mid-write does not hold a writer's row locks.
    const idle = Math.ceil(this.timeouts.idleMs / 1000);
    await this.bounded(
      conn,
      conn.query(
        "SET NAMES utf8mb4, time_zone = '+00:00', net_write_timeout = GREATEST(@@net_write_timeout, 3600), " +
          `sql_mode = CONCAT_WS(',', NULLIF(TRIM(BOTH ',' FROM ${withoutModes("CONCAT(',', @@sql_mode, ',')")}), ''), 'STRICT_ALL_TABLES')` +
          (idle > 0 ? ` /*M!100300 , idle_transaction_timeout = ${idle} */` : ""),
      ),
    );
    const [rows] = await this.bounded(
      conn,
      conn.query({ sql: "SELECT VERSION(), HEX(?), @@max_allowed_packet", values: ["é"], rowsAsArray: true }),
    );
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
    const [rows] = await this.bounded(conn, conn.query(this.queryOptions(sql, true)));
    this.stats.queries++;
    const list = rows as unknown[][];
    this.stats.rowsRead += list.length;
    for (const row of list) this.stats.bytesRead += mysqlRowBytes(row);
    return list;
  }

  /** Runs a statement that returns no rows (writes, transaction control); returns the affected row count. */
  async execute(conn: PoolConnection, sql: string): Promise<number> {
    const [result] = await this.bounded(conn, conn.query({ sql }));
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
      conn = await this.checkout();
    } catch (err) {
      throw this.error(what, err);
    }
    try {
      await this.setUp(conn);
    } catch (err) {
      this.drop(conn);
      throw this.error(what, err);
    }
    const core = coreOf(conn);
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
        // Only while waiting for rows: a consumer holding a batch pauses the connection, and that silence is ours.
        while (batch.length < size && !done) await this.bounded(conn, new Promise<void>((r) => (wake = r)));
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
      else this.drop(conn);
    }
  }
}

function coreOf(conn: PoolConnection): CoreConnection {
  return (conn as unknown as { connection: CoreConnection }).connection;
}

/** The parts of mysql2's callback connection that streaming uses (the promise wrapper has no row events). */
interface CoreConnection {
  readonly stream?: Socket;
  readonly threadId?: number | null;
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
