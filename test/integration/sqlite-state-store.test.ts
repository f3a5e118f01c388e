import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AuditEntryContent,
  GENESIS_HASH,
  hashAuditEntry,
  verifyAuditChain,
  verifyAuditChainAsync,
} from "../../src/core/audit-chain.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";
import { type Escalation, EscalationNotOpenError, type LedgerEntry } from "../../src/state/state-store.js";

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

const repair = (id: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
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
  ...over,
});

const escalation = (id: string, over: Partial<Escalation> = {}): Escalation => ({
  id,
  dataset: "users",
  key: ["7"],
  class: "concurrent-update",
  reason: "both replicas changed the record since it last agreed",
  options: ["take:a", "take:b"],
  detail: { a: { v: 2 }, b: { v: 3 } },
  status: "open",
  runId: "run-1",
  createdAt: 100,
  ...over,
});

const event = (
  n: number,
  over: Partial<Omit<AuditEntryContent, "seq">> = {},
): Omit<AuditEntryContent, "seq"> => ({
  ts: 1_700_000_000_000 + n,
  runId: "run-1",
  type: "applied",
  dataset: "users",
  key: JSON.stringify([String(n)]),
  data: { n, before: ["a", null] },
  ...over,
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

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
    expect(store.db.pragma("user_version", { simple: true })).toBe(2);
    await store.recordRepairs([repair("r1")]);
    expect((await store.listRepairs({})).map((e) => e.id)).toEqual(["r1"]);
  });
});

describe("SqliteStateStore: ledger", () => {
  it("upserts by id, returns entries by id and lists them by run, id and dataset", async () => {
    const store = open();
    await store.recordRepairs([repair("r1"), repair("r2", { dataset: "orders", before: null, after: null })]);
    await store.recordRepairs([
      repair("r1", { runId: "run-2", outcome: "failed", attempts: 2, error: "timeout", updatedAt: 2000 }),
      repair("r3", { runId: "run-2", expected: null, nextFingerprint: null }),
    ]);

    const got = await store.getRepairs(["r1", "r2", "missing"]);
    expect([...got.keys()].sort()).toEqual(["r1", "r2"]);
    expect(got.get("r1")).toEqual(
      repair("r1", { runId: "run-2", outcome: "failed", attempts: 2, error: "timeout", updatedAt: 2000 }),
    );
    expect(got.get("r2")).toEqual(repair("r2", { dataset: "orders", before: null, after: null }));
    expect(got.get("r2")).not.toHaveProperty("error");
    expect(await store.getRepairs([])).toEqual(new Map());

    // In the order first recorded: an upsert keeps its place.
    expect((await store.listRepairs({})).map((e) => e.id)).toEqual(["r1", "r2", "r3"]);
    expect((await store.listRepairs({ runId: "run-2" })).map((e) => e.id)).toEqual(["r1", "r3"]);
    expect((await store.listRepairs({ dataset: "users" })).map((e) => e.id)).toEqual(["r1", "r3"]);
    expect((await store.listRepairs({ id: "r3" }))[0]).toEqual(
      repair("r3", { runId: "run-2", expected: null, nextFingerprint: null }),
    );
    expect(await store.listRepairs({ runId: "run-2", dataset: "orders" })).toEqual([]);
  });

  it("clears the error when an entry is recorded again without one, and keeps attempts as given", async () => {
    const store = open();
    await store.recordRepairs([repair("r1", { outcome: "failed", error: "boom", attempts: 3 })]);
    await store.recordRepairs([repair("r1", { outcome: "applied", attempts: 1 })]);
    const [entry] = await store.listRepairs({ id: "r1" });
    expect(entry).toEqual(repair("r1", { outcome: "applied", attempts: 1 }));
  });

  it("is idempotent: recording the same entries twice equals once", async () => {
    const store = open();
    const entries = range(1, 50).map((n) => repair(`r${n}`));
    await store.recordRepairs(entries);
    await store.recordRepairs(entries);
    expect(await store.listRepairs({})).toEqual(entries);
  });
});

