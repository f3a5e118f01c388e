/**
 * What a run holds at once is bounded by its segment, not by the number of divergences: a repair of a densely
 * divergent table hands the observer and the state store one segment's worth at a time.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StageWrites, StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas, staleOnB } from "../support/sqlite-items.js";

const ROWS = 4000;
const SEGMENT_ROWS = 200;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-bounded-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The state store with the largest list each write method was given recorded by method. */
function measured(state: StateStore): { state: StateStore; largest: Map<string, number> } {
  const largest = new Map<string, number>();
  const wrapped = new Proxy(state, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        const first = args[0];
        if (Array.isArray(first) && ["appendAudit", "claimRepairs", "settleRepairs"].includes(String(prop)))
          largest.set(String(prop), Math.max(largest.get(String(prop)) ?? 0, first.length));
        // A stage's audit entries count as the append they stand for.
        const audit = prop === "recordStage" ? (first as StageWrites).audit : undefined;
        if (audit) largest.set("appendAudit", Math.max(largest.get("appendAudit") ?? 0, audit.length));
        return v.apply(target, args);
      };
    },
  });
  return { state: wrapped, largest };
}

it("a repair of 2,000 divergences in segments of 200 rows holds at most a segment's worth at once", async () => {
  const stale = Array.from({ length: ROWS / 2 }, (_, i) => 2 * i + 1);
  makeItemsReplicas(dir, { rows: ROWS, stale });
  const cfg = itemsConfig(dir, {
    policy: "owner: a, resolve: highest-version, limits: { maxDivergentFraction: 1 }",
    extra: `    checkpointRows: ${SEGMENT_ROWS}\n`,
  });
  const ds = cfg.datasets[0]!;
  const raw = await openStateStore(cfg.state);
  const { state, largest } = measured(raw);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  let groups = 0;
  let divergences = 0;
  let mostDivergences = 0;
  let mostResults = 0;
  try {
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "run-bounded",
        command: "repair",
        mode: "repair",
        observer: {
          onSegment({ scan, results }) {
            groups++;
            divergences += scan.divergences.length;
            mostDivergences = Math.max(mostDivergences, scan.divergences.length);
            mostResults = Math.max(mostResults, results.length);
          },
        },
      },
    );
    expect(run.totals.repairs).toEqual({ applied: ROWS / 2 });
    expect(divergences).toBe(ROWS / 2);
    expect(staleOnB(dir)).toEqual([]);
    // Dense differences keep every group to one segment: half its 200 keys differ.
    expect(groups).toBeGreaterThanOrEqual(ROWS / SEGMENT_ROWS);
    expect(mostDivergences).toBeLessThanOrEqual(SEGMENT_ROWS / 2);
    expect(mostResults).toBeLessThanOrEqual(SEGMENT_ROWS / 2);
    // The state store gets a segment's entries per call (a detected and a decided entry per divergence).
    expect(largest.get("appendAudit")).toBeLessThanOrEqual(SEGMENT_ROWS + 1);
    expect(largest.get("claimRepairs")).toBeLessThanOrEqual(SEGMENT_ROWS / 2);
    expect(largest.get("settleRepairs")).toBeLessThanOrEqual(SEGMENT_ROWS / 2);
  } finally {
    for (const r of replicas) await r.connector.close();
    await raw.close();
  }
});
