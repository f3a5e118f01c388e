import { describe, expect, it, onTestFinished, vi } from "vitest";
import { processWriteLimiter } from "./process-write-limiters.js";
import { WriteGuard } from "./write-guard.js";

describe("processWriteLimiter", () => {
  it("gives every guard of a dataset's replica the same bucket, and a new one when the rate changes", () => {
    const a = processWriteLimiter("pwl-orders", "b", 5);
    expect(processWriteLimiter("pwl-orders", "b", 5)).toBe(a);
    expect(processWriteLimiter("pwl-orders", "c", 5)).not.toBe(a);
    expect(processWriteLimiter("pwl-other", "b", 5)).not.toBe(a);
    const faster = processWriteLimiter("pwl-orders", "b", 50);
    expect(faster).not.toBe(a);
    expect(processWriteLimiter("pwl-orders", "b", 50)).toBe(faster);
  });

  it("holds writesPerSecond across runs: a second run's guard waits for the tokens the first took", async () => {
    // On a fake clock: the waits are the limiter's own, not how busy the machine is (an upper bound on wall
    // time failed whenever the test process was held off the CPU). A first guard loads the retry library (an
    // import: real I/O) before the clock stops.
    await new WriteGuard().run("b", 1, async () => undefined);
    vi.useFakeTimers({ toFake: ["setTimeout", "Date"] });
    try {
      const write = (guard: WriteGuard) => settled(guard.run("b", 4, async () => undefined));
      // Two runs one after another, each with a guard of its own, at 4 writes a second: one second's worth each.
      const first = write(new WriteGuard({ dataset: "pwl-runs", writesPerSecond: 4 }));
      await drained();
      expect(first.done).toBe(true);
      const second = write(new WriteGuard({ dataset: "pwl-runs", writesPerSecond: 4 }));
      await vi.advanceTimersByTimeAsync(900);
      expect(second.done).toBe(false);
      await vi.advanceTimersByTimeAsync(100);
      await drained();
      expect(second.done).toBe(true);
      // Without the dataset each guard has a bucket of its own (full): no wait.
      const own = [
        write(new WriteGuard({ writesPerSecond: 4 })),
        write(new WriteGuard({ writesPerSecond: 4 })),
      ];
      await drained();
      expect(own.map((w) => w.done)).toEqual([true, true]);
    } finally {
      vi.useRealTimers();
    }
  });
});

/** Resolves once every continuation now queued has run (setImmediate is not faked: a turn of the loop). */
const drained = () => new Promise((resolve) => setImmediate(resolve));

/** `promise`, with whether it has settled yet. */
function settled(promise: Promise<unknown>): { done: boolean } {
  const state = { done: false };
  promise.then(
    () => {
      state.done = true;
    },
    () => {
      state.done = true;
    },
  );
  return state;
}

describe("processAdaptiveRate", () => {
  const backpressure = { latencyMs: 20, minWritesPerSecond: 1 };
  const slow = (guard: WriteGuard) =>
    guard.run("b", 1, () => new Promise<void>((resolve) => setTimeout(resolve, 60)));

  it("carries the rate a run backed off to into the next run's guard, and starts afresh when the settings change", async () => {
    // On a fake clock, so a write is as slow as it says: on a loaded machine a write that does nothing could
    // measure past the 20 ms latency target and back the rate off instead of raising it.
    await new WriteGuard().run("b", 1, async () => undefined);
    vi.useFakeTimers({ toFake: ["setTimeout", "Date"] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const first = new WriteGuard({ dataset: "par-orders", writesPerSecond: 1000, backpressure });
    const slowed = slow(first);
    await vi.advanceTimersByTimeAsync(60);
    await slowed;
    expect(first.rate("b")).toBe(500);
    // The next run (a key check, a replay batch) starts where the last one backed off, and reports it.
    const told: (number | undefined)[] = [];
    const next = new WriteGuard({
      dataset: "par-orders",
      writesPerSecond: 1000,
      backpressure,
      onRate: (_, rate) => told.push(rate),
    });
    await next.run("b", 1, async () => undefined);
    expect(next.rate("b")).toBe(550);
    expect(first.rate("b")).toBe(550);
    expect(told).toEqual([500, 550]);
    // Without the dataset, or under other settings (a reloaded config), a rate of its own from the ceiling.
    const own = new WriteGuard({ writesPerSecond: 1000, backpressure });
    await own.run("b", 1, async () => undefined);
    expect(own.rate("b")).toBe(1000);
    const reloaded = new WriteGuard({ dataset: "par-orders", writesPerSecond: 2000, backpressure });
    await reloaded.run("b", 1, async () => undefined);
    expect(reloaded.rate("b")).toBe(2000);
  });
});
