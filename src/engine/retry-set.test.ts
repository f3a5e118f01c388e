import { describe, expect, it } from "vitest";
import { type RetryEntry, RetrySet, unsettledKeys } from "./retry-set.js";

const config = { maxKeys: 3, firstMs: 1000, staleRunMs: 60_000, windowMs: 5000, maxAttempts: 10 };

describe("RetrySet", () => {
  it("backs off from firstMs, doubling up to the reason's cap", () => {
    for (const { reason, delays } of [
      { reason: "held" as const, delays: [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000] },
      { reason: "failed" as const, delays: [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000] },
      // A divergence in the window is looked at once the window has passed, then every window.
      { reason: "waiting" as const, delays: [5000, 5000, 5000] },
    ]) {
      const set = new RetrySet(config);
      const seen: number[] = [];
      let previous: RetryEntry | undefined;
      for (const _ of delays) {
        // Checked when due, and left unsettled again.
        expect(set.add(["1"], reason, previous?.dueAt ?? 0, false, previous)).toBe("added");
        previous = set.due(Number.MAX_SAFE_INTEGER, 10)[0]!;
        seen.push(previous.delayMs);
      }
      expect(seen, reason).toEqual(delays);
    }
  });

  it("holds at most maxKeys keys and gives a key up after maxAttempts", () => {
    const set = new RetrySet({ ...config, maxAttempts: 2 });
    expect([["1"], ["2"], ["3"], ["4"]].map((k) => set.add(k, "held", 0, false))).toEqual([
      "added",
      "added",
      "added",
      "full",
    ]);
    // A key held already counts one more attempt, however full the set is.
    expect(set.add(["1"], "held", 0, false)).toBe("added");
    expect(set.add(["1"], "held", 0, false)).toBe("exhausted");
    expect(set.size).toBe(2);
    expect(set.nextDueAt()).toBe(1000);
    expect(set.due(999, 10)).toEqual([]);
    expect(set.due(1000, 1).map((e) => e.key)).toEqual([["2"]]);
    expect(set.take(["3"])?.attempts).toBe(1);
    expect(set.size).toBe(0);
  });

  it("unsettledKeys: superseded (held or rejected), failed, unreached and waiting keys; not escalated or applied", () => {
    const task = (k: string, target = "b") => ({ id: `r${k}${target}`, key: [k], target }) as never;
    const decision = (k: string, action: string) => ({ key: [k], action }) as never;
    expect(
      unsettledKeys({
        plan: {
          decisions: [decision("5", "wait"), decision("6", "escalate"), decision("1", "propagate")],
        } as never,
        tasks: [task("1"), task("2"), task("3"), task("4"), task("7"), task("7", "c")],
        results: [
          {
            id: "r1b",
            key: ["1"],
            target: "b",
            outcome: "superseded",
            error: "held by run x, which has this repair pending; not written by this run",
          },
          { id: "r2b", key: ["2"], target: "b", outcome: "superseded" },
          { id: "r3b", key: ["3"], target: "b", outcome: "failed", error: "b: down" },
          { id: "r7b", key: ["7"], target: "b", outcome: "applied" },
          { id: "r7c", key: ["7"], target: "c", outcome: "noop" },
        ],
      }),
    ).toEqual([
      ['["1"]', "held"],
      ['["2"]', "rejected"],
      ['["3"]', "failed"],
      ['["4"]', "unreached"],
      ['["5"]', "waiting"],
    ]);
  });
});
