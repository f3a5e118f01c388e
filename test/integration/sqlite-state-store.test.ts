/**
 * What only the SQLite state store does: upgrading files made by earlier versions. Everything the port
 * promises runs against every store in state-store-conformance.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";
import type { LedgerEntry } from "../../src/state/state-store.js";

let dir: string;
let path: string;
const opened: SqliteStateStore[] = [];

function open(): SqliteStateStore {
  const store = SqliteStateStore.open(path);
  opened.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-state-"));
  path = join(dir, "state.db");
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const repair = (id: string): LedgerEntry => ({
  id,
  runId: "run-1",
  dataset: "users",
  key: [id.slice(1)],
  target: "replica-b",
  expected: "00ff00ff00ff00ff",
  nextFingerprint: "0123456789abcdef",
  before: ["alice", null],
  after: ["alicia", "x"],
  outcome: "pending",
  attempts: 1,
  updatedAt: 1000,
});

describe("SqliteStateStore: migrations", () => {
  it("upgrades a file created before the ledger, escalation and audit tables", async () => {
    const db = new Database(path);
    db.exec(`CREATE TABLE runs (id TEXT NOT NULL, dataset TEXT NOT NULL, command TEXT NOT NULL,
      started_at INTEGER NOT NULL, finished_at INTEGER, status TEXT NOT NULL,
      counts TEXT NOT NULL DEFAULT '{}', stats TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (id, dataset));
      CREATE TABLE divergences (run_id TEXT NOT NULL, dataset TEXT NOT NULL, key TEXT NOT NULL,
      class TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (run_id, key));
      CREATE TABLE observed_versions (dataset TEXT NOT NULL, key TEXT NOT NULL, replica TEXT NOT NULL,
      version TEXT NOT NULL, PRIMARY KEY (dataset, key, replica)) WITHOUT ROWID;
      PRAGMA user_version = 1;`);
    db.close();
    const store = open();
    expect(store.db.pragma("user_version", { simple: true })).toBeGreaterThanOrEqual(2);
    await store.recordRepairs([repair("r1")]);
    expect((await store.listRepairs({})).map((e) => e.id)).toEqual(["r1"]);
  });
});
