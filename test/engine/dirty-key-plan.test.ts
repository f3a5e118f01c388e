/**
 * What a dirty-segment pass plans from key-grain marks (SQLite state; no replica is read): segments whose
 * marks list keys are checked by them while the pass's key budget lasts, the rest re-read whole.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { MAX_PASS_KEYS, markChangedKeys, planPass } from "../../src/engine/dirty-segment-pass.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";

let dir: string;
let state: StateStore;
const key = [{ name: "id", type: "integer" as const }];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-dirty-plan-"));
});
afterEach(async () => {
  await state?.close();
  rmSync(dir, { recursive: true, force: true });
});

const parsed = (dirtyKeys: number) =>
  parseConfig(
    `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    watch: { replicas: [a], segmentRows: 1000, sweepSegments: 0, dirtyKeys: ${dirtyKeys} }
`,
    join(dir, "concord.yaml"),
  );
const config = (dirtyKeys: number) => parsed(dirtyKeys).datasets[0]!;

/** A verified summary of `segments` segments of 1,000 ids each, and a stored feed position. */
async function summarise(segments: number): Promise<void> {
  const ds = config(100);
  state = await openStateStore(parsed(100).state);
  await state.putSegmentSummary({
    dataset: ds.name,
    keyColumns: key,
    bounds: Array.from({ length: segments - 1 }, (_, i) => [String((i + 1) * 1000)]),
    verifiedAt: 10,
    runId: "whole-1",
    invalid: undefined,
    invalidAt: undefined,
    sweepCursor: 0,
  });
  await state.putFeedPosition({ dataset: ds.name, replica: "a", position: "1", updatedAt: 10 });
}

it("checks segments by their keys up to the pass's budget, and re-reads the rest whole", async () => {
  // Segments 1-101 with 100 changed keys each: 10,100 keys, one segment's worth past MAX_PASS_KEYS.
  await summarise(103);
  expect(MAX_PASS_KEYS).toBe(10_000);
  const changed = Array.from({ length: 101 * 100 }, (_, i) => [String(1000 + i * 10)]);
  expect(await markChangedKeys(state, "items", changed, 20, 100)).toBe(101);
  // 101 keys in segment 102, past its cap: marked whole.
  const crowded = Array.from({ length: 101 }, (_, i) => [String(102_001 + i)]);
  await markChangedKeys(state, "items", crowded, 21, 100);
  expect((await state.listDirtySegments("items")).at(-1)).toEqual({ segment: 102, markedAt: 21 });
  const plan = await planPass(config(100), state, key, 30);
  if (plan.kind !== "dirty") throw new Error(plan.reason);
  expect(plan.keyed).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  expect(plan.keys).toHaveLength(MAX_PASS_KEYS);
  expect(plan.segments).toEqual([101, 102]);
  expect(plan.ranges).toEqual([{ lo: ["101000"], hi: null }]);
  expect(plan.reason).toMatch(
    /^102 of 103 segments changed .* whole-1 \(100 checked by their 10000 changed keys\)$/,
  );

  // A lower dirtyKeys than the marks were made with: those segments are re-read whole.
  const lower = await planPass(config(50), state, key, 30);
  expect(lower).toMatchObject({ kind: "dirty", keyed: [], keys: [] });
  // dirtyKeys: 0 marks segments only, as before key grain.
  await state.clearDirtySegments(
    "items",
    Array.from({ length: 103 }, (_, i) => i),
    40,
  );
  await markChangedKeys(state, "items", [["5"]], 50, 0);
  expect(await state.listDirtySegments("items")).toEqual([{ segment: 0, markedAt: 50 }]);
  expect(await planPass(config(0), state, key, 60)).toMatchObject({ segments: [0], keyed: [], keys: [] });
});
