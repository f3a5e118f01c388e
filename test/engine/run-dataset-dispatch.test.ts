/**
 * A distributed pass at the engine's level, over real SQLite replicas: the coordinator's runDataset with
 * an in-process SegmentDispatch whose "workers" run each job through runSegmentJob. A coordinator that stops
 * part-way and one that takes over finish the pass together without any folded segment run again.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConcordConfig } from "../../src/config/load-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { runSegmentJob } from "../../src/engine/run-segment-job.js";
import type {
  QueuedTotals,
  SegmentDispatch,
  SegmentJob,
  SegmentJobResult,
  SegmentProgress,
} from "../../src/engine/segment-dispatch.js";
import { WriteGuard } from "../../src/execute/write-guard.js";
import { markSegment } from "../../src/serve/segment-marks.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StageWrites } from "../../src/state/stage-writer.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas, staleOnB } from "../support/sqlite-items.js";

const ROWS = 1000;
/** One stale key in each of the ten segments of 100 rows, two in the last. */
const STALE = [50, 150, 250, 350, 450, 550, 650, 750, 850, 950, 999];

let dir: string;
const cleanup: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-queued-"));
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** Segments of 100 rows; `concurrency: 3` makes each job one segment (about four jobs per slot). */
function config(concurrency = 3, policy?: string): ConcordConfig {
  return itemsConfig(dir, {
    extra: `    checkpointRows: 100\n    concurrency: ${concurrency}\n`,
    ...(policy ? { policy } : {}),
  });
}

async function open(cfg: ConcordConfig): Promise<{ state: StateStore; replicas: OpenReplica[] }> {
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  cleanup.push(async () => {
    for (const r of replicas) await r.connector.close();
    await state.close();
  });
  return { state, replicas };
}

/**
 * Jobs kept in memory and run, one per poll, by an in-process worker (runSegmentJob); `ran` lists the
 * segments each worker run executed. `stopAfter` aborts the coordinator once that many jobs ran.
 */
class InlineDispatch implements SegmentDispatch {
  readonly queued = new Map<number, SegmentJob>();
  readonly results = new Map<number, SegmentJobResult>();
  readonly ran: number[] = [];
  constructor(
    private readonly work: (job: SegmentJob) => Promise<SegmentJobResult>,
    private readonly stop?: { after: number; abort: AbortController },
  ) {}
  async submit(jobs: readonly SegmentJob[]): Promise<void> {
    for (const j of jobs)
      if (!this.queued.has(j.index) && !this.results.has(j.index)) this.queued.set(j.index, j);
  }
  async poll(_d: string, _r: string, indexes: readonly number[]): Promise<SegmentProgress> {
    const [next] = this.queued.values();
    if (next) {
      this.queued.delete(next.index);
      const result = await this.work(next);
      if (!result.skipped) this.ran.push(next.index);
      this.results.set(next.index, result);
      if (this.stop && this.ran.length >= this.stop.after) this.stop.abort.abort();
    }
    const want = new Set(indexes);
    return { done: new Map([...this.results].filter(([i]) => want.has(i))), failed: new Map() };
  }
  async forget(_d: string, _r: string, indexes: readonly number[]): Promise<void> {
    for (const i of indexes) this.results.delete(i);
  }
}

