/** The worker's side of the queue: a BullMQ worker per dataset that hands each segment job to a handler. */
import { Worker } from "bullmq";
import type { QueueConfig, WorkersConfig } from "../config/queue-config.js";
import type { SegmentJob, SegmentJobResult } from "../engine/segment-dispatch.js";
import { queueConnection, segmentQueueName } from "./queue-connection.js";

/** Runs one segment job; what it resolves to is the job's result, what it throws fails the attempt. */
export type SegmentHandler = (job: SegmentJob, attempt: number) => Promise<SegmentJobResult>;

/** A worker process's BullMQ workers. */
export interface SegmentWorkers {
  /**
   * Stops taking jobs, waits for the jobs running to finish, closes the connections. `force`: without waiting
   * (their locks are no longer renewed: another worker takes them up as stalled, as after a crash).
   */
  close(force?: boolean): Promise<void>;
}

/**
 * Starts taking segment jobs of `datasets`: `workers.concurrency` at a time per dataset on this process, within
 * the dataset's fleet-wide concurrency set by the coordinator. A job's lock lasts `workers.stallAfterMs` and
 * is renewed while it runs; a job whose worker died is taken up again by another worker's stalled check.
 * Resolves once every worker is connected.
 */
export async function startSegmentWorkers(
  queue: QueueConfig,
  workers: WorkersConfig,
  datasets: readonly string[],
  handler: SegmentHandler,
  log: (line: string) => void,
  /** This worker process (`host:pid:random`): the queue records it on each job it runs (`processedBy`). */
  name?: string,
): Promise<SegmentWorkers> {
  const connection = queueConnection(queue);
  const started = datasets.map(
    (dataset) =>
      new Worker<SegmentJob, SegmentJobResult>(
        segmentQueueName(dataset),
        (job) => handler(job.data, job.attemptsMade + 1),
        {
          connection,
          ...(name ? { name } : {}),
          concurrency: workers.concurrency,
          lockDuration: workers.stallAfterMs,
          stalledInterval: Math.max(500, Math.floor(workers.stallAfterMs / 2)),
          maxStalledCount: 5,
        },
      ),
  );
  for (const w of started)
    w.on("error", (err) => log(`queue ${w.name}: ${(err.message ?? String(err)).split("\n")[0]}`));
  await Promise.all(started.map((w) => w.waitUntilReady()));
  return {
    async close(force = false) {
      await Promise.all(started.map((w) => w.close(force)));
    },
  };
}
