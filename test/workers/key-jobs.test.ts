/**
 * Change-feed key batches as jobs on workers: a coordinator's watcher hands each batch to a worker over the
 * real BullMQ on Redis, with the state in PostgreSQL and SQLite replicas whose triggers are the feed. The
 * worker repairs the written keys; a key job whose worker dies after writing is taken up by another worker
 * and its repairs are applied once; the feed position is stored only after the job's keys were checked.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Queue } from "bullmq";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { parseQueueUrl } from "../../src/config/queue-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { keyId } from "../../src/core/model.js";
import { repairId } from "../../src/core/repair-id.js";
import { describeDataset } from "../../src/engine/describe-dataset.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runLease } from "../../src/engine/run-liveness.js";
import type { SegmentJob, SegmentJobResult } from "../../src/engine/segment-dispatch.js";
import { BullmqSegmentDispatch } from "../../src/queue/bullmq-segment-dispatch.js";
import { startSegmentWorkers } from "../../src/queue/bullmq-segment-workers.js";
import { queueConnection, segmentQueueName } from "../../src/queue/queue-connection.js";
import { SegmentWorkerHost } from "../../src/serve/segment-worker-host.js";
import { createService, type Service } from "../../src/serve/service.js";
import { WorkerMetrics } from "../../src/serve/worker-metrics.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, REDIS, serviceAvailable } from "../support/services.js";
import { makeItemsReplicas } from "../support/sqlite-items.js";

const available = (await serviceAvailable(REDIS)) && (await serviceAvailable(POSTGRES));
const queue = parseQueueUrl(REDIS.url, "queue");
const cleanup: (() => Promise<unknown>)[] = [];

let pg: PostgresTestSchema;
beforeAll(async () => {
  if (available) pg = await createPostgresTestSchema();
  return async () => {
    if (available) await pg.drop();
  };
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

/** The coordinator's service and its state, a worker host on a state store of its own, the replicas' dir. */
interface Fleet {
  readonly dataset: string;
  readonly dir: string;
  readonly service: Service;
  readonly state: StateStore;
  readonly host: SegmentWorkerHost;
  readonly log: string[];
}

async function startFleet(metrics?: WorkerMetrics, batch = "50ms"): Promise<Fleet> {
  const tag = randomBytes(4).toString("hex");
  const dataset = `keys_${tag}`;
  const dir = mkdtempSync(join(tmpdir(), "concord-key-jobs-"));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  makeItemsReplicas(dir, { rows: 200 });
  const stateUrl = `${POSTGRES.url}${POSTGRES.url.includes("?") ? "&" : "?"}schema=${pg.name}`;
  const config = parseConfig(
    `state: "${stateUrl}"
queue: "${REDIS.url}"
datasets:
  ${dataset}:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    policy: { owner: a, resolve: highest-version }
    schedule: 1h
    watch: { replicas: [a], batch: ${batch}, describeEvery: 0s }
`,
    join(dir, "concord.yaml"),
  );
  const log: string[] = [];
  const dispatch = new BullmqSegmentDispatch(queue, new Map([[dataset, 2]]));
  cleanup.push(async () => {
    const q = new Queue(segmentQueueName(dataset), { connection: queueConnection(queue) });
    await q.obliterate({ force: true });
    await q.close();
  });
  cleanup.push(() => dispatch.close());
  const state = await openStateStore(stateUrl);
  cleanup.push(() => state.close());
  const workerState = await openStateStore(stateUrl);
  cleanup.push(() => workerState.close());
  const host = new SegmentWorkerHost(config, {
    state: workerState,
    now: Date.now,
    log: (line) => log.push(`worker: ${line}`),
    worker: "worker-1",
    metrics,
  });
  cleanup.push(() => host.close());
  const service = await createService(config, {
    state,
    owner: `coordinator-${tag}`,
    queue: dispatch,
    log: (line) => log.push(line),
  });
  cleanup.push(() => service.stop());
  return { dataset, dir, service, state, host, log };
}