describe("runDataset with a SegmentDispatch", () => {
  it("runs every segment once on workers, folds them into one run, and repairs every divergence", async () => {
    makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
    const cfg = config();
    const ds = cfg.datasets[0]!;
    const { state, replicas } = await open(cfg);
    const guard = new WriteGuard();
    const dispatch = new InlineDispatch(
      async (job) =>
        (
          await runSegmentJob(ds, replicas, { state, now: Date.now }, job, {
            worker: "w1",
            guard,
            heartbeatMs: 0,
          })
        ).result,
    );
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "pass-1",
        command: "serve repair",
        mode: "repair",
        owner: "test:1:a",
        dispatch,
        heartbeatMs: 0,
      },
    );
    expect(run.finished).toBe(true);
    expect(run.status).toBe("ok");
    expect(dispatch.ran).toEqual(Array.from({ length: run.segments }, (_, i) => i));
    expect(run.segments).toBe(10);
    expect(run.totals.repairs).toEqual({ applied: STALE.length });
    expect(staleOnB(dir)).toEqual([]);
    const [record] = await state.getRun("pass-1");
    expect(record?.stats).toMatchObject({
      segments: 10,
      "segments.folded": 10,
      "rows.a": ROWS,
      "rows.b": ROWS,
    });
    expect(await state.getCheckpoint("items")).toBeUndefined();
    // Each worker recorded its segment for the drill-down.
    const segments = await state.listSegments("pass-1");
    expect(segments.map((s) => [s.from, s.to])).toEqual(dispatch.ran.map((i) => [i, i + 1]));
    expect(segments.reduce((n, s) => n + (s.repairs.applied ?? 0), 0)).toBe(STALE.length);
  });

  it("a worker that marks its segments writes the marks with the repairs' last writes, in one transaction", async () => {
    makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
    const cfg = config();
    const ds = cfg.datasets[0]!;
    const { state, replicas } = await open(cfg);
    // Every stage written, as the state store received it.
    const stages: StageWrites[] = [];
    const counted = new Proxy(state, {
      get(target, prop) {
        if (prop === "recordStage")
          return (writes: StageWrites) => {
            stages.push(writes);
            return target.recordStage(writes);
          };
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const guard = new WriteGuard();
    const ttc: number[] = [];
    const dispatch = new InlineDispatch(async (job) => {
      const out = await runSegmentJob(ds, replicas, { state: counted, now: Date.now }, job, {
        worker: "w1",
        guard,
        heartbeatMs: 0,
        mark: true,
      });
      if (out.outcome) ttc.push(...(await markSegment(counted, ds.name, out.outcome, Date.now)).ttcSeconds);
      return out.result;
    });
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "pass-1",
        command: "serve repair",
        mode: "repair",
        owner: "test:1:a",
        dispatch,
        heartbeatMs: 0,
      },
    );
    expect(run.totals.repairs).toEqual({ applied: STALE.length });
    // One stage per segment carries the marks, and it is the one with the repairs' versions: markSegment
    // sent none of its own.
    const marking = stages.filter((w) => w.divergent);
    expect(marking).toHaveLength(run.segments);
    for (const w of marking) {
      expect(w.versions?.length).toBeGreaterThan(0);
      expect(w.divergent?.take).toEqual(w.divergent?.mark);
    }
    expect(marking.flatMap((w) => w.divergent?.mark ?? []).sort()).toEqual(
      STALE.map((id) => `["${id}"]`).sort(),
    );
    // Every key marked was taken back in the same transaction, and its time to convergence recorded.
    expect(await state.countDivergent(ds.name)).toBe(0);
    expect(ttc).toHaveLength(STALE.length);
  });

  it("a coordinator that takes over resumes the pass: folded segments are never run again", async () => {
    makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
    const cfg = config();
    const ds = cfg.datasets[0]!;
    const { state, replicas } = await open(cfg);
    const guard = new WriteGuard();
    const work = async (job: SegmentJob) =>
      (
        await runSegmentJob(ds, replicas, { state, now: Date.now }, job, {
          worker: "w",
          guard,
          heartbeatMs: 0,
        })
      ).result;
    const abort = new AbortController();
    const first = new InlineDispatch(work, { after: 4, abort });
    const options = {
      command: "serve repair",
      mode: "repair" as const,
      heartbeatMs: 0,
    };
    const stopped = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        ...options,
        runId: "pass-a",
        owner: "test:1:a",
        dispatch: first,
        signal: abort.signal,
      },
    );
    expect(stopped.finished).toBe(false);
    expect(stopped.status).toBe("running");
    const cp = await state.getCheckpoint("items");
    expect(cp?.mode).toBe("queue:repair");
    expect((cp!.totals as QueuedTotals).done).toEqual([0, 1, 2, 3]);
    // A job left over from the first coordinator, delivered again, finds its segment folded: it does nothing.
    const leftover = await work({ ...[...first.queued.values()][0]!, index: 2 });
    expect(leftover.skipped).toBe(true);

    // Another coordinator (another owner, another run id offered) resumes the same pass.
    const second = new InlineDispatch(work);
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        ...options,
        runId: "pass-b",
        owner: "test:2:b",
        dispatch: second,
      },
    );
    expect(run.runId).toBe("pass-a");
    expect(run.finished).toBe(true);
    expect(second.ran).toEqual([4, 5, 6, 7, 8, 9]);
    expect(run.totals.repairs).toEqual({ applied: STALE.length });
    expect(staleOnB(dir)).toEqual([]);
    const [record] = await state.getRun("pass-a");
    expect(record?.status).toBe("ok");
    expect(record?.stats).toMatchObject({ segments: 10, "segments.folded": 10, "rows.a": ROWS });
  });

  it("cuts jobs of several segments when the fleet may run few at once", async () => {
    makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
    const cfg = config(1);
    const ds = cfg.datasets[0]!;
    const { state, replicas } = await open(cfg);
    const guard = new WriteGuard();
    const jobs: SegmentJob[] = [];
    const dispatch = new InlineDispatch(async (job) => {
      jobs.push(job);
      return (
        await runSegmentJob(ds, replicas, { state, now: Date.now }, job, {
          worker: "w",
          guard,
          heartbeatMs: 0,
        })
      ).result;
    });
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "grouped",
        command: "serve repair",
        mode: "repair",
        owner: "test:1:a",
        dispatch,
        heartbeatMs: 0,
      },
    );
    // Ten segments of 100 rows, one slot: five jobs of two segments each.
    expect(run.segments).toBe(5);
    expect(jobs.map((j) => j.expectedRows)).toEqual([200, 200, 200, 200, 200]);
    expect(run.totals.repairs).toEqual({ applied: STALE.length });
    expect(staleOnB(dir)).toEqual([]);
  });

  it("a single-process pass abandons a distributed pass's checkpoint rather than mix them", async () => {
    makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
    const cfg = config();
    const ds = cfg.datasets[0]!;
    const { state, replicas } = await open(cfg);
    const abort = new AbortController();
    const guard = new WriteGuard();
    const dispatch = new InlineDispatch(
      async (job) =>
        (
          await runSegmentJob(ds, replicas, { state, now: Date.now }, job, {
            worker: "w",
            guard,
            heartbeatMs: 0,
          })
        ).result,
      { after: 2, abort },
    );
    await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "queued",
        command: "serve repair",
        mode: "repair",
        owner: "test:1:a",
        dispatch,
        signal: abort.signal,
        heartbeatMs: 0,
      },
    );
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "single",
        command: "serve repair",
        mode: "repair",
        checkpoint: true,
        heartbeatMs: 0,
      },
    );
    expect(run.runId).toBe("single");
    expect(run.finished).toBe(true);
    expect((await state.getRun("queued"))[0]?.status).toBe("failed");
    expect(staleOnB(dir)).toEqual([]);
  });

  it("a segment that trips the blast-radius guard latches the run for segments already running ahead of the coordinator", async () => {
    // Segment 2 (keys 201–300) is 40% stale: it trips maxDivergentFraction 0.3. One stale key elsewhere.
    const tripping = Array.from({ length: 40 }, (_, i) => 211 + i * 2);
    makeItemsReplicas(dir, { rows: ROWS, stale: [...STALE.filter((k) => k < 200 || k >= 300), ...tripping] });
    const cfg = config(3, "owner: a, resolve: highest-version, limits: { maxDivergentFraction: 0.3 }");
    const ds = cfg.datasets[0]!;
    const { state, replicas } = await open(cfg);
    const guard = new WriteGuard();
    const work = async (job: SegmentJob) =>
      (
        await runSegmentJob(ds, replicas, { state, now: Date.now }, job, {
          worker: "w",
          guard,
          heartbeatMs: 0,
        })
      ).result;
    // Workers ahead of the coordinator: every job runs, in order, before any result is folded.
    const ahead: SegmentDispatch = {
      results: new Map<number, SegmentJobResult>(),
      async submit(jobs: readonly SegmentJob[]) {
        for (const j of [...jobs].sort((a, b) => a.index - b.index)) this.results.set(j.index, await work(j));
      },
      async poll(_d: string, _r: string, indexes: readonly number[]): Promise<SegmentProgress> {
        return {
          done: new Map([...this.results].filter(([i]) => indexes.includes(i))),
          failed: new Map(),
        };
      },
      async forget(_d: string, _r: string, indexes: readonly number[]) {
        for (const i of indexes) this.results.delete(i);
      },
    } as SegmentDispatch & { results: Map<number, SegmentJobResult> };
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "latched",
        command: "serve repair",
        mode: "repair",
        owner: "test:1:a",
        dispatch: ahead,
        heartbeatMs: 0,
      },
    );
    expect(run.finished).toBe(true);
    expect(run.totals.guard?.reason).toMatch(/maxDivergentFraction 0.3/);
    // Segments 0 and 1 wrote their stale key before the trip; nothing after it was written.
    expect(run.totals.repairs).toEqual({ applied: 2 });
    expect(staleOnB(dir)).toEqual([...tripping, ...STALE.filter((k) => k >= 300)]);
    // The latch ends with the run.
    expect(await state.getLease("latch:latched")).toBeUndefined();
  });
});

