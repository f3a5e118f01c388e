/** A write-rate token bucket in Redis, shared by every worker of a fleet: together they keep to the rate. */
import { Redis } from "ioredis";
import type { QueueConfig } from "../config/queue-config.js";
import type { WriteLimiter } from "../execute/write-guard.js";
import { queueConnection } from "./queue-connection.js";

/**
 * KEYS[1]: the bucket (a hash: tokens, ts). ARGV: rate per second, capacity, tokens wanted.
 * Returns { granted, waitMs }: refills by Redis's own clock (one clock for the whole fleet), grants what it
 * holds up to the wanted number, and says how long until the next token when it granted less.
 */
const TAKE = `
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) / 1000 * rate)
local grant = math.min(want, math.floor(tokens))
tokens = tokens - grant
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / rate * 1000) + 60000)
local wait = 0
if grant < want then wait = math.max(1, math.ceil((1 - tokens) / rate * 1000)) end
return { grant, wait }
`;

/**
 * A bucket of `perSecond` tokens a second, holding at most one second's worth (at least one token), kept
 * at `key` in Redis. `take(n)` waits until all n are granted, taking what is there as it comes.
 */
export class RedisTokenBucket implements WriteLimiter {
  private readonly capacity: number;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly perSecond: number,
  ) {
    this.capacity = Math.max(1, perSecond);
  }

  async take(n: number): Promise<void> {
    let need = n;
    while (need > 0) {
      const { granted, waitMs } = await this.tryTake(need);
      need -= granted;
      if (need > 0) await new Promise((r) => setTimeout(r, waitMs));
    }
  }

  /** Takes what the bucket holds, up to `n`, without waiting; `waitMs`: until the next token, when short. */
  async tryTake(n: number): Promise<{ granted: number; waitMs: number }> {
    const [granted, waitMs] = (await this.redis.eval(
      TAKE,
      1,
      this.key,
      String(this.perSecond),
      String(this.capacity),
      String(n),
    )) as [number, number];
    return { granted, waitMs };
  }
}

/** The key of a dataset's replica's write bucket. */
export function writeBucketKey(dataset: string, replica: string): string {
  return `concord:writes:${dataset}:${replica}`;
}

/** The fleet's write buckets in the queue's Redis, on one connection of their own. */
export interface WriteBuckets {
  /** The bucket of a dataset's replica (policy.limits.writesPerSecond), shared by every worker. */
  limiter(dataset: string, replica: string, perSecond: number): WriteLimiter;
  close(): Promise<void>;
}

/** Opens the connection the write buckets use. */
export function openWriteBuckets(queue: QueueConfig): WriteBuckets {
  const redis = new Redis(queueConnection(queue));
  // Without a listener ioredis prints each connection error with its stack; a take that fails says why.
  redis.on("error", () => undefined);
  return {
    limiter: (dataset, replica, perSecond) =>
      new RedisTokenBucket(redis, writeBucketKey(dataset, replica), perSecond),
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
