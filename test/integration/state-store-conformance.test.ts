/** The StateStore conformance suite: one test body run against every state store's factory. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AuditEntryContent,
  GENESIS_HASH,
  hashAuditEntry,
  verifyAuditChain,
  verifyAuditChainAsync,
} from "../../src/core/audit-chain.js";
import { keyId } from "../../src/core/model.js";
import {
  type Checkpoint,
  type Escalation,
  EscalationNotOpenError,
  type LedgerEntry,
  type Sample,
  type StateStore,
} from "../../src/state/state-store.js";
import { type StateStoreFixture, stateStoreFactories } from "./state-store-factories.js";

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

const checkpoint = (dataset: string, over: Partial<Checkpoint> = {}): Checkpoint => ({
  dataset,
  runId: "run-1",
  mode: "scan",
  bounds: [["10"], ["20"]],
  done: 1,
  totals: { missing: 2 },
  startedAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_500,
  ...over,
});

const sample = (series: string, at: number, value: number | null, over: Partial<Sample> = {}): Sample => ({
  dataset: "users",
  series,
  label: "",
  at,
  value,
  ...over,
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** An SQL string literal (both stores read standard quoting). */
const lit = (value: string | null) => (value === null ? "NULL" : `'${value.replaceAll("'", "''")}'`);

