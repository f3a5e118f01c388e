/** Per-replica resilience for writes: retries with backoff and jitter, a circuit breaker, a rate limit (cockatiel, loaded on the first write). */
import { createRequire } from "node:module";
import type { IPolicy } from "cockatiel";
import { ConnectorError } from "../connectors/connector.js";
import { AdaptiveWriteRate, type BackpressureConfig } from "./adaptive-rate.js";
import { processAdaptiveRate, processWriteLimiter } from "./process-write-limiters.js";
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
  /**
   * The dataset written: with it, `writesPerSecond` draws on this process's bucket of the dataset's replica
   * (processWriteLimiter) and `backpressure` adapts this process's rate of it (processAdaptiveRate), both
   * shared by all its runs; without it, the guard has a bucket and a rate of its own.
   */
  readonly dataset?: string | undefined;
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

type Cockatiel = typeof import("cockatiel");
let loading: Promise<Cockatiel> | undefined;

/**
 * cockatiel, loaded on the first write: a scan never writes, and loading it is a noticeable share of start-up.
 * Required, not import()ed: bin/concord.js compiles the bundle's chunks from V8's code cache, whose functions
 * have no callback for import() (cockatiel is CommonJS).
 */
function cockatiel(): Promise<Cockatiel> {
  loading ??= Promise.resolve().then(() => createRequire(import.meta.url)("cockatiel") as Cockatiel);
  return loading;
}

/** A replica's retry, breaker and write-rate bucket. */
interface ReplicaPolicies {
  readonly policy: IPolicy;
  readonly breaker: IPolicy;
  readonly limiter?: WriteLimiter;
  readonly adaptive?: AdaptiveWriteRate;
  /** Retries so far (a batch that needed one was not healthy). */
  readonly retries: number;
}

/**
 * Runs a replica's write batches through its own retry + circuit breaker + rate limit. A call that throws
 * RowsRejectedError is neither retried nor counted by the breaker: the rows failed, not the replica.
 */
export class WriteGuard {
  /** Built once per replica (a promise, so concurrent first batches share one breaker). */
  private readonly policies = new Map<string, Promise<ReplicaPolicies>>();
  /** Each replica's adaptive rate, for reading it synchronously. */
  private readonly adaptive = new Map<string, AdaptiveWriteRate>();

  constructor(private readonly options: WriteGuardOptions = {}) {}

  /** The most writes one call should carry: about a second's worth under a rate limit, else `fallback`. */
  batchLimit(fallback: number): number {
    const rate = this.options.writesPerSecond;
    return rate ? Math.max(1, Math.min(fallback, Math.floor(rate))) : fallback;
  }

  private for(replica: string): Promise<ReplicaPolicies> {
    let p = this.policies.get(replica);
    if (!p) {
      p = this.build(replica);
      this.policies.set(replica, p);
    }
    return p;
  }

  private async build(replica: string): Promise<ReplicaPolicies> {
    const c = await cockatiel();
    const o = this.options;
    // Errors a batch is not retried for: an open circuit, rows the store refused, a deadline the replica
    // missed (a replica that did not answer within its deadline has had its chance: the run stops instead).
    const notReplicaRetry = (err: unknown) =>
      err instanceof c.BrokenCircuitError ||
      err instanceof RowsRejectedError ||
      (err instanceof ConnectorError && err.timedOut === true);
    const retryPolicy = c.retry(
      c.handleWhen((err) => !notReplicaRetry(err)),
      {
        maxAttempts: (o.maxAttempts ?? 4) - 1,
        backoff: new c.ExponentialBackoff({
          initialDelay: o.initialDelayMs ?? 50,
          maxDelay: o.maxDelayMs ?? 2000,
        }),
      },
    );
    const counted = { retries: 0 };
    retryPolicy.onRetry((e) => {
      counted.retries++;
      o.onRetry?.(replica, e.attempt);
    });
    // The breaker counts failures of the replica, not of the rows.
    const replicaFailure = c.handleWhen(
      (err) => !(err instanceof c.BrokenCircuitError) && !(err instanceof RowsRejectedError),
    );
    const breaker = c.circuitBreaker(replicaFailure, {
      halfOpenAfter: o.halfOpenAfterMs ?? 30_000,
      breaker: new c.ConsecutiveBreaker(o.breakAfter ?? 5),
    });
    // With the dataset, the rate its earlier runs in this process adapted to (processAdaptiveRate).
    const adaptive = !o.backpressure
      ? undefined
      : o.dataset === undefined
        ? new AdaptiveWriteRate(o.backpressure, o.writesPerSecond, (rate) => o.onRate?.(replica, rate))
        : processAdaptiveRate(o.dataset, replica, o.backpressure, o.writesPerSecond);
    if (adaptive && o.dataset !== undefined) {
      const onRate = o.onRate;
      if (onRate) {
        adaptive.listen((rate) => onRate(replica, rate));
        onRate(replica, adaptive.perSecond);
      }
    }
    if (adaptive) this.adaptive.set(replica, adaptive);
    return {
      policy: c.wrap(retryPolicy, breaker),
      breaker,
      get retries() {
        return counted.retries;
      },
      ...(adaptive ? { adaptive } : {}),
      ...(o.limiter
        ? { limiter: o.limiter(replica) }
        : o.writesPerSecond
          ? {
              limiter:
                o.dataset === undefined
                  ? new RateLimiter(o.writesPerSecond)
                  : processWriteLimiter(o.dataset, replica, o.writesPerSecond),
            }
          : {}),
    };
  }

  /** Executes `fn` (one batch of `size` writes) for `replica`. Rejects after retries or on an open circuit. */
  async run<T>(replica: string, size: number, fn: () => Promise<T>): Promise<T> {
    const p = await this.for(replica);
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
    return this.adaptive.get(replica)?.perSecond;
  }

  /**
   * Counts one failure of `replica` with its circuit breaker, without a call or a retry: for a batch whose
   * every write was refused row by row (a replica that takes no writes at all, while it answers reads).
   */
  async countFailure(replica: string, err: unknown): Promise<void> {
    await (await this.for(replica)).breaker.execute(() => Promise.reject(err)).catch(() => {});
  }
}
