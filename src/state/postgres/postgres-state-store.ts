/** PostgreSQL state store, shared by several Concord processes on several hosts. Only state/postgres imports the driver for state. */
import type { Pool } from "pg";
import { redactUrl } from "../../config/redact.js";
import { DEFAULT_TIMEOUTS, type TimeoutsConfig } from "../../config/timeouts.js";
import { ComposedStateStore } from "../composed-state-store.js";
import type { StateStoreParts } from "../state-store.js";
import { StateStoreError } from "../state-store-error.js";
import { pg } from "./node-postgres.js";
import { PostgresAuditLog } from "./postgres-audit-log.js";
import { PostgresChangeLogStore } from "./postgres-change-log-store.js";
import { PostgresCheckpointStore } from "./postgres-checkpoint-store.js";
import { PostgresDivergenceStore } from "./postgres-divergence-store.js";
import { PostgresDivergentKeys } from "./postgres-divergent-keys.js";
import { PostgresEscalationStore } from "./postgres-escalation-store.js";
import { PostgresEvidenceStore } from "./postgres-evidence-store.js";
import { PostgresFeedPositionStore } from "./postgres-feed-position-store.js";
import { PostgresLeaseStore } from "./postgres-lease-store.js";
import { PostgresPolicyRegistry } from "./postgres-policy-registry.js";
import { PostgresRepairLedger } from "./postgres-repair-ledger.js";
import { PostgresRolloutStore } from "./postgres-rollout-store.js";
import { PostgresRunStore } from "./postgres-run-store.js";
import { PostgresSampleStore } from "./postgres-sample-store.js";
import { PostgresSegmentStore } from "./postgres-segment-store.js";
import { PostgresSegmentSummaryStore } from "./postgres-segment-summary-store.js";
import { PostgresSegmentTreeStore } from "./postgres-segment-tree-store.js";
import { describeError, splitSchema } from "./postgres-sql.js";
import { PostgresStageWriter } from "./postgres-stage-writer.js";
import { PostgresStateDb } from "./postgres-state-db.js";
import { PostgresVersionMemory } from "./postgres-version-memory.js";

/** The schema used when neither the URL (`?schema=`) nor the options name one. */
export const DEFAULT_POSTGRES_SCHEMA = "concord";

export interface PostgresStateStoreOptions {
  /** The schema that holds the tables, created on first use (default "concord"). */
  readonly schema?: string;
  /** How error messages name the store, e.g. its URL with the password redacted. */
  readonly label?: string;
  /** End the pool in `close` (the store created it). By default the pool is the caller's to end. */
  readonly endPoolOnClose?: boolean;
  /**
   * Deadlines on every statement (`connect`, `query`; default DEFAULT_TIMEOUTS): a state store that stops
   * answering fails the call with a StateStoreError naming it, never hangs it.
   */
  readonly timeouts?: TimeoutsConfig;
}

/**
 * A StateStore in one PostgreSQL schema, for teams that run several Concord processes against one database.
 * Behaves as SqliteStateStore does. Tables are created (and upgraded) on first use (migratePostgresState).
 * Appends to the audit log are serialised by a transaction-scoped advisory lock per schema, taken before the
 * last entry is read, so any number of processes extend one chain with consecutive seqs. Multi-row writes to
 * the other tables take a lock per table (versions and divergent keys: per dataset), as SQLite has one
 * writer, so that concurrent upserts neither deadlock nor lose a comparison.
 */
export class PostgresStateStore extends ComposedStateStore {
  /** The schema holding the tables. */
  readonly schema: string;
  private readonly db: PostgresStateDb;
  private closed = false;

  /** A store over `pool`. Nothing is sent until the first call (or `ready`), which creates the tables. */
  constructor(
    readonly pool: Pool,
    private readonly options: PostgresStateStoreOptions = {},
  ) {
    const schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    const label = options.label ?? `postgres schema "${schema}"`;
    if (schema === "" || Buffer.byteLength(schema) > 63)
      throw new StateStoreError(`state ${label}: schema must be 1 to 63 bytes long`);
    const db = new PostgresStateDb(pool, schema, label, options.timeouts);
    super(postgresParts(db));
    this.schema = schema;
    this.db = db;
  }

  /**
   * Opens `postgres://…` or `postgresql://…` (node-postgres connection string; `?schema=NAME` picks the
   * schema) with a pool of its own, and creates or upgrades the tables. Throws a one-line StateStoreError
   * naming the URL, password redacted, when the server cannot be reached or the tables cannot be created.
   * `timeouts` bound every statement (the config file's top-level `timeouts`).
   */
  static async open(url: string, timeouts: TimeoutsConfig = DEFAULT_TIMEOUTS): Promise<PostgresStateStore> {
    const store = PostgresStateStore.over(url, timeouts);
    return store.opening(async () => {
      await store.ready();
      return store;
    });
  }

