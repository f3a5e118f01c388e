/** The connections a PostgresConnector uses: checkout, session settings, named statements, retried reads, deadlines, errors. Only this folder imports the driver. */
import { createHash } from "node:crypto";
import type { Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import type { Client, Pool, PoolClient, PoolConfig } from "pg";
import { predicateShapeError } from "../../config/predicate-shape.js";
import { DEFAULT_TIMEOUTS, type TimeoutsConfig } from "../../config/timeouts.js";
import { boundSilence, boundTime, isStoreTimeout } from "../../deadlines/bound-silence.js";
import { postgresStillRunning } from "../../deadlines/postgres-still-running.js";
import { ConnectorError, type ConnectorStats } from "../connector.js";
import { pg } from "./node-postgres.js";
import { connectFailed, isPostgresTransient, postgresError } from "./postgres-errors.js";

/**
 * Runs one statement on one connection and returns its rows as arrays (text, except where a statement
 * selects an int4). `prepare` asks for a named statement, planned once per connection.
 */
export type RunQuery = (text: string, values: unknown[], prepare?: boolean) => Promise<(string | null)[][]>;

/** What the connector is given: a pool (a connection per call) or one connected client. */
export type PostgresClient = Pool | Client;

/**
 * Run once on every connection the connector uses, as session settings:
 * - `extra_float_digits = 1`: floats print in shortest round-trip form (the default since PostgreSQL 12,
 *   but a server or role may override it), which the engine reads back exactly;
 * - `jit = off`: the planner's estimate for one range probe per range makes a round's checksum query look
 *   expensive, and JIT compilation then costs more (≈0.7 s) than the query itself;
 * - `DateStyle = ISO` and `IntervalStyle = postgres`: the text of types read as text (intervals, arrays of
 *   dates) is then the same whatever the server's or role's defaults;
 * - `TimeZone = UTC` and `bytea_output = hex`: likewise for types read as text whose text depends on them
 *   (`tstzrange`, `timestamptz[]` print in the session's zone: the same instants read `+09` in one session
 *   and `+00` in another; `bytea[]` in the session's bytea output). Timestamps and bytea themselves are read
 *   and written at UTC and in hex explicitly.
 * Its first column is the connection's `standard_conforming_strings`, which it leaves as the server, role or
 * database set it: the row filter is checked against it (`checkRowFilter`).
 */
const SESSION_SQL =
  "SELECT current_setting('standard_conforming_strings'), " +
  "set_config('extra_float_digits', '1', false), set_config('jit', 'off', false), " +
  "set_config('DateStyle', 'ISO', false), set_config('IntervalStyle', 'postgres', false), " +
  "set_config('TimeZone', 'UTC', false), set_config('bytea_output', 'hex', false)";

/** PostgreSQL's type oids for json and jsonb. */
const JSON_OIDS: ReadonlySet<number> = new Set([114, 3802]);

/**
 * node-postgres's type parsers, but json and jsonb as the server's text: its own parser would turn their
 * numbers into doubles (9007199254740993 into …992, 1e400 into Infinity) before Concord's exact canonical
 * JSON sees them. The connector reads json as `::text` anyway; this keeps any column that reaches a query
 * bare from being parsed.
 */
const TYPES = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    JSON_OIDS.has(oid)
      ? (value: string) => value
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function isPool(db: PostgresClient): db is Pool {
  return "totalCount" in db;
}

/**
 * The settings of a pool Concord opens itself, from a replica's timeouts: connect timeout, idle clients
 * closed after `idle` (and the server ends a transaction left idle that long), TCP keepalive, and the
 * server-side `statement_timeout` when one is set.
 */
export function postgresPoolTimeouts(t: TimeoutsConfig): PoolConfig {
  return {
    connectionTimeoutMillis: t.connectMs,
    idleTimeoutMillis: t.idleMs,
    keepAlive: t.keepaliveMs > 0,
    ...(t.keepaliveMs > 0 ? { keepAliveInitialDelayMillis: t.keepaliveMs } : {}),
    ...(t.idleMs > 0 ? { idle_in_transaction_session_timeout: t.idleMs } : {}),
    ...(t.statementMs > 0 ? { statement_timeout: t.statementMs } : {}),
  };
}

/** The parts of node-postgres's client that deadlines need (not in its types). */
interface ClientInternals {
  readonly connection?: { readonly stream?: Socket };
  readonly processID?: number | null;
  readonly connectionParameters?: object;
}

function internals(client: Client | PoolClient): ClientInternals {
  return client as unknown as ClientInternals;
}

/** The client's socket, once it has one. */
function socketOf(client: Client | PoolClient): Socket | undefined {
  return internals(client).connection?.stream;
}

/** Payload bytes of result rows: text lengths, 8 for a number, 1 for a null. */
export function postgresRowBytes(rows: readonly (readonly unknown[])[]): number {
  let n = 0;
  for (const row of rows) for (const v of row) n += typeof v === "string" ? v.length : v === null ? 1 : 8;
  return n;
}

export interface PostgresSessionOptions {
  /** Label used in error messages (`dataset.replica`). */
  readonly label: string;
  /** The server as messages name it (a URL without its password), or "". */
  readonly server: string;
  /** The quoted table, as messages name it. */
  readonly table: string;
  /** Attempts of a read that fails transiently, the first included. */
  readonly readAttempts: number;
  /** Deadlines of every call (default: DEFAULT_TIMEOUTS); only `connectMs` and `queryMs` are used here. */
  readonly timeouts?: TimeoutsConfig;
  /** The connector's row filter (config `where:`), checked on every connection as it reads literals. */
  readonly rowFilter?: string | undefined;
}

/**
 * Runs statements for one connector on the pool or client it was given. Every statement is counted in
 * `stats.queries`. Reads are retried on a fresh connection while they fail transiently; writes are the
 * caller's to run (inside `withClient`) and are never retried here.
 *
 * Deadlines: checking a connection out takes at most `timeouts.connectMs`; a statement may wait at most
 * `timeouts.queryMs` without a byte from the server, and when it has, the server is asked on a fresh
 * connection whether the statement's backend is still running it (an aggregate sends nothing until it is
 * done): if so the wait goes on, otherwise the connection is dropped and the statement fails with a
 * StoreTimeoutError, which is not retried.
 */
export class PostgresSession {
  /** Connections on which SESSION_SQL has run, and those given an 'error' listener. */
  private readonly prepared = new WeakSet<object>();
  private readonly listening = new WeakSet<object>();
  /** Connections checked out at least once and not yet ended: what `close` destroys when ending stalls. */
  private readonly clients = new Set<Client | PoolClient>();
  private readonly timeouts: TimeoutsConfig;
  /** One connection beside the pool, opened on first use (see `cursor`'s `spare`). */
  private sparePool: Pool | undefined;
  /** The spare's connection `warm` connects, set up (undefined until it is asked). */
  private warming: Promise<void> | undefined;

  constructor(
    readonly db: PostgresClient,
    private readonly stats: ConnectorStats,
    private readonly options: PostgresSessionOptions,
  ) {
    this.timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
    // The connector ends what it is given, so it owns its errors: a connection the server drops while
    // idle is reported by the next query, not as an unhandled 'error' event that ends the process.
    if (isPool(db)) db.on("error", () => undefined);
    else db.on("error", () => undefined);
  }

  /** A ConnectorError for `what` failing with `err`: labelled, one line, no credentials. */
  error(what: string, err: unknown): ConnectorError {
    return postgresError(this.options.label, what, err, {
      table: this.options.table,
      server: this.options.server,
    });
  }

  /**
   * One statement. `prepare` names it after its text, so each connection parses and plans the
   * statements of the per-range loops once (planning a split costs more than running it on 128 rows).
   */
  private async query(client: PoolClient | Client, text: string, values: unknown[], prepare = false) {
    this.stats.queries++;
    const name = prepare
      ? `concord_${createHash("sha1").update(text).digest("hex").slice(0, 24)}`
      : undefined;
    const result = await boundSilence(
      client.query<(string | null)[]>({
        text,
        values,
        rowMode: "array",
        types: TYPES,
        ...(name ? { name } : {}),
      }),
      {
        ms: this.timeouts.queryMs,
        socket: () => socketOf(client),
        stillWorking: () => this.stillRunning(client),
        // The statement's answer may still come: the connection is unusable from now on.
        onTimeout: () => socketOf(client)?.destroy(),
      },
    );
    // Several statements in one message (simple protocol) answer with one result each: the last one counts.
    const results = result as unknown as typeof result | (typeof result)[];
    return Array.isArray(results) ? (results.at(-1)?.rows ?? []) : result.rows;
  }

  /** A connection of the pool, within the connect deadline (one that connects later goes back at once). */
  private async checkout(pool: Pool): Promise<PoolClient> {
    const connecting = pool.connect();
    return boundTime(connecting, this.timeouts.connectMs, "connect", () => {
      connecting.then(
        (late) => late.release(true),
        () => undefined,
      );
    }).catch((err: unknown) => {
      throw connectFailed(err);
    });
  }

  /** Sets the session up on `client` the first time it is used (SESSION_SQL), listening for its errors. */
  private async prepare(client: Client): Promise<void> {
    if (this.prepared.has(client)) return;
    // A connection the server ends while it is checked out reports the end as an 'error' event after the
    // failed query: without a listener that event would end the process.
    if (!this.listening.has(client)) {
      client.on("error", () => undefined);
      this.clients.add(client);
      client.once("end", () => this.clients.delete(client));
    }
    this.listening.add(client);
    const [settings] = await this.query(client, SESSION_SQL, []);
    this.checkRowFilter(settings?.[0] ?? null);
    this.prepared.add(client);
  }

  /**
   * Refuses the row filter on a connection whose `standard_conforming_strings` is off (a server, role or
   * database default, or the URL's options) when the filter holds a backslash in a plain '…' literal: the
   * server would read it as an escape where the config's check did not, so the filter's quotes, parentheses
   * and comments could be other than checked (`predicateShapeError` with the setting). One line naming the
   * replica (`dataset.replica`); the connection is left unprepared, so every use of it refuses alike.
   */
  private checkRowFilter(standardConformingStrings: string | null): void {
    const { rowFilter, label } = this.options;
    if (rowFilter === undefined || standardConformingStrings !== "off") return;
    const why = predicateShapeError(rowFilter, "postgres", { standardConformingStrings: false });
    if (why) throw new ConnectorError(`${label ? `${label}: ` : ""}where: ${why}`);
  }

  /** Runs `fn` on one connection: checked out of the pool (and returned), or the client. */
  async withClient<R>(fn: (run: RunQuery) => Promise<R>): Promise<R> {
    const pooled = isPool(this.db) ? await this.checkout(this.db) : undefined;
    const client = pooled ?? (this.db as Client);
    let failure: Error | undefined;
    try {
      await this.prepare(client);
      return await fn((text, values, prepare) => this.query(client, text, values, prepare));
    } catch (err) {
      // A broken connection goes back to the pool to be discarded, not reused; so does one that timed out.
      if (isPostgresTransient(err) || isStoreTimeout(err))
        failure = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      pooled?.release(failure);
    }
  }

  /**
   * Whether the server is still running the statement in flight on `client`: asked on a connection of its
   * own (the pool may be full of stalled ones), within the connect and query deadlines. A backend waiting
   * to write to us (ClientWrite) is not working: the network between us is the problem.
   */
  private async stillRunning(client: Client | PoolClient): Promise<boolean> {
    const pid = internals(client).processID;
    if (!pid) return false;
    const params = (isPool(this.db) ? this.db.options : internals(this.db).connectionParameters) as {
      password?: unknown;
    };
    const check = new pg.Client({
      ...params,
      // Not enumerable in a client's connection parameters.
      password: params.password as string | undefined,
      connectionTimeoutMillis: this.timeouts.connectMs,
      application_name: "concord check",
      statement_timeout: undefined,
    });
    return postgresStillRunning(check, () => socketOf(check), pid, this.timeouts);
  }

  /**
   * Connects the spare's one connection now, in the background, set up (SESSION_SQL) and left idle: a
   * comparison that holds a cursor on it beside one of the pool (the in-PostgreSQL pair whose other replica
   * lends it none) then finds it ready instead of connecting on its critical path. The pool is not topped up:
   * checking out of a pool that holds an idle connection hands that one out and opens none, and the one
   * that described the table serves the run's other statements. A failure is left to the statement that
   * next needs the connection. Once per session: the connection stays in the spare's pool.
   */
  warm(): void {
    const spare = this.warming !== undefined ? undefined : this.spare();
    if (!spare) return;
    this.warming = this.checkout(spare).then(
      (client) =>
        this.prepare(client).then(
          () => client.release(),
          (err: unknown) => client.release(err instanceof Error ? err : new Error(String(err))),
        ),
      () => undefined,
    );
  }

  /** Resolves once the connection `warm` connects is set up (at once when it was never asked). */
  async warmed(): Promise<void> {
    await this.warming;
  }

  /**
   * The pool of one connection beside the main pool (undefined for a single client): a cursor on it never
   * waits for, nor holds, a connection the main pool's other statements need.
   */
  private spare(): Pool | undefined {
    if (!isPool(this.db)) return undefined;
    if (!this.sparePool) {
      const options = this.db.options as PoolConfig;
      // The password is not enumerable in a pool's options (see stillRunning).
      this.sparePool = new pg.Pool({ ...options, password: options.password, max: 1 });
      this.sparePool.on("error", () => undefined);
    }
    return this.sparePool;
  }

  /**
   * Ends the pool or client: connections close politely when the server answers, and are destroyed when it
   * does not within the connect deadline (a stalled server never acknowledges the goodbye).
   */
  async close(): Promise<void> {
    const ending = Promise.all([this.db.end(), this.sparePool?.end()]);
    await boundTime(ending, this.timeouts.connectMs, "connect", () => {
      for (const c of this.clients) socketOf(c)?.destroy();
      if (!isPool(this.db)) socketOf(this.db)?.destroy();
      ending.catch(() => undefined);
    }).catch(() => undefined);
    // The goodbyes are written (a write still pending keeps the process alive on its own); each socket then
    // stays open until the server's backend has exited, tens of milliseconds on a busy server, which a
    // process that is done would otherwise wait for before exiting. Nothing more is read from them.
    for (const c of this.clients) socketOf(c)?.unref();
    if (!isPool(this.db)) socketOf(this.db)?.unref();
  }

  /** True when a second statement can run beside a held connection: a pool of at least two connections. */
  get concurrent(): boolean {
    return isPool(this.db) && (this.db.options.max ?? 10) >= 2;
  }

  /**
   * Where the connections go, as the driver resolves its configuration (defaults and PG* variables
   * included): host (or socket directory), port, database and user. Never the password.
   */
  target(): { host: string; port: string; database: string; user: string } {
    const params = (isPool(this.db) ? internals(new pg.Client(this.db.options)) : internals(this.db))
      .connectionParameters as
      | { host?: unknown; port?: unknown; database?: unknown; user?: unknown }
      | undefined;
    return {
      host: String(params?.host ?? ""),
      port: String(params?.port ?? ""),
      database: String(params?.database ?? ""),
      user: String(params?.user ?? ""),
    };
  }

  /**
   * The rows of one read-only statement in batches of at most `batchSize`, through a cursor on one connection
   * held (in a transaction) until the last batch is read or the caller stops: memory is bounded by the batch.
   * Not retried: a failure part way could not be resumed without repeating batches already yielded. With
   * `spare`, the cursor runs on the session's one connection beside the pool: a second cursor held open
   * while the caller reads the first (and fetches records through the pool) never leaves those reads waiting.
   */
  async *cursor(
    what: string,
    text: string,
    values: unknown[],
    batchSize: number,
    options: { readonly spare?: boolean } = {},
  ): AsyncIterable<(string | null)[][]> {
    const pool = isPool(this.db) ? ((options.spare ? this.spare() : undefined) ?? this.db) : undefined;
    const pooled = pool
      ? await this.checkout(pool).catch((err: unknown) => {
          throw this.error(what, err);
        })
      : undefined;
    const client = pooled ?? (this.db as Client);
    let failure: Error | undefined;
    let open = false;
    try {
      const fetch = `FETCH FORWARD ${Math.max(1, Math.floor(batchSize))} FROM concord_cursor`;
      const declare = `DECLARE concord_cursor NO SCROLL CURSOR FOR ${text}`;
      // A statement without parameters opens with its transaction and first fetch in one message: one round
      // trip instead of three (a remote store pays each).
      let first: (string | null)[][] | undefined;
      try {
        await this.prepare(client);
        open = true;
        if (values.length === 0) first = await this.query(client, `BEGIN; ${declare}; ${fetch}`, []);
        else {
          await this.query(client, "BEGIN", []);
          await this.query(client, declare, values);
        }
      } catch (err) {
        throw this.error(what, err);
      }
      for (;;) {
        let rows: (string | null)[][];
        try {
          rows = first ?? (await this.query(client, fetch, []));
          first = undefined;
        } catch (err) {
          throw this.error(what, err);
        }
        if (rows.length === 0) break;
        yield rows;
        if (rows.length < batchSize) break;
      }
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      // Ending the transaction closes the cursor; a pooled connection that failed is discarded instead.
      if (open && (!failure || !pooled)) await this.query(client, "ROLLBACK", []).catch(() => undefined);
      pooled?.release(failure);
    }
  }

  /** A read: retried with backoff (100 ms, 400 ms, …) while it fails transiently; errors become ConnectorErrors. */
  async read<R>(what: string, fn: (run: RunQuery) => Promise<R>): Promise<R> {
    const attempts = Math.max(1, this.options.readAttempts);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.withClient(fn);
      } catch (err) {
        if (attempt >= attempts || !isPostgresTransient(err)) throw this.error(what, err);
        await delay(100 * 4 ** (attempt - 1));
      }
    }
  }
}
