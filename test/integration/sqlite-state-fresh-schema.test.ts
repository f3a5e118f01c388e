/**
 * A new SQLite state file is created in one transaction (migrateSqliteState): the same schema and version as
 * applying every migration in turn, in one commit instead of one a step.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  SQLITE_STATE_MIGRATIONS,
  SQLITE_STATE_VERSION,
} from "../../src/state/sqlite/migrate-sqlite-state.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-state-fresh-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Every schema object (type, name, table, SQL) in sqlite_master order, and the file's version. */
function schemaOf(path: string): { objects: unknown[]; version: number } {
  const db = new Database(path, { readonly: true });
  try {
    return {
      objects: db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").all(),
      version: db.pragma("user_version", { simple: true }) as number,
    };
  } finally {
    db.close();
  }
}

/** The commit frames in a WAL file: a frame header (24 bytes) whose second word, the size after commit, is set. */
function walCommits(path: string): number {
  const wal = readFileSync(path);
  if (wal.length < 32) return 0; // no frame written yet
  const pageSize = wal.readUInt32BE(8);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize)
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  return commits;
}

describe("SqliteStateStore: a new file", () => {
  it("has the schema and version of a file migrated one step at a time", async () => {
    const stepwise = join(dir, "stepwise.db");
    const db = new Database(stepwise);
    db.pragma("journal_mode = WAL");
    for (const [v, sql] of SQLITE_STATE_MIGRATIONS.entries())
      db.transaction(() => {
        db.exec(sql);
        db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    db.close();
    const fresh = join(dir, "fresh.db");
    await SqliteStateStore.open(fresh).close();
    const expected = schemaOf(stepwise);
    expect(expected.version).toBe(SQLITE_STATE_VERSION);
    expect(expected.objects.length).toBeGreaterThan(20);
    expect(schemaOf(fresh)).toEqual(expected);
  });

  it("is created in one commit, not one a migration", async () => {
    const path = join(dir, "state.db");
    // The constructor sets up a new file (open makes one so, beside its place, then links it in).
    const store = new SqliteStateStore(new Database(path));
    try {
      // Read while the store is open: closing checkpoints the WAL into the file and deletes it.
      expect(walCommits(`${path}-wal`)).toBe(1);
    } finally {
      await store.close();
    }
    // Opened again, a file made whole is not migrated again: its WAL holds no commit.
    const again = SqliteStateStore.open(path);
    try {
      expect(walCommits(`${path}-wal`)).toBe(0);
    } finally {
      await again.close();
    }
  });

  it("upgrades an older file step by step to the same schema", async () => {
    const old = join(dir, "old.db");
    const db = new Database(old);
    db.pragma("journal_mode = WAL");
    SQLITE_STATE_MIGRATIONS.slice(0, 3).forEach((sql, v) => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    });
    db.close();
    await SqliteStateStore.open(old).close();
    const fresh = join(dir, "fresh.db");
    await SqliteStateStore.open(fresh).close();
    expect(schemaOf(old)).toEqual(schemaOf(fresh));
  });

  it("skips the WAL switch's syncs on a new file only, and syncs commits as before", async () => {
    /** The pragmas a store sets up its connection with, in order. */
    const pragmasOf = async (path: string): Promise<string[]> => {
      const db = new Database(path);
      const seen: string[] = [];
      const pragma = db.pragma.bind(db);
      db.pragma = ((source: string, options?: Database.PragmaOptions) => {
        seen.push(source);
        return pragma(source, options);
      }) as typeof db.pragma;
      const store = new SqliteStateStore(db);
      expect(pragma("synchronous", { simple: true })).toBe(1); // NORMAL
      expect(pragma("journal_mode", { simple: true })).toBe("wal");
      await store.close();
      return seen.filter((p) => /^(synchronous|journal_mode)\b/.test(p));
    };
    const path = join(dir, "state.db");
    expect(await pragmasOf(path)).toEqual([
      "synchronous = OFF",
      "journal_mode",
      "journal_mode = WAL",
      "synchronous = NORMAL",
    ]);
    // The file exists now: nothing is switched off.
    expect(await pragmasOf(path)).toEqual(["journal_mode", "synchronous = NORMAL"]);
  });
});
