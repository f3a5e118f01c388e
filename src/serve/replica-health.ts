/** Watches every call to a replica: latency and failures feed its health, metrics and back-off. */
import { redactText } from "../config/redact.js";
import type { Connector } from "../connectors/connector.js";
import type { ReplicaHealth } from "./service-api.js";

function oneLine(err: unknown): string {
  return redactText((err instanceof Error ? err.message : String(err)).split("\n")[0]!);
}

/** A replica's health, updated by every call through `watch`. */
export class HealthTracker {
  up = true;
  slow = false;
  lastError: string | undefined;
  checkedAt: number | undefined;
  /** Calls and their total milliseconds since `resetWindow`. */
  private calls = 0;
  private totalMs = 0;
  private lastMeanMs: number | undefined;

  constructor(
    readonly name: string,
    private readonly now: () => number,
    private readonly onChange: (up: boolean) => void,
  ) {}

  succeeded(ms: number): void {
    this.calls++;
    this.totalMs += ms;
    this.checkedAt = this.now();
    if (!this.up) {
      this.up = true;
      this.lastError = undefined;
    }
    this.onChange(true);
  }

  failed(err: unknown): void {
    this.checkedAt = this.now();
    this.up = false;
    this.lastError = oneLine(err);
    this.onChange(false);
  }

  /** Closes a measuring window (one segment): returns the mean call latency in it, if any call was made. */
  closeWindow(): number | undefined {
    const mean = this.calls ? this.totalMs / this.calls : undefined;
    this.calls = 0;
    this.totalMs = 0;
    if (mean !== undefined) this.lastMeanMs = mean;
    return mean;
  }

  view(): ReplicaHealth {
    return {
      name: this.name,
      up: this.up,
      slow: this.slow,
      latencyMs: this.lastMeanMs,
      lastError: this.lastError,
      checkedAt: this.checkedAt,
    };
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === "object" && v !== null && Symbol.asyncIterator in v && !(v instanceof Promise);
}

/**
 * The connector with every call timed and its outcome reported to `health`. Streams are timed per batch.
 * Behaviour is otherwise the connector's own.
 */
export function watch(connector: Connector, health: HealthTracker): Connector {
  return timed(connector, health);
}

/** `target` with every method call timed into `health`; capability objects (`nativeHash`, `pairDiff`) likewise. */
function timed<T extends object>(target: T, health: HealthTracker): T {
  return new Proxy(target, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if ((prop === "nativeHash" || prop === "pairDiff") && value && typeof value === "object")
        return timed(value, health);
      if (typeof value !== "function" || prop === "close") return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        let result: unknown;
        try {
          result = value.apply(target, args);
        } catch (err) {
          health.failed(err);
          throw err;
        }
        if (result instanceof Promise) {
          return result.then(
            (v) => {
              health.succeeded(performance.now() - started);
              return v;
            },
            (err) => {
              health.failed(err);
              throw err;
            },
          );
        }
        if (isAsyncIterable(result)) return timedStream(result, health);
        return result;
      };
    },
  });
}

async function* timedStream<T>(stream: AsyncIterable<T>, health: HealthTracker): AsyncIterable<T> {
  const it = stream[Symbol.asyncIterator]();
  try {
    for (;;) {
      const started = performance.now();
      let step: IteratorResult<T>;
      try {
        step = await it.next();
      } catch (err) {
        health.failed(err);
        throw err;
      }
      health.succeeded(performance.now() - started);
      if (step.done) return;
      yield step.value;
    }
  } finally {
    await it.return?.();
  }
}
