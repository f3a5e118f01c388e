/**
 * A repair carried out again as a new episode (`id~2`: the target went back to the state it was repaired
 * from) remembers the version it wrote, as a first episode does. Otherwise a repair that wrote the owner's
 * older version leaves the replica's newer version remembered, and the next pass takes the replica holding
 * what Concord wrote for a regression.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openConnector } from "../../src/connectors/open-connector.js";
import { keyId } from "../../src/core/model.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StageWrites, StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

let dir: string;
let state: StateStore;
let replicas: OpenReplica[];

// The owner decides whatever the versions say: a repair may write an older version than the target held.
const cfg = () => itemsConfig(dir, { policy: "owner: a, resolve: owner" });

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "concord-episode-"));
  makeItemsReplicas(dir, { rows: 20 });
  const ds = cfg().datasets[0]!;
  state = await openStateStore(cfg().state);
  replicas = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
});

afterEach(async () => {
  for (const r of replicas) await r.connector.close();
  await state.close();
  rmSync(dir, { recursive: true, force: true });
});

function sql(replica: "a" | "b", statement: string): void {
  const db = new Database(join(dir, `${replica}.db`));
  try {
    db.exec(statement);
  } finally {
    db.close();
  }
}

let runs = 0;
async function pass(through: StateStore = state) {
  const run = await runDataset(
    cfg().datasets[0]!,
    replicas,
    { state: through, now: Date.now },
    { runId: `run-${++runs}`, command: "repair", mode: "repair" },
  );
  expect(run.finished).toBe(true);
  return run;
}

const remembered = async () => (await state.lastSeenVersions("items", [["7"]])).get(keyId(["7"])) ?? {};

describe("a repair carried out again as a new episode", () => {
  it("remembers the version it wrote, so the next pass sees no regression", async () => {
    // The owner holds version 1 of key 7, b a newer version 2: b is repaired down to the owner's.
    sql("a", "UPDATE items SET name = 'owner 7', version = 1 WHERE id = 7");
    await pass();
    expect(await remembered()).toMatchObject({ b: { counter: "1" } });

    // b goes back to exactly what it held: the same repair again, now as episode 2 of its id.
    sql("b", "UPDATE items SET name = 'item 7', version = 2 WHERE id = 7");
    await pass();
    const ledger = await state.listRepairs({ dataset: "items" });
    expect(ledger.filter((r) => r.outcome === "applied").map((r) => r.id.replace(/^[0-9a-f]+/, ""))).toEqual([
      "",
      "~2",
    ]);
    expect(await remembered()).toMatchObject({ b: { counter: "1" } });

    // The replicas agree at the owner's version: nothing to report.
    const third = await pass();
    expect(third.totals.counts).toEqual({});
    expect(third.status).toBe("ok");
  });

  it("is remembered with the repairs' evidence in one stage (one transaction), not a write of its own", async () => {
    sql("a", "UPDATE items SET name = 'owner 7', version = 3 WHERE id = 7");
    const calls: { method: string; versions: number; evidence: number }[] = [];
    const counted = new Proxy(state, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          if (prop === "recordStage") {
            const stage = args[0] as StageWrites;
            calls.push({
              method: "recordStage",
              versions: (stage.versions ?? []).reduce((n, x) => n + x.observed.length, 0),
              evidence: stage.evidence?.length ?? 0,
            });
          } else if (prop === "rememberVersions" || prop === "addEvidence") {
            calls.push({ method: String(prop), versions: 0, evidence: 0 });
          }
          return v.apply(target, args);
        };
      },
    });
    await pass(counted);
    expect(calls.filter((c) => c.method !== "recordStage")).toEqual([]);
    // The last stage of the segment: b's new version with the repair's evidence.
    expect(calls.at(-1)).toMatchObject({ method: "recordStage", versions: 1 });
    expect(calls.at(-1)!.evidence).toBeGreaterThan(0);
    expect(await remembered()).toMatchObject({ b: { counter: "3" } });
  });
});
