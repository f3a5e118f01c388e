/**
 * This process's write-rate buckets and adapted write rates, one per dataset's replica. Every run of a
 * dataset takes from the same bucket — a pass, a watch's key checks, a replay's batches, each a run with its
 * own write guard — so `limits.writesPerSecond` holds across runs, not per run: a watch checking every
 * 200 ms with a bucket per check would write up to five times the rate. (Workers share their buckets in the
 * queue's Redis instead.) Likewise the rate backpressure adapted (AIMD) carries over to the next run: a key
 * check starting after a congested one starts from where that one backed off, not from the ceiling again.
 */
import { AdaptiveWriteRate, type BackpressureConfig } from "./adaptive-rate.js";
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

const adapted = new Map<string, { settings: string; rate: AdaptiveWriteRate }>();

/**
 * The adapted write rate of `dataset`'s `replica` under `config` and `ceiling` (`writesPerSecond`): the one
 * this process's earlier runs adapted, or a new one when the settings changed (a reloaded config).
 */
export function processAdaptiveRate(
  dataset: string,
  replica: string,
  config: BackpressureConfig,
  ceiling: number | undefined,
): AdaptiveWriteRate {
  const key = JSON.stringify([dataset, replica]);
  const settings = JSON.stringify([config.latencyMs, config.minWritesPerSecond, ceiling ?? null]);
  const known = adapted.get(key);
  if (known?.settings === settings) return known.rate;
  const rate = new AdaptiveWriteRate(config, ceiling);
  adapted.set(key, { settings, rate });
  return rate;
}