/** Waits for `cond`, polling; fails naming `what` (with the log) after `ms`. */
async function until(what: string, cond: () => boolean | Promise<boolean>, log: string[], ms = 30_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${log.join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function rows(dir: string, replica: string, ids: readonly number[]): unknown[] {
  const db = new Database(join(dir, `${replica}.db`), { readonly: true });
  try {
    return ids.map((id) => db.prepare("SELECT * FROM items WHERE id = ?").get(id));
  } finally {
    db.close();
  }
}

function writeOnA(dir: string, ids: readonly number[]): void {
  const db = new Database(join(dir, "a.db"));
  try {
    db.prepare(
      `UPDATE items SET name = 'changed ' || id, version = 3 WHERE id IN (${ids.map(() => "?").join(",")})`,
    ).run(...ids);
  } finally {
    db.close();
  }
}

/** Applied audit entries per repair id, and the runs that wrote them. */
async function applied(state: StateStore, dataset: string) {
  const entries = (await state.readAudit({ limit: 10_000 })).filter(
    (e) => e.dataset === dataset && e.type === "applied",
  );
  const perRepair = new Map<string, number>();
  for (const e of entries) {
    const id = String((e.data as { repair?: string }).repair);
    perRepair.set(id, (perRepair.get(id) ?? 0) + 1);
  }
  return { perRepair, runs: new Set(entries.map((e) => e.runId)) };
}

/**
 * Leaves run `run`, silent since `heartbeatAt` (its process on another host), with the pending claim of the
 * repair a check of `id` would make on b now: b's record as it is, a's as it is now; with `undoes`, the claim
 * says it undoes that repair (an edited row when no such repair is in the ledger).
 */
async function claimHeld(
  fx: Fleet,
  id: number,
  run: string,
  heartbeatAt: number,
  undoes?: string,
): Promise<string> {
  const ds = fx.service.config.datasets[0]!;
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: true }) });
  try {
    const { shape } = await describeDataset(ds, replicas);
    const [a, b] = await Promise.all(
      replicas.map(async (r) => (await r.connector.fetchRecords(shape, [[String(id)]]))[0]),
    );
    await fx.state.beginRun({ id: run, dataset: ds.name, command: "watch", startedAt: heartbeatAt });
    await fx.state.acquireLease(runLease(run), "another-host:4242:gone", heartbeatAt, 60_000);
    const repair = repairId(ds.name, [String(id)], "b", b!.fingerprint, a!.fingerprint);
    const claimed = await fx.state.claimRepairs([
      {
        id: repair,
        runId: run,
        dataset: ds.name,
        key: [String(id)],
        target: "b",
        expected: b!.fingerprint,
        nextFingerprint: a!.fingerprint,
        before: null,
        after: null,
        outcome: "pending",
        attempts: 0,
        updatedAt: heartbeatAt,
        ...(undoes ? { undoes } : {}),
      },
    ]);
    expect(claimed.get(repair)?.kind).toBe("claimed");
    return repair;
  } finally {
    for (const r of replicas) await r.connector.close();
  }
}

