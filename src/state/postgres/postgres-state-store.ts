/** PostgreSQL state store, shared by several Concord processes. Only state/postgres imports the driver for state. */
import { escapeIdentifier, Pool, type PoolClient } from "pg";
import { redactUrl } from "../../config/redact.js";
import {
  type AuditEntry,
  type AuditEntryContent,
  GENESIS_HASH,
  hashAuditEntry,
} from "../../core/audit-chain.js";
import { type Key, keyId } from "../../core/model.js";
import { compareVersions, type Version } from "../../core/version.js";
import { type PreparedAudit, prepareAudit, storedEntry, storedText } from "../prepared-audit.js";
import {
  type Checkpoint,
  type Escalation,
  EscalationNotOpenError,
  type LedgerEntry,
  type ObservedVersion,
  type RepairOutcome,
  type RepairSettlement,
  type RunRecord,
  type Sample,
  type StateStore,
  type StoredDivergence,
} from "../state-store.js";
import { StateStoreError } from "../state-store-error.js";
import { migratePostgresState } from "./migrate-postgres-state.js";
import {
  AUDIT_COLUMNS,
  type AuditInsert,
  type AuditRow,
  type CheckpointRow,
  DIVERGENCE_COLUMNS,
  type DivergenceRow,
  ESCALATION_COLUMNS,
  type EscalationRow,
  LEDGER_COLUMNS,
  type LedgerRow,
  type RunRow,
  SAMPLE_COLUMNS,
  SETTLEMENT_COLUMNS,
  type TakenRow,
  takenInOrder,
  toAuditEntry,
  toCheckpoint,
  toDivergence,
  toEscalation,
  toLedgerEntry,
  toRun,
  VERSION_COLUMNS,
} from "./postgres-rows.js";
import {
  chunks,
  columnNames,
  conditions,
  describeError,
  isRetryable,
  jsonText,
  noLimitIfNegative,
  recordset,
  recordsetJson,
  splitSchema,
  textListJson,
} from "./postgres-sql.js";

/** The schema used when neither the URL (`?schema=`) nor the options name one. */
export const DEFAULT_POSTGRES_SCHEMA = "concord";

/** Rows per INSERT: each statement sends its rows as one JSON parameter, so a batch is one round trip. */
const BATCH_ROWS = 5000;
/** Entries per query when streaming the audit log. */
const AUDIT_BATCH = 1000;
/** Tries of a transaction that PostgreSQL aborted as a deadlock victim or a serialization failure. */
const TRANSACTION_TRIES = 5;

export interface PostgresStateStoreOptions {
  /** The schema that holds the tables, created on first use (default "concord"). */
  readonly schema?: string;
  /** How error messages name the store, e.g. its URL with the password redacted. */
  readonly label?: string;
  /** End the pool in `close` (the store created it). By default the pool is the caller's to end. */
  readonly endPoolOnClose?: boolean;
}

/**
 * A StateStore in one PostgreSQL schema, for teams that run several Concord processes against one database.
 * Behaves as SqliteStateStore does. Tables are created (and upgraded) on first use. Appends to the audit log
 * are serialised by a transaction-scoped advisory lock per schema, taken before the last entry is read, so
 * any number of processes extend one chain with consecutive seqs; the primary key on seq turns any writer
 * that bypasses the lock into a failed transaction rather than a forked chain. Multi-row writes to the other
 * tables take a lock per table (versions: per dataset), as SQLite has one writer, so that concurrent
 * upserts neither deadlock nor lose a "keep the highest" comparison.
 */
export class PostgresStateStore implements StateStore {
  /** The schema holding the tables. */
  readonly schema: string;
  private readonly label: string;
  private readonly t: Readonly<
    Record<
      | "runs"
      | "divergences"
      | "versions"
      | "ledger"
      | "escalations"
      | "audit"
      | "checkpoints"
      | "samples"
      | "divergentKeys",
      string
    >
  >;
  private migrated: Promise<void> | undefined;
  private closed = false;

