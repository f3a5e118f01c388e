import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { inCanary, keyPoint } from "./canary.js";
import { keyId } from "./model.js";

const keys = Array.from({ length: 20_000 }, (_, i) => [String(i + 1)]);

describe("canary keys", () => {
  it("puts a key in exactly when its hash point is below the fraction", () => {
    for (const key of keys.slice(0, 2000)) {
      const point =
        Number.parseInt(createHash("sha256").update(keyId(key)).digest("hex").slice(0, 12), 16) / 2 ** 48;
      expect(keyPoint(key)).toBe(point);
      for (const f of [0, 0.05, 0.25, 0.5, 1]) expect(inCanary(key, f)).toBe(f >= 1 || point < f);
    }
  });

  it.each([0.01, 0.05, 0.25, 0.5])("takes about %f of the keys, the same ones every time", (f) => {
    const chosen = keys.filter((k) => inCanary(k, f));
    // 20,000 keys: the share is within 4 standard deviations of f.
    const sd = Math.sqrt((f * (1 - f)) / keys.length);
    expect(Math.abs(chosen.length / keys.length - f)).toBeLessThan(4 * sd);
    expect(keys.filter((k) => inCanary(k, f))).toEqual(chosen);
  });

  it("grows: every key in at a step stays in at the larger ones; none at 0, all at 1", () => {
    const steps = [0, 0.05, 0.25, 1];
    for (let i = 1; i < steps.length; i++) {
      const before = keys.filter((k) => inCanary(k, steps[i - 1]!));
      expect(before.every((k) => inCanary(k, steps[i]!))).toBe(true);
    }
    expect(keys.some((k) => inCanary(k, 0))).toBe(false);
    expect(keys.every((k) => inCanary(k, 1))).toBe(true);
  });

  it("depends on the key, not its position", () => {
    expect(inCanary(["42"], 0.3)).toBe(inCanary(["42"], 0.3));
    expect(keyPoint(["a", "1"])).not.toBe(keyPoint(["a1"]));
  });
});
