/**
 * Deadlines on the PostgreSQL state store, as on the replicas (docs/ARCHITECTURE.md "Deadlines"): checking
 * a connection out takes at most `timeouts.connect`, a statement may wait at most `timeouts.query` without a
 * byte from the server unless the server says its backend is still running it (a wait on another process's
 * advisory lock counts as running). A statement that times out drops its connection and fails with a
 * StateStoreError naming the store, so a stalled state store ends the command, never hangs it.
 */
import { createHash } from "node:crypto";
import type { Socket } from "node:net";
import type { Client, ClientConfig, Pool, PoolClient, QueryResult, QueryResultRow } from "pg";
import { DEFAULT_TIMEOUTS, type TimeoutsConfig } from "../../config/timeouts.js";
import { boundSilence, boundTime, isStoreTimeout } from "../../deadlines/bound-silence.js";
import { postgresStillRunning } from "../../deadlines/postgres-still-running.js";
import { StateStoreError } from "../state-store-error.js";
import { pg } from "./node-postgres.js";

/** What the state ports send statements through: one connection, every statement bounded. */
export interface StateClient {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: readonly unknown[],
  ): Promise<QueryResult<R>>;
}

/** A connection checked out of the pool, bounded, and how to give it back. */
export interface CheckedOut {
  readonly client: StateClient;
  /** Returns the connection; with an error (a timeout, a broken connection) it is discarded. */
  release(err?: Error): void;
}

/** The parts of node-postgres's client that deadlines need (not in its types). */
interface ClientInternals {
  readonly connection?: { readonly stream?: Socket };
  readonly processID?: number | null;
}

function socketOf(client: PoolClient | Client): Socket | undefined {
  return (client as unknown as ClientInternals).connection?.stream;
}

/** Messages of node-postgres and Node for a connection that is gone (not a statement the server refused). */
const CONNECTION_LOST =
  /Connection terminated|Client has encountered a connection error|ECONNRESET|ECONNREFUSED|EPIPE|socket hang up/;

/**
 * SQLSTATEs of a connection the server ended under a statement: a connection exception (class 08), or the
 * server shutting down, restarting or terminating the backend (57P01 admin_shutdown, also what
 * pg_terminate_backend sends; 57P02 crash_shutdown; 57P03 cannot_connect_now).
 */
const ENDED_BY_SERVER = /^(08|57P0[123]$)/;

/** The SQLSTATE a node-postgres error carries, or "". */
function sqlState(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : "";
}

/**
 * Statements a connection keeps prepared (parsed and planned once, then only bound and run): the state ports'
 * statements are a few dozen fixed texts per schema, so the cap is a bound on a server's memory for a text
 * built from varying input, not a cache size. Past it a connection's new statements are sent unnamed.
 */
const PREPARED_PER_CONNECTION = 256;

/** A prepared statement's name: its text's digest (the same text prepares once per connection). */
function statementName(text: string): string {
  return `concord_state_${createHash("sha1").update(text).digest("hex").slice(0, 24)}`;
}

/**
 * PostgreSQL refusing a prepared statement whose tables' columns changed since it was prepared (another
 * process upgraded the schema): the connection's statement stays stale, so the connection is dropped.
 */
function isStalePlan(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "0A000" && /cached plan/.test(String(err));
}

/** Checks connections out of `pool` within the deadlines and bounds every statement sent on them. */
export class PostgresStateConnections {
  /** Connections given an 'error' listener. */
  private readonly listening = new WeakSet<object>();
  /** The statements each connection has prepared, by name. */
  private readonly prepared = new WeakMap<object, Set<string>>();

  constructor(
    readonly pool: Pool,
    private readonly label: string,
    private readonly timeouts: TimeoutsConfig = DEFAULT_TIMEOUTS,
  ) {}

