/**
 * A dense group under declared limits is listed once: the count the guard weighs it by keeps the keys it
 * lists (while they are few enough), and the group's pieces — or the group whole, when the guard may trip —
 * are classified from them instead of listed again. What is decided and written is what the unbounded run
 * decides and writes. Real SQLite replicas and state store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { openConnector } from "../../src/connectors/open-connector.js";
import { keyId } from "../../src/core/model.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { itemsConfig, makeItemsReplicas, staleOnB } from "../support/sqlite-items.js";

const ROWS = 6000;
/** Every row but each sixth is stale on b: 5,000 divergences, ten pieces of half a budget (the kept keys'). */
const STALE = Array.from({ length: ROWS }, (_, i) => i + 1).filter((id) => id % 6 !== 0);
const BUDGET = 1000;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function repair(policy: string, piece: number) {
  const dir = mkdtempSync(join(tmpdir(), "concord-dense-once-"));
  dirs.push(dir);
  makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
  // Compared by checksums and listings, as between two servers (the in-store pair lists once anyway).
  const cfg = itemsConfig(dir, { policy, extra: "    detect: { inStore: false }\n" });
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  const applied: string[] = [];
  let pieces = 0;
  try {
    const result = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "r",
        command: "repair",
        mode: "repair",
        pieceDivergences: piece,
        observer: {
          onSegment({ results }) {
            pieces++;
            for (const r of results) if (r.outcome === "applied") applied.push(keyId(r.key));
          },
        },
      },
    );
    const stats = replicas.map((r) => r.connector.stats);
    return {
      result,
      pieces,
      applied: applied.sort(),
      scanned: stats.reduce((n, s) => n + s.rowsScanned, 0),
      queries: stats.reduce((n, s) => n + s.queries, 0),
      read: stats.reduce((n, s) => n + s.rowsRead, 0),
      stale: staleOnB(dir),
    };
  } finally {
    for (const r of replicas) await r.connector.close();
    await state.close();
  }
}

it("a dense group the guard cannot refuse is listed once and done in pieces, writing what the unbounded run writes", async () => {
  const policy =
    "owner: a, resolve: highest-version, limits: { maxRepairs: 100000, maxDivergentFraction: 1 }";
  const bounded = await repair(policy, BUDGET);
  const whole = await repair(policy, Number.POSITIVE_INFINITY);
  expect(bounded.pieces).toBe(STALE.length / (BUDGET / 2));
  expect(bounded.applied).toEqual(whole.applied);
  expect(bounded.stale).toEqual([]);
  expect(bounded.result.totals).toEqual({ ...whole.result.totals, stats: bounded.result.totals.stats });
  // Listed once, as the unbounded run lists it (listed twice, it scanned the group's rows twice over).
  expect(bounded.scanned).toBeLessThanOrEqual(whole.scanned * 1.1);
});

it("a dense group the guard may refuse is listed once and refused whole: nothing written", async () => {
  const bounded = await repair("owner: a, resolve: highest-version, limits: { maxRepairs: 4000 }", BUDGET);
  const whole = await repair(
    "owner: a, resolve: highest-version, limits: { maxRepairs: 4000 }",
    Number.POSITIVE_INFINITY,
  );
  expect(bounded.result.totals.guard?.writes).toBe(STALE.length);
  expect(bounded.applied).toEqual([]);
  expect(bounded.stale).toHaveLength(STALE.length);
  expect(bounded.result.totals).toEqual({ ...whole.result.totals, stats: bounded.result.totals.stats });
  expect(bounded.scanned).toBeLessThanOrEqual(whole.scanned * 1.1);
});
