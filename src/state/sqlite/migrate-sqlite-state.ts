/** Creates and upgrades the SQLite state tables in one file. Only DDL here; no reads or writes of state. */
import type Database from "better-sqlite3";

/**
 * The file's history, one entry per version (`PRAGMA user_version`), each applied once in order (version n
 * is entry n - 1). Never edit an entry that has shipped: add one.
 *
 * Times are INTEGER columns: the affinity keeps a fractional millisecond as REAL, so every time reads back
 * exactly. Ledger, escalations and samples list in rowid order (first recorded); an upsert keeps the rowid.
 */
export const SQLITE_STATE_MIGRATIONS: readonly string[] = [
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
  // What `serve` keeps between passes.
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
  // Run liveness (a run's heartbeat; NULL in runs begun before it: their start counts) and leases.
  `ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;
   CREATE TABLE leases (
     name TEXT NOT NULL PRIMARY KEY, owner TEXT NOT NULL, acquired_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL) WITHOUT ROWID;`,
  // What the escalation queue filters and groups by (NULL columns in escalations opened before: they match
  // no column or replica filter and group by class alone).
  `ALTER TABLE escalations ADD COLUMN columns TEXT;
   ALTER TABLE escalations ADD COLUMN absent TEXT;
   ALTER TABLE escalations ADD COLUMN involved TEXT;
   ALTER TABLE escalations ADD COLUMN pattern TEXT NOT NULL DEFAULT '';
   UPDATE escalations SET pattern = json_array(class);
   CREATE INDEX escalations_queue ON escalations (status, dataset, pattern, created_at);`,
  // Where each change feed resumes (concord watch, serve with watch:).
  `CREATE TABLE feed_positions (
     dataset TEXT NOT NULL, replica TEXT NOT NULL, position TEXT NOT NULL, updated_at INTEGER NOT NULL,
     PRIMARY KEY (dataset, replica)) WITHOUT ROWID;`,
  // The policy registry: every version a dataset ran under (listed by rowid: first used first), and the
  // version each dataset runs under now.
  `CREATE TABLE policy_versions (
     dataset TEXT NOT NULL, version TEXT NOT NULL, text TEXT NOT NULL, source TEXT NOT NULL,
     first_used_at INTEGER NOT NULL, first_used_by TEXT NOT NULL, first_run_id TEXT NOT NULL,
     PRIMARY KEY (dataset, version));
   CREATE TABLE policy_current (
     dataset TEXT NOT NULL PRIMARY KEY, version TEXT NOT NULL, adopted_at INTEGER NOT NULL, previous TEXT)
     WITHOUT ROWID;`,
  // The run drill-down: each group of segments a run went through, bounded per dataset by the runs kept.
  `CREATE TABLE run_segments (
     dataset TEXT NOT NULL, run_id TEXT NOT NULL, seg_from INTEGER NOT NULL, seg_to INTEGER NOT NULL,
     seg_of INTEGER NOT NULL, visit INTEGER NOT NULL, started_at REAL NOT NULL, duration_ms REAL NOT NULL,
     scan_ms REAL NOT NULL, figures TEXT NOT NULL, PRIMARY KEY (run_id, seg_from, visit)) WITHOUT ROWID;
   CREATE INDEX run_segments_dataset ON run_segments (dataset, run_id, started_at);
   CREATE INDEX run_segments_started ON run_segments (started_at);`,
  // Where each dataset's policy rollout stands (a canary's step, approvals collected), kept across restarts.
  `CREATE TABLE rollouts (
     dataset TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, state TEXT NOT NULL,
     updated_at REAL NOT NULL, PRIMARY KEY (dataset, kind)) WITHOUT ROWID;`,
  // The learning loop's evidence: counters per cell (dataset × replica × column × key range × class × facet ×
  // time bucket), added to in place. `span` is the bucket's length in hours (1, or 24 once rolled up).
  `CREATE TABLE evidence (
     dataset TEXT NOT NULL, replica TEXT NOT NULL, col TEXT NOT NULL, segment INTEGER NOT NULL,
     class TEXT NOT NULL, facet TEXT NOT NULL, span INTEGER NOT NULL, bucket INTEGER NOT NULL,
     divergences INTEGER NOT NULL DEFAULT 0, settled INTEGER NOT NULL DEFAULT 0, lost INTEGER NOT NULL DEFAULT 0,
     person_settled INTEGER NOT NULL DEFAULT 0, person_lost INTEGER NOT NULL DEFAULT 0,
     regressions INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, rejected INTEGER NOT NULL DEFAULT 0,
     repaired INTEGER NOT NULL DEFAULT 0, self_converged INTEGER NOT NULL DEFAULT 0,
     converged INTEGER NOT NULL DEFAULT 0, converged_ms INTEGER NOT NULL DEFAULT 0,
     noise INTEGER NOT NULL DEFAULT 0, noise_max INTEGER NOT NULL DEFAULT 0, last_at INTEGER NOT NULL,
     PRIMARY KEY (dataset, replica, col, segment, class, facet, span, bucket)) WITHOUT ROWID;
   CREATE INDEX evidence_bucket ON evidence (span, bucket);`,
  // Dirty-segment passes: what the last verified whole pass vouches for, and the segments changed since.
  `CREATE TABLE segment_summaries (
     dataset TEXT NOT NULL PRIMARY KEY, key_columns TEXT NOT NULL, bounds TEXT NOT NULL, verified_at INTEGER,
     run_id TEXT, invalid TEXT, invalid_at INTEGER, sweep_cursor INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
   CREATE TABLE dirty_segments (
     dataset TEXT NOT NULL, segment INTEGER NOT NULL, marked_at INTEGER NOT NULL,
     PRIMARY KEY (dataset, segment)) WITHOUT ROWID;`,
  // Change-log replay: the owner's changed keys in commit order, where each log stands, each replica's cursor.
  `CREATE TABLE change_log (
     dataset TEXT NOT NULL, source TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, at INTEGER NOT NULL,
     PRIMARY KEY (dataset, source, seq)) WITHOUT ROWID;
   CREATE TABLE change_log_heads (
     dataset TEXT NOT NULL, source TEXT NOT NULL, last_seq INTEGER NOT NULL, lost_through INTEGER NOT NULL,
     lost_reason TEXT, PRIMARY KEY (dataset, source)) WITHOUT ROWID;
   CREATE TABLE replay_cursors (
     dataset TEXT NOT NULL, replica TEXT NOT NULL, seq INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     PRIMARY KEY (dataset, replica)) WITHOUT ROWID;`,
  // Merkle trees over segment checksums: the known nodes of each dataset's per-replica trees, and their heads.
  `CREATE TABLE segment_tree_nodes (
     dataset TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, replica TEXT NOT NULL,
     hash TEXT NOT NULL, hashed_at INTEGER NOT NULL, PRIMARY KEY (dataset, level, idx, replica)) WITHOUT ROWID;
   CREATE TABLE segment_trees (
     dataset TEXT NOT NULL, replica TEXT NOT NULL, leaves INTEGER NOT NULL, complete_at INTEGER,
     hashed_at INTEGER NOT NULL, PRIMARY KEY (dataset, replica)) WITHOUT ROWID;`,
  // Inferred ownership by recent activity and by latency: which replica held a change first, how often each
  // was behind, probe lag (the evidence counters ahead, observed, behind, probed, lag_ms).
  `ALTER TABLE evidence ADD COLUMN ahead INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE evidence ADD COLUMN observed INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE evidence ADD COLUMN behind INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE evidence ADD COLUMN probed INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE evidence ADD COLUMN lag_ms INTEGER NOT NULL DEFAULT 0;`,
  // The repair a rollback's inverse write undoes (NULL: a run's own repair, and every entry recorded before):
  // recovery settles a landed claim that carries it as `rolled-back`, as the rollback itself would have.
  "ALTER TABLE ledger ADD COLUMN undoes TEXT;",
  // Key-grain dirty marks: a segment's mark lists its changed keys (whole = 0) until there are too many
  // (whole = 1, every mark made before). A pass checks the listed keys instead of re-reading the segment.
  `ALTER TABLE dirty_segments ADD COLUMN whole INTEGER NOT NULL DEFAULT 1;
   CREATE TABLE dirty_keys (
     dataset TEXT NOT NULL, segment INTEGER NOT NULL, key_id TEXT NOT NULL, marked_at INTEGER NOT NULL,
     PRIMARY KEY (dataset, segment, key_id)) WITHOUT ROWID;`,
  // The target's values as its store held them before a repair (NULL: not read, or recorded before): a
  // rollback writes them back as they were, not their canonical text (core/native-values.ts).
  "ALTER TABLE ledger ADD COLUMN before_native TEXT;",
  // The ledger found by key, then id, instead of by id alone: a repair id is a hash, so each claim of a batch
  // went into a random page of the id index, and every commit wrote all those pages again (a third of a
  // 100k-repair run's disk writes). A batch's keys are one stretch of the key order, so its entries now go
  // into a few pages (docs/benchmarks.md, "The ledger indexed by key"). The rows keep their rowids: the
  // ledger lists in the order first recorded.
  `CREATE TABLE ledger_next (
     id TEXT NOT NULL, run_id TEXT NOT NULL, dataset TEXT NOT NULL, key TEXT NOT NULL,
     target TEXT NOT NULL, expected TEXT, next_fingerprint TEXT, before_values TEXT, after_values TEXT,
     outcome TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT, updated_at INTEGER NOT NULL, undoes TEXT,
     before_native TEXT);
   INSERT INTO ledger_next (rowid, id, run_id, dataset, key, target, expected, next_fingerprint, before_values,
       after_values, outcome, attempts, error, updated_at, undoes, before_native)
     SELECT rowid, id, run_id, dataset, key, target, expected, next_fingerprint, before_values, after_values,
       outcome, attempts, error, updated_at, undoes, before_native FROM ledger ORDER BY rowid;
   DROP TABLE ledger;
   ALTER TABLE ledger_next RENAME TO ledger;
   CREATE UNIQUE INDEX ledger_key ON ledger (key, id);
   CREATE INDEX ledger_run ON ledger (run_id);
   CREATE INDEX ledger_dataset ON ledger (dataset);
   CREATE INDEX ledger_outcome ON ledger (dataset, outcome);`,
  // A dataset's escalations of one status in list order (created_at, then rowid, which every index ends
  // with): a page after another (`after`) is a stretch of this index instead of a sort of every escalation
  // of the dataset and status (a run reads its dataset's open ones a page at a time: 100,000 open in pages
  // of 1,000 read in 9.4 s without it, 1.6 s with it).
  "CREATE INDEX escalations_order ON escalations (status, dataset, created_at);",
];

