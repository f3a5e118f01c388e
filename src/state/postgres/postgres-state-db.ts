/** The pool, schema and transactions every PostgreSQL state port shares. Only state/postgres imports the driver for state. */
import type { Pool, QueryResult, QueryResultRow } from "pg";
import type { TimeoutsConfig } from "../../config/timeouts.js";
import { StateStoreError } from "../state-store-error.js";
import { migratePostgresState } from "./migrate-postgres-state.js";
import { pg } from "./node-postgres.js";
import { chunks, describeError, isRetryable } from "./postgres-sql.js";
import { PostgresStateConnections, type StateClient } from "./postgres-state-connection.js";

/** Rows per statement of a batch write: each sends its rows as one JSON parameter, so a batch is one round trip. */
export const BATCH_ROWS = 5000;
/** Tries of a transaction that PostgreSQL aborted as a deadlock victim or a serialization failure. */
const TRANSACTION_TRIES = 5;

/** The state tables, by role. */
type Table =
  | "runs"
  | "divergences"
  | "versions"
  | "ledger"
  | "escalations"
  | "audit"
  | "checkpoints"
  | "samples"
  | "divergentKeys"
  | "leases"
  | "feedPositions"
  | "segmentSummaries"
  | "dirtySegments"
  | "dirtyKeys"
  | "policies"
  | "currentPolicy"
  | "segments"
  | "rollouts"
  | "evidence"
  | "changeLog"
  | "changeLogHeads"
  | "replayCursors"
  | "segmentTreeNodes"
  | "segmentTrees";

/**
 * One schema of state tables over a pool. Nothing is sent until the first call, which creates or upgrades
 * the tables (`ready`). Multi-row writes take a transaction-scoped advisory lock per table (`lock`), as
 * SQLite has one writer, so that concurrent upserts neither deadlock nor lose a comparison.
 */
export class PostgresStateDb {
  /** Each table's schema-qualified, quoted name. */
  readonly t: Readonly<Record<Table, string>>;
  /** Connections within the deadlines (`timeouts.connect`, `timeouts.query`). */
  readonly connections: PostgresStateConnections;
  private migrated: Promise<void> | undefined;

  constructor(
    readonly pool: Pool,
    readonly schema: string,
    /** How error messages name the store, e.g. its URL with the password redacted. */
    readonly label: string,
    timeouts?: TimeoutsConfig,
  ) {
    this.connections = new PostgresStateConnections(pool, label, timeouts);
    const s = pg.escapeIdentifier(schema);
    this.t = {
      runs: `${s}.runs`,
      divergences: `${s}.divergences`,
      versions: `${s}.observed_versions`,
      ledger: `${s}.ledger`,
      escalations: `${s}.escalations`,
      audit: `${s}.audit`,
      checkpoints: `${s}.checkpoints`,
      samples: `${s}.samples`,
      divergentKeys: `${s}.divergent_keys`,
      leases: `${s}.leases`,
      feedPositions: `${s}.feed_positions`,
      segmentSummaries: `${s}.segment_summaries`,
      dirtySegments: `${s}.dirty_segments`,
      dirtyKeys: `${s}.dirty_keys`,
      policies: `${s}.policy_versions`,
      currentPolicy: `${s}.policy_current`,
      segments: `${s}.run_segments`,
      rollouts: `${s}.rollouts`,
      evidence: `${s}.evidence`,
      changeLog: `${s}.change_log`,
      changeLogHeads: `${s}.change_log_heads`,
      replayCursors: `${s}.replay_cursors`,
      segmentTreeNodes: `${s}.segment_tree_nodes`,
      segmentTrees: `${s}.segment_trees`,
    };
  }

  /** Creates or upgrades the tables once; every statement awaits it. A failure is retried on the next call. */
  ready(): Promise<void> {
    this.migrated ??= migratePostgresState(this.connections, this.schema).catch((err: unknown) => {
      this.migrated = undefined;
      // A deadline or a lost connection is already a StateStoreError naming the store.
      throw err instanceof StateStoreError
        ? err
        : new StateStoreError(`state ${this.label}: ${describeError(err)}`);
    });
    return this.migrated;
  }

  /** One statement on any pooled connection, once the tables exist; returns its rows. */
  async query<R>(text: string, values: readonly unknown[] = []): Promise<R[]> {
    await this.ready();
    const result = await this.connections.query(text, values);
    return result.rows as R[];
  }

  /** One statement on any pooled connection, once the tables exist; returns how many rows it changed. */
  async execute(text: string, values: readonly unknown[] = []): Promise<number> {
    await this.ready();
    const result = await this.connections.query(text, values);
    return result.rowCount ?? 0;
  }