describe("SqliteStateStore: escalations", () => {
  it("opens each id once, so running again inserts nothing", async () => {
    const store = open();
    expect(await store.openEscalations([escalation("e1"), escalation("e2", { dataset: "orders" })])).toEqual([
      "e1",
      "e2",
    ]);
    expect(
      await store.openEscalations([
        escalation("e1", { reason: "again" }),
        escalation("e3"),
        escalation("e3"),
      ]),
    ).toEqual(["e3"]);
    expect(await store.getEscalation("e1")).toEqual(escalation("e1"));
    expect(await store.getEscalation("nope")).toBeUndefined();
    expect((await store.listEscalations()).map((e) => e.id)).toEqual(["e1", "e2", "e3"]);
    expect((await store.listEscalations({ dataset: "orders" })).map((e) => e.id)).toEqual(["e2"]);
  });

  it("closes an open escalation once; a closed one is not reopened", async () => {
    const store = open();
    await store.openEscalations([escalation("e1"), escalation("e2")]);
    await store.closeEscalation("e1", "resolved", { chose: "take:b", by: "ops" }, 500);
    await store.closeEscalation("e2", "rejected", null, 600);

    expect(await store.getEscalation("e1")).toEqual(
      escalation("e1", { status: "resolved", resolvedAt: 500, resolution: { chose: "take:b", by: "ops" } }),
    );
    expect(await store.getEscalation("e2")).toMatchObject({
      status: "rejected",
      resolvedAt: 600,
      resolution: null,
    });
    expect((await store.listEscalations({ status: "open" })).map((e) => e.id)).toEqual([]);
    expect((await store.listEscalations({ status: "resolved", dataset: "users" })).map((e) => e.id)).toEqual([
      "e1",
    ]);

    await expect(store.closeEscalation("e1", "rejected", null, 700)).rejects.toThrow(
      new EscalationNotOpenError("e1", "resolved"),
    );
    await expect(store.closeEscalation("zz", "resolved", null, 700)).rejects.toThrow(
      "escalation zz does not exist",
    );
    expect(await store.openEscalations([escalation("e1")])).toEqual([]);
    expect(await store.getEscalation("e1")).toMatchObject({ status: "resolved", resolvedAt: 500 });
  });
});

