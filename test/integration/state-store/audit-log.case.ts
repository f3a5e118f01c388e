/** AuditLog cases: one chain, consecutive seqs, whatever the concurrency. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import {
  GENESIS_HASH,
  hashAuditEntry,
  verifyAuditChain,
  verifyAuditChainAsync,
} from "../../../src/core/audit-chain.js";
import type { StateStore } from "../../../src/state/state-store.js";
import { event, range, type StateStoreCase } from "./state-store-case.js";

export function auditLogCases({ open }: StateStoreCase): void {
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
              store.appendAudit(range(1, ((n * (s + 3)) % 7) + 1).map((m) => event(s * 10_000 + n * 10 + m))),
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
}