describe("runDataset's key form with a SegmentDispatch", () => {
  it("hands the keys to a worker as one key job, finishes the run here, and a late delivery does nothing", async () => {
    makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
    const cfg = config();
    const ds = cfg.datasets[0]!;
    const { state, replicas } = await open(cfg);
    const jobs: SegmentJob[] = [];
    const work = async (job: SegmentJob) => {
      jobs.push(job);
      return (
        await runSegmentJob(ds, replicas, { state, now: Date.now }, job, {
          worker: "w1",
          guard: new WriteGuard(),
          heartbeatMs: 0,
        })
      ).result;
    };
    const keys = [["50"], ["150"]];
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "keys-1",
        command: "watch",
        mode: "repair",
        keys,
        dispatch: new InlineDispatch(work),
        heartbeatMs: 0,
      },
    );
    expect(run).toMatchObject({ finished: true, status: "ok", segments: 1 });
    expect(run.totals.repairs).toEqual({ applied: 2 });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ runId: "keys-1", index: 0, of: 1, keys });
    expect(staleOnB(dir)).toEqual(STALE.filter((id) => id !== 50 && id !== 150));
    // No checkpoint, no drill-down: a run over a list of keys records neither.
    expect(await state.getCheckpoint("items")).toBeUndefined();
    expect(await state.listSegments("keys-1")).toEqual([]);
    expect((await state.getRun("keys-1"))[0]).toMatchObject({ command: "watch", status: "ok" });
    // The same job delivered again after its run finished reads and writes nothing.
    const late = await work({ ...jobs[0]!, keys: [["250"]] });
    expect(late.skipped).toBe(true);
    expect(staleOnB(dir)).toContain(250);

    // The expected state travels with the job: a key whose replicas no longer hold it is left alone.
    const expected = new Map([[JSON.stringify(["250"]), { a: "0000000000000000", b: "0000000000000000" }]]);
    const again = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "keys-2",
        command: "repair",
        mode: "repair",
        keys: [["250"]],
        expected,
        dispatch: new InlineDispatch(work),
        heartbeatMs: 0,
      },
    );
    expect(jobs[2]?.expected).toEqual([...expected]);
    expect(again.totals.repairs).toEqual({});
    expect(staleOnB(dir)).toContain(250);
  });

  it("hands a dirty-segment pass's ranges to workers, one job each, finishes the run here, and a late delivery does nothing", async () => {
    makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
    const cfg = config();
    const ds = cfg.datasets[0]!;
    const { state, replicas } = await open(cfg);
    const jobs: SegmentJob[] = [];
    const work = async (job: SegmentJob) => {
      jobs.push(job);
      return (
        await runSegmentJob(ds, replicas, { state, now: Date.now }, job, {
          worker: "w1",
          guard: new WriteGuard(),
          heartbeatMs: 0,
        })
      ).result;
    };
    const ranges = [
      { lo: ["100"], hi: ["300"] },
      { lo: ["700"], hi: ["800"] },
    ];
    const dispatch = new InlineDispatch(work);
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      { runId: "dirty-1", command: "serve repair", mode: "repair", ranges, dispatch, heartbeatMs: 0 },
    );
    expect(run).toMatchObject({ finished: true, status: "ok", segments: 2 });
    expect(run.totals.repairs).toEqual({ applied: 3 });
    expect(dispatch.ran).toEqual([0, 1]);
    expect(jobs.map((j) => [j.index, j.of, j.range, j.standalone])).toEqual([
      [0, 2, ranges[0], true],
      [1, 2, ranges[1], true],
    ]);
    // Only the ranges were read and repaired: the stale keys elsewhere remain.
    expect(staleOnB(dir)).toEqual(STALE.filter((id) => ![150, 250, 750].includes(id)));
    // No checkpoint, no drill-down, as when the pass runs in one process.
    expect(await state.getCheckpoint("items")).toBeUndefined();
    expect(await state.listSegments("dirty-1")).toEqual([]);
    expect((await state.getRun("dirty-1"))[0]).toMatchObject({ status: "ok" });
    // A range job delivered again after its run finished reads and writes nothing.
    const late = await work({ ...jobs[0]!, range: { lo: ["300"], hi: ["400"] } });
    expect(late.skipped).toBe(true);
    expect(staleOnB(dir)).toContain(350);
  });

  it("stopped while its key job waits: not finished (a feed keeps its position), the job dropped", async () => {
    makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
    const cfg = config();
    const ds = cfg.datasets[0]!;
    const { state, replicas } = await open(cfg);
    const stop = new AbortController();
    const submitted: SegmentJob[] = [];
    const forgotten: number[] = [];
    // No worker takes the job: the coordinator waits until it is stopped.
    const idle: SegmentDispatch = {
      async submit(jobs) {
        submitted.push(...jobs);
      },
      async poll() {
        stop.abort();
        return { done: new Map(), failed: new Map() };
      },
      async forget(_d, _r, indexes) {
        forgotten.push(...indexes);
      },
    };
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "keys-3",
        command: "watch",
        mode: "repair",
        keys: [["50"]],
        dispatch: idle,
        signal: stop.signal,
        heartbeatMs: 0,
      },
    );
    expect(run.finished).toBe(false);
    expect(submitted.map((j) => j.keys)).toEqual([[["50"]]]);
    expect(forgotten).toEqual([0]);
    expect((await state.getRun("keys-3"))[0]).toMatchObject({ status: "diverged" });
    expect(staleOnB(dir)).toContain(50);
  });
});
