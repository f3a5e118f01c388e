/**
 * Recovery acts on a pending row's `undoes` only when it holds (the rule `concord audit verify` applies): a
 * rollback's landed write is recorded rolled-back and its repair marked undone, but a row edited to name an
 * unrelated repair is settled as an ordinary repair, and that repair stays applied. On both state stores.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { verifyAudit } from "../../src/audit/verify-audit.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { keyId } from "../../src/core/model.js";
import { describeDataset } from "../../src/engine/describe-dataset.js";
import { recoverPending } from "../../src/engine/recover-pending.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { inverseRepair } from "../../src/execute/inverse-repair.js";
import type { LedgerEntry } from "../../src/state/state-store.js";
import { type StateStoreFixture, stateStoreFactories } from "../integration/state-store-factories.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

for (const factory of stateStoreFactories) {
  const available = await factory.available();

  describe.skipIf(!available)(`recovery of a pending row's undoes (${factory.name} state store)`, () => {
    let dir: string;
    let fx: StateStoreFixture;
    const replicas: OpenReplica[] = [];
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), "concord-rec2-"));
      fx = await factory.create();
    });
    afterEach(async () => {
      for (const r of replicas.splice(0)) await r.connector.close();
      await fx.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it("marks only the repair a row is the rollback of; a row naming another is settled as a repair", async () => {
      makeItemsReplicas(dir, { rows: 10, stale: [1, 2] });
      const ds = itemsConfig(dir).datasets[0]!;
      for (const r of ds.replicas)
        replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
      const state = await fx.open();
      const at = Date.now();
      // Run 1 repairs keys 1 and 2 on b.
      const run = await runDataset(
        ds,
        replicas,
        { state, now: () => at },
        {
          runId: "run-1",
          command: "repair",
          mode: "repair",
        },
      );
      expect(run.totals.repairs).toEqual({ applied: 2 });
      const applied = await state.listRepairs({ dataset: "items", outcome: "applied" });
      const r1 = applied.find((e) => keyId(e.key) === keyId(["1"]))!;
      const r2 = applied.find((e) => keyId(e.key) === keyId(["2"]))!;
      const { shape } = await describeDataset(ds, replicas);
      const b = replicas.find((r) => r.name === "b")!;

      // A rollback of run 1 was killed after its write of key 2 landed: b holds r2's before image again.
      const db = new Database(join(dir, "b.db"));
      db.prepare("UPDATE items SET name = 'old 2', version = 1 WHERE id = 2").run();
      db.close();
      const claim = (t: ReturnType<typeof inverseRepair>, runId: string): LedgerEntry => ({
        id: t.id,
        runId,
        dataset: t.dataset,
        key: t.key,
        target: t.target,
        expected: t.expected,
        nextFingerprint: t.nextFingerprint,
        before: t.before,
        after: t.next,
        outcome: "pending",
        attempts: 1,
        updatedAt: at,
        ...(t.undoes ? { undoes: t.undoes } : {}),
      });
      const genuine = claim(inverseRepair(r2), "run-rb");
      // And a pending row edited to say it undoes r1: a landed write of key 5 (what b holds) that is no
      // rollback of r1 (an inverse write is of its repair's own key: the ledger holds no r1 of key 5).
      const [held5] = await b.connector.fetchRecords(shape, [["5"]]);
      const forged: LedgerEntry = {
        ...claim({ ...inverseRepair(r1), id: "forged-5", key: ["5"] }, "run-x"),
        expected: "00ff00ff00ff00ff",
        nextFingerprint: held5!.fingerprint,
        before: ["x", "1"],
        after: ["item 5", "2"],
        undoes: r1.id,
      };
      await state.claimRepairs([genuine, forged]);

      // Neither claimer has a run record: their claims are abandoned once a minute old.
      const { settled, warnings } = await recoverPending("items", replicas, shape, {
        runId: "run-now",
        state,
        now: () => at + 120_000,
      });
      expect(Object.fromEntries(settled.map((r) => [r.id, r.outcome]))).toEqual({
        [genuine.id]: "rolled-back",
        "forged-5": "applied",
      });
      // The operator is told, in one line naming the row, the repair it names and why it was not acted on.
      expect(warnings).toEqual([
        `recovery: pending repair forged-5 (items key ["5"] on b) says it undoes repair ${r1.id}, but the ledger holds no repair of that key by that id (the ledger row was edited); settled as an ordinary repair, nothing marked rolled back; concord audit verify reports the row`,
      ]);
      const ledger = await state.getRepairs([r1, r2, genuine, forged]);
      expect(ledger.get(r2.id)?.outcome).toBe("rolled-back");
      // r1 was not undone: b still holds what it wrote.
      expect(ledger.get(r1.id)?.outcome).toBe("applied");
      const [held1] = await b.connector.fetchRecords(shape, [["1"]]);
      expect(held1!.fingerprint).toBe(r1.nextFingerprint);
      expect(ledger.get("forged-5")).toMatchObject({ outcome: "applied", runId: "run-x", undoes: r1.id });

      // The forged row's entry records a repair, naming the undoes it ignored; the genuine one's its rollback.
      const entries = await state.readAudit({ runId: "run-now" });
      const of = (id: string) => entries.find((a) => (a.data as { repair?: string }).repair === id);
      expect(of("forged-5")).toMatchObject({ type: "applied", data: { ignoredUndoes: r1.id } });
      expect(of("forged-5")!.data).not.toHaveProperty("undoes");
      expect(of(genuine.id)).toMatchObject({ type: "rolled-back", data: { undoes: r2.id } });

      // The edited row stays for verify to report.
      const verdict = await verifyAudit(state, {});
      expect(verdict.ok).toBe(false);
      if (!verdict.ok)
        expect(verdict.problem).toMatch(
          new RegExp(
            `^the ledger row of repair forged-5 .* says it undoes repair ${r1.id}, which the ledger does not hold for that key`,
          ),
        );
    });
  });
}
