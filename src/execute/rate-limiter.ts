/** A token bucket per replica: writes per second, with bursts up to one second's worth (at least one write). */
import { channel } from "node:diagnostics_channel";

/**
 * The diagnostics channel (node:diagnostics_channel) every limiter publishes a `RateLimitTake` on when a
 * request for tokens starts, before any wait: an observable point for tooling and tests (a write batch is
 * marked pending in the ledger before it takes its tokens, so this is the moment a pending batch starts
 * waiting for them). Publishing costs nothing without a subscriber; a subscriber runs synchronously, first.
 */
export const RATE_LIMIT_TAKE_CHANNEL = "concord:rate-limit-take";

/** What a limiter publishes on `RATE_LIMIT_TAKE_CHANNEL` when a request starts. */
export interface RateLimitTake {
  /** The limiter's rate (writes per second). */
  readonly perSecond: number;
  /** Tokens asked for (a batch's writes). */
  readonly n: number;
}

const takes = channel(RATE_LIMIT_TAKE_CHANNEL);

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
    if (takes.hasSubscribers) takes.publish({ perSecond: this.perSecond, n } satisfies RateLimitTake);
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
      await this.sleep(Math.ceil(((1 - this.tokens) / this.perSecond) * 1000));
    }
  }
}
