/** SegmentDispatch on BullMQ: one queue per dataset, one job per pass and segment, events to wake the waiter. */
import { type Job, Queue, QueueEvents } from "bullmq";
import type { QueueConfig } from "../config/queue-config.js";
import type {
  QueueDepth,
  SegmentDispatch,
  SegmentFailure,
  SegmentJob,
  SegmentJobResult,
  SegmentProgress,
} from "../engine/segment-dispatch.js";
import { queueConnection, segmentIndexOf, segmentJobId, segmentQueueName } from "./queue-connection.js";

/** Attempts of a segment job before it is failed for good (a replica down for longer stops the pass). */
const ATTEMPTS = 5;

interface DatasetQueue {
  readonly queue: Queue;
  readonly events: QueueEvents;
  /** Waiters woken by the next completed or failed job. */
  readonly waiters: Set<() => void>;
}

/**
 * The coordinator's side of the queue. Each dataset's queue has a fleet-wide concurrency (the dataset's
 * `concurrency`): BullMQ starts no more of its jobs at once, however many workers listen.
 */
export class BullmqSegmentDispatch implements SegmentDispatch {
  private readonly queues = new Map<string, DatasetQueue>();

  constructor(
    private readonly config: QueueConfig,
    private readonly concurrency: ReadonlyMap<string, number>,
    /** Told each failed attempt, with the worker that made it (BullMQ's `processedBy`: the worker's name). */
    private readonly onFailedAttempt?: (failure: SegmentFailure) => void,
  ) {}

  private async queueOf(dataset: string): Promise<DatasetQueue> {
    let q = this.queues.get(dataset);
    if (!q) {
      const connection = queueConnection(this.config);
      const name = segmentQueueName(dataset);
      const waiters = new Set<() => void>();
      const wake = () => {
        for (const w of waiters) w();
        waiters.clear();
      };
      const events = new QueueEvents(name, { connection });
      events.on("completed", wake);
      const queue = new Queue(name, { connection });
      const tell = (jobId: string, reason: string | undefined) => {
        const told = this.onFailedAttempt;
        if (told) void this.failureOf(queue, dataset, jobId, reason).then(told, () => {});
      };
      events.on("failed", ({ jobId, failedReason }) => {
        wake();
        tell(jobId, failedReason);
      });
      // An attempt that failed with attempts left: the job waits out its back-off (jobs are delayed for
      // nothing else here), its failedReason that attempt's.
      events.on("delayed", ({ jobId }) => tell(jobId, undefined));
      events.on("retries-exhausted", wake);
      q = { queue, events, waiters };
      this.queues.set(dataset, q);
      await q.queue.setGlobalConcurrency(this.concurrency.get(dataset) ?? 1);
      await events.waitUntilReady();
    }
    return q;
  }

  /** A failed attempt as the job records it: segment, worker, attempt (the job may be gone: then less). */
  private async failureOf(
    queue: Queue,
    dataset: string,
    jobId: string,
    reason: string | undefined,
  ): Promise<SegmentFailure> {
    const job = (await queue.getJob(jobId)) as Job<SegmentJob> | undefined;
    reason ??= job?.failedReason;
    const attempt = job?.attemptsMade ?? 1;
    return {
      dataset,
      runId: job?.data.runId ?? jobId.replace(/\.\d+$/, ""),
      index: job?.data.index,
      worker: job?.processedBy,
      error: (reason ?? "failed").split("\n")[0]!,
      attempt,
      final: attempt >= (job?.opts.attempts ?? ATTEMPTS),
    };
  }

  async submit(jobs: readonly SegmentJob[]): Promise<void> {
    const byDataset = new Map<string, SegmentJob[]>();
    for (const j of jobs) byDataset.set(j.dataset, [...(byDataset.get(j.dataset) ?? []), j]);
    for (const [dataset, list] of byDataset) {
      const { queue } = await this.queueOf(dataset);
      // Jobs that exist (waiting, running, completed) are left as they are: addBulk adds none twice.
      await queue.addBulk(
        list.map((job) => ({
          name: job.keys ? "keys" : "segment",
          data: job,
          opts: {
            jobId: segmentJobId(job.runId, job.index),
            attempts: ATTEMPTS,
            backoff: { type: "exponential", delay: 1000 },
            removeOnComplete: false,
            removeOnFail: false,
          },
        })),
      );
      const wanted = new Set(list.map((j) => segmentJobId(j.runId, j.index)));
      for (const job of await queue.getJobs(["failed"]))
        if (job.id && wanted.has(job.id)) await job.retry("failed");
    }
  }

  async poll(
    dataset: string,
    runId: string,
    indexes: readonly number[],
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<SegmentProgress> {
    const q = await this.queueOf(dataset);
    const wanted = new Set(indexes);
    const read = async (): Promise<SegmentProgress> => {
      const done = new Map<number, SegmentJobResult>();
      const failed = new Map<number, string>();
      const pick = (job: Job) => {
        const i = segmentIndexOf(job.id, runId);
        return i !== undefined && wanted.has(i) ? i : undefined;
      };
      for (const job of await q.queue.getJobs(["completed"])) {
        const i = pick(job);
        if (i !== undefined && job.returnvalue) done.set(i, job.returnvalue as SegmentJobResult);
      }
      for (const job of await q.queue.getJobs(["failed"])) {
        const i = pick(job);
        if (i !== undefined) failed.set(i, (job.failedReason ?? "failed").split("\n")[0]!);
      }
      return { done, failed };
    };
    // Registered before reading, so a job that ends in between still wakes this wait.
    let wake!: () => void;
    const woken = new Promise<void>((r) => {
      wake = r;
    });
    q.waiters.add(wake);
    const first = await read();
    if (first.done.size || first.failed.size || signal?.aborted) {
      q.waiters.delete(wake);
      return first;
    }
    const timer = setTimeout(wake, waitMs);
    const onAbort = () => wake();
    signal?.addEventListener("abort", onAbort, { once: true });
    await woken;
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    q.waiters.delete(wake);
    return read();
  }

  async forget(dataset: string, runId: string, indexes: readonly number[]): Promise<void> {
    const { queue } = await this.queueOf(dataset);
    for (const i of indexes) {
      // A job still locked by a worker cannot be removed; its result is ignored when it comes (not todo).
      await queue.remove(segmentJobId(runId, i)).catch(() => 0);
    }
  }

  /** Each dataset's queue depth and the age of its oldest waiting job. */
  async depths(datasets: readonly string[], now: number): Promise<QueueDepth[]> {
    const out: QueueDepth[] = [];
    for (const dataset of datasets) {
      const { queue } = await this.queueOf(dataset);
      const c = await queue.getJobCounts(
        "waiting",
        "prioritized",
        "active",
        "delayed",
        "failed",
        "completed",
      );
      const [oldest] = await queue.getJobs(["waiting", "prioritized"], 0, 0, true);
      out.push({
        dataset,
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        failed: c.failed ?? 0,
        completed: c.completed ?? 0,
        oldestWaitingMs: oldest ? Math.max(0, now - oldest.timestamp) : 0,
      });
    }
    return out;
  }

  async close(): Promise<void> {
    for (const { queue, events, waiters } of this.queues.values()) {
      for (const w of waiters) w();
      await events.close().catch(() => {});
      await queue.close().catch(() => {});
    }
    this.queues.clear();
  }
}
