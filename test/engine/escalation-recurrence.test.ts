/**
 * A divergence that comes back exactly as it was escalated before is escalated again: the escalation's id is
 * its (dataset, key, class, observed state), so the recurrence has the id of the one Concord closed when the
 * state went away, and must reopen it rather than leave the key differing with nothing open (found by the
 * learning benchmark's static-policy runs: a key one replica kept after the others deleted it twice).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

let dir: string;
let state: StateStore;
let replicas: OpenReplica[];

// No owner: a key one replica holds and the other lacks cannot be told insert from delete, so it escalates.
const cfg = () => itemsConfig(dir, { policy: "resolve: highest-version" });

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "concord-recur-"));
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
async function pass(): Promise<void> {
  const run = await runDataset(
    cfg().datasets[0]!,
    replicas,
    { state, now: Date.now },
    { runId: `run-${++runs}`, command: "repair", mode: "repair" },
  );
  expect(run.finished).toBe(true);
}

const openOn = async () =>
  (await state.listEscalations({ status: "open", dataset: "items" })).map((e) => e.key.join(","));

describe("an escalated state that recurs", () => {
  it("is escalated again after Concord closed it because the replicas agreed", async () => {
    sql("a", "DELETE FROM items WHERE id = 7");
    await pass();
    expect(await openOn()).toEqual(["7"]);
    const [first] = await state.listEscalations({ dataset: "items" });

    // Someone puts the row back on a: the replicas agree and Concord closes the escalation.
    sql("a", "INSERT INTO items VALUES (7, 'item 7', 2)");
    await pass();
    expect(await openOn()).toEqual([]);
    expect(await state.getEscalation(first!.id)).toMatchObject({ status: "resolved" });

    // It is deleted on a again: the very state first escalated. Something must be open for key 7.
    sql("a", "DELETE FROM items WHERE id = 7");
    await pass();
    expect(await openOn()).toEqual(["7"]);
    const audit = await state.readAudit();
    expect(audit.filter((e) => e.type === "escalated").map((e) => e.key)).toEqual(['["7"]', '["7"]']);
  });

  it("is escalated again after it changed in between (closed as decided afresh)", async () => {
    sql("a", "DELETE FROM items WHERE id = 7");
    await pass();
    const [first] = await state.listEscalations({ dataset: "items" });
    // b's record changes (same version, so not a regression when it changes back): a different state, a
    // different escalation; the first is closed.
    sql("b", "UPDATE items SET name = 'changed' WHERE id = 7");
    await pass();
    expect(await state.getEscalation(first!.id)).toMatchObject({ status: "resolved" });
    expect(await openOn()).toEqual(["7"]);
    // b's record goes back to what it was: the first state again, under the first escalation's id.
    sql("b", "UPDATE items SET name = 'item 7' WHERE id = 7");
    await pass();
    expect(await openOn()).toEqual(["7"]);
    expect(await state.getEscalation(first!.id)).toMatchObject({ status: "open" });
  });

  it("stays rejected while the state a person rejected persists", async () => {
    sql("a", "DELETE FROM items WHERE id = 7");
    await pass();
    const [e] = await state.listEscalations({ status: "open", dataset: "items" });
    await state.closeEscalation(e!.id, "rejected", { by: "ops" }, Date.now());
    await pass();
    await pass();
    expect(await openOn()).toEqual([]);
    expect(await state.getEscalation(e!.id)).toMatchObject({ status: "rejected" });
  });
});
