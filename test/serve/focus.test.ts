/**
 * Adaptive focus in serve on real SQLite replicas: with drift recorded in one key range, a pass visits that
 * segment several times, and the dataset's status says what it prioritised and why; without `focus` the
 * status field is null and the pass visits each segment once. A coordinator (one job per segment) submits the
 * hot segment's job first instead.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SegmentWorkerHost } from "../../src/serve/segment-worker-host.js";
import { createService, type Service } from "../../src/serve/service.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";
import { InlineQueue } from "./inline-queue.js";

let dir: string;
const cleanup: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-focus-serve-"));
  makeItemsReplicas(dir, { rows: 100 });
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** Evidence that segment 2 (of 4) drifted and needed repairs lately. */
async function recordDrift(stateUrl: string): Promise<void> {
  const state = await openStateStore(stateUrl);
  try {
    await state.addEvidence([
      {
        dataset: "items",
        replica: "",
        column: "",
        segment: 2,
        class: "stale",
        facet: "",
        at: Date.now() - 60_000,
        counts: { divergences: 6, repaired: 6 },
      },
    ]);
  } finally {
    await state.close();
  }
}

async function scanPass(focus: string, queue?: InlineQueue): Promise<{ service: Service; log: string[] }> {
  const cfg = itemsConfig(dir, { extra: `    checkpointRows: 25\n${focus}` });
  await recordDrift(cfg.state);
  const log: string[] = [];
  const service = await createService(cfg, { log: (l) => log.push(l), ...(queue ? { queue } : {}) });
  cleanup.push(() => service.stop());
  if (queue) {
    // A worker in-process (the real host) runs the jobs in the order they were submitted.
    const host = new SegmentWorkerHost(cfg, {
      state: service.state,
      now: Date.now,
      log: () => {},
      worker: "w1",
    });
    cleanup.push(() => host.close());
    queue.host = host;
    // A coordinator runs passes only while it leads: started, as a leader would be.
    await service.start();
  }
  await service.api.trigger("items", "scan");
  await service.idle();
  return { service, log };
}

