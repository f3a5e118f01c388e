/** SQLite state store (embedded default): WAL-mode file created on first use. Only state/sqlite imports the driver for state. */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { DivergenceClass } from "../../core/classify.js";
import { type Key, keyId } from "../../core/model.js";
import { compareVersions, type Version } from "../../core/version.js";
import type { ObservedVersion, RunRecord, StateStore, StoredDivergence } from "../state-store.js";

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
];

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

/** A StateStore in one SQLite file. Synchronous underneath; the async port keeps server stores possible. */
export class SqliteStateStore implements StateStore {
  constructor(readonly db: Database.Database) {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    const current = db.pragma("user_version", { simple: true }) as number;
    for (let v = current; v < MIGRATIONS.length; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]!);
        db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  /** Opens (creating folder and file if needed) the state file at `path`. */
  static open(path: string): SqliteStateStore {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    return new SqliteStateStore(new Database(path, { timeout: 5000 }));
  }

  async beginRun(run: { id: string; dataset: string; command: string; startedAt: number }): Promise<void> {
    this.db
      .prepare("INSERT INTO runs (id, dataset, command, started_at, status) VALUES (?, ?, ?, ?, 'running')")
      .run(run.id, run.dataset, run.command, run.startedAt);
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
    this.db
      .prepare(
        "UPDATE runs SET finished_at = ?, status = ?, counts = ?, stats = ? WHERE id = ? AND dataset = ?",
      )
      .run(
        result.finishedAt,
        result.status,
        JSON.stringify(result.counts),
        JSON.stringify(result.stats),
        id,
        dataset,
      );
  }

  async getRun(id: string): Promise<RunRecord[]> {
    const rows = this.db.prepare("SELECT * FROM runs WHERE id = ? ORDER BY rowid").all(id) as RunRow[];
    return rows.map(toRun);
  }

  async listRuns(options: { dataset?: string; limit?: number } = {}): Promise<RunRecord[]> {
    const rows = (
      options.dataset
        ? this.db
            .prepare("SELECT * FROM runs WHERE dataset = ? ORDER BY started_at DESC, rowid DESC LIMIT ?")
            .all(options.dataset, options.limit ?? 100)
        : this.db
            .prepare("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?")
            .all(options.limit ?? 100)
    ) as RunRow[];
    return rows.map(toRun);
  }

  async recordDivergences(divergences: readonly StoredDivergence[]): Promise<void> {
    const st = this.db.prepare(
      "INSERT OR REPLACE INTO divergences (run_id, dataset, key, class, detail) VALUES (?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const d of divergences)
        st.run(d.runId, d.dataset, keyId(d.key), d.class, JSON.stringify(d.detail));
    })();
  }

  async listDivergences(runId: string): Promise<StoredDivergence[]> {
    const rows = this.db.prepare("SELECT * FROM divergences WHERE run_id = ? ORDER BY rowid").all(runId) as {
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
    const st = this.db.prepare(
      "SELECT replica, version FROM observed_versions WHERE dataset = ? AND key = ?",
    );
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

  async rememberVersions(dataset: string, observed: readonly ObservedVersion[]): Promise<void> {
    const get = this.db.prepare(
      "SELECT version FROM observed_versions WHERE dataset = ? AND key = ? AND replica = ?",
    );
    const put = this.db.prepare(
      "INSERT OR REPLACE INTO observed_versions (dataset, key, replica, version) VALUES (?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const o of observed) {
        const id = keyId(o.key);
        const prev = get.pluck().get(dataset, id, o.replica) as string | undefined;
        // Keep the highest version ever seen: a replica that later goes below it has regressed.
        if (prev && compareVersions(o.version, JSON.parse(prev)) === "before") continue;
        put.run(dataset, id, o.replica, JSON.stringify(o.version));
      }
    })();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
