/**
 * A group that overflows its piece budget with no count of its differing keys (a scan: no guard weighs it) is
 * cut by how densely the keys listed before the overflow lie, not into one piece a budget of its rows: a
 * group where one row in ten differs is done in a few pieces, finding what one unbounded pass finds. Real
 * SQLite replicas (compared inside SQLite) and state store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { listedEstimate } from "../../src/engine/segments.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

const ROWS = 60_000;
/** Each tenth row is stale on b: 2,000 divergences in each of three 20,000-row segments. */
const STALE = Array.from({ length: ROWS }, (_, i) => i + 1).filter((id) => id % 10 === 3);
const BUDGET = 1000;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function scan(piece: number) {
  const dir = mkdtempSync(join(tmpdir(), "concord-dense-first-"));
  dirs.push(dir);
  makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
  const cfg = itemsConfig(dir, { extra: "    checkpointRows: 20000\n" });
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: true }) });
  const pieces: number[] = [];
  try {
    const result = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "r",
        command: "scan",
        mode: "scan",
        pieceDivergences: piece,
        observer: {
          onSegment({ from }) {
            pieces[from] = (pieces[from] ?? 0) + 1;
          },
        },
      },
    );
    return { result, pieces };
  } finally {
    for (const r of replicas) await r.connector.close();
    await state.close();
  }
}

it("cuts the first overflowing group by the density of what it listed, finding what an unbounded scan finds", async () => {
  const bounded = await scan(BUDGET);
  const whole = await scan(Number.POSITIVE_INFINITY);
  expect(whole.pieces).toEqual([1, 1, 1]);
  // 2,000 differing keys in the first group: about 2 × 2,000 / 1,000 pieces, not 20,000 rows / 1,000.
  expect(bounded.pieces[0]).toBeGreaterThanOrEqual(2);
  expect(bounded.pieces[0]).toBeLessThanOrEqual(6);
  // The same divergences, classes and rows (the statements and time aside).
  const { stats: _b, ...found } = bounded.result.totals;
  const { stats: _w, ...all } = whole.result.totals;
  expect(found).toEqual(all);
  expect(found.counts).toEqual({ stale: STALE.length });
});

it("estimates a range's differing keys from the listed keys' rate to its end, only for one integer key and a closed end", () => {
  const int = { key: [{ name: "id", type: "integer" as const }], columns: [] };
  const reached = { first: ["100"], last: ["199"], listed: 50 };
  // 50 keys over 100 ids, from id 100 to 1,100: 500.
  expect(listedEstimate(int, { lo: null, hi: ["1100"] }, reached)).toBe(500);
  // Never fewer than were listed.
  expect(listedEstimate(int, { lo: null, hi: ["150"] }, reached)).toBe(50);
  expect(listedEstimate(int, { lo: null, hi: null }, reached)).toBeUndefined();
  expect(listedEstimate(int, { lo: null, hi: ["1100"] }, undefined)).toBeUndefined();
  const text = { key: [{ name: "id", type: "text" as const }], columns: [] };
  expect(
    listedEstimate(text, { lo: null, hi: ["z"] }, { first: ["a"], last: ["b"], listed: 5 }),
  ).toBeUndefined();
});
