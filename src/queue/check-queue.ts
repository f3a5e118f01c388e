/** Whether the queue's Redis can be used at all, asked once before a worker or coordinator starts. */
import { Redis } from "ioredis";
import type { QueueConfig } from "../config/queue-config.js";
import { redactUrl } from "../config/redact.js";
import { queueConnection } from "./queue-connection.js";

/** The queue could not be reached or used (refused, a password refused, a database index out of range). */
export class QueueUnusableError extends Error {
  override readonly name = "ConnectorError";
}

/**
 * Connects to the queue's Redis (the handshake selects its database) within `timeoutMs` and disconnects.
 * Throws one line naming the queue (password redacted) and Redis's reason: otherwise BullMQ's connections
 * retry forever and ioredis prints unhandled error events with their stacks, while the process says it is
 * ready.
 */
export async function checkQueue(queue: QueueConfig, where: string, timeoutMs = 10_000): Promise<void> {
  const redis = new Redis({
    ...queueConnection(queue),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  let last: Error | undefined;
  redis.on("error", (err: Error) => {
    last = err;
  });
  try {
    await redis.connect();
    // ioredis selects the database on connecting but stays ready when Redis refuses it: ask again.
    await redis.select(queue.db);
  } catch (err) {
    const why = (last ?? (err as Error)).message.split("\n")[0];
    throw new QueueUnusableError(`${where} ${redactUrl(queue.url)}: cannot use the queue: ${why}`);
  } finally {
    redis.disconnect();
  }
}
