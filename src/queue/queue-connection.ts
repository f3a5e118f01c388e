/** The Redis connection options every BullMQ queue, worker and listener of Concord uses, from `queue:`. */
import type { QueueConfig } from "../config/queue-config.js";

/** Options both ioredis and BullMQ read. */
export interface QueueConnection {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: Record<string, never>;
  readonly maxRetriesPerRequest: null;
}

/**
 * ioredis options for the queue's Redis. `maxRetriesPerRequest: null`: BullMQ's blocking calls must wait
 * through a reconnection instead of failing after a few retries (BullMQ requires it of worker connections).
 */
export function queueConnection(queue: QueueConfig): QueueConnection {
  return {
    host: queue.host,
    port: queue.port,
    db: queue.db,
    ...(queue.username ? { username: queue.username } : {}),
    ...(queue.password ? { password: queue.password } : {}),
    ...(queue.tls ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** The BullMQ queue of a dataset's segment jobs (one per dataset, so each has its own fleet-wide concurrency). */
export function segmentQueueName(dataset: string): string {
  return `concord-segments-${dataset}`;
}

/** A segment job's id: one job per pass and segment, so submitting it again adds nothing. */
export function segmentJobId(runId: string, index: number): string {
  return `${runId}.${index}`;
}

/** The segment index of a job id of `runId`, or undefined when the job is another pass's. */
export function segmentIndexOf(jobId: string | undefined, runId: string): number | undefined {
  if (!jobId?.startsWith(`${runId}.`)) return undefined;
  const n = Number(jobId.slice(runId.length + 1));
  return Number.isInteger(n) ? n : undefined;
}