  /** A store over `pool`. Nothing is sent until the first call (or `ready`), which creates the tables. */
  constructor(
    readonly pool: Pool,
    private readonly options: PostgresStateStoreOptions = {},
  ) {
    this.schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    this.label = options.label ?? `postgres schema "${this.schema}"`;
    if (this.schema === "" || Buffer.byteLength(this.schema) > 63)
      throw new StateStoreError(`state ${this.label}: schema must be 1 to 63 bytes long`);
    const s = escapeIdentifier(this.schema);
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
    };
  }

  /**
   * Opens `postgres://…` or `postgresql://…` (node-postgres connection string; `?schema=NAME` picks the
   * schema) with a pool of its own, and creates or upgrades the tables. Throws a one-line StateStoreError
   * naming the URL, password redacted, when the server cannot be reached or the tables cannot be created.
   */
  static async open(url: string): Promise<PostgresStateStore> {
    const label = redactUrl(url);
    const { connectionString, schema = DEFAULT_POSTGRES_SCHEMA } = splitSchema(url);
    const pool = new Pool({ connectionString, application_name: "concord", connectionTimeoutMillis: 10_000 });
    // An idle connection the server drops emits "error" on the pool; unheard, that would crash the process.
    // The next query gets a fresh connection or reports the failure itself.
    pool.on("error", () => {});
    try {
      const store = new PostgresStateStore(pool, { schema, label, endPoolOnClose: true });
      await store.ready();
      return store;
    } catch (err) {
      await pool.end().catch(() => {});
      throw err instanceof StateStoreError
        ? err
        : new StateStoreError(`state ${label}: ${describeError(err)}`);
    }
  }

  /** Creates or upgrades the tables once; every method awaits it. A failure is retried on the next call. */
  ready(): Promise<void> {
    this.migrated ??= migratePostgresState(this.pool, this.schema).catch((err: unknown) => {
      this.migrated = undefined;
      throw new StateStoreError(`state ${this.label}: ${describeError(err)}`);
    });
    return this.migrated;
  }

  async beginRun(run: { id: string; dataset: string; command: string; startedAt: number }): Promise<void> {
    await this.query(
      `INSERT INTO ${this.t.runs} (id, dataset, command, started_at, status) VALUES ($1, $2, $3, $4, 'running')`,
      [run.id, run.dataset, run.command, run.startedAt],
    );
  }

  async finishRun(
    id: string,
    dataset: string,
    result: {
      finishedAt: number;
      status: RunRecord["status"];
      counts: Record<string, number>;
      stats: Record<string, number>;
    },
  ): Promise<void> {
    await this.query(
      `UPDATE ${this.t.runs} SET finished_at = $1, status = $2, counts = $3, stats = $4
       WHERE id = $5 AND dataset = $6`,
      [
        result.finishedAt,
        result.status,
        JSON.stringify(result.counts),
        JSON.stringify(result.stats),
        id,
        dataset,
      ],
    );
  }

  async getRun(id: string): Promise<RunRecord[]> {
    const rows = await this.query<RunRow>(`SELECT * FROM ${this.t.runs} WHERE id = $1 ORDER BY ord`, [id]);
    return rows.map(toRun);
  }

  async listRuns(options: { dataset?: string; limit?: number } = {}): Promise<RunRecord[]> {
    const limit = noLimitIfNegative(options.limit ?? 100);
    const rows = options.dataset
      ? await this.query<RunRow>(
          `SELECT * FROM ${this.t.runs} WHERE dataset = $1 ORDER BY started_at DESC, ord DESC LIMIT $2`,
          [options.dataset, limit],
        )
      : await this.query<RunRow>(`SELECT * FROM ${this.t.runs} ORDER BY started_at DESC, ord DESC LIMIT $1`, [
          limit,
        ]);
    return rows.map(toRun);
  }

  async recordDivergences(divergences: readonly StoredDivergence[]): Promise<void> {
    // As SQLite's INSERT OR REPLACE: the last word on a (run, key) wins and moves to the end of the order.
    const latest = new Map<string, StoredDivergence>();
    for (const d of divergences) {
      const slot = JSON.stringify([d.runId, keyId(d.key)]);
      latest.delete(slot);
      latest.set(slot, d);
    }
    await this.writeBatches("divergences", [...latest.values()], (c, batch) =>
      c.query(
        `INSERT INTO ${this.t.divergences} (${columnNames(DIVERGENCE_COLUMNS)})
         SELECT ${columnNames(DIVERGENCE_COLUMNS)} FROM ${recordset(DIVERGENCE_COLUMNS)}
         ON CONFLICT (run_id, key) DO UPDATE SET dataset = excluded.dataset, class = excluded.class,
           detail = excluded.detail, ord = excluded.ord`,
        [recordsetJson(DIVERGENCE_COLUMNS, batch)],
      ),
    );
  }

  async listDivergences(runId: string): Promise<StoredDivergence[]> {
    const rows = await this.query<DivergenceRow>(
      `SELECT * FROM ${this.t.divergences} WHERE run_id = $1 ORDER BY ord`,
      [runId],
    );
    return rows.map(toDivergence);
  }

  async lastSeenVersions(
    dataset: string,
    keys: readonly Key[],
  ): Promise<Map<string, Record<string, Version>>> {
    const out = new Map<string, Record<string, Version>>();
    if (keys.length === 0) return out;
    const ids = keys.map(keyId);
    const rows = await this.query<{ key: string; replica: string; version: string }>(
      `SELECT key, replica, version FROM ${this.t.versions}
       WHERE dataset = $1 AND key IN (SELECT json_array_elements_text($2::json)) ORDER BY replica COLLATE "C"`,
      [dataset, textListJson(ids)],
    );
    const byKey = new Map<string, Record<string, Version>>();
    for (const r of rows) {
      const seen = byKey.get(r.key) ?? {};
      seen[r.replica] = JSON.parse(r.version);
      byKey.set(r.key, seen);
    }
    for (const id of ids) {
      const seen = byKey.get(id);
      if (seen) out.set(id, seen);
    }
    return out;
  }

  async rememberVersions(
    dataset: string,
    observed: readonly ObservedVersion[],
    options: { overwrite?: boolean } = {},
  ): Promise<void> {
    if (observed.length === 0) return;
    await this.transaction(async (c) => {
      // Read, compare and write under one lock per dataset: two processes that both read "nothing seen yet"
      // could otherwise both write, and the lower version land last.
      await this.lock(c, `versions:${dataset}`);
      const stored = new Map<string, string>();
      if (!options.overwrite) {
        const { rows } = await c.query<{ key: string; replica: string; version: string }>(
          `SELECT key, replica, version FROM ${this.t.versions}
           WHERE dataset = $1 AND key IN (SELECT json_array_elements_text($2::json))`,
          [dataset, textListJson([...new Set(observed.map((o) => keyId(o.key)))])],
        );
        for (const r of rows) stored.set(JSON.stringify([r.key, r.replica]), r.version);
      }
      const next = new Map<string, { key: string; replica: string; version: string }>();
      for (const o of observed) {
        const key = keyId(o.key);
        const slot = JSON.stringify([key, o.replica]);
        const prev = next.get(slot)?.version ?? stored.get(slot);
        // Keep the highest version ever seen: a replica that later goes below it has regressed.
        if (!options.overwrite && prev && compareVersions(o.version, JSON.parse(prev)) === "before") continue;
        next.set(slot, { key, replica: o.replica, version: JSON.stringify(o.version) });
      }
      for (const batch of chunks([...next.values()], BATCH_ROWS))
        await c.query(
          `INSERT INTO ${this.t.versions} (dataset, ${columnNames(VERSION_COLUMNS)})
           SELECT $1, ${columnNames(VERSION_COLUMNS)} FROM ${recordset(VERSION_COLUMNS, 2)}
           ON CONFLICT (dataset, key, replica) DO UPDATE SET version = excluded.version`,
          [dataset, recordsetJson(VERSION_COLUMNS, batch)],
        );
    });
  }

  async getRepairs(ids: readonly string[]): Promise<Map<string, LedgerEntry>> {
    const out = new Map<string, LedgerEntry>();
    if (ids.length === 0) return out;
    const rows = await this.query<LedgerRow>(
      `SELECT * FROM ${this.t.ledger} WHERE id IN (SELECT json_array_elements_text($1::json)) ORDER BY ord`,
      [textListJson(ids)],
    );
    for (const r of rows) out.set(r.id, toLedgerEntry(r));
    return out;
  }

  async recordRepairs(entries: readonly LedgerEntry[]): Promise<void> {
    // One row per id, in the place of its first mention with its last values, as upserting one at a time
    // would leave it (and ON CONFLICT may not touch a row twice in one statement).
    const latest = new Map<string, LedgerEntry>();
    for (const e of entries) latest.set(e.id, e);
    await this.writeBatches("ledger", [...latest.values()], (c, batch) =>
      c.query(
        `INSERT INTO ${this.t.ledger} (${columnNames(LEDGER_COLUMNS)})
         SELECT ${columnNames(LEDGER_COLUMNS)} FROM ${recordset(LEDGER_COLUMNS)}
         ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, dataset = excluded.dataset,
           key = excluded.key, target = excluded.target, expected = excluded.expected,
           next_fingerprint = excluded.next_fingerprint, before_values = excluded.before_values,
           after_values = excluded.after_values, outcome = excluded.outcome, attempts = excluded.attempts,
           error = excluded.error, updated_at = excluded.updated_at`,
        [recordsetJson(LEDGER_COLUMNS, batch)],
      ),
    );
  }

  async listRepairs(filter: {
    runId?: string;
    id?: string;
    dataset?: string;
    outcome?: RepairOutcome;
  }): Promise<LedgerEntry[]> {
    const where = conditions([
      ["run_id", filter.runId],
      ["id", filter.id],
      ["dataset", filter.dataset],
      ["outcome", filter.outcome],
    ]);
    const rows = await this.query<LedgerRow>(
      `SELECT * FROM ${this.t.ledger}${where.sql} ORDER BY ord`,
      where.params,
    );
    return rows.map(toLedgerEntry);
  }

  async openEscalations(list: readonly Escalation[]): Promise<string[]> {
    const first = new Map<string, Escalation>();
    for (const e of list) if (!first.has(e.id)) first.set(e.id, e);
    const unique = [...first.values()];
    const inserted = new Set<string>();
    await this.writeBatches("escalations", unique, async (c, batch) => {
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO ${this.t.escalations} (${columnNames(ESCALATION_COLUMNS)})
         SELECT ${columnNames(ESCALATION_COLUMNS)} FROM ${recordset(ESCALATION_COLUMNS)}
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [recordsetJson(ESCALATION_COLUMNS, batch)],
      );
      for (const r of rows) inserted.add(r.id);
    });
    // RETURNING promises no order; the port promises the order given.
    return unique.filter((e) => inserted.has(e.id)).map((e) => e.id);
  }

  async listEscalations(
    filter: { status?: Escalation["status"]; dataset?: string } = {},
  ): Promise<Escalation[]> {
    const where = conditions([
      ["status", filter.status],
      ["dataset", filter.dataset],
    ]);
    const rows = await this.query<EscalationRow>(
      `SELECT * FROM ${this.t.escalations}${where.sql} ORDER BY created_at, ord`,
      where.params,
    );
    return rows.map(toEscalation);
  }

  async getEscalation(id: string): Promise<Escalation | undefined> {
    const [row] = await this.query<EscalationRow>(`SELECT * FROM ${this.t.escalations} WHERE id = $1`, [id]);
    return row && toEscalation(row);
  }

  async closeEscalation(
    id: string,
    status: "resolved" | "rejected",
    resolution: unknown,
    at: number,
  ): Promise<void> {
    await this.transaction(async (c) => {
      // FOR UPDATE waits for a concurrent closer to commit and then reads the status it wrote, so of two
      // closers exactly one finds the escalation open.
      const { rows } = await c.query<{ status: Escalation["status"] }>(
        `SELECT status FROM ${this.t.escalations} WHERE id = $1 FOR UPDATE`,
        [id],
      );
      const found = rows[0]?.status;
      if (found !== "open") throw new EscalationNotOpenError(id, found ?? "missing");
      await c.query(
        `UPDATE ${this.t.escalations} SET status = $1, resolution = $2, resolved_at = $3 WHERE id = $4`,
        [status, jsonText(resolution), at, id],
      );
    });
  }

  async appendAudit(events: readonly Omit<AuditEntryContent, "seq">[]): Promise<AuditEntry[]> {
    if (events.length === 0) return [];
    const prepared = prepareAudit(events);
    return this.transaction((c) => this.insertAudit(c, prepared));
  }

  async settleRepairs(
    settlements: readonly RepairSettlement[],
    audit: readonly Omit<AuditEntryContent, "seq">[],
  ): Promise<AuditEntry[]> {
    const prepared = prepareAudit(audit);
    // The last word per id, as settling one at a time would leave it (UPDATE … FROM takes any one match).
    const latest = [...new Map(settlements.map((s) => [s.id, s])).values()];
    if (latest.length === 0 && prepared.length === 0) return [];
    return this.transaction(async (c) => {
      // Ledger before audit, as every path that takes both locks does, so two settlers cannot deadlock.
      await this.lock(c, "ledger");
      for (const batch of chunks(latest, BATCH_ROWS))
        await c.query(
          `UPDATE ${this.t.ledger} AS l SET run_id = r.run_id, outcome = r.outcome, attempts = r.attempts,
             error = r.error, updated_at = r.updated_at
           FROM ${recordset(SETTLEMENT_COLUMNS)} WHERE l.id = r.id`,
          [recordsetJson(SETTLEMENT_COLUMNS, batch)],
        );
      return prepared.length ? this.insertAudit(c, prepared) : [];
    });
  }

  /** Appends prepared entries after the last one, inside the caller's transaction. */
  private async insertAudit(c: PoolClient, prepared: readonly PreparedAudit[]): Promise<AuditEntry[]> {
    // One appender at a time per schema; the tail read after the lock is the previous holder's last entry.
    await this.lock(c, "audit");
    const { rows } = await c.query<{ seq: string; hash: string }>(
      `SELECT seq, hash FROM ${this.t.audit} ORDER BY seq DESC LIMIT 1`,
    );
    let seq = rows[0] ? Number(rows[0].seq) : 0;
    let prevHash = rows[0]?.hash ?? GENESIS_HASH;
    const entries = prepared.map((p): AuditInsert => {
      seq++;
      // The data is hashed as its stored text (dataJson), never re-encoded.
      const hash = hashAuditEntry(prevHash, { ...p.content, seq, data: undefined }, p.dataJson);
      const entry = storedEntry(p, seq, prevHash, hash);
      prevHash = hash;
      return { entry, dataJson: p.dataJson };
    });
    for (const batch of chunks(entries, BATCH_ROWS))
      await c.query(
        `INSERT INTO ${this.t.audit} (${columnNames(AUDIT_COLUMNS)})
         SELECT ${columnNames(AUDIT_COLUMNS)} FROM ${recordset(AUDIT_COLUMNS)}`,
        [recordsetJson(AUDIT_COLUMNS, batch)],
      );
    return entries.map((b) => b.entry);
  }

  async readAudit(
    filter: { runId?: string; key?: string; fromSeq?: number; limit?: number; newest?: boolean } = {},
  ): Promise<AuditEntry[]> {
    const where = conditions([
      ["run_id", filter.runId],
      ["key", filter.key],
      ["seq", filter.fromSeq, ">="],
    ]);
    const limit = `LIMIT $${where.params.length + 1}`;
    const rows = await this.query<AuditRow>(
      filter.newest
        ? `SELECT * FROM (SELECT * FROM ${this.t.audit}${where.sql} ORDER BY seq DESC ${limit}) AS last ORDER BY seq`
        : `SELECT * FROM ${this.t.audit}${where.sql} ORDER BY seq ${limit}`,
      [...where.params, noLimitIfNegative(filter.limit)],
    );
    return rows.map(toAuditEntry);
  }

  async *iterateAudit(): AsyncIterable<AuditEntry> {
    // Keyset batches: no transaction or cursor stays open across a yield, so a slow consumer holds no
    // connection and does not hold back vacuum. The first batch has no lower bound so that rows tampered in
    // below seq 1 are seen too.
    let rows = await this.query<AuditRow>(`SELECT * FROM ${this.t.audit} ORDER BY seq LIMIT $1`, [
      AUDIT_BATCH,
    ]);
    while (rows.length > 0) {
      for (const r of rows) yield toAuditEntry(r);
      if (rows.length < AUDIT_BATCH) return;
      rows = await this.query<AuditRow>(
        `SELECT * FROM ${this.t.audit} WHERE seq > $1 ORDER BY seq LIMIT $2`,
        [rows[rows.length - 1]!.seq, AUDIT_BATCH],
      );
    }
  }

  async getCheckpoint(dataset: string): Promise<Checkpoint | undefined> {
    const [row] = await this.query<CheckpointRow>(`SELECT * FROM ${this.t.checkpoints} WHERE dataset = $1`, [
      dataset,
    ]);
    return row && toCheckpoint(row);
  }

  async putCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const c = checkpoint;
    await this.query(
      `INSERT INTO ${this.t.checkpoints} (dataset, run_id, mode, bounds, done, totals, started_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (dataset) DO UPDATE SET run_id = excluded.run_id, mode = excluded.mode,
         bounds = excluded.bounds, done = excluded.done, totals = excluded.totals,
         started_at = excluded.started_at, updated_at = excluded.updated_at`,
      [
        c.dataset,
        c.runId,
        c.mode,
        JSON.stringify(c.bounds),
        c.done,
        jsonText(c.totals),
        String(c.startedAt),
        String(c.updatedAt),
      ],
    );
  }

  async deleteCheckpoint(dataset: string): Promise<void> {
    await this.query(`DELETE FROM ${this.t.checkpoints} WHERE dataset = $1`, [dataset]);
  }

  async appendSamples(samples: readonly Sample[]): Promise<void> {
    if (samples.length === 0) return;
    // Plain inserts conflict with nothing: no table lock needed.
    await this.transaction(async (c) => {
      for (const batch of chunks(samples, BATCH_ROWS))
        await c.query(
          `INSERT INTO ${this.t.samples} (${columnNames(SAMPLE_COLUMNS)})
           SELECT ${columnNames(SAMPLE_COLUMNS)} FROM ${recordset(SAMPLE_COLUMNS)}`,
          [recordsetJson(SAMPLE_COLUMNS, batch)],
        );
    });
  }

  async listSamples(filter: {
    dataset?: string;
    series?: string;
    since?: number;
    limit?: number;
  }): Promise<Sample[]> {
    const where = conditions([
      ["dataset", filter.dataset],
      ["series", filter.series],
      ["at", filter.since, ">="],
    ]);
    const columns = "dataset, series, label, at, value";
    const limit = noLimitIfNegative(filter.limit);
    if (limit === null)
      return this.query<Sample>(
        `SELECT ${columns} FROM ${this.t.samples}${where.sql} ORDER BY at, ord`,
        where.params,
      );
    // The newest `limit` (on equal times, the last appended), turned back to oldest first.
    return this.query<Sample>(
      `SELECT ${columns} FROM (SELECT ${columns}, ord FROM ${this.t.samples}${where.sql}
         ORDER BY at DESC, ord DESC LIMIT $${where.params.length + 1}) AS newest ORDER BY at, ord`,
      [...where.params, limit],
    );
  }

  async pruneSamples(before: number): Promise<number> {
    return this.execute(`DELETE FROM ${this.t.samples} WHERE at < $1`, [String(before)]);
  }

  async markDivergent(dataset: string, keys: readonly string[], at: number): Promise<void> {
    // ON CONFLICT may not touch a row twice in one statement; keys are compared as the server stores them.
    const unique = [...new Set(keys.map(storedText))];
    if (unique.length === 0) return;
    await this.transaction(async (c) => {
      // One writer per dataset: upserts of overlapping keys in different orders would otherwise deadlock.
      await this.lock(c, `divergent:${dataset}`);
      // least and greatest make marks commute: the same marks in any order, from any number of processes,
      // leave the same first and last seen.
      for (const batch of chunks(unique, BATCH_ROWS))
        await c.query(
          `INSERT INTO ${this.t.divergentKeys} AS d (dataset, key, first_seen, last_seen)
           SELECT $1, k, $3::double precision, $3::double precision
           FROM json_array_elements_text($2::json) AS k
           ON CONFLICT (dataset, key) DO UPDATE SET first_seen = least(d.first_seen, excluded.first_seen),
             last_seen = greatest(d.last_seen, excluded.last_seen)`,
          [dataset, textListJson(batch), String(at)],
        );
    });
  }

  async takeDivergent(dataset: string, keys: readonly string[]): Promise<Map<string, number>> {
    const unique = [...new Set(keys.map(storedText))];
    if (unique.length === 0) return new Map();
    const taken = await this.transaction(async (c) => {
      await this.lock(c, `divergent:${dataset}`);
      const rows: TakenRow[] = [];
      for (const batch of chunks(unique, BATCH_ROWS)) {
        const result = await c.query<TakenRow>(
          `DELETE FROM ${this.t.divergentKeys}
           WHERE dataset = $1 AND key IN (SELECT json_array_elements_text($2::json))
           RETURNING key, first_seen`,
          [dataset, textListJson(batch)],
        );
        rows.push(...result.rows);
      }
      return rows;
    });
    return takenInOrder(keys, taken);
  }

  async purgeDivergent(dataset: string, before: number): Promise<number> {
    return this.transaction(async (c) => {
      await this.lock(c, `divergent:${dataset}`);
      const result = await c.query(
        `DELETE FROM ${this.t.divergentKeys} WHERE dataset = $1 AND last_seen < $2`,
        [dataset, String(before)],
      );
      return result.rowCount ?? 0;
    });
  }

  /** Ends the pool if the store created it (`open`); a pool passed in stays open for its owner. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.options.endPoolOnClose) await this.pool.end();
  }

  /** One statement on any pooled connection, once the tables exist. */
  private async query<R>(text: string, values: readonly unknown[] = []): Promise<R[]> {
    await this.ready();
    const result = await this.pool.query(text, values as unknown[]);
    return result.rows as R[];
  }

  /** One statement on any pooled connection, once the tables exist; returns how many rows it changed. */
  private async execute(text: string, values: readonly unknown[] = []): Promise<number> {
    await this.ready();
    const result = await this.pool.query(text, values as unknown[]);
    return result.rowCount ?? 0;
  }

  /**
   * Runs `work` in one READ COMMITTED transaction (set explicitly: the locking above relies on it whatever
   * the server's default). A transaction PostgreSQL aborts as a deadlock victim — two processes upserting
   * overlapping ids in different orders — or a serialization failure is run again from the start.
   */
  private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    await this.ready();
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query("BEGIN ISOLATION LEVEL READ COMMITTED");
        const result = await work(client);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        broken = await client.query("ROLLBACK").then(
          () => undefined,
          (rollbackErr: Error) => rollbackErr,
        );
        if (attempt < TRANSACTION_TRIES && !broken && isRetryable(err)) continue;
        throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  /**
   * Writes `rows` in statements of at most BATCH_ROWS, all in one transaction holding the lock `table`.
   * Multi-row upserts keep the order given (it becomes the listing order), so two of them touching the same
   * keys in different orders would deadlock; one writer per table at a time, as in SQLite, rules that out.
   */
  private async writeBatches<R>(
    table: string,
    rows: readonly R[],
    write: (client: PoolClient, batch: readonly R[]) => Promise<unknown>,
  ): Promise<void> {
    if (rows.length === 0) return;
    await this.transaction(async (c) => {
      await this.lock(c, table);
      for (const batch of chunks(rows, BATCH_ROWS)) await write(c, batch);
    });
  }

  /**
   * Takes this schema's transaction-scoped advisory lock `name`, released at commit or rollback. Taken in a
   * statement of its own before the rows it guards are read: under READ COMMITTED each later statement then
   * sees what the previous holder committed.
   */
  private async lock(client: PoolClient, name: string): Promise<void> {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
      `concord:${this.schema}:${name}`,
    ]);
  }
}
