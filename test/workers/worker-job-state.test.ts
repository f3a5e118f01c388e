/**
 * What a worker asks the state store per job of a pass: the open escalations are listed once per pass by
 * the real SegmentWorkerHost (kept across its jobs of the pass, as a single-process run keeps them), and
 * listed afresh for the next pass.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { emptyTotals } from "../../src/engine/run-totals.js";
import { SegmentWorkerHost } from "../../src/serve/segment-worker-host.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas, staleOnB } from "../support/sqlite-items.js";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe("a worker's state statements per job", () => {
  it("lists the open escalations once per pass, not once per job", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-worker-job-state-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    makeItemsReplicas(dir, { rows: 100, stale: [5, 50, 95] });
    const config = itemsConfig(dir);
    const opened = await openStateStore(config.state);
    cleanup.push(() => opened.close());
    let listings = 0;
    const state = new Proxy(opened, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop === "listEscalations")
          return (...args: Parameters<StateStore["listEscalations"]>) => {
            listings++;
            return target.listEscalations(...args);
          };
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const host = new SegmentWorkerHost(config, {
      state,
      now: Date.now,
      log: () => {},
      worker: "host-j:1:jj",
    });
    cleanup.push(() => host.close());
    const pass = async (runId: string) => {
      await state.beginRun({ id: runId, dataset: "items", command: "serve repair", startedAt: Date.now() });
      await state.putCheckpoint({
        dataset: "items",
        runId,
        mode: "queue:repair",
        bounds: [],
        done: 0,
        totals: { run: emptyTotals(), done: [] },
        startedAt: Date.now(),
        updatedAt: Date.now(),
      });
      // Three jobs of the pass (each over the whole table: the first repairs, the others find it repaired).
      for (let index = 0; index < 3; index++) {
        const job = {
          dataset: "items",
          runId,
          mode: "repair" as const,
          index,
          of: 3,
          range: { lo: null, hi: null },
          expectedRows: 100,
        };
        expect((await host.handle(job, 1)).skipped).toBeFalsy();
      }
    };
    await pass("pass-1");
    expect(staleOnB(dir)).toEqual([]);
    expect(listings).toBe(1);
    await pass("pass-2");
    expect(listings).toBe(2);
  });
});
