/**
 * This process's write-rate buckets, one per dataset's replica. Every run of a dataset takes from the same
 * bucket — a pass, a watch's key checks, a replay's batches, each a run with its own write guard — so
 * `limits.writesPerSecond` holds across runs, not per run: a watch checking every 200 ms with a bucket per
 * check would write up to five times the rate. (Workers share theirs in the queue's Redis instead.)
 */
import { RateLimiter } from "./rate-limiter.js";

const buckets = new Map<string, { perSecond: number; limiter: RateLimiter }>();

/** The bucket of `dataset`'s `replica` at `perSecond` (a new one, full, when the rate changed). */
export function processWriteLimiter(dataset: string, replica: string, perSecond: number): RateLimiter {
  const key = JSON.stringify([dataset, replica]);
  const bucket = buckets.get(key);
  if (bucket?.perSecond === perSecond) return bucket.limiter;
  const limiter = new RateLimiter(perSecond);
  buckets.set(key, { perSecond, limiter });
  return limiter;
}
