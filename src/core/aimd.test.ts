import { describe, expect, it } from "vitest";
import { type AimdConfig, nextAimdLimit } from "./aimd.js";

const c: AimdConfig = { min: 10, max: 1000, step: 50, targetMs: 1000 };

describe("nextAimdLimit", () => {
  it.each([
    ["fast work raises it by the step", 100, { ok: true, durationMs: 200 }, 150],
    ["never past max", 980, { ok: true, durationMs: 10 }, 1000],
    ["slow work halves it", 400, { ok: true, durationMs: 1500 }, 200],
    ["a failure halves it", 401, { ok: false, durationMs: 5 }, 200],
    ["never below min", 15, { ok: false, durationMs: 5 }, 10],
    ["exactly the target is not slow", 100, { ok: true, durationMs: 1000 }, 150],
  ] as const)("%s", (_, limit, outcome, expected) => {
    expect(nextAimdLimit(limit, outcome, c)).toBe(expected);
  });

  it("keeps at least 1 and min within max", () => {
    expect(nextAimdLimit(1, { ok: false, durationMs: 0 }, { ...c, min: 0 })).toBe(1);
    expect(nextAimdLimit(5, { ok: true, durationMs: 0 }, { ...c, min: 20, max: 8 })).toBe(8);
  });
});