/** The file version this code creates and expects. */
export const SQLITE_STATE_VERSION = SQLITE_STATE_MIGRATIONS.length;

/**
 * Brings the file up to SQLITE_STATE_VERSION, creating the tables on first use. Idempotent, and safe when
 * several processes open the same new file at once: each step runs in an IMMEDIATE transaction that reads
 * the version again under the write lock, so a step another process applied meanwhile is skipped. A file at
 * or past this version is left as it is. A new file (version 0) takes every step in one transaction: the
 * same statements in the same order, so the same schema and version, for one commit instead of one a step
 * (a `scan` with a fresh state file paid about 20 ms of its start-up for them; docs/benchmarks.md).
 */
export function migrateSqliteState(db: Database.Database): void {
  const version = () => db.pragma("user_version", { simple: true }) as number;
  if (version() === 0)
    db.transaction(() => {
      for (let v = version(); v < SQLITE_STATE_MIGRATIONS.length; v++) db.exec(SQLITE_STATE_MIGRATIONS[v]!);
      db.pragma(`user_version = ${SQLITE_STATE_MIGRATIONS.length}`);
    }).immediate();
  for (let v = version(); v < SQLITE_STATE_MIGRATIONS.length; v++) {
    db.transaction(() => {
      if (version() > v) return;
      db.exec(SQLITE_STATE_MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
