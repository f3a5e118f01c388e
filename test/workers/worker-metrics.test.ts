/**
 * A worker's own metrics (`concord worker --metrics HOST:PORT`): the segment jobs the real SegmentWorkerHost
 * ran (done, skipped, failed), their rows and repairs, served over HTTP at /metrics; /healthz answers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { emptyTotals } from "../../src/engine/run-totals.js";
import { SegmentWorkerHost } from "../../src/serve/segment-worker-host.js";
import { serveWorkerMetrics, WorkerMetrics } from "../../src/serve/worker-metrics.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe("a worker's own metrics", () => {
  it("counts the jobs it ran by outcome, with their rows and repairs, on /metrics", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-worker-metrics-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    makeItemsReplicas(dir, { rows: 100, stale: [5, 50] });
    const config = itemsConfig(dir);
    const state = await openStateStore(config.state);
    cleanup.push(() => state.close());
    const metrics = new WorkerMetrics({ defaults: false });
    const host = new SegmentWorkerHost(config, {
      state,
      now: Date.now,
      log: () => {},
      worker: "host-m:1:mm",
      metrics,
    });
    cleanup.push(() => host.close());
    const job = {
      dataset: "items",
      runId: "pass-m",
      mode: "repair" as const,
      index: 0,
      of: 1,
      range: { lo: null, hi: null },
      expectedRows: 100,
    };
    // No checkpoint of that pass: the job is skipped.
    expect((await host.handle(job, 1)).skipped).toBe(true);
    // A pass whose checkpoint the coordinator wrote: the job runs and repairs both stale keys.
    await state.beginRun({ id: "pass-m", dataset: "items", command: "serve repair", startedAt: Date.now() });
    await state.putCheckpoint({
      dataset: "items",
      runId: "pass-m",
      mode: "queue:repair",
      bounds: [],
      done: 0,
      totals: { run: emptyTotals(), done: [] },
      startedAt: Date.now(),
      updatedAt: Date.now(),
    });
    const done = await host.handle(job, 1);
    expect(done.totals.repairs).toEqual({ applied: 2 });
    // A dataset this worker does not know: the attempt fails.
    await expect(host.handle({ ...job, dataset: "nope" }, 1)).rejects.toThrow(/no dataset named nope/);

    const listener = await serveWorkerMetrics(metrics, "127.0.0.1", 0);
    cleanup.push(() => listener.close());
    const base = `http://127.0.0.1:${listener.port}`;
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const line of [
      'concord_worker_jobs_total{dataset="items",outcome="skipped"} 1',
      'concord_worker_jobs_total{dataset="items",outcome="done"} 1',
      'concord_worker_jobs_total{dataset="nope",outcome="failed"} 1',
      'concord_worker_rows_read_total{dataset="items",replica="a"} 100',
      'concord_worker_repairs_total{dataset="items",replica="b",outcome="applied"} 2',
      'concord_worker_jobs_running{dataset="items"} 0',
      'concord_worker_segment_duration_seconds_count{dataset="items"} 1',
    ])
      expect(text).toContain(line);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/other`)).status).toBe(404);
  });
});
