import { describe, expect, it } from "vitest";
import {
  claimVerdict,
  effectiveSettlements,
  settlementRounds,
  settlementTakesEffect,
} from "./ledger-rules.js";
import type { RepairOutcome, RepairSettlement } from "./repair-ledger.js";

const entry = (outcome: RepairOutcome, runId = "a") => ({ runId, outcome });
const settle = (outcome: RepairOutcome, runId = "a", id = "r1"): RepairSettlement => ({
  id,
  key: [id],
  runId,
  outcome,
  attempts: 1,
  updatedAt: 0,
});

describe("claimVerdict (claimer: run a)", () => {
  it.each<[string, ReturnType<typeof entry> | undefined, ReturnType<typeof claimVerdict>]>([
    ["no entry", undefined, "claim"],
    ["pending under a", entry("pending", "a"), "claim"],
    ["pending under b", entry("pending", "b"), "held"],
    ["applied by b", entry("applied", "b"), "applied"],
    ["applied by a", entry("applied", "a"), "applied"],
    ["noop", entry("noop", "b"), "claim"],
    ["superseded", entry("superseded", "b"), "claim"],
    ["failed", entry("failed", "b"), "claim"],
    ["rolled back", entry("rolled-back", "b"), "claim"],
  ])("%s → %s", (_name, e, verdict) => {
    expect(claimVerdict(e, "a")).toBe(verdict);
  });
});

describe("settlementTakesEffect", () => {
  it.each<[string, ReturnType<typeof entry>, RepairSettlement, boolean]>([
    ["its own pending claim", entry("pending", "a"), settle("noop", "a"), true],
    ["another run's pending claim", entry("pending", "b"), settle("noop", "a"), false],
    ["a landed write over another run's pending claim", entry("pending", "b"), settle("applied", "a"), true],
    ["a landed write over a recovered failure", entry("failed", "a"), settle("applied", "a"), true],
    ["a landed write over a noop", entry("noop", "b"), settle("applied", "a"), true],
    ["a landed write over another landed write", entry("applied", "b"), settle("applied", "a"), false],
    [
      "a rollback's write over a rolled-back entry",
      entry("rolled-back", "b"),
      settle("rolled-back", "a"),
      false,
    ],
    ["a failure over a settled entry of its own", entry("failed", "a"), settle("failed", "a"), false],
    ["a noop over an applied entry", entry("applied", "a"), settle("noop", "a"), false],
  ])("%s: %s", (_name, e, s, takes) => {
    expect(settlementTakesEffect(e, s)).toBe(takes);
  });

  it("applies settlements in order, as if one at a time", () => {
    const { taken, final } = effectiveSettlements(
      new Map([
        ["r1", entry("pending", "a")],
        ["r2", entry("pending", "a")],
      ]),
      [
        settle("failed", "a", "r1"),
        settle("applied", "a", "r1"),
        settle("noop", "a", "r2"),
        settle("superseded", "a", "r2"),
        settle("applied", "a", "unknown"),
      ],
    );
    expect(taken).toEqual([0, 1, 2]);
    expect([...final].map(([id, s]) => [id, s.outcome])).toEqual([
      ["r1", "applied"],
      ["r2", "noop"],
    ]);
  });
});

describe("settlementRounds", () => {
  it.each<[string, string[], number[][]]>([
    ["nothing", [], []],
    ["each id once: one round in the order given", ["r1", "r2", "r3"], [[0, 1, 2]]],
    ["the n-th mention of an id in round n", ["r1", "r2", "r1", "r3", "r1", "r2"], [[0, 1, 3], [2, 5], [4]]],
  ])("%s", (_name, ids, rounds) => {
    expect(settlementRounds(ids.map((id) => settle("failed", "a", id)))).toEqual(rounds);
  });
});
