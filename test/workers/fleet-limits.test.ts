/**
 * Limits that hold across every worker of a fleet, on the real Redis: the write-rate bucket several workers
 * share, and a dataset's concurrency as the queue's global concurrency over several worker processes' workers.
 */
import { randomBytes } from "node:crypto";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { parseQueueUrl } from "../../src/config/queue-config.js";
import { emptyTotals } from "../../src/engine/run-totals.js";
import type { SegmentFailure, SegmentJob, SegmentJobResult } from "../../src/engine/segment-dispatch.js";
import { BullmqSegmentDispatch } from "../../src/queue/bullmq-segment-dispatch.js";
import { startSegmentWorkers } from "../../src/queue/bullmq-segment-workers.js";
import { queueConnection, segmentQueueName } from "../../src/queue/queue-connection.js";
import { RedisTokenBucket } from "../../src/queue/redis-token-bucket.js";
import { REDIS, serviceAvailable, TEST_PREFIX } from "../support/services.js";

const available = await serviceAvailable(REDIS);
const queue = parseQueueUrl(REDIS.url, "queue");
const tag = randomBytes(4).toString("hex");
const cleanup: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

describe.skipIf(!available)("fleet-wide limits", () => {
  it("two workers' buckets on one key share its tokens; another key has its own", async () => {
    const redis = new Redis(REDIS.url);
    const key = `${TEST_PREFIX}:bucket:${tag}`;
    cleanup.push(async () => {
      await redis.del(key, `${key}:other`);
      redis.disconnect();
    });
    // One write a second: the first take empties the bucket for every worker until it refills.
    const [w1, w2] = [new RedisTokenBucket(redis, key, 1), new RedisTokenBucket(redis, key, 1)];
    expect(await w1.tryTake(1)).toEqual({ granted: 1, waitMs: 0 });
    const second = await w2.tryTake(1);
    expect(second.granted).toBe(0);
    expect(second.waitMs).toBeGreaterThan(0);
    expect((await new RedisTokenBucket(redis, `${key}:other`, 1).tryTake(1)).granted).toBe(1);
    // Asking for more than the bucket holds grants what it holds: bursts never exceed a second's worth.
    const big = new RedisTokenBucket(redis, `${key}:big`, 50);
    cleanup.push(() => redis.del(`${key}:big`));
    expect((await big.tryTake(80)).granted).toBe(50);
  });

  it("a dataset's concurrency caps its segments running at once over every worker", async () => {
    const dataset = `limits_${tag}`;
    const dispatch = new BullmqSegmentDispatch(queue, new Map([[dataset, 2]]));
    cleanup.push(async () => {
      const q = new Queue(segmentQueueName(dataset), { connection: queueConnection(queue) });
      await q.obliterate({ force: true });
      await q.close();
    });
    cleanup.push(() => dispatch.close());
    let running = 0;
    let most = 0;
    let finished = 0;
    const held: (() => void)[] = [];
    const progress = new Set<() => void>();
    const changed = () => {
      for (const p of progress) p();
    };
    const when = (cond: () => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!cond()) return;
          progress.delete(check);
          resolve();
        };
        progress.add(check);
        check();
      });
    const handler = async (job: SegmentJob): Promise<SegmentJobResult> => {
      running++;
      most = Math.max(most, running);
      changed();
      await new Promise<void>((r) => held.push(r));
      running--;
      finished++;
      changed();
      return { totals: emptyTotals(), worker: `w${job.index}`, durationMs: 0 };
    };
    // Three "processes", each willing to run three jobs at once: nine slots for a dataset allowed two.
    const fleet = await Promise.all(
      [1, 2, 3].map(() =>
        startSegmentWorkers(queue, { concurrency: 3, stallAfterMs: 30_000 }, [dataset], handler, () => {}),
      ),
    );
    cleanup.push(() => Promise.all(fleet.map((w) => w.close())));
    const jobs = Array.from({ length: 6 }, (_, index) => ({
      dataset,
      runId: `limits-${tag}`,
      mode: "scan" as const,
      index,
      of: 6,
      range: { lo: null, hi: null },
      expectedRows: 1,
    }));
    await dispatch.submit(jobs);
    // Release one held job at a time once two run. Before each release, nine idle slots get 200 ms to start a
    // third job (they would within milliseconds if the limit did not hold); the outcome never depends on it.
    while (finished < jobs.length) {
      await when(() => held.length > 0 && (running >= 2 || finished + running === jobs.length));
      await Promise.race([when(() => running > 2), new Promise((r) => setTimeout(r, 200))]);
      held.shift()!();
      await when(() => held.length === 0 || running <= 2);
    }
    expect(most).toBe(2);
    // Every job completes (the queue records a result a moment after its handler returns: poll waits for it).
    let done: number[] = [];
    while (done.length < jobs.length)
      done = [...(await dispatch.poll(dataset, `limits-${tag}`, [0, 1, 2, 3, 4, 5], 1000)).done.keys()];
    expect(done.sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("a failed attempt names the worker that made it, the segment and the error", async () => {
    const dataset = `failing_${tag}`;
    const failures: SegmentFailure[] = [];
    let told!: () => void;
    const first = new Promise<void>((resolve) => {
      told = resolve;
    });
    const dispatch = new BullmqSegmentDispatch(queue, new Map([[dataset, 2]]), (f) => {
      failures.push(f);
      told();
    });
    cleanup.push(async () => {
      const q = new Queue(segmentQueueName(dataset), { connection: queueConnection(queue) });
      await q.obliterate({ force: true });
      await q.close();
    });
    cleanup.push(() => dispatch.close());
    const worker = `host-f:4242:${tag}`;
    const workers = await startSegmentWorkers(
      queue,
      { concurrency: 1, stallAfterMs: 30_000 },
      [dataset],
      async (job) => {
        if (job.index === 1) throw new Error("replica b refused the write\nstack line");
        return { totals: emptyTotals(), worker, durationMs: 0 };
      },
      () => {},
      worker,
    );
    cleanup.push(() => workers.close());
    const job = (index: number) => ({
      dataset,
      runId: `failing-${tag}`,
      mode: "repair" as const,
      index,
      of: 2,
      range: { lo: null, hi: null },
      expectedRows: 1,
    });
    await dispatch.submit([job(0), job(1)]);
    await first;
    expect(failures[0]).toEqual({
      dataset,
      runId: `failing-${tag}`,
      index: 1,
      worker,
      error: "replica b refused the write",
      attempt: 1,
      final: false,
    });
  });
});