  /**
   * Runs `work` in one READ COMMITTED transaction (set explicitly: the locking relies on it whatever the
   * server's default). A transaction PostgreSQL aborts as a deadlock victim or a serialization failure is
   * run again from the start.
   */
  async transaction<T>(work: (client: StateClient) => Promise<T>): Promise<T> {
    await this.ready();
    for (let attempt = 1; ; attempt++) {
      const { client, release } = await this.connections.checkout();
      const tx = new TransactionClient(client);
      let broken: Error | undefined;
      try {
        const result = await work(tx);
        if (tx.begun) await client.query("COMMIT");
        return result;
      } catch (err) {
        broken = tx.begun
          ? await client.query("ROLLBACK").then(
              () => undefined,
              (rollbackErr: Error) => rollbackErr,
            )
          : undefined;
        if (attempt < TRANSACTION_TRIES && !broken && isRetryable(err)) continue;
        throw err;
      } finally {
        release(broken);
      }
    }
  }

  /**
   * Writes `rows` in statements of at most BATCH_ROWS, all in one transaction holding the lock `name`.
   * Multi-row upserts keep the order given (it becomes the listing order), so two of them touching the same
   * keys in different orders would deadlock; one writer per table at a time, as in SQLite, rules that out.
   */
  async writeBatches<R>(
    name: string,
    rows: readonly R[],
    write: (client: StateClient, batch: readonly R[]) => Promise<unknown>,
  ): Promise<void> {
    if (rows.length === 0) return;
    await this.transaction(async (c) => {
      await this.lock(c, name);
      for (const batch of chunks(rows, BATCH_ROWS)) await write(c, batch);
    });
  }

  /**
   * Takes this schema's transaction-scoped advisory locks `names` (one statement), released at commit or
   * rollback. Taken in a statement of its own before the rows they guard are read: under READ COMMITTED each
   * later statement then sees what the previous holder committed.
   */
  async lock(client: StateClient, ...names: string[]): Promise<void> {
    // Several locks in one statement, taken in sorted order: two transactions taking overlapping sets this way
    // cannot wait on each other in a cycle.
    const sorted = [...new Set(names)].sort().map((name) => `concord:${this.schema}:${name}`);
    if (sorted.length === 0) return;
    // First in its transaction: sent with the BEGIN, in one message (a statement of its own all the same).
    if (client instanceof TransactionClient && !client.begun) {
      const locks = sorted.map((n) => `pg_advisory_xact_lock(hashtextextended(${pg.escapeLiteral(n)}, 0))`);
      await client.begin(`SELECT ${locks.join(", ")}`);
      return;
    }
    await client.query(
      `SELECT ${sorted.map((_, i) => `pg_advisory_xact_lock(hashtextextended($${i + 1}, 0))`).join(", ")}`,
      sorted,
    );
  }

  /**
   * Takes the lock `name` (as `lock`) and runs `statement` after it in the same message (with the BEGIN too
   * when the transaction has not begun): one round trip instead of two. `statement` has no parameters and is
   * a statement of its own all the same, so under READ COMMITTED its snapshot is taken once the lock is held
   * and it sees what the lock's previous holder committed. Returns `statement`'s result.
   */
  async lockThen<R extends QueryResultRow>(
    client: StateClient,
    name: string,
    statement: string,
  ): Promise<QueryResult<R>> {
    const lock = `SELECT pg_advisory_xact_lock(hashtextextended(${pg.escapeLiteral(`concord:${this.schema}:${name}`)}, 0))`;
    const text = `${lock}; ${statement}`;
    const sent =
      client instanceof TransactionClient && !client.begun
        ? await client.begin(text)
        : await client.query(text);
    // Several statements in one message: node-postgres answers with one result per statement.
    const results = sent as QueryResult | QueryResult[];
    return (Array.isArray(results) ? results[results.length - 1] : results) as QueryResult<R>;
  }
}

/** How every state transaction begins: READ COMMITTED set explicitly (the locking relies on it). */
const BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED";

/**
 * A transaction's connection. BEGIN is sent with its first statement: with the transaction's locks in one
 * message when those come first (`PostgresStateDb.lock`), else just before that statement. A transaction
 * that sends nothing sends no BEGIN (and no COMMIT).
 */
class TransactionClient implements StateClient {
  begun = false;

  constructor(private readonly client: StateClient) {}

  async query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: readonly unknown[],
  ): Promise<QueryResult<R>> {
    if (!this.begun) await this.begin();
    return this.client.query<R>(text, values);
  }

  /**
   * Sends BEGIN, followed in the same message by `statement` (which has no parameters, and may be several)
   * when given; returns what the message's statements returned.
   */
  async begin(statement?: string): Promise<QueryResult | QueryResult[]> {
    this.begun = true;
    return this.client.query(statement ? `${BEGIN}; ${statement}` : BEGIN);
  }
}