  /** A pooled connection within `timeouts.connect` (one that connects later goes back at once). */
  async checkout(): Promise<CheckedOut> {
    const connecting = this.pool.connect();
    const raw = await boundTime(connecting, this.timeouts.connectMs, "connect", () => {
      connecting.then(
        (late) => late.release(true),
        () => undefined,
      );
    }).catch((err: unknown) => {
      throw this.wrap(err);
    });
    // Checked out, a connection has no listener of the pool's: the 'error' event of one dropped on a
    // timeout (or by the server) would end the process. The failed statement reports it instead.
    if (!this.listening.has(raw)) {
      raw.on("error", () => undefined);
      this.listening.add(raw);
    }
    let released = false;
    const client: StateClient = {
      query: (text, values) => this.bounded(raw, text, values),
    };
    return {
      client,
      release: (err) => {
        if (released) return;
        released = true;
        raw.release(err);
      },
    };
  }

  /** One statement on a connection of its own, given back (or discarded when it broke). */
  async query<R extends QueryResultRow>(
    text: string,
    values: readonly unknown[] = [],
  ): Promise<QueryResult<R>> {
    const { client, release } = await this.checkout();
    try {
      const result = await client.query<R>(text, values);
      release();
      return result;
    } catch (err) {
      release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  /**
   * Ends the pool: connections close politely when the server answers, and are destroyed when it does not
   * within `timeouts.connect` (a stalled server never acknowledges the goodbye, and an open socket would keep
   * the process alive).
   */
  async end(): Promise<void> {
    const ending = this.pool.end();
    await boundTime(ending, this.timeouts.connectMs, "connect", () => {
      const clients = (this.pool as unknown as { _clients?: PoolClient[] })._clients ?? [];
      for (const c of clients) socketOf(c)?.destroy();
      ending.catch(() => undefined);
    }).catch(() => undefined);
  }

  /**
   * A StateStoreError naming the store for a deadline or a connection the server (or the network) dropped;
   * other errors (a statement the server refused) as they are.
   */
  wrap(err: unknown): unknown {
    if (isStoreTimeout(err)) return new StateStoreError(`state ${this.label}: ${(err as Error).message}`);
    if (err instanceof Error && (CONNECTION_LOST.test(err.message) || ENDED_BY_SERVER.test(sqlState(err))))
      return new StateStoreError(`state ${this.label}: connection lost: ${err.message}`);
    return err;
  }

  private async bounded<R extends QueryResultRow>(
    raw: PoolClient,
    text: string,
    values: readonly unknown[] | undefined,
  ): Promise<QueryResult<R>> {
    // A statement with parameters is prepared once per connection: the state ports send the same few dozen
    // texts for every segment, each parsed and planned anew when sent unnamed. Statements without parameters
    // (transaction control, DDL) go as simple queries.
    let name: string | undefined;
    if (values?.length) {
      const names = this.prepared.get(raw) ?? new Set<string>();
      this.prepared.set(raw, names);
      const candidate = statementName(text);
      if (names.has(candidate) || names.size < PREPARED_PER_CONNECTION) {
        names.add(candidate);
        name = candidate;
      }
    }
    try {
      const sent = name
        ? raw.query<R>({ text, values: values as unknown[], name })
        : raw.query<R>(text, values as unknown[] | undefined);
      return await boundSilence(sent, {
        ms: this.timeouts.queryMs,
        socket: () => socketOf(raw),
        stillWorking: () => this.stillRunning(raw),
        // The answer may still come: the connection is unusable from now on.
        onTimeout: () => socketOf(raw)?.destroy(),
      });
    } catch (err) {
      if (name && isStalePlan(err)) socketOf(raw)?.destroy();
      throw this.wrap(err);
    }
  }

  /**
   * Whether the server is still running the statement in flight on `raw` (waiting on a lock included):
   * asked on a connection of its own, within the deadlines. A backend waiting to write to us is not working.
   */
  private async stillRunning(raw: PoolClient): Promise<boolean> {
    const pid = (raw as unknown as ClientInternals).processID;
    if (!pid) return false;
    const options = this.pool.options as ClientConfig & { password?: unknown };
    const check = new pg.Client({
      ...options,
      password: options.password as string | undefined,
      connectionTimeoutMillis: this.timeouts.connectMs,
      application_name: "concord check",
    });
    return postgresStillRunning(check, () => socketOf(check), pid, this.timeouts);
  }
}
