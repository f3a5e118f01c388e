import { describe, expect, it } from "vitest";
import { readAhead } from "./read-ahead.js";

async function* numbers(log: string[], n: number, failAt = -1) {
  try {
    for (let i = 0; i < n; i++) {
      log.push(`make ${i}`);
      await new Promise((r) => setTimeout(r, 1));
      if (i === failAt) throw new Error(`failed at ${i}`);
      yield i;
    }
  } finally {
    log.push("closed");
  }
}

describe("readAhead", () => {
  it("yields every item in order, producing the next while the caller works", async () => {
    const log: string[] = [];
    const got: number[] = [];
    for await (const x of readAhead(numbers(log, 3))) {
      log.push(`use ${x}`);
      got.push(x);
    }
    expect(got).toEqual([0, 1, 2]);
    // Item 1 is being made before item 0 is used.
    expect(log.indexOf("make 1")).toBeLessThan(log.indexOf("use 0"));
    expect(log).toContain("closed");
  });

  it("raises the source's error when the caller reaches it, not before", async () => {
    const log: string[] = [];
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const x of readAhead(numbers(log, 5, 2))) {
          await new Promise((r) => setTimeout(r, 5));
          got.push(x);
        }
      })(),
    ).rejects.toThrow("failed at 2");
    expect(got).toEqual([0, 1]);
  });

  it("closes the source when the caller stops early", async () => {
    const log: string[] = [];
    for await (const x of readAhead(numbers(log, 10))) if (x === 1) break;
    expect(log.at(-1)).toBe("closed");
    expect(log.filter((l) => l.startsWith("make")).length).toBeLessThanOrEqual(3);
  });
});