describe.skipIf(!available)("change-feed key batches as jobs on workers", () => {
  it("a coordinator's watcher hands the keys written on a replica to a worker, which repairs them", async () => {
    const fx = await startFleet();
    const ran: SegmentJob[] = [];
    const workers = await startSegmentWorkers(
      queue,
      { concurrency: 1, stallAfterMs: 5000 },
      [fx.dataset],
      async (job, attempt) => {
        ran.push(job);
        return fx.host.handle(job, attempt);
      },
      (line) => fx.log.push(line),
      "worker-1",
    );
    cleanup.push(() => workers.close());
    await fx.service.start();
    await until("the feed", () => fx.log.some((l) => l.includes("watching its change feed")), fx.log);
    await fx.service.idle();
    const ids = [5, 6, 77];
    writeOnA(fx.dir, ids);
    await until(
      "the repair",
      () => JSON.stringify(rows(fx.dir, "b", ids)) === JSON.stringify(rows(fx.dir, "a", ids)),
      fx.log,
    );
    // The keys went to the worker as a key job, under a run the coordinator began and finished.
    const keyJobs = ran.filter((j) => j.keys);
    expect(keyJobs).toHaveLength(1);
    expect(keyJobs[0]!.keys!.map((k) => k[0]).sort()).toEqual(ids.map(String).sort());
    // The row lands before its repair is settled: the run's end (and the position after it) says all is in.
    await until(
      "the run's end and the feed position",
      async () =>
        (await fx.state.getRun(keyJobs[0]!.runId))[0]?.status === "ok" &&
        (await fx.state.getFeedPosition(fx.dataset, "a")) !== undefined,
      fx.log,
    );
    const { perRepair, runs } = await applied(fx.state, fx.dataset);
    expect(perRepair.size).toBe(ids.length);
    expect([...runs]).toEqual([keyJobs[0]!.runId]);
    const [run] = await fx.state.getRun(keyJobs[0]!.runId);
    expect(run).toMatchObject({ command: "watch", status: "ok" });
    // The job is forgotten once folded: nothing is left in the queue.
    const q = new Queue(segmentQueueName(fx.dataset), { connection: queueConnection(queue) });
    cleanup.push(() => q.close());
    await until(
      "the job's removal",
      async () => (await q.getJobs(["completed", "waiting", "active"])).length === 0,
      fx.log,
    );
  }, 60_000);

  it("a worker describes the dataset once for its jobs, and again when the coordinator sees the schema change", async () => {
    const metrics = new WorkerMetrics({ defaults: false });
    const fx = await startFleet(metrics);
    const keyJobs: SegmentJob[] = [];
    const workers = await startSegmentWorkers(
      queue,
      { concurrency: 1, stallAfterMs: 5000 },
      [fx.dataset],
      async (job, attempt) => {
        if (job.keys) keyJobs.push(job);
        return fx.host.handle(job, attempt);
      },
      (line) => fx.log.push(line),
      "worker-1",
    );
    cleanup.push(() => workers.close());
    const describes = async () => {
      const counts: Record<string, number> = {};
      for (const v of (await metrics.describes.get()).values)
        if (v.labels.dataset === fx.dataset) counts[String(v.labels.outcome)] = v.value;
      return counts;
    };
    await fx.service.start();
    await until("the feed", () => fx.log.some((l) => l.includes("watching its change feed")), fx.log);
    await fx.service.idle();
    // The columns both replicas hold (b gains one below).
    const compared = (replica: string, ids: number[]) =>
      rows(fx.dir, replica, ids).map((r) => {
        const { id, name, version } = r as Record<string, unknown>;
        return { id, name, version };
      });
    const repaired = async (ids: number[], jobs: number) => {
      writeOnA(fx.dir, ids);
      await until(
        `the repair of ${ids.join(", ")}`,
        () =>
          keyJobs.length >= jobs && JSON.stringify(compared("b", ids)) === JSON.stringify(compared("a", ids)),
        fx.log,
      );
      const run = keyJobs[jobs - 1]!.runId;
      await until(
        "the key run's end",
        async () => (await fx.state.getRun(run))[0]?.status !== "running",
        fx.log,
      );
      return (await fx.state.getRun(run))[0]!;
    };
    // The first pass's segment described the dataset; three key batches after it reuse that description.
    await repaired([3, 4], 1);
    await repaired([30, 31], 2);
    await repaired([130], 3);
    const done = await jobsDone();
    expect(done).toBeGreaterThanOrEqual(4);
    expect(await describes()).toEqual({ described: 1, reused: done - 1 });
    expect(new Set(keyJobs.map((j) => j.described)).size).toBe(1);

    // A column only on b: the coordinator's description (and so its fingerprint) changes; the worker
    // describes again, the run counts the schema divergence, and the keys are still repaired.
    const b = new Database(join(fx.dir, "b.db"));
    b.exec("ALTER TABLE items ADD COLUMN note TEXT");
    b.close();
    const changed = await repaired([50, 51], 4);
    expect(changed.counts.schema).toBe(1);
    expect(keyJobs[3]!.described).not.toBe(keyJobs[0]!.described);
    await repaired([60], 5);
    const after = await describes();
    expect(after.described).toBe(2);
    expect(keyJobs[4]!.described).toBe(keyJobs[3]!.described);

    async function jobsDone(): Promise<number> {
      return (await metrics.jobs.get()).values
        .filter((v) => v.labels.dataset === fx.dataset && v.labels.outcome === "done")
        .reduce((n, v) => n + v.value, 0);
    }
  }, 60_000);

  it("a key job whose worker dies after writing is retried on another worker and applied once; the position waits for it", async () => {
    const fx = await startFleet();
    const attempts: { worker: string; result?: SegmentJobResult }[] = [];
    let died!: () => void;
    const dead = new Promise<void>((r) => {
      died = r;
    });
    // Worker 1 runs the job for real (its repairs land), then dies before reporting: it never answers, and
    // its BullMQ worker is closed without waiting, so its lock is no longer renewed.
    const first = await startSegmentWorkers(
      queue,
      { concurrency: 1, stallAfterMs: 1000 },
      [fx.dataset],
      async (job, attempt) => {
        const result = await fx.host.handle(job, attempt);
        // The first pass's segments (nothing to repair) are answered; the key job is not.
        if (!job.keys) return result;
        attempts.push({ worker: "worker-1", result });
        died();
        return new Promise<SegmentJobResult>(() => {});
      },
      (line) => fx.log.push(line),
      "worker-1",
    );
    let firstClosed = false;
    cleanup.push(() => (firstClosed ? Promise.resolve() : first.close()));
    await fx.service.start();
    await until("the feed", () => fx.log.some((l) => l.includes("watching its change feed")), fx.log);
    await fx.service.idle();
    // Where the feed began, stored at its first start (before any change is taken).
    const began = (await fx.state.getFeedPosition(fx.dataset, "a"))?.position;
    expect(began).toBeDefined();
    const ids = [10, 11, 12, 150];
    writeOnA(fx.dir, ids);
    await dead;
    const closing = first.close(true);
    firstClosed = true;
    await closing;
    // The repairs landed, but the coordinator has no answer yet: the feed position has not moved past them.
    expect(rows(fx.dir, "b", ids)).toEqual(rows(fx.dir, "a", ids));
    expect((await fx.state.getFeedPosition(fx.dataset, "a"))?.position).toBe(began);
    const second = await startSegmentWorkers(
      queue,
      { concurrency: 1, stallAfterMs: 1000 },
      [fx.dataset],
      async (job, attempt) => {
        const result = await fx.host.handle(job, attempt);
        if (job.keys) attempts.push({ worker: "worker-2", result });
        return result;
      },
      (line) => fx.log.push(line),
      "worker-2",
    );
    cleanup.push(() => second.close());
    await until("the retried job", () => attempts.some((a) => a.worker === "worker-2"), fx.log);
    await until(
      "the feed position",
      async () => (await fx.state.getFeedPosition(fx.dataset, "a"))?.position !== began,
      fx.log,
    );
    // Worker 1 applied every repair; worker 2 found the keys converged and wrote nothing.
    expect(attempts.map((a) => [a.worker, a.result?.totals.repairs.applied ?? 0])).toEqual([
      ["worker-1", ids.length],
      ["worker-2", 0],
    ]);
    const { perRepair, runs } = await applied(fx.state, fx.dataset);
    expect(perRepair.size).toBe(ids.length);
    expect([...perRepair.values()].every((n) => n === 1)).toBe(true);
    expect(runs.size).toBe(1);
    const [run] = await fx.state.getRun([...runs][0]!);
    expect(run).toMatchObject({ command: "watch", status: "ok" });
    expect(await fx.state.listRepairs({ dataset: fx.dataset, outcome: "pending" })).toEqual([]);
  }, 60_000);

  it("a key job that finds its repair held by a run not yet stale leaves the key to a re-check, run as a key job once that run is", async () => {
    // Batches gather for 2 s: time to claim, as another run, the repair the check will plan.
    const fx = await startFleet(undefined, "2s");
    const results: [SegmentJob, SegmentJobResult][] = [];
    const workers = await startSegmentWorkers(
      queue,
      { concurrency: 1, stallAfterMs: 5000 },
      [fx.dataset],
      async (job, attempt) => {
        const r = await fx.host.handle(job, attempt);
        if (job.keys) results.push([job, r]);
        return r;
      },
      (line) => fx.log.push(line),
      "worker-1",
    );
    cleanup.push(() => workers.close());
    await fx.service.start();
    await until("the feed", () => fx.log.some((l) => l.includes("watching its change feed")), fx.log);
    await fx.service.idle();
    writeOnA(fx.dir, [9]);
    // A run silent for 57 s (taken for dead at 60 s) holds the repair of key 9 on b.
    const held = await claimHeld(fx, 9, "run-silent", Date.now() - 57_000);
    await until(
      "the repair",
      () => JSON.stringify(rows(fx.dir, "b", [9])) === JSON.stringify(rows(fx.dir, "a", [9])),
      fx.log,
      90_000,
    );
    await until(
      "the re-check's result",
      () => results.some(([, r]) => r.totals.repairs.applied === 1),
      fx.log,
    );
    // The feed's key job found the repair held and told the watcher so; a later key job, the re-check,
    // settled the silent run's claim (not landed) and repaired the key.
    const [firstJob, firstResult] = results[0]!;
    expect(firstResult.totals.repairs).toEqual({ superseded: 1 });
    expect(firstResult.retry).toEqual([[keyId(["9"]), "held"]]);
    const [againJob] = results.find(([, r]) => r.totals.repairs.applied === 1)!;
    const [first] = await fx.state.getRun(firstJob.runId);
    const [again] = await fx.state.getRun(againJob.runId);
    expect(first?.command).toBe("watch");
    expect(again?.command).toBe("watch retry");
    const audit = await fx.state.readAudit({ key: keyId(["9"]) });
    expect(
      audit.find((e) => e.type === "failed" && (e.data as { repair?: string }).repair === held)?.data,
    ).toMatchObject({
      recovered: true,
      interruptedRun: "run-silent",
    });
    expect(audit.filter((e) => e.type === "applied").map((e) => e.runId)).toEqual([againJob.runId]);
    await until(
      "the re-check's line",
      () =>
        fx.log.some((l) => / re-checked 1 unsettled key \(run \S+\): 1 settled, 1 repaired; 0 held/.test(l)),
      fx.log,
    );
  }, 120_000);

  it("a key run's recovery warnings (a pending row whose undoes was edited) are in the coordinator's log", async () => {
    const fx = await startFleet();
    const workers = await startSegmentWorkers(
      queue,
      { concurrency: 1, stallAfterMs: 5000 },
      [fx.dataset],
      (job, attempt) => fx.host.handle(job, attempt),
      (line) => fx.log.push(line),
      "worker-1",
    );
    cleanup.push(() => workers.close());
    await fx.service.start();
    await until("the feed", () => fx.log.some((l) => l.includes("watching its change feed")), fx.log);
    await fx.service.idle();
    // A run on another host, silent for two minutes (dead), left a pending claim on key 30 whose `undoes`
    // names a repair the ledger never held; the next key run settles it first, here on the coordinator.
    const held = await claimHeld(fx, 30, "run-gone", Date.now() - 120_000, "no-such-repair");
    writeOnA(fx.dir, [9]);
    await until(
      "the repair",
      () => JSON.stringify(rows(fx.dir, "b", [9])) === JSON.stringify(rows(fx.dir, "a", [9])),
      fx.log,
    );
    // The claim is settled before the key job is sent; the check's warnings are logged once it is done.
    await until(
      "the warning",
      () => fx.log.some((l) => l.startsWith(`${fx.dataset}: warning: `)),
      fx.log,
      20_000,
    );
    expect(await fx.state.listRepairs({ dataset: fx.dataset, outcome: "pending" })).toEqual([]);
    const warnings = fx.log.filter((l) => l.startsWith(`${fx.dataset}: warning: `));
    expect(warnings, fx.log.join("\n")).toEqual([
      `${fx.dataset}: warning: recovery: pending repair ${held} (${fx.dataset} key ${keyId(["30"])} on b) says it undoes repair no-such-repair, but the ledger holds no repair of that key by that id (the ledger row was edited); settled as an ordinary repair, nothing marked rolled back; concord audit verify reports the row`,
    ]);
  }, 60_000);
});
