import { describe, expect, it } from "vitest";
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
    const write = async (guard: WriteGuard) => guard.run("b", 4, async () => undefined);
    const t0 = Date.now();
    // Two runs one after another, each with a guard of its own, at 4 writes a second: one second's worth each.
    await write(new WriteGuard({ dataset: "pwl-runs", writesPerSecond: 4 }));
    await write(new WriteGuard({ dataset: "pwl-runs", writesPerSecond: 4 }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    // Without the dataset each guard has a bucket of its own (full): no wait.
    const t1 = Date.now();
    await write(new WriteGuard({ writesPerSecond: 4 }));
    await write(new WriteGuard({ writesPerSecond: 4 }));
    expect(Date.now() - t1).toBeLessThan(500);
  });
});

describe("processAdaptiveRate", () => {
  const backpressure = { latencyMs: 20, minWritesPerSecond: 1 };
  const slow = (guard: WriteGuard) =>
    guard.run("b", 1, () => new Promise<void>((resolve) => setTimeout(resolve, 60)));

  it("carries the rate a run backed off to into the next run's guard, and starts afresh when the settings change", async () => {
    const first = new WriteGuard({ dataset: "par-orders", writesPerSecond: 1000, backpressure });
    await slow(first);
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
