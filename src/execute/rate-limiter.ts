/** A token bucket per replica: writes per second, with bursts up to one second's worth. */

/**
 * Grants `n` tokens, waiting as needed. `now` and `sleep` are injected so the simulator can run it in
 * virtual time. Requests larger than the bucket are granted over several refills.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.tokens = perSecond;
    this.last = now();
  }

  async take(n: number): Promise<void> {
    let need = n;
    while (need > 0) {
      const t = this.now();
      this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) / 1000) * this.perSecond);
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
