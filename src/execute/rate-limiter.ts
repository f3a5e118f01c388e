/** A token bucket per replica: writes per second, with bursts up to one second's worth (at least one write). */
import { channel } from "node:diagnostics_channel";

/**
 * The diagnostics channel (node:diagnostics_channel) every limiter publishes a `RateLimitWait` on just before
 * it sleeps for tokens: an observable point for tooling and tests (a batch is marked pending in the ledger
 * before it takes its tokens, so this is the moment a pending batch starts waiting). Publishing costs nothing
 * without a subscriber; a subscriber runs synchronously, before the wait.
 */
export const RATE_LIMIT_WAIT_CHANNEL = "concord:rate-limit-wait";

/** What a limiter publishes on `RATE_LIMIT_WAIT_CHANNEL` before a wait. */
export interface RateLimitWait {
  /** The limiter's rate (writes per second). */
  readonly perSecond: number;
  /** Tokens still to be granted to the request that waits. */
  readonly need: number;
  /** How long it sleeps now, ms. */
  readonly waitMs: number;
}

const waits = channel(RATE_LIMIT_WAIT_CHANNEL);

/**
 * Grants `n` tokens, waiting as needed. `now` and `sleep` are injected so the simulator can run it in
 * virtual time. Requests larger than the bucket are granted over several refills.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  /** Bucket size: one second's worth, but never under one token, or a rate below 1/s would never grant one. */
  private readonly capacity: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.capacity = Math.max(1, perSecond);
    this.tokens = this.capacity;
    this.last = now();
  }

  async take(n: number): Promise<void> {
    let need = n;
    while (need > 0) {
      const t = this.now();
      this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.perSecond);
      this.last = t;
      const grant = Math.min(need, Math.floor(this.tokens));
      if (grant > 0) {
        this.tokens -= grant;
        need -= grant;
        continue;
      }
      const waitMs = Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
      if (waits.hasSubscribers)
        waits.publish({ perSecond: this.perSecond, need, waitMs } satisfies RateLimitWait);
      await this.sleep(waitMs);
    }
  }
}
