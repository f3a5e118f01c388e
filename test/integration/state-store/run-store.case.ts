/** RunStore cases: bracketing, listing, heartbeats and liveness. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import type { StateStoreCase } from "./state-store-case.js";

export function runStoreCases({ open }: StateStoreCase): void {
  describe("runs", () => {
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
          heartbeatAt: 100,
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
          heartbeatAt: 100,
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

    it("moves a running run's heartbeat forward only, and says when none of its datasets is running", async () => {
      const store = await open();
      await store.beginRun({ id: "run-1", dataset: "users", command: "repair", startedAt: 100 });
      await store.beginRun({ id: "run-1", dataset: "orders", command: "repair", startedAt: 100 });
      await store.beginRun({ id: "run-2", dataset: "users", command: "repair", startedAt: 100 });
      const beats = async (id: string) => (await store.getRun(id)).map((r) => r.heartbeatAt);
      expect(await store.heartbeatRun("run-1", 500.5)).toBe(true);
      expect(await beats("run-1")).toEqual([500.5, 500.5]);
      expect(await beats("run-2")).toEqual([100]);
      // A late heartbeat (another timer, a slow call) never moves it back.
      expect(await store.heartbeatRun("run-1", 300)).toBe(true);
      expect(await beats("run-1")).toEqual([500.5, 500.5]);
      // A finished dataset's record keeps its last heartbeat.
      await store.finishRun("run-1", "users", { finishedAt: 600, status: "ok", counts: {}, stats: {} });
      expect(await store.heartbeatRun("run-1", 700)).toBe(true);
      expect(await beats("run-1")).toEqual([500.5, 700]);
      await store.finishRun("run-1", "orders", { finishedAt: 800, status: "failed", counts: {}, stats: {} });
      expect(await store.heartbeatRun("run-1", 900)).toBe(false);
      expect(await beats("run-1")).toEqual([500.5, 700]);
      expect(await store.heartbeatRun("never-begun", 900)).toBe(false);
    });

    it("prunes quiet runs of the given commands beyond the newest `keep`, and nothing that found anything", async () => {
      const store = await open();
      const run = async (id: string, command: string, at: number, over: Record<string, unknown> = {}) => {
        await store.beginRun({ id, dataset: "users", command, startedAt: at });
        await store.finishRun(id, "users", {
          finishedAt: at + 1,
          status: "ok",
          counts: {},
          stats: { durationMs: 1 },
          ...over,
        });
      };
      for (let i = 1; i <= 6; i++) await run(`w${i}`, "watch", i * 10);
      await run("found", "watch", 15, { status: "diverged", counts: { missing: 1 } });
      await run("repaired", "watch", 16, { stats: { "repairs.applied": 2 } });
      await run("gap", "watch pass", 17);
      await run("scan", "repair", 18);
      await store.beginRun({ id: "live", dataset: "users", command: "watch", startedAt: 19 });
      await run("other", "watch", 5);
      await store.beginRun({ id: "w1", dataset: "orders", command: "watch", startedAt: 1 });
      await store.finishRun("w1", "orders", { finishedAt: 2, status: "ok", counts: {}, stats: {} });

      // The newest 3 watch runs (w6, w5, w4) stay; of the older ones only the quiet ones go.
      expect(await store.pruneQuietRuns("users", ["watch", "watch pass"], 3)).toBe(5);
      const left = (await store.listRuns({ dataset: "users", limit: 100 })).map((r) => r.id).sort();
      expect(left).toEqual(["found", "live", "repaired", "scan", "w4", "w5", "w6"].sort());
      expect(await store.getRun("w1")).toHaveLength(1); // orders' run of the same id is untouched
      expect(await store.pruneQuietRuns("users", ["watch", "watch pass"], 3)).toBe(0);
      expect(await store.pruneQuietRuns("users", [], 0)).toBe(0);
    });
  });
}
