/**
 * What only the SQLite state store does: upgrading files made by earlier versions. Everything the port
 * promises runs against every store in state-store-conformance.test.ts.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  SQLITE_STATE_MIGRATIONS,
  SQLITE_STATE_VERSION,
} from "../../src/state/sqlite/migrate-sqlite-state.js";
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
  it("lets several processes open one new file at the same time: each step is applied once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-state-race-"));
    try {
      // The race is narrow, so every process opens the same eight new files in turn.
      const paths = Array.from({ length: 8 }, (_, i) => join(dir, `state-${i}.db`));
      const module = pathToFileURL(
        join(process.cwd(), "dist", "state", "sqlite", "sqlite-state-store.js"),
      ).href;
      // Every process loads the module and says so on stdout, then waits for "go" on stdin; the parent
      // sends it to all of them once all are ready (no fixed wait), so the ten open the new file together.
      const script = `const { SqliteStateStore } = await import(${JSON.stringify(module)});
        process.stdout.write("ready\\n");
        await new Promise((resolve) => process.stdin.once("data", resolve));
        for (const path of ${JSON.stringify(paths)}) {
          const s = SqliteStateStore.open(path);
          await s.appendAudit([{ ts: 1, runId: "r", type: "detected", dataset: "d", key: null, data: process.pid }]);
          await s.close();
        }`;
      const children = Array.from({ length: 10 }, () => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
          stdio: ["pipe", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        const ready = new Promise<void>((resolve, reject) => {
          child.stdout.once("data", () => resolve());
          child.once("close", (code) => reject(new Error(`exited (${code}) before ready: ${stderr}`)));
        });
        const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
          child.on("close", (code) => resolve({ code, stderr })),
        );
        return { child, ready, done };
      });
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.child.stdin.end("go\n");
      const runs = children.map((c) => c.done);
      for (const r of await Promise.all(runs)) expect(r, r.stderr).toEqual({ code: 0, stderr: "" });
      const fresh = SqliteStateStore.open(join(dir, "fresh.db"));
      const latest = fresh.db.pragma("user_version", { simple: true });
      await fresh.close();
      for (const path of paths) {
        const db = new Database(path, { readonly: true });
        expect(db.pragma("user_version", { simple: true })).toBe(latest);
        expect(db.prepare("SELECT count(*) AS n FROM audit").get()).toEqual({ n: 10 });
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

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

  it("upgrades a version-4 file (runs without heartbeats): a run's start stands for its heartbeat", async () => {
    // A file as the last release left it: the version-5 additions taken away again.
    const first = open();
    await first.beginRun({ id: "old-run", dataset: "users", command: "repair", startedAt: 1000 });
    await first.recordRepairs([repair("r1")].map((e) => ({ ...e, runId: "old-run" })));
    await first.close();
    const db = new Database(path);
    db.exec(`DROP TABLE leases; ALTER TABLE runs DROP COLUMN heartbeat_at; ${DROP_QUEUE_FACETS}
      PRAGMA user_version = 4;`);
    db.close();

    const store = open();
    expect(store.db.pragma("user_version", { simple: true })).toBe(SQLITE_STATE_VERSION);
    expect(await store.getRun("old-run")).toEqual([
      {
        id: "old-run",
        dataset: "users",
        command: "repair",
        startedAt: 1000,
        status: "running",
        counts: {},
        stats: {},
      },
    ]);
    expect(await store.listAbandonedRepairs("users", { staleBefore: 1000 })).toEqual([]);
    expect((await store.listAbandonedRepairs("users", { staleBefore: 1001 })).map((e) => e.id)).toEqual([
      "r1",
    ]);
    expect(await store.heartbeatRun("old-run", 5000)).toBe(true);
    expect(await store.listAbandonedRepairs("users", { staleBefore: 5000 })).toEqual([]);
    expect(await store.acquireLease("pass:users", "me", 1, 10)).toBe(true);
  });

  it("upgrades a version-5 file (escalations without facets): each groups by its class and matches no column filter", async () => {
    const first = open();
    await first.openEscalations([legacyEscalation]);
    await first.close();
    const db = new Database(path);
    db.exec(`${DROP_QUEUE_FACETS} PRAGMA user_version = 5;`);
    db.close();

    const store = open();
    expect(store.db.pragma("user_version", { simple: true })).toBe(SQLITE_STATE_VERSION);
    expect(await store.getEscalation("old")).toEqual(legacyEscalation);
    expect(await store.groupEscalations({ status: "open" })).toEqual([
      {
        dataset: "users",
        class: "conflict",
        pattern: '["conflict"]',
        count: 1,
        first: "old",
        oldestAt: 100,
        newestAt: 100,
      },
    ]);
    expect(await store.countEscalations({ column: "name" })).toBe(0);
    expect(await store.countEscalations({ pattern: '["conflict"]' })).toBe(1);
  });

  it("upgrades a ledger keyed by id alone: rows, order and outcomes kept, each found by key and id", async () => {
    // A file as the release before the key index left it, its ledger rows recorded out of id order.
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    // Version 18: the migrations before the ledger's key index (the 19th).
    for (const sql of SQLITE_STATE_MIGRATIONS.slice(0, 18)) db.exec(sql);
    db.pragma("user_version = 18");
    const insert = db.prepare(
      `INSERT INTO ledger (id, run_id, dataset, key, target, expected, next_fingerprint, before_values,
         after_values, outcome, attempts, error, updated_at, undoes, before_native)
       VALUES (?, 'run-1', 'users', ?, 'replica-b', NULL, 'ff', NULL, '["x"]', ?, 1, NULL, 1000, NULL, ?)`,
    );
    insert.run("r9", '["9"]', "applied", null);
    insert.run("r1", '["1"]', "pending", '{"t":["1.50"]}');
    insert.run("r5", '["5"]', "failed", null);
    db.close();

    const store = open();
    expect(store.db.pragma("user_version", { simple: true })).toBe(SQLITE_STATE_VERSION);
    const listed = await store.listRepairs({});
    expect(listed.map((e) => [e.id, e.outcome])).toEqual([
      ["r9", "applied"],
      ["r1", "pending"],
      ["r5", "failed"],
    ]);
    expect(store.db.prepare("SELECT before_native FROM ledger WHERE id = 'r1'").pluck().get()).toBe(
      '{"t":["1.50"]}',
    );
    // Found by key and id; an id asked for under another key is not (an inverse write is of its own key).
    const got = await store.getRepairs([
      { id: "r9", key: ["9"] },
      { id: "r5", key: ["1"] },
    ]);
    expect([...got.keys()]).toEqual(["r9"]);
    // The claim's upsert meets the migrated rows through the new unique index: the applied one is left.
    const claims = await store.claimRepairs([
      { ...repair("r9"), runId: "run-2" },
      { ...repair("r2"), runId: "run-2" },
    ]);
    expect([claims.get("r9")?.kind, claims.get("r2")?.kind]).toEqual(["applied", "claimed"]);
    expect((await store.listRepairs({})).map((e) => e.id)).toEqual(["r9", "r1", "r5", "r2"]);
    // A settlement finds its row by key and id through ledger_key, not by a scan.
    const plan = store.db
      .prepare(
        `EXPLAIN QUERY PLAN UPDATE ledger SET outcome = v.column3 FROM (VALUES ('r2', 'run-2', 'applied', '["2"]')) AS v
         WHERE ledger.key = v.column4 AND ledger.id = v.column1`,
      )
      .all() as { detail: string }[];
    expect(plan.map((p) => p.detail).join("; ")).toMatch(
      /SEARCH ledger USING (COVERING )?INDEX ledger_key \(key=\? AND id=\?\)/,
    );
  });

  it("pages a dataset's escalations of one status through escalations_order, upgraded files too", async () => {
    // A file as version 19 left it (no escalations_order), holding open escalations of two datasets.
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    for (const sql of SQLITE_STATE_MIGRATIONS.slice(0, 19)) db.exec(sql);
    db.pragma("user_version = 19");
    db.close();
    const store = open();
    expect(store.db.pragma("user_version", { simple: true })).toBe(SQLITE_STATE_VERSION);
    const esc = (i: number, dataset: string, at: number) => ({
      id: `e${String(i).padStart(3, "0")}`,
      dataset,
      key: [String(i)],
      class: "conflict",
      reason: "r",
      options: ["a", "b"],
      detail: {},
      status: "open" as const,
      runId: "run-1",
      createdAt: at,
    });
    // Created out of id order, several at one time: the list is by time, then as opened.
    await store.openEscalations([esc(5, "users", 2000), esc(1, "users", 1000), esc(9, "orders", 1500)]);
    await store.openEscalations([esc(3, "users", 1000), esc(7, "users", 3000)]);
    const ids = async (after?: string) =>
      (await store.listEscalations({ status: "open", dataset: "users", after, limit: 2 })).map((e) => e.id);
    expect(await ids()).toEqual(["e001", "e003"]);
    expect(await ids("e003")).toEqual(["e005", "e007"]);
    expect(await ids("e007")).toEqual([]);
    // A page after another is a stretch of the index: no sort of every open escalation of the dataset.
    const plan = store.db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT * FROM escalations WHERE status = 'open' AND dataset = 'users'
           AND (created_at, rowid) > (SELECT created_at, rowid FROM escalations WHERE id = 'e003')
         ORDER BY created_at, rowid LIMIT 2`,
      )
      .all() as { detail: string }[];
    const text = plan.map((p) => p.detail).join("; ");
    expect(text).toMatch(
      /SEARCH escalations USING INDEX escalations_order \(status=\? AND dataset=\? AND created_at>\?\)/,
    );
    expect(text).not.toMatch(/TEMP B-TREE/);
  });
});

/**
 * SQL taking version 6's escalation facets and the later tables (policy registry, feed positions, run segments,
 * rollouts, evidence, segment summaries, the change log and replay cursors, segment trees, the ledger's
 * native before images, the escalations' list-order index) away again (a file as version 5
 * left it).
 */
