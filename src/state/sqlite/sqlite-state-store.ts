import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  renameSync,
  unlinkSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import { makeDirs } from "../../runtime/make-dirs.js";
import { processGone } from "../../runtime/process-gone.js";
import { ComposedStateStore } from "../composed-state-store.js";
import type { StateStoreParts } from "../state-store.js";
import { migrateSqliteState } from "./migrate-sqlite-state.js";
import { nameSqliteErrors } from "./name-sqlite-errors.js";
import { SqliteAuditLog } from "./sqlite-audit-log.js";
import { SqliteChangeLogStore } from "./sqlite-change-log-store.js";
import { SqliteCheckpointStore } from "./sqlite-checkpoint-store.js";
import { SqliteDivergenceStore } from "./sqlite-divergence-store.js";
import { SqliteDivergentKeys } from "./sqlite-divergent-keys.js";
import { SqliteEscalationStore } from "./sqlite-escalation-store.js";
import { SqliteEvidenceStore } from "./sqlite-evidence-store.js";
import { SqliteFeedPositionStore } from "./sqlite-feed-position-store.js";
import { SqliteLeaseStore } from "./sqlite-lease-store.js";
import { SqlitePolicyRegistry } from "./sqlite-policy-registry.js";
import { SqliteRepairLedger } from "./sqlite-repair-ledger.js";
import { SqliteRolloutStore } from "./sqlite-rollout-store.js";
import { SqliteRunStore } from "./sqlite-run-store.js";
import { SqliteSampleStore } from "./sqlite-sample-store.js";
import { SqliteSegmentStore } from "./sqlite-segment-store.js";
import { SqliteSegmentSummaryStore } from "./sqlite-segment-summary-store.js";
import { SqliteSegmentTreeStore } from "./sqlite-segment-tree-store.js";
import { SqliteStageWriter } from "./sqlite-stage-writer.js";
import { SqliteStateDb } from "./sqlite-state-db.js";
import { SqliteVersionMemory } from "./sqlite-version-memory.js";

/** The state store's page cache: `PRAGMA cache_size`, negative in KiB. */
export const STATE_CACHE_SIZE = -2000;

/**
 * A StateStore in one SQLite file, for one host: several processes may share the file (WAL; every
 * read-then-write step takes the write lock first). Synchronous underneath; the async ports keep server
 * stores possible. The file is created and upgraded (migrateSqliteState) when opened.
 */
export class SqliteStateStore extends ComposedStateStore {
  /** A store over an open connection, which it sets up (WAL, busy timeout) and migrates. */
  constructor(readonly db: Database.Database) {
    db.pragma("busy_timeout = 5000");
    // A new file (no page yet) holds nothing to protect while it switches to WAL: that switch's four fsyncs
    // (rollback journal, folder, journal, file: 12-15 ms of a fresh `scan` on ext4) are skipped. Synchronous
    // is NORMAL again before the first commit, so every committed write is synced as before.
    if (db.pragma("page_count", { simple: true }) === 0) db.pragma("synchronous = OFF");
    // Switching a new file to WAL takes its lock without SQLite's busy handler, so several processes opening
    // one new file at once see SQLITE_BUSY here: wait for the one that got there first.
    whileBusy(() => {
      if (String(db.pragma("journal_mode", { simple: true })).toLowerCase() !== "wal")
        db.pragma("journal_mode = WAL");
    });
    db.pragma("synchronous = NORMAL");
    // Statement journals in memory, not temporary files: a multi-row upsert or update inside a transaction
    // keeps one (to undo itself alone on a conflict), and written to a file it cost a write system call per
    // page (docs/benchmarks.md, "Repair's record: evidence per cell, statement journals in memory").
    db.pragma("temp_store = MEMORY");
    // The page cache at SQLite's own default (2,000 KiB), not better-sqlite3's build default (16,000 KiB): a
    // 1M-row / 100k-difference repair writes a state file of about 250 MB, whose pages filled all 16 MB, an
    // eighth of the run's peak RSS, for no CPU measured (docs/benchmarks.md, "the state store's page cache").
    db.pragma(`cache_size = ${STATE_CACHE_SIZE}`);
    whileBusy(() => migrateSqliteState(db));
    const parts = sqliteParts(new SqliteStateDb(db));
    const label = `sqlite:${db.name}`;
    super(
      Object.fromEntries(
        Object.entries(parts).map(([name, part]) => [name, nameSqliteErrors(part, label)]),
      ) as unknown as StateStoreParts,
    );
  }