  /**
   * Opens the store `url` names as `open` does, only if it holds an audit log: otherwise creates nothing and
   * returns why not (its schema or its audit table does not exist). A command that only
   * reads the log (audit verify) must not report a store it just created as an intact, empty log. The check
   * runs on the store's own pool, so the connection it opens is the one the store goes on to use.
   */
  static async openExisting(
    url: string,
    timeouts: TimeoutsConfig = DEFAULT_TIMEOUTS,
  ): Promise<PostgresStateStore | { readonly missing: string }> {
    const store = PostgresStateStore.over(url, timeouts);
    return store.opening(async () => {
      const missing = await store.missingLog();
      if (missing !== undefined) {
        await store.close();
        return { missing };
      }
      await store.ready();
      return store;
    });
  }

  /** `open()`'s result, or its failure as one StateStoreError naming the store, with the pool closed. */
  private async opening<T>(open: () => Promise<T>): Promise<T> {
    try {
      return await open();
    } catch (err) {
      await this.close().catch(() => {});
      throw err instanceof StateStoreError
        ? err
        : new StateStoreError(`state ${this.db.label}: ${describeError(err)}`);
    }
  }

  /** A store over a pool of its own for `url` (ended by `close`); nothing is sent yet. */
  private static over(url: string, timeouts: TimeoutsConfig): PostgresStateStore {
    const label = redactUrl(url);
    const { connectionString, schema = DEFAULT_POSTGRES_SCHEMA } = splitSchema(url);
    const pool = new pg.Pool({
      connectionString,
      application_name: "concord",
      connectionTimeoutMillis: timeouts.connectMs,
      idleTimeoutMillis: timeouts.idleMs,
      keepAlive: timeouts.keepaliveMs > 0,
      ...(timeouts.keepaliveMs > 0 ? { keepAliveInitialDelayMillis: timeouts.keepaliveMs } : {}),
      // A process cut off mid-transaction never holds the ledger's or the audit's lock longer than this.
      ...(timeouts.idleMs > 0 ? { idle_in_transaction_session_timeout: timeouts.idleMs } : {}),
    });
    // An idle connection the server drops emits "error" on the pool; unheard, that would crash the process.
    // The next query gets a fresh connection or reports the failure itself.
    pool.on("error", () => {});
    try {
      return new PostgresStateStore(pool, { schema, label, endPoolOnClose: true, timeouts });
    } catch (err) {
      void pool.end().catch(() => {});
      throw err;
    }
  }

  /** Why this store holds no audit log (its schema or its audit table does not exist), or undefined. Creates nothing. */
  private async missingLog(): Promise<string | undefined> {
    const { rows } = await this.db.connections.query<{ schema: boolean; audit: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS schema,
              to_regclass(format('%I.audit', $1::text)) IS NOT NULL AS audit`,
      [this.schema],
    );
    const found = rows[0];
    if (found?.audit) return undefined;
    return found?.schema
      ? `the state schema "${this.schema}" of ${this.db.label} has no audit table`
      : `the state schema "${this.schema}" of ${this.db.label} does not exist`;
  }

  /** Creates or upgrades the tables once; every method awaits it. A failure is retried on the next call. */
  ready(): Promise<void> {
    return this.db.ready();
  }

  /** Ends the pool if the store created it (`open`); a pool passed in stays open for its owner. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.options.endPoolOnClose) await this.db.connections.end();
  }
}

function postgresParts(db: PostgresStateDb): StateStoreParts {
  const audit = new PostgresAuditLog(db);
  const divergences = new PostgresDivergenceStore(db);
  const versions = new PostgresVersionMemory(db);
  const divergentKeys = new PostgresDivergentKeys(db);
  const evidence = new PostgresEvidenceStore(db);
  return {
    runs: new PostgresRunStore(db),
    divergences,
    versions,
    ledger: new PostgresRepairLedger(db, audit),
    escalations: new PostgresEscalationStore(db),
    audit,
    checkpoints: new PostgresCheckpointStore(db),
    samples: new PostgresSampleStore(db),
    divergentKeys,
    leases: new PostgresLeaseStore(db),
    feedPositions: new PostgresFeedPositionStore(db),
    segmentSummaries: new PostgresSegmentSummaryStore(db),
    segmentTrees: new PostgresSegmentTreeStore(db),
    policies: new PostgresPolicyRegistry(db, audit),
    segments: new PostgresSegmentStore(db),
    rollouts: new PostgresRolloutStore(db),
    evidence,
    changeLog: new PostgresChangeLogStore(db),
    stages: new PostgresStageWriter(db, { versions, divergences, audit, evidence, divergentKeys }),
  };
}
