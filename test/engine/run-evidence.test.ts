/**
 * The run pipeline records the learning loop's evidence as it goes: a repair run's divergences, settled
 * decisions and repairs per key range, a person's pick, and an escalation whose replicas agree again.
 * Real SQLite replicas and state.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openConnector } from "../../src/connectors/open-connector.js";
import { resolveEscalation } from "../../src/engine/resolve-escalation.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

let dir: string;
const cleanup: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-evidence-"));
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** No owner: stale keys are propagated by version, conflicts (equal versions) escalate. */
const config = () =>
  itemsConfig(dir, { policy: "resolve: highest-version", extra: "    checkpointRows: 100\n" });

async function open(): Promise<{ state: StateStore; replicas: OpenReplica[] }> {
  const ds = config().datasets[0]!;
  const state = await openStateStore(config().state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  cleanup.push(async () => {
    for (const r of replicas) await r.connector.close();
    await state.close();
  });
  return { state, replicas };
}

let clock = 1_750_000_000_000;
const now = () => clock;

async function repair(state: StateStore, replicas: OpenReplica[], runId: string) {
  return runDataset(
    config().datasets[0]!,
    replicas,
    { state, now },
    {
      runId,
      command: "repair",
      mode: "repair",
      groupSegments: false,
    },
  );
}

describe("evidence recorded by the run pipeline", () => {
  it("counts divergences, settled decisions and repairs per replica and key range", async () => {
    // Stale on b in segments 0, 0, 3 and 9 (100 rows each); conflicts in segment 5.
    makeItemsReplicas(dir, { rows: 1000, stale: [10, 20, 350, 999], conflict: [550, 551] });
    const { state, replicas } = await open();
    const run = await repair(state, replicas, "run-1");
    expect(run.totals.repairs).toEqual({ applied: 4 });

    expect(await state.replicaEvidence("items")).toEqual([
      { replica: "a", column: undefined, settled: 4, lost: 0 },
      { replica: "a", column: "name", settled: 4, lost: 0 },
      { replica: "a", column: "version", settled: 4, lost: 0 },
      { replica: "b", column: undefined, settled: 4, lost: 4 },
      { replica: "b", column: "name", settled: 4, lost: 4 },
      { replica: "b", column: "version", settled: 4, lost: 4 },
    ]);
    expect(await state.rangeDrift("items", 0)).toEqual([
      { segment: 0, divergences: 2, repaired: 2, lastSeenAt: clock },
      { segment: 3, divergences: 1, repaired: 1, lastSeenAt: clock },
      { segment: 5, divergences: 2, repaired: 0, lastSeenAt: clock },
      { segment: 9, divergences: 1, repaired: 1, lastSeenAt: clock },
    ]);
    const byClass = await state.evidenceTotals({ dataset: "items", by: ["class"], replica: "", column: "" });
    expect(byClass.map((t) => [t.class, t.divergences, t.repaired, t.converged])).toEqual([
      ["conflict", 2, 0, 0],
      ["stale", 4, 4, 4],
    ]);
    const targets = await state.evidenceTotals({ dataset: "items", by: ["replica"], column: "" });
    expect(targets.find((t) => t.replica === "b")).toMatchObject({ repaired: 4, failed: 0, rejected: 0 });

    // A person picks a for one conflict: a is settled and wins, b loses, both by a person's choice.
    const open1 = await state.listEscalations({ status: "open", dataset: "items" });
    expect(open1).toHaveLength(2);
    clock += 60_000;
    const first = open1.find((e) => e.key[0] === "550")!;
    const out = await resolveEscalation(
      first.id,
      { pick: "a" },
      {
        datasets: config().datasets,
        state,
        replicas: async () => replicas,
        runId: "resolve-1",
        by: "test",
        now,
      },
    );
    expect(out.status).toBe("resolved");
    const people = await state.evidenceTotals({ dataset: "items", by: ["replica", "class"], column: "name" });
    expect(
      people.filter((t) => t.class === "conflict").map((t) => [t.replica, t.personSettled, t.personLost]),
    ).toEqual([
      ["", 0, 0],
      ["a", 1, 0],
      ["b", 1, 1],
    ]);
    const resolved = await state.evidenceTotals({ dataset: "items", by: ["class"], replica: "", column: "" });
    expect(resolved.find((t) => t.class === "conflict")).toMatchObject({ repaired: 1, convergedMs: 60_000 });

    // The other conflict is fixed behind Concord's back: the next run closes its escalation, self-converged.
    const b = new Database(join(dir, "b.db"));
    b.prepare("UPDATE items SET name = 'a 551' WHERE id = 551").run();
    b.close();
    clock += 30_000;
    await repair(state, replicas, "run-2");
    const self = await state.evidenceTotals({ dataset: "items", by: ["segment"], replica: "", column: "" });
    expect(self.find((t) => t.segment === 5)).toMatchObject({ divergences: 2, selfConverged: 1 });
    const [all] = await state.evidenceTotals({ dataset: "items", by: [], replica: "", column: "" });
    // 4 stale repaired at once (0 ms), the pick after 60 s, the self-converged one after 90 s.
    expect(all).toMatchObject({ converged: 6, convergedMs: 150_000, selfConverged: 1 });
  });
});