describe("SqliteStateStore: audit log", () => {
  it("assigns consecutive seqs and chains hashes across calls", async () => {
    const store = open();
    expect(await store.appendAudit([])).toEqual([]);
    const first = await store.appendAudit(range(1, 3).map((n) => event(n)));
    const second = await store.appendAudit([
      event(4, { runId: "run-2", type: "escalated", data: undefined }),
    ]);

    expect(first.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(first[0]!.prevHash).toBe(GENESIS_HASH);
    expect(second[0]).toMatchObject({ seq: 4, prevHash: first[2]!.hash, data: null });
    for (const e of [...first, ...second]) expect(e.hash).toBe(hashAuditEntry(e.prevHash, e));

    const all = await store.readAudit();
    expect(all).toEqual([...first, ...second]);
    expect(verifyAuditChain(all)).toEqual({ ok: true, count: 4 });
  });

  it("reads by run, key, from a seq and up to a limit, in seq order", async () => {
    const store = open();
    await store.appendAudit(
      range(1, 10).map((n) => event(n, { runId: n % 2 ? "odd" : "even", key: n <= 5 ? '["k"]' : null })),
    );
    const seqs = async (filter: Parameters<SqliteStateStore["readAudit"]>[0]) =>
      (await store.readAudit(filter)).map((e) => e.seq);
    expect(await seqs({ runId: "even" })).toEqual([2, 4, 6, 8, 10]);
    expect(await seqs({ key: '["k"]' })).toEqual([1, 2, 3, 4, 5]);
    expect(await seqs({ runId: "odd", key: '["k"]' })).toEqual([1, 3, 5]);
    expect(await seqs({ fromSeq: 8 })).toEqual([8, 9, 10]);
    expect(await seqs({ fromSeq: 3, limit: 2 })).toEqual([3, 4]);
    expect(await seqs({ runId: "none" })).toEqual([]);
  });

  it("returns data in the JSON form it is stored and hashed in", async () => {
    const store = open();
    const [entry] = await store.appendAudit([
      event(1, { data: { when: new Date(0), gone: undefined, list: [undefined, Number.NaN] } }),
    ]);
    expect(entry!.data).toEqual({ when: "1970-01-01T00:00:00.000Z", list: [null, null] });
    expect(await store.readAudit()).toEqual([entry]);
  });

  it("writes nothing when an event has no JSON form", async () => {
    const store = open();
    await store.appendAudit([event(1)]);
    await expect(store.appendAudit([event(2), event(3, { data: { n: 3n } })])).rejects.toThrow(TypeError);
    expect((await store.readAudit()).map((e) => e.seq)).toEqual([1]);
  });

  it("keeps an entry whose text holds a lone surrogate verifiable", async () => {
    const store = open();
    await store.appendAudit([event(1, { dataset: "bad\uD800name", runId: "\uDC00" })]);
    expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({ ok: true, count: 1 });
  });

  it("streams the whole log in seq order across batches", async () => {
    const store = open();
    await store.appendAudit(range(1, 2500).map((n) => event(n)));
    const seqs: number[] = [];
    for await (const e of store.iterateAudit()) seqs.push(e.seq);
    expect(seqs).toEqual(range(1, 2500));
    expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({ ok: true, count: 2500 });
  });

  it("stays one chain when two stores on the same file append interleaved", async () => {
    const a = open();
    const b = open();
    const appended = await Promise.all(
      range(1, 40).map((n) =>
        (n % 3 ? a : b).appendAudit(range(1, (n % 4) + 1).map((m) => event(n * 10 + m))),
      ),
    );
    const total = appended.reduce((sum, batch) => sum + batch.length, 0);
    expect(await verifyAuditChainAsync(a.iterateAudit())).toEqual({ ok: true, count: total });
    expect(await b.readAudit()).toEqual(await a.readAudit());
    // Each call's entries are consecutive: no other append lands inside one batch.
    for (const batch of appended)
      expect(batch.map((e) => e.seq - batch[0]!.seq)).toEqual(batch.map((_, i) => i));
  });
});

describe("SqliteStateStore: audit tampering is detected at the right entry", () => {
  async function tampered(sql: (db: Database.Database) => void) {
    const store = open();
    await store.appendAudit(range(1, 20).map((n) => event(n)));
    const raw = new Database(path);
    sql(raw);
    raw.close();
    return verifyAuditChainAsync(store.iterateAudit());
  }

  it.each<[string, (db: Database.Database) => void, number, RegExp]>([
    ["UPDATE of data", (db) => db.exec(`UPDATE audit SET data = '{"n":999}' WHERE seq = 7`), 7, /edited/],
    [
      "UPDATE to text that is not JSON",
      (db) => db.exec(`UPDATE audit SET data = '{oops' WHERE seq = 3`),
      3,
      /edited/,
    ],
    ["UPDATE of type", (db) => db.exec(`UPDATE audit SET type = 'noop' WHERE seq = 12`), 12, /edited/],
    ["UPDATE of ts", (db) => db.exec("UPDATE audit SET ts = ts + 1 WHERE seq = 1"), 1, /edited/],
    [
      "UPDATE of the last hash",
      (db) => db.exec(`UPDATE audit SET hash = '${"a".repeat(64)}' WHERE seq = 20`),
      20,
      /edited/,
    ],
    ["DELETE of an entry", (db) => db.exec("DELETE FROM audit WHERE seq = 9"), 10, /expected seq 9/],
    ["DELETE of the first entry", (db) => db.exec("DELETE FROM audit WHERE seq = 1"), 2, /expected seq 1/],
    [
      "DELETE with the rest renumbered",
      (db) => db.exec("DELETE FROM audit WHERE seq = 5; UPDATE audit SET seq = seq - 1 WHERE seq > 5"),
      5,
      /previous hash does not match entry 4/,
    ],
    [
      "INSERT at the end with a made-up link",
      (db) =>
        db.exec(`INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash)
          VALUES (21, 1, 'run-1', 'applied', 'users', '["x"]', '{}', '${"b".repeat(64)}', '${"c".repeat(64)}')`),
      21,
      /previous hash does not match entry 20/,
    ],
    [
      "INSERT before the first entry",
      (db) =>
        db.exec(`INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash)
          VALUES (0, 1, NULL, 'alert', NULL, NULL, 'null', '${GENESIS_HASH}', '${"c".repeat(64)}')`),
      0,
      /expected seq 1/,
    ],
  ])("%s", async (_name, sql, seq, problem) => {
    const verdict = await tampered(sql);
    expect(verdict).toMatchObject({ ok: false, seq });
    if (!verdict.ok) {
      expect(verdict.problem).toMatch(problem);
      expect(verdict.problem.startsWith(`entry ${seq}: `)).toBe(true);
    }
  });

  it("a deleted entry replaced by a correctly hashed forgery is reported at the entry after it", async () => {
    const verdict = await tampered((db) => {
      const prev = db.prepare("SELECT hash FROM audit WHERE seq = 5").pluck().get() as string;
      const content: AuditEntryContent = { ...event(6), data: { n: 6, forged: true }, seq: 6 };
      db.prepare("DELETE FROM audit WHERE seq = 6").run();
      db.prepare(
        "INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ).run(
        6,
        content.ts,
        content.runId,
        content.type,
        content.dataset,
        content.key,
        JSON.stringify(content.data),
        prev,
        hashAuditEntry(prev, content),
      );
    });
    expect(verdict).toEqual({
      ok: false,
      seq: 7,
      problem: "entry 7: previous hash does not match entry 6 (an entry was inserted, deleted or reordered)",
    });
  });
});