const DROP_QUEUE_FACETS = `DROP TABLE dirty_keys; DROP TABLE segment_tree_nodes; DROP TABLE segment_trees; DROP TABLE change_log; DROP TABLE change_log_heads; DROP TABLE replay_cursors; DROP TABLE segment_summaries; DROP TABLE dirty_segments; DROP TABLE run_segments; DROP TABLE rollouts; DROP TABLE evidence; DROP TABLE feed_positions; DROP TABLE policy_versions; DROP TABLE policy_current; DROP INDEX escalations_queue; DROP INDEX escalations_order; ALTER TABLE escalations DROP COLUMN columns;
  ALTER TABLE escalations DROP COLUMN absent; ALTER TABLE escalations DROP COLUMN involved;
  ALTER TABLE escalations DROP COLUMN pattern; ALTER TABLE ledger DROP COLUMN undoes;
  ALTER TABLE ledger DROP COLUMN before_native;`;

const legacyEscalation = {
  id: "old",
  dataset: "users",
  key: ["7"],
  class: "conflict",
  reason: "both changed",
  options: ["a", "b"],
  detail: { observed: { a: "00", b: "11" } },
  status: "open" as const,
  runId: "run-1",
  createdAt: 100,
};

describe("SqliteStateStore: connection settings", () => {
  it("keeps its page cache at SQLite's 2,000 KiB, not better-sqlite3's 16,000, and reads back a file larger than that", async () => {
    const s = open();
    expect(s.db.pragma("cache_size", { simple: true })).toBe(-2000);
    // About 6 MB of ledger entries, three times the cache: claimed, then read back and claimed again.
    const entries = Array.from({ length: 6000 }, (_, i) => ({
      ...repair(`c${i}`),
      after: ["x".repeat(1000), null],
    }));
    const claims = await s.claimRepairs(entries);
    expect([...claims.values()].every((c) => c.kind === "claimed")).toBe(true);
    const again = [...(await s.claimRepairs(entries)).values()];
    expect(again).toHaveLength(6000);
    expect(again.every((c) => c.kind === "claimed" && c.entry.attempts === 2)).toBe(true);
    expect(again.every((c) => c.entry.after?.[0] === "x".repeat(1000))).toBe(true);
  });

  it("keeps statement journals in memory (temp_store = MEMORY), and a 2,000-repair claim and settlement still apply whole", async () => {
    const s = open();
    expect(s.db.pragma("temp_store", { simple: true })).toBe(2);
    const entries = Array.from({ length: 2000 }, (_, i) => repair(`r${i}`));
    const claims = await s.claimRepairs(entries);
    expect([...claims.values()].every((c) => c.kind === "claimed")).toBe(true);
    const settled = await s.settleRepairs(
      entries.map((e) => ({
        id: e.id,
        key: e.key,
        runId: e.runId,
        outcome: "applied",
        attempts: 1,
        updatedAt: 2,
      })),
      entries.map((e) => ({
        ts: 2,
        runId: e.runId,
        type: "applied",
        dataset: e.dataset,
        key: e.id,
        data: {},
      })),
    );
    expect(settled).toHaveLength(2000);
    expect(await s.listRepairs({ outcome: "applied" })).toHaveLength(2000);
  });
});
