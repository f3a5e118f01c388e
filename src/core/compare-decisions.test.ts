import { describe, expect, it } from "vitest";
import { compareDecisions, sameEffect } from "./compare-decisions.js";
import type { Decision } from "./decide.js";

const d = (key: string, over: Partial<Decision> = {}): Decision => ({
  key: [key],
  class: "stale",
  action: "propagate",
  source: "a",
  targets: ["b"],
  record: ["x"],
  recordFingerprint: "f1",
  expected: { b: "f0" },
  rule: "resolve: highest-version",
  reason: "a is newest",
  ambiguity: 0,
  policyVersion: "live",
  options: [],
  ...over,
});

describe("sameEffect", () => {
  it.each([
    [
      "the same decision under another rule and version",
      { rule: "owner", reason: "a owns it", policyVersion: "cand" },
      true,
    ],
    [
      "another action",
      { action: "escalate" as const, source: undefined, targets: [], recordFingerprint: undefined },
      false,
    ],
    ["another source", { source: "c" }, false],
    ["other targets", { targets: ["b", "c"] }, false],
    ["another record written", { recordFingerprint: "f2" }, false],
    ["other options offered", { options: ["a"] }, false],
  ])("%s → %s", (_, over, expected) => {
    expect(sameEffect(d("1"), d("1", over))).toBe(expected);
  });
});

describe("compareDecisions", () => {
  it("pairs by key and lists disagreements in the live order", () => {
    const live = [d("1"), d("2"), d("3")];
    const candidate = [
      d("3", { source: "b", targets: ["a"] }),
      d("1", { rule: "owner" }),
      d("2", { action: "wait" }),
    ];
    const out = compareDecisions(live, candidate);
    expect(out.agree).toBe(1);
    expect(out.disagreements.map((x) => [x.live.key[0], x.candidate.action, x.candidate.source])).toEqual([
      ["2", "wait", "a"],
      ["3", "propagate", "b"],
    ]);
  });

  it("refuses plans over different divergences", () => {
    expect(() => compareDecisions([d("1")], [d("2")])).toThrow(/different divergences/);
    expect(() => compareDecisions([d("1")], [])).toThrow(/different divergences/);
  });
});
