/**
 * A failover in the simulator: the client writes move from r0 to r1 halfway through a four-hour write period
 * (virtual time) while replication loses messages. A static `owner: r0` keeps deciding missing records by
 * the old writer and loses acknowledged writes; `owner: { inferred: recent-activity }` follows the writer
 * (the hours since r1 took over count, r0's earlier ones stop counting) with no lost write and no wrong
 * repair, escalating what its evidence cannot settle. Deterministic per seed.
 */
import { describe, expect, it } from "vitest";
import { runSimulation, type SimulationOptions } from "../../src/sim/simulate.js";

const H = 3_600_000;
const STATIC = { resolve: "highest-version" as const, merge: {}, tolerance: {}, limits: {} };
const WORLD: SimulationOptions = {
  seed: 1,
  keys: 120,
  writes: 800,
  writePeriodMs: 4 * H,
  scheduleMs: 5 * 60_000,
  faults: [],
  writerMovesAtMs: 2 * H,
  skew: { loss: 0.3, corrupt: 0 },
};

describe("recent-activity in a failover", () => {
  it("follows the writer from r0 to r1 where a static owner loses acknowledged writes", async () => {
    const stat = await runSimulation({ ...WORLD, policy: { ...STATIC, owner: "r0" } });
    expect(stat.invariants.find((i) => i.name === "no-lost-writes")?.ok, `seed ${WORLD.seed}`).toBe(false);

    const leaders: string[] = [];
    const inferred = await runSimulation({
      ...WORLD,
      policy: { ...STATIC, owner: { inferred: "recent-activity", minConfidence: 0.6 } },
      afterPass: async (_, state) => {
        // The writer of the newest hour with changes held first, over the dataset.
        const rows = (await state.activityEvidence("items", 0)).filter((r) => r.ahead > 0);
        const newest = Math.max(...rows.map((r) => r.bucket));
        const hour = rows.filter((r) => r.bucket === newest);
        const top = hour.reduce<{ replica: string; n: number } | undefined>((best, r) => {
          const n = hour.filter((x) => x.replica === r.replica).reduce((s, x) => s + x.ahead, 0);
          return !best || n > best.n ? { replica: r.replica, n } : best;
        }, undefined);
        if (top && leaders.at(-1) !== top.replica) leaders.push(top.replica);
      },
    });
    expect(inferred.ok, `seed ${WORLD.seed}: ${JSON.stringify(inferred.invariants)}`).toBe(true);
    expect(inferred.learning.wrongRepairs).toBe(0);
    expect(leaders).toEqual(["r0", "r1"]);
    expect(inferred.scenario).toMatchObject({ writerMovesAtMs: 2 * H });
  });
});
