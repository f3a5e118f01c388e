/** Latency-aware backpressure for repair writes: a per-replica write rate that follows the replica's health (AIMD). */
import { type AimdConfig, nextAimdLimit } from "../core/aimd.js";
import { RateLimiter } from "./rate-limiter.js";

/** How a run's writes back off a struggling replica (`backpressure:` of a dataset). */
export interface BackpressureConfig {
  /** A write batch slower than this (ms, its own time: not the wait for the rate) counts as congestion. */
  readonly latencyMs: number;
  /** The rate never goes below this many writes per second. */
  readonly minWritesPerSecond: number;
}

/**
 * The write rate of one replica, adapted after every write batch: halved after a batch that failed, needed a
 * retry, or took longer than `latencyMs`; raised by a twentieth of its starting point after a healthy one, up
 * to the configured rate (`writesPerSecond`). Without a configured rate it starts unlimited and takes the
 * first congested batch's own pace as its starting point. `take` waits as the current rate requires.
 */
export class AdaptiveWriteRate {
  /** Undefined while unlimited (no congestion seen yet and no configured rate). */
  private rate: number | undefined;
  private limiter: RateLimiter | undefined;
  private aimd: AimdConfig | undefined;

  constructor(
    private readonly config: BackpressureConfig,
    private readonly ceiling: number | undefined,
    private onRate?: (perSecond: number | undefined) => void,
    private readonly now: () => number = Date.now,
  ) {
    if (ceiling !== undefined) this.setRate(ceiling, ceiling);
  }

  /** Writes per second now (undefined: unlimited). */
  get perSecond(): number | undefined {
    return this.rate;
  }

  /**
   * Tells `onRate` of every change from now on, in place of the listener before it (a rate several runs
   * share reports to the newest run's metrics; they all set the same gauge).
   */
  listen(onRate: (perSecond: number | undefined) => void): void {
    this.onRate = onRate;
  }

  /** Resolves once `n` writes may be made at the current rate. */
  async take(n: number): Promise<void> {
    await this.limiter?.take(n);
  }

  /** Tells how a batch of `size` writes went: `ms` its own time, `ok` false on a failure or a retry. */
  observe(size: number, ms: number, ok: boolean): void {
    const congested = !ok || ms > this.config.latencyMs;
    if (this.rate === undefined) {
      if (!congested) return;
      // Unlimited so far: the congested batch's own pace is where backing off starts.
      const pace = Math.max(this.config.minWritesPerSecond, Math.floor((size * 1000) / Math.max(1, ms)));
      this.setRate(pace, undefined);
    }
    const next = nextAimdLimit(this.rate!, { ok, durationMs: ms }, this.aimd!);
    if (next !== this.rate) this.setRate(next, undefined);
  }

  private setRate(perSecond: number, start: number | undefined): void {
    const min = Math.max(1, this.config.minWritesPerSecond);
    if (!this.aimd) {
      const from = start ?? perSecond;
      this.aimd = {
        min,
        max: this.ceiling ?? Number.MAX_SAFE_INTEGER,
        step: Math.max(1, Math.ceil(from / 20)),
        targetMs: this.config.latencyMs,
      };
    }
    this.rate = Math.max(min, perSecond);
    this.limiter = new RateLimiter(this.rate, this.now);
    this.onRate?.(this.rate);
  }
}
