/** Per-replica resilience for writes: retries with backoff and jitter, a circuit breaker, a rate limit (cockatiel). */
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
  wrap,
} from "cockatiel";
import { ConnectorError } from "../connectors/connector.js";
import { AdaptiveWriteRate, type BackpressureConfig } from "./adaptive-rate.js";
import { RateLimiter } from "./rate-limiter.js";

export interface WriteGuardOptions {
  /** Attempts per batch, the first included (default 4). */
  readonly maxAttempts?: number;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Consecutive failed batches that open the replica's circuit (default 5). */
  readonly breakAfter?: number;
  /** How long an open circuit stays open before one trial batch (default 30 s). */
  readonly halfOpenAfterMs?: number;
  /** Writes per second per replica (policy.limits.writesPerSecond); unlimited when undefined. */
  readonly writesPerSecond?: number | undefined;
  /** Told of every retry (for metrics). */
  readonly onRetry?: (replica: string, attempt: number) => void;
  /**
   * The write-rate bucket of a replica, in place of this process's own under `writesPerSecond`: a bucket
   * several processes share (workers of one fleet), so that together they keep to the rate.
   */
  readonly limiter?: ((replica: string) => WriteLimiter) | undefined;
  /**
   * Latency-aware backpressure: each replica's write rate adapts to how its batches go (AIMD under
   * `writesPerSecond`; see AdaptiveWriteRate). Off when undefined.
   */
  readonly backpressure?: BackpressureConfig | undefined;
  /** Told the replica's adapted write rate whenever it changes (for metrics). */
  readonly onRate?: ((replica: string, perSecond: number | undefined) => void) | undefined;
}

/** A write-rate bucket: `take(n)` resolves once `n` writes may be made. */
export interface WriteLimiter {
  take(n: number): Promise<void>;
}

/**
 * A write the store refused for what it writes (a value the column rejects, a row over the packet limit, a
 * duplicate under the collation), while the replica itself answers: not retried, and not counted against the
 * replica by its circuit breaker. `cause` is the store's error.
 */
export class RowsRejectedError extends Error {
  override readonly name = "RowsRejectedError";
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** Whether the retry and the circuit breaker handle `err`: failures of the replica, not of the rows. */
const replicaFailure = handleWhen(
  (err) => !(err instanceof BrokenCircuitError) && !(err instanceof RowsRejectedError),
);

/** Errors a batch is not retried for: an open circuit, rows the store refused, a deadline the replica missed. */
function notReplicaRetry(err: unknown): boolean {
  return (
    err instanceof BrokenCircuitError ||
    err instanceof RowsRejectedError ||
    (err instanceof ConnectorError && err.timedOut === true)
  );
}

/**
 * Runs a replica's write batches through its own retry + circuit breaker + rate limit. A call that throws
 * RowsRejectedError is neither retried nor counted by the breaker: the rows failed, not the replica.
 */
export class WriteGuard {
  private readonly policies = new Map<
    string,
    {
      policy: IPolicy;
      breaker: IPolicy;
      limiter?: WriteLimiter;
      adaptive?: AdaptiveWriteRate;
      retries: number;
    }
  >();

  constructor(private readonly options: WriteGuardOptions = {}) {}

  /** The most writes one call should carry: about a second's worth under a rate limit, else `fallback`. */
  batchLimit(fallback: number): number {
    const rate = this.options.writesPerSecond;
    return rate ? Math.max(1, Math.min(fallback, Math.floor(rate))) : fallback;
  }

  private for(replica: string) {
    let p = this.policies.get(replica);
    if (!p) {
      const o = this.options;
      // A replica that did not answer within its deadline has had its chance: the run stops instead.
      const retryPolicy = retry(
        handleWhen((err) => !notReplicaRetry(err)),
        {
          maxAttempts: (o.maxAttempts ?? 4) - 1,
          backoff: new ExponentialBackoff({
            initialDelay: o.initialDelayMs ?? 50,
            maxDelay: o.maxDelayMs ?? 2000,
          }),
        },
      );
      retryPolicy.onRetry((e) => {
        const q = this.policies.get(replica);
        if (q) q.retries++;
        o.onRetry?.(replica, e.attempt);
      });
      const breaker = circuitBreaker(replicaFailure, {
        halfOpenAfter: o.halfOpenAfterMs ?? 30_000,
        breaker: new ConsecutiveBreaker(o.breakAfter ?? 5),
      });
      p = {
        policy: wrap(retryPolicy, breaker),
        breaker,
        retries: 0,
        ...(o.backpressure
          ? {
              adaptive: new AdaptiveWriteRate(o.backpressure, o.writesPerSecond, (rate) =>
                o.onRate?.(replica, rate),
              ),
            }
          : {}),
        ...(o.limiter
          ? { limiter: o.limiter(replica) }
          : o.writesPerSecond
            ? { limiter: new RateLimiter(o.writesPerSecond) }
            : {}),
      };
      this.policies.set(replica, p);
    }
    return p;
  }

  /** Executes `fn` (one batch of `size` writes) for `replica`. Rejects after retries or on an open circuit. */
  async run<T>(replica: string, size: number, fn: () => Promise<T>): Promise<T> {
    const p = this.for(replica);
    if (p.limiter) await p.limiter.take(size);
    if (!p.adaptive) return p.policy.execute(() => fn());
    await p.adaptive.take(size);
    // The batch's own time (retries and their back-off included), after any wait for the rate.
    const started = Date.now();
    const retriesBefore = p.retries;
    try {
      const result = await p.policy.execute(() => fn());
      p.adaptive.observe(size, Date.now() - started, p.retries === retriesBefore);
      return result;
    } catch (err) {
      // Rows the store refused say nothing of the replica's health.
      if (!(err instanceof RowsRejectedError)) p.adaptive.observe(size, Date.now() - started, false);
      throw err;
    }
  }

  /** The replica's adapted write rate (undefined: unlimited, or no backpressure). */
  rate(replica: string): number | undefined {
    return this.policies.get(replica)?.adaptive?.perSecond;
  }

  /**
   * Counts one failure of `replica` with its circuit breaker, without a call or a retry: for a batch whose
   * every write was refused row by row (a replica that takes no writes at all, while it answers reads).
   */
  async countFailure(replica: string, err: unknown): Promise<void> {
    await this.for(replica)
      .breaker.execute(() => Promise.reject(err))
      .catch(() => {});
  }
}