describe("serve focus: adaptive", () => {
  it("visits the hot segment more often and shows why", async () => {
    const { service, log } = await scanPass("    focus: adaptive\n");
    const [status] = await service.api.datasets();
    expect(status!.focus).toMatchObject({
      segments: 4,
      visits: 8,
      hot: [{ segment: 2, visits: 5, divergences: 6, repaired: 6 }],
      reason:
        "hot ranges scanned more often: segment 3 5× (6 divergences, 6 repaired); the other 3 once per pass",
    });
    expect(status!.lastRun?.status).toBe("ok");
    expect(log.some((l) => l.startsWith("items: focus: hot ranges scanned more often: segment 3 5×"))).toBe(
      true,
    );
    // The drill-down lists each visit: segment 3 five times, spread over the pass, the others once.
    const visited = (await service.api.segments(status!.lastRun!.id)).map((v) => v.from);
    expect(visited).toHaveLength(8);
    expect(visited.filter((f) => f === 2)).toHaveLength(5);
    expect([...new Set(visited)].sort()).toEqual([0, 1, 2, 3]);
  });

  it("a range found drifting in this pass is hot for the rest of it, before any evidence is recorded", async () => {
    // A fresh directory: 10 keys of segment 2 (of 4) stale on b, and no drift in the state store.
    const fresh = mkdtempSync(join(tmpdir(), "concord-focus-live-"));
    cleanup.push(async () => rmSync(fresh, { recursive: true, force: true }));
    makeItemsReplicas(fresh, { rows: 100, stale: [30, 31, 32, 33, 34, 35, 36, 37, 38, 39] });
    const cfg = itemsConfig(fresh, { extra: "    checkpointRows: 25\n    focus: adaptive\n" });
    const log: string[] = [];
    const service = await createService(cfg, { log: (l) => log.push(l) });
    cleanup.push(() => service.stop());
    await service.api.trigger("items", "scan");
    await service.idle();
    const [status] = await service.api.datasets();
    // Planned plain (no evidence), segment 2 visited second and found with 10 divergent keys: the rest of the
    // pass is focused on it (first the extras of the 2 segments left, then, an extra made, the pass's 4).
    expect(status!.focus).toMatchObject({
      segments: 4,
      visits: 8,
      hot: [{ segment: 1, visits: 5, divergences: 0, repaired: 0, found: 10 }],
      reason:
        "hot ranges scanned more often: segment 2 5× (0 divergences, 0 repaired; 10 open now); the other 3 once per pass",
    });
    const visited = (await service.api.segments(status!.lastRun!.id)).map((v) => v.from);
    expect(visited.slice(0, 2)).toEqual([0, 1]);
    expect(visited.filter((f) => f === 1)).toHaveLength(5);
    expect(new Set(visited)).toEqual(new Set([0, 1, 2, 3]));
    expect(log.some((l) => l.startsWith("items: focus: hot ranges scanned more often: segment 2"))).toBe(
      true,
    );
  });

  it("is off by default: status focus is null", async () => {
    const { service } = await scanPass("");
    const [status] = await service.api.datasets();
    expect(status!.focus).toBeNull();
    // Segments grouped while sparse, each once.
    expect((await service.api.segments(status!.lastRun!.id)).map((v) => [v.from, v.to])).toEqual([
      [0, 1],
      [1, 4],
    ]);
  });

  it("on a coordinator, submits the hot segment's job first, each segment once", async () => {
    const queue = new InlineQueue();
    const { service } = await scanPass("    focus: adaptive\n", queue);
    // Four segments of 25 rows, one job each (no segment is visited twice: one job per run and segment).
    expect(queue.ran.map((j) => j.index)).toEqual([2, 0, 1, 3]);
    const [status] = await service.api.datasets();
    expect(status!.lastRun?.status).toBe("ok");
    expect(status!.focus).toMatchObject({
      segments: 4,
      visits: 4,
      hot: [{ segment: 2, visits: 1, divergences: 6, repaired: 6 }],
      reason:
        "hot ranges submitted first: segment 3 (6 divergences, 6 repaired); the other 3 after them, each once per pass (one job per segment)",
    });
  });

  it("on a coordinator without focus, submits in index order", async () => {
    const queue = new InlineQueue();
    const { service } = await scanPass("", queue);
    expect(queue.ran.map((j) => j.index)).toEqual([0, 1, 2, 3]);
    expect((await service.api.datasets())[0]!.focus).toBeNull();
  });

  it("focuses a pass its cron schedule starts, without stretching the schedule", async () => {
    const cfg = itemsConfig(dir, {
      extra: '    checkpointRows: 25\n    schedule: "*/15 * * * *"\n    focus: adaptive\n',
    });
    await recordDrift(cfg.state);
    // The service's clock stands 300 ms before the schedule next fires until the service has started, and runs
    // on from there: a clock running meanwhile could pass the firing while a loaded machine opens the service,
    // leaving the next one 15 minutes away.
    const quarter = 15 * 60_000;
    const fires = Math.ceil((Date.now() + 1_000) / quarter) * quarter;
    let startedAt: number | undefined;
    const now = () => fires - 300 + (startedAt === undefined ? 0 : Date.now() - startedAt);
    const service = await createService(cfg, { log: () => {}, now });
    cleanup.push(() => service.stop());
    await service.start();
    startedAt = Date.now();
    let status = (await service.api.datasets())[0]!;
    for (let waited = 0; !status.lastRun?.finishedAt && waited < 10_000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
      await service.idle();
      status = (await service.api.datasets())[0]!;
    }
    expect(status.lastRun?.status).toBe("ok");
    expect(status.focus).toMatchObject({ segments: 4, visits: 8, hot: [{ segment: 2, visits: 5 }] });
    expect((await service.api.segments(status.lastRun!.id)).map((v) => v.from)).toHaveLength(8);
    // The next pass is when the expression fires next (a cron schedule is not stretched by the extra visits).
    expect(status.nextRunAt! % quarter).toBe(0);
  });
});