  /**
   * Loads SQLite's native library as the first `open` would, creating nothing (a database in memory, closed
   * at once): a caller about to wait on the network does it beforehand, taking it off the open's path. A
   * failure is left to `open`, which reports it.
   */
  static loadDriver(): void {
    try {
      new Database(":memory:").close();
    } catch {
      // open reports it.
    }
  }

  /**
   * Opens (creating folder and file if needed) the state file at `path`. A new file is made whole beside it
   * and linked into place, so a process stopped while creating it (a signal during start-up, a kill, power
   * loss) leaves no empty or half-made state file, which `audit verify` would have to call truncated.
   */
  static open(path: string): SqliteStateStore {
    if (path !== ":memory:") {
      makeDirs(dirname(path));
      if (!existsSync(path)) createWhole(path);
    }
    const db = new Database(path, { timeout: 5000 });
    // A file that is no database (or a migration that fails) must not leave it open.
    try {
      return new SqliteStateStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/**
 * Creates the state file at `path` whole: set up and migrated as `<path>.<pid>.new`, closed (its WAL folded in),
 * then hard-linked to `path`, which fails if another process got there first (its file is kept) and so never
 * replaces one. Files of this kind that processes no longer running left behind are removed first.
 */
function createWhole(path: string): void {
  removeUnfinished(path);
  const tmp = `${path}.${process.pid}.new`;
  try {
    const db = new Database(tmp, { timeout: 5000 });
    try {
      new SqliteStateStore(db);
      // Folding the WAL into the file on close syncs nothing: the file is synced once, below, before it
      // is linked into place (a sync per step cost a fresh run about 15 ms).
      db.pragma("synchronous = OFF");
    } finally {
      db.close();
    }
    const fd = openSync(tmp, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return;
      // A file system without hard links: renamed in place, unless another process made the file meanwhile.
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw err;
      if (!existsSync(path)) renameSync(tmp, path);
    }
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) removeIfThere(f);
  }
}

/** Deletes a file, if there (unlinkSync: rmSync would load Node's rimraf on every fresh start). */
function removeIfThere(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/** Removes the `<path>.<pid>.new` files (and their WAL) of processes that ended while creating `path`. */
function removeUnfinished(path: string): void {
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    const m = name.startsWith(prefix)
      ? /^([1-9]\d*)\.new(?:-wal|-shm|-journal)?$/.exec(name.slice(prefix.length))
      : null;
    if (!m || Number(m[1]) === process.pid || !processGone(Number(m[1]))) continue;
    removeIfThere(join(dirname(path), name));
  }
}

/** How long opening waits for other processes setting up the same file before it gives up. */
const SETUP_BUSY_MS = 10_000;

/** Runs `step`, again after a short sleep while SQLite answers SQLITE_BUSY, for up to SETUP_BUSY_MS. */
function whileBusy(step: () => void): void {
  const deadline = Date.now() + SETUP_BUSY_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      step();
      return;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== "string" || !code.startsWith("SQLITE_BUSY") || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, 5 + Math.floor(Math.random() * 20));
    }
  }
}

function sqliteParts(s: SqliteStateDb): StateStoreParts {
  const audit = new SqliteAuditLog(s);
  const divergences = new SqliteDivergenceStore(s);
  const versions = new SqliteVersionMemory(s);
  const divergentKeys = new SqliteDivergentKeys(s);
  const evidence = new SqliteEvidenceStore(s);
  return {
    runs: new SqliteRunStore(s),
    divergences,
    versions,
    ledger: new SqliteRepairLedger(s, audit),
    escalations: new SqliteEscalationStore(s),
    audit,
    checkpoints: new SqliteCheckpointStore(s),
    samples: new SqliteSampleStore(s),
    divergentKeys,
    leases: new SqliteLeaseStore(s),
    feedPositions: new SqliteFeedPositionStore(s),
    segmentSummaries: new SqliteSegmentSummaryStore(s),
    segmentTrees: new SqliteSegmentTreeStore(s),
    policies: new SqlitePolicyRegistry(s, audit),
    segments: new SqliteSegmentStore(s),
    rollouts: new SqliteRolloutStore(s),
    evidence,
    changeLog: new SqliteChangeLogStore(s),
    stages: new SqliteStageWriter(s, { versions, divergences, audit, evidence, divergentKeys }),
  };
}