for (const factory of stateStoreFactories) {
  const available = await factory.available();

  describe.skipIf(!available)(`${factory.name} state store`, () => {
    let fx: StateStoreFixture;
    const open = () => fx.open();

    beforeEach(async () => {
      fx = await factory.create();
    });

    afterEach(async () => {
      await fx.dispose();
    });

    describe("runs, divergences and versions", () => {
      it("brackets runs per dataset and lists them newest first", async () => {
        const store = await open();
        await store.beginRun({ id: "run-1", dataset: "users", command: "scan", startedAt: 100 });
        await store.beginRun({ id: "run-1", dataset: "orders", command: "scan", startedAt: 100 });
        await store.beginRun({ id: "run-2", dataset: "users", command: "repair", startedAt: 200 });
        await store.finishRun("run-1", "users", {
          finishedAt: 150,
          status: "diverged",
          counts: { missing: 2 },
          stats: { rows: 10 },
        });

        expect(await store.getRun("run-1")).toEqual([
          {
            id: "run-1",
            dataset: "users",
            command: "scan",
            startedAt: 100,
            finishedAt: 150,
            status: "diverged",
            counts: { missing: 2 },
            stats: { rows: 10 },
          },
          {
            id: "run-1",
            dataset: "orders",
            command: "scan",
            startedAt: 100,
            finishedAt: undefined,
            status: "running",
            counts: {},
            stats: {},
          },
        ]);
        expect(await store.getRun("nope")).toEqual([]);
        const ids = (runs: { id: string; dataset: string }[]) => runs.map((r) => `${r.id}/${r.dataset}`);
        expect(ids(await store.listRuns())).toEqual(["run-2/users", "run-1/orders", "run-1/users"]);
        expect(ids(await store.listRuns({ dataset: "users" }))).toEqual(["run-2/users", "run-1/users"]);
        expect(ids(await store.listRuns({ limit: 1 }))).toEqual(["run-2/users"]);
        await expect(
          store.beginRun({ id: "run-1", dataset: "users", command: "scan", startedAt: 300 }),
        ).rejects.toThrow();
      });

      it("records divergences per run; the same key again replaces it and moves it last", async () => {
        const store = await open();
        await store.recordDivergences([
          { runId: "run-1", dataset: "users", key: ["1"], class: "missing", detail: { on: ["b"] } },
          { runId: "run-1", dataset: "users", key: ["2"], class: "conflict", detail: null },
          { runId: "run-2", dataset: "users", key: ["1"], class: "missing", detail: {} },
        ]);
        await store.recordDivergences([
          { runId: "run-1", dataset: "users", key: ["1"], class: "conflict", detail: { again: true } },
          { runId: "run-1", dataset: "users", key: ["3"], class: "stale", detail: [1] },
          { runId: "run-1", dataset: "users", key: ["3"], class: "missing", detail: [2] },
        ]);
        expect(await store.listDivergences("run-1")).toEqual([
          { runId: "run-1", dataset: "users", key: ["2"], class: "conflict", detail: null },
          { runId: "run-1", dataset: "users", key: ["1"], class: "conflict", detail: { again: true } },
          { runId: "run-1", dataset: "users", key: ["3"], class: "missing", detail: [2] },
        ]);
        expect((await store.listDivergences("run-2")).map((d) => d.key)).toEqual([["1"]]);
        expect(await store.listDivergences("none")).toEqual([]);
      });

      it("keeps the highest version seen per key and replica unless told to overwrite", async () => {
        const store = await open();
        await store.rememberVersions("users", [
          { key: ["1"], replica: "a", version: { counter: "5" } },
          { key: ["1"], replica: "b", version: { counter: "3" } },
          { key: ["2"], replica: "a", version: { counter: "1" } },
        ]);
        await store.rememberVersions("users", [
          { key: ["1"], replica: "a", version: { counter: "4" } }, // lower: kept at 5
          { key: ["1"], replica: "b", version: { counter: "7" } }, // higher: taken
          { key: ["2"], replica: "a", version: { counter: "9" } },
          { key: ["2"], replica: "a", version: { counter: "8" } }, // lower than the one just before it
        ]);
        await store.rememberVersions("orders", [{ key: ["1"], replica: "a", version: { counter: "1" } }]);

        const seen = await store.lastSeenVersions("users", [["1"], ["2"], ["3"]]);
        expect([...seen.keys()]).toEqual(['["1"]', '["2"]']);
        expect(seen.get('["1"]')).toEqual({ a: { counter: "5" }, b: { counter: "7" } });
        expect(seen.get('["2"]')).toEqual({ a: { counter: "9" } });
        expect(await store.lastSeenVersions("users", [])).toEqual(new Map());

        await store.rememberVersions("users", [{ key: ["1"], replica: "a", version: { counter: "2" } }], {
          overwrite: true,
        });
        expect((await store.lastSeenVersions("users", [["1"]])).get('["1"]')).toEqual({
          a: { counter: "2" },
          b: { counter: "7" },
        });
        expect((await store.lastSeenVersions("orders", [["1"]])).get('["1"]')).toEqual({
          a: { counter: "1" },
        });
      });

      it("keeps concurrent versions (neither is lower) as the latest observed", async () => {
        const store = await open();
        await store.rememberVersions("users", [
          { key: ["1"], replica: "a", version: { vector: { x: 2, y: 1 } } },
        ]);
        await store.rememberVersions("users", [
          { key: ["1"], replica: "a", version: { vector: { x: 1, y: 2 } } },
        ]);
        expect((await store.lastSeenVersions("users", [["1"]])).get('["1"]')).toEqual({
          a: { vector: { x: 1, y: 2 } },
        });
      });
    });

    describe("ledger", () => {
      it("upserts by id, returns entries by id and lists them by run, id, dataset and outcome", async () => {
        const store = await open();
        await store.recordRepairs([
          repair("r1"),
          repair("r2", { dataset: "orders", before: null, after: null }),
        ]);
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
        expect((await store.listRepairs({ outcome: "pending" })).map((e) => e.id)).toEqual(["r2", "r3"]);
        expect((await store.listRepairs({ outcome: "failed", runId: "run-2" })).map((e) => e.id)).toEqual([
          "r1",
        ]);
        expect((await store.listRepairs({ id: "r3" }))[0]).toEqual(
          repair("r3", { runId: "run-2", expected: null, nextFingerprint: null }),
        );
        expect(await store.listRepairs({ runId: "run-2", dataset: "orders" })).toEqual([]);
      });

      it("clears the error when an entry is recorded again without one, and keeps attempts as given", async () => {
        const store = await open();
        await store.recordRepairs([repair("r1", { outcome: "failed", error: "boom", attempts: 3 })]);
        await store.recordRepairs([repair("r1", { outcome: "applied", attempts: 1 })]);
        const [entry] = await store.listRepairs({ id: "r1" });
        expect(entry).toEqual(repair("r1", { outcome: "applied", attempts: 1 }));
      });

      it("is idempotent: recording the same entries twice equals once", async () => {
        const store = await open();
        const entries = range(1, 50).map((n) => repair(`r${n}`));
        await store.recordRepairs(entries);
        await store.recordRepairs(entries);
        expect(await store.listRepairs({})).toEqual(entries);
      });

      it("takes the last word on an id given twice in one call, in the place of its first", async () => {
        const store = await open();
        await store.recordRepairs([
          repair("r1"),
          repair("r2"),
          repair("r1", { outcome: "applied", attempts: 2 }),
        ]);
        expect(await store.listRepairs({})).toEqual([
          repair("r1", { outcome: "applied", attempts: 2 }),
          repair("r2"),
        ]);
      });

      it("records batches larger than one statement", async () => {
        const store = await open();
        const entries = range(1, 12_001).map((n) => repair(`r${n}`, { updatedAt: n }));
        await store.recordRepairs(entries);
        const listed = await store.listRepairs({});
        expect(listed.length).toBe(entries.length);
        expect(listed.map((e) => e.id)).toEqual(entries.map((e) => e.id));
        expect(listed[12_000]).toEqual(entries[12_000]);
        const got = await store.getRepairs(entries.map((e) => e.id));
        expect(got.size).toBe(entries.length);
        expect(got.get("r6000")).toEqual(entries[5999]);
      });

      it("lands every entry when several stores upsert overlapping ids at once, in different orders", async () => {
        const stores = await Promise.all(range(1, 4).map(() => open()));
        const ids = range(1, 300).map((n) => `r${n}`);
        await Promise.all(
          stores.flatMap((store, s) =>
            range(1, 5).map((round) => {
              const order = (s + round) % 2 ? ids : [...ids].reverse();
              return store.recordRepairs(
                order.map((id) => repair(id, { attempts: round, runId: `run-${s}` })),
              );
            }),
          ),
        );
        const listed = await stores[0]!.listRepairs({});
        expect(listed.map((e) => e.id).sort()).toEqual([...ids].sort());
        // Each entry is exactly one of the versions written, never a mix.
        for (const e of listed) expect(e).toEqual(repair(e.id, { attempts: e.attempts, runId: e.runId }));
      });

      it("settles outcomes without touching the images, and appends their audit entries", async () => {
        const store = await open();
        await store.recordRepairs([repair("r1", { error: "earlier" }), repair("r2"), repair("r3")]);
        const audited = await store.settleRepairs(
          [
            { id: "r1", runId: "run-2", outcome: "applied", attempts: 2, updatedAt: 2000 },
            { id: "r3", runId: "run-2", outcome: "failed", attempts: 1, error: "timeout", updatedAt: 2001 },
            { id: "r3", runId: "run-2", outcome: "superseded", attempts: 1, updatedAt: 2002 },
            { id: "unknown", runId: "run-2", outcome: "applied", attempts: 1, updatedAt: 2003 },
          ],
          [event(1), event(2)],
        );
        expect(audited.map((e) => e.seq)).toEqual([1, 2]);
        expect(await store.listRepairs({})).toEqual([
          repair("r1", { runId: "run-2", outcome: "applied", attempts: 2, updatedAt: 2000 }),
          repair("r2"),
          repair("r3", { runId: "run-2", outcome: "superseded", updatedAt: 2002 }),
        ]);
        expect(await store.readAudit()).toEqual(audited);
        expect(await store.settleRepairs([], [])).toEqual([]);
        const more = await store.settleRepairs([], [event(3)]);
        expect(more[0]!.prevHash).toBe(audited[1]!.hash);
        expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({ ok: true, count: 3 });
      });

      it("settles nothing when an audit event has no JSON form", async () => {
        const store = await open();
        await store.recordRepairs([repair("r1")]);
        await expect(
          store.settleRepairs(
            [{ id: "r1", runId: "run-2", outcome: "applied", attempts: 1, updatedAt: 2 }],
            [event(1, { data: { n: 1n } })],
          ),
        ).rejects.toThrow(TypeError);
        expect(await store.listRepairs({})).toEqual([repair("r1")]);
        expect(await store.readAudit()).toEqual([]);
      });

      it("keeps one chain when stores settle and append at once", async () => {
        const stores = await Promise.all(range(1, 3).map(() => open()));
        await stores[0]!.recordRepairs(range(1, 60).map((n) => repair(`r${n}`)));
        await Promise.all(
          range(1, 60).map((n) =>
            n % 2
              ? stores[n % 3]!.settleRepairs(
                  [{ id: `r${n}`, runId: "run-2", outcome: "applied", attempts: 1, updatedAt: n }],
                  [event(n)],
                )
              : stores[n % 3]!.appendAudit([event(n)]),
          ),
        );
        expect(await verifyAuditChainAsync(stores[0]!.iterateAudit())).toEqual({ ok: true, count: 60 });
        expect((await stores[0]!.listRepairs({ outcome: "applied" })).length).toBe(30);
      });
    });

    describe("escalations", () => {
      it("opens each id once, so running again inserts nothing", async () => {
        const store = await open();
        expect(
          await store.openEscalations([escalation("e1"), escalation("e2", { dataset: "orders" })]),
        ).toEqual(["e1", "e2"]);
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
        expect(await store.openEscalations([])).toEqual([]);
      });

      it("lists oldest first, then in the order opened", async () => {
        const store = await open();
        await store.openEscalations([
          escalation("late", { createdAt: 300 }),
          escalation("b", { createdAt: 100 }),
          escalation("a", { createdAt: 100 }),
        ]);
        expect((await store.listEscalations()).map((e) => e.id)).toEqual(["b", "a", "late"]);
      });

      it("closes an open escalation once; a closed one is not reopened", async () => {
        const store = await open();
        await store.openEscalations([escalation("e1"), escalation("e2")]);
        await store.closeEscalation("e1", "resolved", { chose: "take:b", by: "ops" }, 500);
        await store.closeEscalation("e2", "rejected", null, 600);

        expect(await store.getEscalation("e1")).toEqual(
          escalation("e1", {
            status: "resolved",
            resolvedAt: 500,
            resolution: { chose: "take:b", by: "ops" },
          }),
        );
        expect(await store.getEscalation("e2")).toMatchObject({
          status: "rejected",
          resolvedAt: 600,
          resolution: null,
        });
        expect((await store.listEscalations({ status: "open" })).map((e) => e.id)).toEqual([]);
        expect(
          (await store.listEscalations({ status: "resolved", dataset: "users" })).map((e) => e.id),
        ).toEqual(["e1"]);

        await expect(store.closeEscalation("e1", "rejected", null, 700)).rejects.toThrow(
          new EscalationNotOpenError("e1", "resolved"),
        );
        await expect(store.closeEscalation("zz", "resolved", null, 700)).rejects.toThrow(
          "escalation zz does not exist",
        );
        expect(await store.openEscalations([escalation("e1")])).toEqual([]);
        expect(await store.getEscalation("e1")).toMatchObject({ status: "resolved", resolvedAt: 500 });
      });

      it("lets exactly one of two stores closing the same escalation at once win", async () => {
        const [a, b] = [await open(), await open()];
        const ids = range(1, 20).map((n) => `e${n}`);
        await a.openEscalations(ids.map((id) => escalation(id)));
        for (const id of ids) {
          const outcomes = await Promise.allSettled([
            a.closeEscalation(id, "resolved", { by: "a" }, 1),
            b.closeEscalation(id, "rejected", { by: "b" }, 2),
          ]);
          const won = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [i] : []));
          expect(won).toHaveLength(1);
          const lost = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
          expect(lost.reason).toBeInstanceOf(EscalationNotOpenError);
          const winner = won[0] === 0 ? { status: "resolved", by: "a" } : { status: "rejected", by: "b" };
          expect(lost.reason).toMatchObject({ id, status: winner.status });
          expect(await b.getEscalation(id)).toMatchObject({
            status: winner.status,
            resolution: { by: winner.by },
          });
        }
      });
    });

    describe("audit log", () => {
      it("assigns consecutive seqs and chains hashes across calls", async () => {
        const store = await open();
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

      it("keeps the newest entries under a limit with newest, still in seq order", async () => {
        const store = await open();
        await store.appendAudit(range(1, 10).map((n) => event(n, { runId: n % 2 ? "odd" : "even" })));
        const seqs = async (filter: Parameters<typeof store.readAudit>[0]) =>
          (await store.readAudit(filter)).map((e) => e.seq);
        expect(await seqs({ limit: 3, newest: true })).toEqual([8, 9, 10]);
        expect(await seqs({ limit: 2, newest: true, runId: "odd" })).toEqual([7, 9]);
        expect(await seqs({ limit: 3, newest: true, fromSeq: 9 })).toEqual([9, 10]);
        expect(await seqs({ newest: true })).toEqual(range(1, 10));
      });

      it("reads by run, key, from a seq and up to a limit, in seq order", async () => {
        const store = await open();
        await store.appendAudit(
          range(1, 10).map((n) => event(n, { runId: n % 2 ? "odd" : "even", key: n <= 5 ? '["k"]' : null })),
        );
        const seqs = async (filter: Parameters<StateStore["readAudit"]>[0]) =>
          (await store.readAudit(filter)).map((e) => e.seq);
        expect(await seqs({ runId: "even" })).toEqual([2, 4, 6, 8, 10]);
        expect(await seqs({ key: '["k"]' })).toEqual([1, 2, 3, 4, 5]);
        expect(await seqs({ runId: "odd", key: '["k"]' })).toEqual([1, 3, 5]);
        expect(await seqs({ fromSeq: 8 })).toEqual([8, 9, 10]);
        expect(await seqs({ fromSeq: 3, limit: 2 })).toEqual([3, 4]);
        expect(await seqs({ runId: "none" })).toEqual([]);
      });

      it("returns data in the JSON form it is stored and hashed in", async () => {
        const store = await open();
        const [entry] = await store.appendAudit([
          event(1, { data: { when: new Date(0), gone: undefined, list: [undefined, Number.NaN] } }),
        ]);
        expect(entry!.data).toEqual({ when: "1970-01-01T00:00:00.000Z", list: [null, null] });
        expect(await store.readAudit()).toEqual([entry]);
      });

      it("keeps any millisecond time exactly, so its entry verifies", async () => {
        const store = await open();
        const stored = await store.appendAudit([event(1, { ts: 1_700_000_000_000.25 }), event(2, { ts: 0 })]);
        expect(await store.readAudit()).toEqual(stored);
        expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({ ok: true, count: 2 });
      });

      it("writes nothing when an event has no JSON form", async () => {
        const store = await open();
        await store.appendAudit([event(1)]);
        await expect(store.appendAudit([event(2), event(3, { data: { n: 3n } })])).rejects.toThrow(TypeError);
        expect((await store.readAudit()).map((e) => e.seq)).toEqual([1]);
      });

      it("keeps an entry whose text holds a lone surrogate verifiable", async () => {
        const store = await open();
        await store.appendAudit([event(1, { dataset: "bad\uD800name", runId: "\uDC00" })]);
        expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({ ok: true, count: 1 });
      });

      it("streams the whole log in seq order across batches", async () => {
        const store = await open();
        await store.appendAudit(range(1, 2500).map((n) => event(n)));
        const seqs: number[] = [];
        for await (const e of store.iterateAudit()) seqs.push(e.seq);
        expect(seqs).toEqual(range(1, 2500));
        expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({ ok: true, count: 2500 });
      });

      it("appends batches larger than one statement as one chain", async () => {
        const store = await open();
        await store.appendAudit([event(0)]);
        const batch = await store.appendAudit(range(1, 12_001).map((n) => event(n)));
        expect(batch[0]!.seq).toBe(2);
        expect(batch[batch.length - 1]!.seq).toBe(12_002);
        expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({ ok: true, count: 12_002 });
      });

      it("stays one chain when two stores append interleaved", async () => {
        const a = await open();
        const b = await open();
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

      it("stays one chain when four stores append many interleaved batches at once", async () => {
        const stores = await Promise.all(range(1, 4).map(() => open()));
        const appended = await Promise.all(
          stores.map(async (store, s) => {
            const batches = [];
            for (let n = 1; n <= 25; n++)
              batches.push(
                store.appendAudit(
                  range(1, ((n * (s + 3)) % 7) + 1).map((m) => event(s * 10_000 + n * 10 + m)),
                ),
              );
            return Promise.all(batches);
          }),
        );
        const batches = appended.flat();
        const seqs = batches.flatMap((batch) => batch.map((e) => e.seq)).sort((x, y) => x - y);
        expect(seqs).toEqual(range(1, seqs.length));
        for (const batch of batches)
          expect(batch.map((e) => e.seq - batch[0]!.seq)).toEqual(batch.map((_, i) => i));
        expect(await verifyAuditChainAsync(stores[3]!.iterateAudit())).toEqual({
          ok: true,
          count: seqs.length,
        });
        // What each append returned is what was stored.
        const stored = new Map((await stores[0]!.readAudit()).map((e) => [e.seq, e]));
        for (const e of batches.flat()) expect(stored.get(e.seq)).toEqual(e);
      });
    });

    describe("audit tampering is detected at the right entry", () => {
      async function tampered(sql: string) {
        const store = await open();
        await store.appendAudit(range(1, 20).map((n) => event(n)));
        await fx.sql(sql);
        return verifyAuditChainAsync(store.iterateAudit());
      }

      it.each<[string, string, number, RegExp]>([
        ["UPDATE of data", `UPDATE audit SET data = '{"n":999}' WHERE seq = 7`, 7, /edited/],
        ["UPDATE to text that is not JSON", `UPDATE audit SET data = '{oops' WHERE seq = 3`, 3, /edited/],
        ["UPDATE of type", `UPDATE audit SET type = 'noop' WHERE seq = 12`, 12, /edited/],
        ["UPDATE of ts", "UPDATE audit SET ts = ts + 1 WHERE seq = 1", 1, /edited/],
        [
          "UPDATE of the last hash",
          `UPDATE audit SET hash = '${"a".repeat(64)}' WHERE seq = 20`,
          20,
          /edited/,
        ],
        ["DELETE of an entry", "DELETE FROM audit WHERE seq = 9", 10, /expected seq 9/],
        ["DELETE of the first entry", "DELETE FROM audit WHERE seq = 1", 2, /expected seq 1/],
        [
          "DELETE with the rest renumbered",
          "DELETE FROM audit WHERE seq = 5; UPDATE audit SET seq = seq - 1 WHERE seq > 5",
          5,
          /previous hash does not match entry 4/,
        ],
        [
          "INSERT at the end with a made-up link",
          `INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash)
           VALUES (21, 1, 'run-1', 'applied', 'users', '["x"]', '{}', '${"b".repeat(64)}', '${"c".repeat(64)}')`,
          21,
          /previous hash does not match entry 20/,
        ],
        [
          "INSERT before the first entry",
          `INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash)
           VALUES (0, 1, NULL, 'alert', NULL, NULL, 'null', '${GENESIS_HASH}', '${"c".repeat(64)}')`,
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
        const store = await open();
        await store.appendAudit(range(1, 20).map((n) => event(n)));
        const [row] = await fx.sql("SELECT hash FROM audit WHERE seq = 5");
        const prev = row!.hash as string;
        const content: AuditEntryContent = { ...event(6), data: { n: 6, forged: true }, seq: 6 };
        await fx.sql(
          `DELETE FROM audit WHERE seq = 6;
           INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash) VALUES (6, ${content.ts},
             ${lit(content.runId)}, ${lit(content.type)}, ${lit(content.dataset)}, ${lit(content.key)},
             ${lit(JSON.stringify(content.data))}, ${lit(prev)}, ${lit(hashAuditEntry(prev, content))})`,
        );
        expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({
          ok: false,
          seq: 7,
          problem:
            "entry 7: previous hash does not match entry 6 (an entry was inserted, deleted or reordered)",
        });
      });

      it("a later append chains onto a tampered tail, so the break stays visible", async () => {
        const store = await open();
        await store.appendAudit(range(1, 5).map((n) => event(n)));
        await fx.sql(`UPDATE audit SET data = '{"n":999}' WHERE seq = 5`);
        const [next] = await store.appendAudit([event(6)]);
        expect(next!.seq).toBe(6);
        expect(await verifyAuditChainAsync(store.iterateAudit())).toMatchObject({ ok: false, seq: 5 });
      });
    });
    describe("checkpoints", () => {
      it("round-trips composite keys and text that needs escaping, replaces, and deletes per dataset", async () => {
        const store = await open();
        expect(await store.getCheckpoint("users")).toBeUndefined();
        const users = checkpoint("users", {
          bounds: [
            ["1", "a"],
            ['quo"te', "back\\slash", "it's"],
            ["new\nline\ttab", "nul\u0000", "pipe|\\N", ""],
            ["é✓😀", "lone\uD800"],
          ],
          done: 3,
          totals: { byClass: { missing: 2, conflict: 0 }, outcomes: [1, null, "x"] },
          startedAt: 1_700_000_000_000.25,
          updatedAt: 1_700_000_000_123.5,
        });
        await store.putCheckpoint(users);
        await store.putCheckpoint(checkpoint("orders", { bounds: [], done: 0, totals: null }));
        expect(await store.getCheckpoint("users")).toEqual(users);
        expect(await store.getCheckpoint("orders")).toEqual(
          checkpoint("orders", { bounds: [], done: 0, totals: null }),
        );

        const replaced = checkpoint("users", {
          runId: "run-2",
          mode: "repair",
          bounds: [["z"]],
          done: 1,
          totals: {},
          startedAt: 5,
          updatedAt: 6,
        });
        await store.putCheckpoint(replaced);
        // Another process sees what was written.
        const other = await open();
        expect(await other.getCheckpoint("users")).toEqual(replaced);

        await store.deleteCheckpoint("users");
        expect(await other.getCheckpoint("users")).toBeUndefined();
        expect(await other.getCheckpoint("orders")).toEqual(
          checkpoint("orders", { bounds: [], done: 0, totals: null }),
        );
        await store.deleteCheckpoint("users");
        await store.deleteCheckpoint("never");
        expect(await store.getCheckpoint("never")).toBeUndefined();
      });
    });

    describe("samples", () => {
      const appended = [
        sample("lag", 1000.5, 0.25, { label: "a" }),
        sample("lag", 1000.5, null, { label: "b" }),
        sample("ttc", 900, 12),
        sample("lag", 1001, 3, { dataset: "orders", label: "a" }),
        sample("lag", 999.75, -1.5, { label: "a" }),
        sample("lag", 1002, 1e-9, { label: "b" }),
        sample("anomaly", 1000.5, 1),
      ];
      const [lagA, lagB, ttc, ordersLag, early, late, anomaly] = appended;

      it("lists by dataset, series and since (inclusive), oldest first, equal times as appended", async () => {
        const store = await open();
        await store.appendSamples(appended);
        expect(await store.listSamples({})).toEqual([ttc, early, lagA, lagB, anomaly, ordersLag, late]);
        expect(await store.listSamples({ dataset: "users" })).toEqual([
          ttc,
          early,
          lagA,
          lagB,
          anomaly,
          late,
        ]);
        expect(await store.listSamples({ series: "lag" })).toEqual([early, lagA, lagB, ordersLag, late]);
        expect(await store.listSamples({ dataset: "users", series: "lag", since: 1000.5 })).toEqual([
          lagA,
          lagB,
          late,
        ]);
        expect(await store.listSamples({ since: 1000.5000001 })).toEqual([ordersLag, late]);
        expect(await store.listSamples({ dataset: "none" })).toEqual([]);
        expect(await store.appendSamples([])).toBeUndefined();
      });

      it("keeps the newest `limit` and returns them oldest first; on equal times the last appended", async () => {
        const store = await open();
        await store.appendSamples(appended);
        expect(await store.listSamples({ limit: 2 })).toEqual([ordersLag, late]);
        expect(await store.listSamples({ dataset: "users", limit: 3 })).toEqual([lagB, anomaly, late]);
        expect(await store.listSamples({ dataset: "users", series: "lag", limit: 2 })).toEqual([lagB, late]);
        expect(await store.listSamples({ dataset: "users", since: 1000, limit: 10 })).toEqual([
          lagA,
          lagB,
          anomaly,
          late,
        ]);
        expect(await store.listSamples({ limit: 0 })).toEqual([]);
        // Appended later at the same time: newer.
        const tie = sample("lag", 1002, 7, { label: "c" });
        await store.appendSamples([tie]);
        expect(await store.listSamples({ series: "lag", limit: 1 })).toEqual([tie]);
        expect(await store.listSamples({ series: "lag", limit: 2 })).toEqual([late, tie]);
      });

      it("prunes every dataset's samples before a time and returns how many", async () => {
        const store = await open();
        await store.appendSamples(appended);
        expect(await store.pruneSamples(1000.5)).toBe(2);
        expect(await store.listSamples({})).toEqual([lagA, lagB, anomaly, ordersLag, late]);
        expect(await store.pruneSamples(1000.5)).toBe(0);
        expect(await store.pruneSamples(1001.5)).toBe(4);
        expect(await store.listSamples({})).toEqual([late]);
      });

      it("appends batches larger than one statement, all or nothing", async () => {
        const store = await open();
        const many = range(1, 12_001).map((n) => sample("lag", n / 4, n % 3 ? n : null));
        const bad = [...many];
        bad[7000] = { ...many[7000]!, dataset: null as unknown as string };
        await expect(store.appendSamples(bad)).rejects.toThrow();
        expect(await store.listSamples({})).toEqual([]);
        await store.appendSamples(many);
        expect(await store.listSamples({ dataset: "users", series: "lag" })).toEqual(many);
        expect(await store.listSamples({ limit: 2 })).toEqual(many.slice(-2));
      });
    });

    describe("divergent keys", () => {
      const k = (n: number) => keyId([String(n), `part|"${n}"`]);
      /** A taken map as [key, firstSeen] pairs, so that its order is compared too. */
      const entries = (taken: Map<string, number>) => [...taken];

      it("keeps the earliest first seen and the latest last seen of a key's marks", async () => {
        const store = await open();
        await store.markDivergent("users", [k(1), k(2)], 100);
        await store.markDivergent("users", [k(2), k(3)], 200.5);
        expect(await store.purgeDivergent("users", 100)).toBe(0); // k1 was last seen at 100: not before it
        expect(entries(await store.takeDivergent("users", [k(4), k(3), k(1), k(2), k(3)]))).toEqual([
          [k(3), 200.5],
          [k(1), 100],
          [k(2), 100],
        ]);
        expect(await store.takeDivergent("users", [k(1), k(2), k(3)])).toEqual(new Map());

        // A mark with an earlier time (another process's clock) moves first seen back, never last seen.
        await store.markDivergent("users", [k(5)], 300);
        await store.markDivergent("users", [k(5)], 250);
        expect(await store.purgeDivergent("users", 300)).toBe(0);
        expect(entries(await store.takeDivergent("users", [k(5)]))).toEqual([[k(5), 250]]);

        await store.markDivergent("users", [], 1);
        expect(await store.takeDivergent("users", [])).toEqual(new Map());
      });

      it("purges by last seen and keeps datasets apart", async () => {
        const store = await open();
        await store.markDivergent("users", [k(1), k(3)], 10);
        await store.markDivergent("users", [k(2)], 20);
        await store.markDivergent("users", [k(3)], 30);
        await store.markDivergent("orders", [k(1), k(9)], 5);
        expect(await store.purgeDivergent("users", 20)).toBe(1);
        expect(entries(await store.takeDivergent("users", [k(1), k(2), k(3), k(9)]))).toEqual([
          [k(2), 20],
          [k(3), 10],
        ]);
        expect(entries(await store.takeDivergent("orders", [k(1), k(9)]))).toEqual([
          [k(1), 5],
          [k(9), 5],
        ]);
        expect(await store.purgeDivergent("users", Number.MAX_VALUE)).toBe(0);
      });

      it("marks, purges and takes 10,000 keys in one call each", async () => {
        const store = await open();
        const keys = range(1, 10_000).map(k);
        const even = keys.filter((_, i) => i % 2);
        await store.markDivergent("users", keys, 5.5);
        // Repeated keys in one call count once.
        await store.markDivergent("users", [...even, ...even.slice(0, 100)], 7);
        expect(await store.purgeDivergent("users", 6)).toBe(5000);
        const taken = await store.takeDivergent("users", keys);
        expect(entries(taken)).toEqual(even.map((key) => [key, 5.5]));
        expect(await store.takeDivergent("users", keys)).toEqual(new Map());
      });

      it("takes a key with a lone surrogate as it was marked", async () => {
        const store = await open();
        await store.markDivergent("users", ["a\uD800", "b"], 1);
        expect(entries(await store.takeDivergent("users", ["a\uD800"]))).toEqual([["a\uD800", 1]]);
        expect(entries(await store.takeDivergent("users", ["b"]))).toEqual([["b", 1]]);
      });

      it("ends with the earliest first seen and latest last seen when two stores mark at once", async () => {
        const [a, b] = [await open(), await open()];
        const onlyA = range(1, 100).map(k);
        const both = range(101, 300).map(k);
        const onlyB = range(301, 400).map(k);
        const keysA = [...onlyA, ...both];
        const keysB = [...onlyB, ...both].reverse();
        // Neither the earliest nor the latest time is marked first or last.
        await Promise.all([
          a.markDivergent("users", keysA, 300),
          b.markDivergent("users", keysB, 250),
          a.markDivergent("users", keysA, 100),
          b.markDivergent("users", keysB, 350),
          b.markDivergent("users", keysB, 50),
          a.markDivergent("users", keysA, 200),
        ]);
        expect(await a.purgeDivergent("users", 300)).toBe(0);
        // Only A's keys were last seen at 300.
        expect(await b.purgeDivergent("users", 350)).toBe(onlyA.length);
        const all = [...onlyA, ...both, ...onlyB];
        expect(entries(await a.takeDivergent("users", all))).toEqual(
          [...both, ...onlyB].map((key) => [key, 50]),
        );
      });

      it("gives each key to exactly one of several stores taking it at once", async () => {
        const stores = await Promise.all(range(1, 3).map(() => open()));
        const keys = range(1, 3000).map(k);
        for (let round = 1; round <= 3; round++) {
          await stores[0]!.markDivergent("users", keys, round);
          const taken = await Promise.all(
            stores.map((store, s) =>
              store.takeDivergent("users", s % 2 ? [...keys].reverse() : keys.slice(s * 500)),
            ),
          );
          const got = taken.flatMap((m) => [...m.keys()]);
          expect(got.length).toBe(keys.length);
          expect(new Set(got).size).toBe(keys.length);
          for (const m of taken) for (const seen of m.values()) expect(seen).toBe(round);
        }
      });
    });
  });
}
