/**
 * The simulator's skewed fault rates and the learning loop inside it: a replica made five times as faulty
 * loses more settled decisions in the evidence, inferred ownership escalates less than the static policy with
 * no wrong repair, and adaptive focus runs a pass that still converges. Deterministic per seed.
 */
import { describe, expect, it } from "vitest";
import { type ReplicaEvidence, reliability } from "../../src/learning/evidence.js";
import { runSimulation, type SimulationOptions } from "../../src/sim/simulate.js";

const BASE: SimulationOptions = {
  seed: 11,
  keys: 120,
  writes: 800,
  writePeriodMs: 6000,
  faults: [],
  skew: { loss: 0.03, corrupt: 0.02, replicas: { r2: 5 }, hotRanges: [[1, 15]], hotFactor: 6 },
};
const STATIC = { resolve: "highest-version" as const, merge: {}, tolerance: {}, limits: {} };

describe("learning in the simulator", () => {
  it("evidence ranks the skewed replica last, and inferred ownership escalates less without wrong repairs", async () => {
    let evidence: readonly ReplicaEvidence[] = [];
    const stat = await runSimulation({
      ...BASE,
      policy: STATIC,
      afterPass: async (_, state) => {
        evidence = await state.replicaEvidence("items");
      },
    });
    const score = (r: string) => {
      const e = evidence.find((x) => x.replica === r && x.column === undefined)!;
      return reliability(e.settled, e.lost);
    };
    expect(score("r2").high).toBeLessThan(Math.min(score("r0").low, score("r1").low));
    const inferred = await runSimulation({
      ...BASE,
      policy: { ...STATIC, owner: { inferred: "reliability", minConfidence: 0.9 } },
    });
    expect(inferred.ok).toBe(true);
    expect(stat.ok).toBe(true);
    expect(inferred.learning.escalationsOpened).toBeLessThan(stat.learning.escalationsOpened);
    expect(inferred.learning.wrongRepairs).toBe(0);
    expect(stat.learning.detection.hot.length).toBeGreaterThan(0);
  });

  it("a skewed world with adaptive focus replays byte for byte and converges", async () => {
    const options: SimulationOptions = { ...BASE, checkpointRows: 15, focus: { extraShare: 2 } };
    const a = await runSimulation(options);
    expect(a.ok).toBe(true);
    expect(JSON.stringify(await runSimulation(options))).toBe(JSON.stringify(a));
  });
});
