/** SQLite state store (embedded default): WAL-mode file created on first use. Only state/sqlite imports the driver for state. */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import {
  type AuditEntry,
  type AuditEntryContent,
  type AuditEventType,
  GENESIS_HASH,
  hashAuditEntry,
} from "../../core/audit-chain.js";
import type { DivergenceClass } from "../../core/classify.js";
import { type Key, keyId } from "../../core/model.js";
import { compareVersions, type Version } from "../../core/version.js";
import { type PreparedAudit, prepareAudit, storedEntry } from "../prepared-audit.js";
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

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     id TEXT NOT NULL, dataset TEXT NOT NULL, command TEXT NOT NULL,
     started_at INTEGER NOT NULL, finished_at INTEGER, status TEXT NOT NULL,
     counts TEXT NOT NULL DEFAULT '{}', stats TEXT NOT NULL DEFAULT '{}',
     PRIMARY KEY (id, dataset));
   CREATE INDEX runs_dataset ON runs (dataset, started_at);
   CREATE TABLE divergences (
     run_id TEXT NOT NULL, dataset TEXT NOT NULL, key TEXT NOT NULL, class TEXT NOT NULL, detail TEXT NOT NULL,
     PRIMARY KEY (run_id, key));
   CREATE TABLE observed_versions (
     dataset TEXT NOT NULL, key TEXT NOT NULL, replica TEXT NOT NULL, version TEXT NOT NULL,
     PRIMARY KEY (dataset, key, replica)) WITHOUT ROWID;`,
  // Ledger and escalations list in rowid order (first recorded); an upsert keeps the rowid.
  `CREATE TABLE ledger (
     id TEXT NOT NULL PRIMARY KEY, run_id TEXT NOT NULL, dataset TEXT NOT NULL, key TEXT NOT NULL,
     target TEXT NOT NULL, expected TEXT, next_fingerprint TEXT, before_values TEXT, after_values TEXT,
     outcome TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT, updated_at INTEGER NOT NULL);
   CREATE INDEX ledger_run ON ledger (run_id);
   CREATE INDEX ledger_dataset ON ledger (dataset);
   CREATE TABLE escalations (
     id TEXT NOT NULL PRIMARY KEY, dataset TEXT NOT NULL, key TEXT NOT NULL, class TEXT NOT NULL,
     reason TEXT NOT NULL, options TEXT NOT NULL, detail TEXT NOT NULL, status TEXT NOT NULL,
     run_id TEXT NOT NULL, created_at INTEGER NOT NULL, resolved_at INTEGER, resolution TEXT);
   CREATE INDEX escalations_status ON escalations (status, dataset);
   CREATE TABLE audit (
     seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, run_id TEXT, type TEXT NOT NULL, dataset TEXT, key TEXT,
     data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
   CREATE INDEX audit_run ON audit (run_id, seq);
   CREATE INDEX audit_key ON audit (key, seq);`,
  // Settling pending repairs after an interruption looks them up on every repair run.
  "CREATE INDEX ledger_outcome ON ledger (dataset, outcome);",
  // What `serve` keeps between passes. Times are INTEGER as the audit `ts` is: the affinity keeps a
  // fractional millisecond as REAL, so every time reads back exactly. Samples list in rowid order on ties.
  `CREATE TABLE checkpoints (
     dataset TEXT NOT NULL PRIMARY KEY, run_id TEXT NOT NULL, mode TEXT NOT NULL, bounds TEXT NOT NULL,
     done INTEGER NOT NULL, totals TEXT NOT NULL, started_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)
     WITHOUT ROWID;
   CREATE TABLE samples (
     dataset TEXT NOT NULL, series TEXT NOT NULL, label TEXT NOT NULL, at INTEGER NOT NULL, value REAL);
   CREATE INDEX samples_series ON samples (dataset, series, at);
   CREATE INDEX samples_at ON samples (at);
   CREATE TABLE divergent_keys (
     dataset TEXT NOT NULL, key TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
     PRIMARY KEY (dataset, key)) WITHOUT ROWID;
   CREATE INDEX divergent_keys_last_seen ON divergent_keys (dataset, last_seen);`,
];

/** Entries per query when streaming the audit log. */
const AUDIT_BATCH = 1000;

interface RunRow {
  id: string;
  dataset: string;
  command: string;
  started_at: number;
  finished_at: number | null;
  status: RunRecord["status"];
  counts: string;
  stats: string;
}

function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    dataset: r.dataset,
    command: r.command,
    startedAt: r.started_at,
    finishedAt: r.finished_at ?? undefined,
    status: r.status,
    counts: JSON.parse(r.counts),
    stats: JSON.parse(r.stats),
  };
}

interface LedgerRow {
  id: string;
  run_id: string;
  dataset: string;
  key: string;
  target: string;
  expected: string | null;
  next_fingerprint: string | null;
  before_values: string | null;
  after_values: string | null;
  outcome: RepairOutcome;
  attempts: number;
  error: string | null;
  updated_at: number;
}

function toLedgerEntry(r: LedgerRow): LedgerEntry {
  return {
    id: r.id,
    runId: r.run_id,
    dataset: r.dataset,
    key: JSON.parse(r.key),
    target: r.target,
    expected: r.expected,
    nextFingerprint: r.next_fingerprint,
    before: r.before_values === null ? null : JSON.parse(r.before_values),
    after: r.after_values === null ? null : JSON.parse(r.after_values),
    outcome: r.outcome,
    attempts: r.attempts,
    ...(r.error === null ? {} : { error: r.error }),
    updatedAt: r.updated_at,
  };
}

interface EscalationRow {
  id: string;
  dataset: string;
  key: string;
  class: string;
  reason: string;
  options: string;
  detail: string;
  status: Escalation["status"];
  run_id: string;
  created_at: number;
  resolved_at: number | null;
  resolution: string | null;
}

function toEscalation(r: EscalationRow): Escalation {
  return {
    id: r.id,
    dataset: r.dataset,
    key: JSON.parse(r.key),
    class: r.class,
    reason: r.reason,
    options: JSON.parse(r.options),
    detail: JSON.parse(r.detail),
    status: r.status,
    runId: r.run_id,
    createdAt: r.created_at,
    ...(r.resolved_at === null ? {} : { resolvedAt: r.resolved_at }),
    ...(r.resolution === null ? {} : { resolution: JSON.parse(r.resolution) }),
  };
}

interface AuditRow {
  seq: number;
  ts: number;
  run_id: string | null;
  type: AuditEventType;
  dataset: string | null;
  key: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

function toAuditEntry(r: AuditRow): AuditEntry {
  let data: unknown;
  try {
    data = JSON.parse(r.data);
  } catch {
    // Only an edit of the file makes this invalid JSON: return the text so verification reports the entry
    // as edited instead of the read failing.
    data = r.data;
  }
  return {
    seq: r.seq,
    ts: r.ts,
    runId: r.run_id,
    type: r.type,
    dataset: r.dataset,
    key: r.key,
    data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

interface CheckpointRow {
  dataset: string;
  run_id: string;
  mode: string;
  bounds: string;
  done: number;
  totals: string;
  started_at: number;
  updated_at: number;
}

function toCheckpoint(r: CheckpointRow): Checkpoint {
  return {
    dataset: r.dataset,
    runId: r.run_id,
    mode: r.mode,
    bounds: JSON.parse(r.bounds),
    done: r.done,
    totals: JSON.parse(r.totals),
    startedAt: r.started_at,
    updatedAt: r.updated_at,
  };
}

/** JSON text of a value the port types as free-form JSON; `undefined` is stored as null. */
function jsonText(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/** A StateStore in one SQLite file. Synchronous underneath; the async port keeps server stores possible. */
export class SqliteStateStore implements StateStore {
  private readonly statements = new Map<string, Database.Statement>();

  /** A prepared statement, compiled once per SQL text (statements are reused across calls). */
  private prepare(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  constructor(readonly db: Database.Database) {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    const version = () => db.pragma("user_version", { simple: true }) as number;
    for (let v = version(); v < MIGRATIONS.length; v++) {
      // The version is read again under the write lock: another process opening the same new file at the
      // same time may have applied this step while this one waited.
      db.transaction(() => {
        if (version() > v) return;
        db.exec(MIGRATIONS[v]!);
        db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  /** Opens (creating folder and file if needed) the state file at `path`. */
  static open(path: string): SqliteStateStore {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, { timeout: 5000 });
    // A file that is no database (or a migration that fails) must not leave it open.
    try {
      return new SqliteStateStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async beginRun(run: { id: string; dataset: string; command: string; startedAt: number }): Promise<void> {
    this.prepare(
      "INSERT INTO runs (id, dataset, command, started_at, status) VALUES (?, ?, ?, ?, 'running')",
    ).run(run.id, run.dataset, run.command, run.startedAt);
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
    this.prepare(
      "UPDATE runs SET finished_at = ?, status = ?, counts = ?, stats = ? WHERE id = ? AND dataset = ?",
    ).run(
      result.finishedAt,
      result.status,
      JSON.stringify(result.counts),
      JSON.stringify(result.stats),
      id,
      dataset,
    );
  }

  async getRun(id: string): Promise<RunRecord[]> {
    const rows = this.prepare("SELECT * FROM runs WHERE id = ? ORDER BY rowid").all(id) as RunRow[];
    return rows.map(toRun);
  }

  async listRuns(options: { dataset?: string; limit?: number } = {}): Promise<RunRecord[]> {
    const rows = (
      options.dataset
        ? this.prepare(
            "SELECT * FROM runs WHERE dataset = ? ORDER BY started_at DESC, rowid DESC LIMIT ?",
          ).all(options.dataset, options.limit ?? 100)
        : this.prepare("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?").all(
            options.limit ?? 100,
          )
    ) as RunRow[];
    return rows.map(toRun);
  }

  async recordDivergences(divergences: readonly StoredDivergence[]): Promise<void> {
    const st = this.prepare(
      "INSERT OR REPLACE INTO divergences (run_id, dataset, key, class, detail) VALUES (?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const d of divergences)
        st.run(d.runId, d.dataset, keyId(d.key), d.class, JSON.stringify(d.detail));
    })();
  }

  async listDivergences(runId: string): Promise<StoredDivergence[]> {
    const rows = this.prepare("SELECT * FROM divergences WHERE run_id = ? ORDER BY rowid").all(runId) as {
      run_id: string;
      dataset: string;
      key: string;
      class: DivergenceClass;
      detail: string;
    }[];
    return rows.map((r) => ({
      runId: r.run_id,
      dataset: r.dataset,
      key: JSON.parse(r.key),
      class: r.class,
      detail: JSON.parse(r.detail),
    }));
  }

  async lastSeenVersions(
    dataset: string,
    keys: readonly Key[],
  ): Promise<Map<string, Record<string, Version>>> {
    const out = new Map<string, Record<string, Version>>();
    const st = this.prepare("SELECT replica, version FROM observed_versions WHERE dataset = ? AND key = ?");
    for (const key of keys) {
      const id = keyId(key);
      const rows = st.all(dataset, id) as { replica: string; version: string }[];
      if (rows.length === 0) continue;
      const seen: Record<string, Version> = {};
      for (const r of rows) seen[r.replica] = JSON.parse(r.version);
      out.set(id, seen);
    }
    return out;
  }

  async rememberVersions(
    dataset: string,
    observed: readonly ObservedVersion[],
    options: { overwrite?: boolean } = {},
  ): Promise<void> {
    const get = this.prepare(
      "SELECT version FROM observed_versions WHERE dataset = ? AND key = ? AND replica = ?",
    );
    const put = this.prepare(
      "INSERT OR REPLACE INTO observed_versions (dataset, key, replica, version) VALUES (?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const o of observed) {
        const id = keyId(o.key);
        // Keep the highest version ever seen: a replica that later goes below it has regressed.
        if (!options.overwrite) {
          const prev = get.pluck().get(dataset, id, o.replica) as string | undefined;
          if (prev && compareVersions(o.version, JSON.parse(prev)) === "before") continue;
        }
        put.run(dataset, id, o.replica, JSON.stringify(o.version));
      }
    })();
  }

  async getRepairs(ids: readonly string[]): Promise<Map<string, LedgerEntry>> {
    const out = new Map<string, LedgerEntry>();
    if (ids.length === 0) return out;
    const rows = this.prepare("SELECT * FROM ledger WHERE id IN (SELECT value FROM json_each(?))").all(
      JSON.stringify(ids),
    ) as LedgerRow[];
    for (const r of rows) out.set(r.id, toLedgerEntry(r));
    return out;
  }

  async recordRepairs(entries: readonly LedgerEntry[]): Promise<void> {
    const st = this.prepare(
      `INSERT INTO ledger (id, run_id, dataset, key, target, expected, next_fingerprint, before_values,
         after_values, outcome, attempts, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, dataset = excluded.dataset, key = excluded.key,
         target = excluded.target, expected = excluded.expected, next_fingerprint = excluded.next_fingerprint,
         before_values = excluded.before_values, after_values = excluded.after_values,
         outcome = excluded.outcome, attempts = excluded.attempts, error = excluded.error,
         updated_at = excluded.updated_at`,
    );
    this.db.transaction(() => {
      for (const e of entries)
        st.run(
          e.id,
          e.runId,
          e.dataset,
          keyId(e.key),
          e.target,
          e.expected,
          e.nextFingerprint,
          e.before === null ? null : JSON.stringify(e.before),
          e.after === null ? null : JSON.stringify(e.after),
          e.outcome,
          e.attempts,
          e.error ?? null,
          e.updatedAt,
        );
    })();
  }

  async listRepairs(filter: {
    runId?: string;
    id?: string;
    dataset?: string;
    outcome?: RepairOutcome;
  }): Promise<LedgerEntry[]> {
    const where = conditions([
      ["run_id = ?", filter.runId],
      ["id = ?", filter.id],
      ["dataset = ?", filter.dataset],
      ["outcome = ?", filter.outcome],
    ]);
    const rows = this.prepare(`SELECT * FROM ledger${where.sql} ORDER BY rowid`).all(
      ...where.params,
    ) as LedgerRow[];
    return rows.map(toLedgerEntry);
  }

  async openEscalations(list: readonly Escalation[]): Promise<string[]> {
    const st = this.prepare(
      `INSERT INTO escalations (id, dataset, key, class, reason, options, detail, status, run_id, created_at,
         resolved_at, resolution) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
    return this.db.transaction(() => {
      const inserted: string[] = [];
      for (const e of list) {
        const { changes } = st.run(
          e.id,
          e.dataset,
          keyId(e.key),
          e.class,
          e.reason,
          JSON.stringify(e.options),
          jsonText(e.detail),
          e.status,
          e.runId,
          e.createdAt,
          e.resolvedAt ?? null,
          e.resolution === undefined ? null : jsonText(e.resolution),
        );
        if (changes > 0) inserted.push(e.id);
      }
      return inserted;
    })();
  }

  async listEscalations(
    filter: { status?: Escalation["status"]; dataset?: string } = {},
  ): Promise<Escalation[]> {
    const where = conditions([
      ["status = ?", filter.status],
      ["dataset = ?", filter.dataset],
    ]);
    const rows = this.prepare(`SELECT * FROM escalations${where.sql} ORDER BY created_at, rowid`).all(
      ...where.params,
    ) as EscalationRow[];
    return rows.map(toEscalation);
  }

  async getEscalation(id: string): Promise<Escalation | undefined> {
    const row = this.prepare("SELECT * FROM escalations WHERE id = ?").get(id) as EscalationRow | undefined;
    return row && toEscalation(row);
  }

  async closeEscalation(
    id: string,
    status: "resolved" | "rejected",
    resolution: unknown,
    at: number,
  ): Promise<void> {
    const find = this.prepare("SELECT status FROM escalations WHERE id = ?").pluck();
    const update = this.prepare(
      "UPDATE escalations SET status = ?, resolution = ?, resolved_at = ? WHERE id = ?",
    );
    this.db
      .transaction(() => {
        const found = find.get(id) as Escalation["status"] | undefined;
        if (found !== "open") throw new EscalationNotOpenError(id, found ?? "missing");
        update.run(status, jsonText(resolution), at, id);
      })
      .immediate();
  }

  async appendAudit(events: readonly Omit<AuditEntryContent, "seq">[]): Promise<AuditEntry[]> {
    if (events.length === 0) return [];
    const prepared = prepareAudit(events);
    // IMMEDIATE takes the write lock before reading the last entry, so no other connection or process can
    // append between that read and these inserts.
    return this.db.transaction(() => this.insertAudit(prepared)).immediate();
  }

  async settleRepairs(
    settlements: readonly RepairSettlement[],
    audit: readonly Omit<AuditEntryContent, "seq">[],
  ): Promise<AuditEntry[]> {
    const prepared = prepareAudit(audit);
    const update = this.prepare(
      "UPDATE ledger SET run_id = ?, outcome = ?, attempts = ?, error = ?, updated_at = ? WHERE id = ?",
    );
    return this.db
      .transaction(() => {
        for (const s of settlements)
          update.run(s.runId, s.outcome, s.attempts, s.error ?? null, s.updatedAt, s.id);
        return prepared.length ? this.insertAudit(prepared) : [];
      })
      .immediate();
  }

  /** Appends prepared entries after the last one; the caller holds the write lock (an IMMEDIATE transaction). */
  private insertAudit(prepared: readonly PreparedAudit[]): AuditEntry[] {
    const tail = this.prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").get() as
      | { seq: number; hash: string }
      | undefined;
    const insert = this.prepare(
      "INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    let seq = tail?.seq ?? 0;
    let prevHash = tail?.hash ?? GENESIS_HASH;
    return prepared.map((p) => {
      const { content: c, dataJson } = p;
      seq++;
      // The data is hashed as its stored text (dataJson), never re-encoded.
      const hash = hashAuditEntry(prevHash, { ...c, seq, data: undefined }, dataJson);
      insert.run(seq, c.ts, c.runId, c.type, c.dataset, c.key, dataJson, prevHash, hash);
      const entry = storedEntry(p, seq, prevHash, hash);
      prevHash = hash;
      return entry;
    });
  }

  async readAudit(
    filter: { runId?: string; key?: string; fromSeq?: number; limit?: number; newest?: boolean } = {},
  ): Promise<AuditEntry[]> {
    const where = conditions([
      ["run_id = ?", filter.runId],
      ["key = ?", filter.key],
      ["seq >= ?", filter.fromSeq],
    ]);
    const sql = filter.newest
      ? `SELECT * FROM (SELECT * FROM audit${where.sql} ORDER BY seq DESC LIMIT ?) ORDER BY seq`
      : `SELECT * FROM audit${where.sql} ORDER BY seq LIMIT ?`;
    const rows = this.prepare(sql).all(...where.params, filter.limit ?? -1) as AuditRow[];
    return rows.map(toAuditEntry);
  }

  async *iterateAudit(): AsyncIterable<AuditEntry> {
    // Keyset batches: no statement or read transaction stays open across a yield, so the connection stays
    // usable meanwhile and a slow consumer does not keep the WAL from being checkpointed. The first batch
    // has no lower bound so that rows tampered in below seq 1 are seen too.
    const first = this.prepare("SELECT * FROM audit ORDER BY seq LIMIT ?");
    const next = this.prepare("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?");
    let rows = first.all(AUDIT_BATCH) as AuditRow[];
    while (rows.length > 0) {
      for (const r of rows) yield toAuditEntry(r);
      if (rows.length < AUDIT_BATCH) return;
      rows = next.all(rows[rows.length - 1]!.seq, AUDIT_BATCH) as AuditRow[];
    }
  }

  async getCheckpoint(dataset: string): Promise<Checkpoint | undefined> {
    const row = this.prepare("SELECT * FROM checkpoints WHERE dataset = ?").get(dataset) as
      | CheckpointRow
      | undefined;
    return row && toCheckpoint(row);
  }

  async putCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const c = checkpoint;
    this.prepare(
      `INSERT INTO checkpoints (dataset, run_id, mode, bounds, done, totals, started_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (dataset) DO UPDATE SET run_id = excluded.run_id, mode = excluded.mode,
         bounds = excluded.bounds, done = excluded.done, totals = excluded.totals,
         started_at = excluded.started_at, updated_at = excluded.updated_at`,
    ).run(
      c.dataset,
      c.runId,
      c.mode,
      JSON.stringify(c.bounds),
      c.done,
      jsonText(c.totals),
      c.startedAt,
      c.updatedAt,
    );
  }

  async deleteCheckpoint(dataset: string): Promise<void> {
    this.prepare("DELETE FROM checkpoints WHERE dataset = ?").run(dataset);
  }

  async appendSamples(samples: readonly Sample[]): Promise<void> {
    const st = this.prepare("INSERT INTO samples (dataset, series, label, at, value) VALUES (?, ?, ?, ?, ?)");
    this.db.transaction(() => {
      for (const s of samples) st.run(s.dataset, s.series, s.label, s.at, s.value);
    })();
  }

  async listSamples(filter: {
    dataset?: string;
    series?: string;
    since?: number;
    limit?: number;
  }): Promise<Sample[]> {
    const where = conditions([
      ["dataset = ?", filter.dataset],
      ["series = ?", filter.series],
      ["at >= ?", filter.since],
    ]);
    const columns = "dataset, series, label, at, value";
    if (filter.limit === undefined)
      return this.prepare(`SELECT ${columns} FROM samples${where.sql} ORDER BY at, rowid`).all(
        ...where.params,
      ) as Sample[];
    // The newest `limit` (on equal times, the last appended), turned back to oldest first.
    return this.prepare(
      `SELECT ${columns} FROM (SELECT ${columns}, rowid AS ord FROM samples${where.sql}
         ORDER BY at DESC, rowid DESC LIMIT ?) ORDER BY at, ord`,
    ).all(...where.params, filter.limit) as Sample[];
  }

  async pruneSamples(before: number): Promise<number> {
    return this.prepare("DELETE FROM samples WHERE at < ?").run(before).changes;
  }

  async markDivergent(dataset: string, keys: readonly string[], at: number): Promise<void> {
    // min and max make marks commute: the same marks in any order, from any number of processes, leave the
    // same first and last seen.
    const st = this.prepare(
      `INSERT INTO divergent_keys (dataset, key, first_seen, last_seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (dataset, key) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
         last_seen = max(last_seen, excluded.last_seen)`,
    );
    this.db.transaction(() => {
      for (const key of keys) st.run(dataset, key, at, at);
    })();
  }

  async takeDivergent(dataset: string, keys: readonly string[]): Promise<Map<string, number>> {
    // One key at a time rather than one `IN (json_each)`: the map is then keyed by the text given, even when
    // the stored text differs from it (a lone surrogate reads back as replacement characters).
    const take = this.prepare(
      "DELETE FROM divergent_keys WHERE dataset = ? AND key = ? RETURNING first_seen",
    ).pluck();
    return this.db
      .transaction(() => {
        const out = new Map<string, number>();
        for (const key of keys) {
          const firstSeen = take.get(dataset, key) as number | undefined;
          if (firstSeen !== undefined) out.set(key, firstSeen);
        }
        return out;
      })
      .immediate();
  }

  async purgeDivergent(dataset: string, before: number): Promise<number> {
    return this.prepare("DELETE FROM divergent_keys WHERE dataset = ? AND last_seen < ?").run(dataset, before)
      .changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** A WHERE clause of the conditions whose parameter is given, joined by AND. */
function conditions(parts: readonly [sql: string, param: string | number | undefined][]): {
  sql: string;
  params: (string | number)[];
} {
  const given = parts.filter((p): p is [string, string | number] => p[1] !== undefined);
  return {
    sql: given.length ? ` WHERE ${given.map((p) => p[0]).join(" AND ")}` : "",
    params: given.map((p) => p[1]),
  };
}
