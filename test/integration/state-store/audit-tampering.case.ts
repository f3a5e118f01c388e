/** AuditLog cases: a change behind the store's back fails verification at the entry changed. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { verifyAudit } from "../../../src/audit/verify-audit.js";
import {
  type AuditEntryContent,
  canonicalJson,
  GENESIS_HASH,
  hashAuditEntry,
  verifyAuditChainAsync,
} from "../../../src/core/audit-chain.js";
import { inverseRepair } from "../../../src/execute/inverse-repair.js";
import type { LedgerEntry, StateStore } from "../../../src/state/state-store.js";
import { event, lit, range, repair, type StateStoreCase } from "./state-store-case.js";

export function auditTamperingCases({ open, sql }: StateStoreCase): void {
  describe("audit tampering is detected at the right entry", () => {
    async function tampered(statement: string) {
      const store = await open();
      await store.appendAudit(range(1, 20).map((n) => event(n)));
      await sql(statement);
      return verifyAuditChainAsync(store.iterateAudit());
    }

    it.each<[string, string, number, RegExp]>([
      ["UPDATE of data", `UPDATE audit SET data = '{"n":999}' WHERE seq = 7`, 7, /edited/],
      ["UPDATE to text that is not JSON", `UPDATE audit SET data = '{oops' WHERE seq = 3`, 3, /edited/],
      // Text that parses to the same data: the stored text is what was hashed, byte for byte.
      [
        "UPDATE to the same data spaced out",
        `UPDATE audit SET data = '{"before": ["a", null], "n": 7}' WHERE seq = 7`,
        7,
        /edited/,
      ],
      [
        "UPDATE adding a member a reader keeping the first duplicate would see",
        `UPDATE audit SET data = '{"before":["a",null],"n":999,"n":7}' WHERE seq = 7`,
        7,
        /edited/,
      ],
      [
        "UPDATE of a null to a number JSON cannot hold",
        `UPDATE audit SET data = '{"before":["a",1e999],"n":7}' WHERE seq = 7`,
        7,
        /edited/,
      ],
      ["UPDATE of type", `UPDATE audit SET type = 'noop' WHERE seq = 12`, 12, /edited/],
      ["UPDATE of ts", "UPDATE audit SET ts = ts + 1 WHERE seq = 1", 1, /edited/],
      ["UPDATE of the last hash", `UPDATE audit SET hash = '${"a".repeat(64)}' WHERE seq = 20`, 20, /edited/],
      ["DELETE of an entry", "DELETE FROM audit WHERE seq = 9", 10, /expected seq 9/],
      ["DELETE of the first entry", "DELETE FROM audit WHERE seq = 1", 2, /expected seq 1/],
      [
        "DELETE with the rest renumbered",
        "DELETE FROM audit WHERE seq = 5; UPDATE audit SET seq = seq - 1 WHERE seq > 5",
        5,
        /previous hash does not match entry 4/,
      ],
      [
        "INSERT at the end with a made-up link",
        `INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash)
         VALUES (21, 1, 'run-1', 'applied', 'users', '["x"]', '{}', '${"b".repeat(64)}', '${"c".repeat(64)}')`,
        21,
        /previous hash does not match entry 20/,
      ],
      [
        "INSERT before the first entry",
        `INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash)
         VALUES (0, 1, NULL, 'alert', NULL, NULL, 'null', '${GENESIS_HASH}', '${"c".repeat(64)}')`,
        0,
        /expected seq 1/,
      ],
    ])("%s", async (_name, statement, seq, problem) => {
      const verdict = await tampered(statement);
      expect(verdict).toMatchObject({ ok: false, seq });
      if (!verdict.ok) {
        expect(verdict.problem).toMatch(problem);
        expect(verdict.problem.startsWith(`entry ${seq}: `)).toBe(true);
      }
    });

    it("a deleted entry replaced by a correctly hashed forgery is reported at the entry after it", async () => {
      const store = await open();
      await store.appendAudit(range(1, 20).map((n) => event(n)));
      const [row] = await sql("SELECT hash FROM audit WHERE seq = 5");
      const prev = row!.hash as string;
      const content: AuditEntryContent = { ...event(6), data: { n: 6, forged: true }, seq: 6 };
      await sql(
        `DELETE FROM audit WHERE seq = 6;
         INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash) VALUES (6, ${content.ts},
           ${lit(content.runId)}, ${lit(content.type)}, ${lit(content.dataset)}, ${lit(content.key)},
           ${lit(canonicalJson(content.data))}, ${lit(prev)}, ${lit(hashAuditEntry(prev, content))})`,
      );
      expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({
        ok: false,
        seq: 7,
        problem:
          "entry 7: previous hash does not match entry 6 (an entry was inserted, deleted or reordered)",
      });
    });

    it("a later append chains onto a tampered tail, so the break stays visible", async () => {
      const store = await open();
      await store.appendAudit(range(1, 5).map((n) => event(n)));
      await sql(`UPDATE audit SET data = '{"n":999}' WHERE seq = 5`);
      const [next] = await store.appendAudit([event(6)]);
      expect(next!.seq).toBe(6);
      expect(await verifyAuditChainAsync(store.iterateAudit())).toMatchObject({ ok: false, seq: 5 });
    });
  });

  describe("a settled repair's ledger row is vouched for by its outcome entry", () => {
    /** Three repairs claimed and settled applied with the audit data executeRepairs writes. */
    async function settled() {
      const store = await open();
      const entries = ["r1", "r2", "r3"].map((id) => repair(id));
      await store.claimRepairs(entries);
      await store.settleRepairs(
        entries.map((e) => ({
          id: e.id,
          key: e.key,
          runId: e.runId,
          outcome: "applied",
          attempts: 1,
          updatedAt: 2000,
        })),
        entries.map((e) => ({
          ts: 2000,
          runId: e.runId,
          type: "applied",
          dataset: e.dataset,
          key: JSON.stringify(e.key),
          data: {
            repair: e.id,
            target: e.target,
            action: "propagate",
            expected: e.expected,
            written: e.nextFingerprint,
            before: e.before,
            after: e.after,
          },
        })),
      );
      return store;
    }

    /** What executeRepairs settles for `e`: its ledger outcome and its audit entry, in one transaction. */
    async function settle(store: StateStore, e: LedgerEntry, outcome: "applied" | "failed", runId = e.runId) {
      await store.settleRepairs(
        [{ id: e.id, key: e.key, runId, outcome, attempts: 1, updatedAt: 2000 }],
        [
          {
            ts: 2000,
            runId,
            type: outcome,
            dataset: e.dataset,
            key: JSON.stringify(e.key),
            data: {
              repair: e.id,
              target: e.target,
              action: "propagate",
              expected: e.expected,
              written: e.nextFingerprint,
              before: e.before,
              after: e.after,
            },
          },
        ],
      );
    }

    /**
     * `store` as verify sees it while another process works: `meanwhile` runs once, when verify first reads
     * the ledger (after it has read the log), before or after that read.
     */
    function beside(store: StateStore, meanwhile: () => Promise<void>, when: "before" | "after"): StateStore {
      let done = false;
      return new Proxy(store, {
        get(target, name) {
          const value = Reflect.get(target, name, target);
          if (name !== "listRepairsPage" || typeof value !== "function") return value;
          return async (...args: unknown[]) => {
            const first = !done;
            done = true;
            if (first && when === "before") await meanwhile();
            const page = await value.apply(target, args);
            if (first && when === "after") await meanwhile();
            return page;
          };
        },
      });
    }

    // Each settlement writes its ledger row and its audit entry in one transaction; verify reads the log, then
    // the ledger, so a repair settled between the two reads is found in the ledger and not (yet) in the log.
    it.each<[string, "before" | "after"]>([
      ["a pending repair settled applied between the log's read and the ledger's", "before"],
      ["a repair claimed and settled after its ledger page was read", "after"],
      ["a failed repair claimed again and applied between the reads", "before"],
      ["a repair rolled back between the reads", "before"],
    ])("verifies beside another process: %s", async (name, when) => {
      const store = await settled();
      const r4 = repair("r4");
      await store.claimRepairs([r4]);
      if (name.startsWith("a failed")) await settle(store, r4, "failed");
      const [, r2] = await store.listRepairs({});
      const meanwhile = async () => {
        if (name.startsWith("a repair claimed")) {
          const r0 = repair("r0");
          await store.claimRepairs([r0]);
          await settle(store, r0, "applied");
        } else if (name.startsWith("a repair rolled back")) {
          const t = inverseRepair(r2!);
          const inverse: LedgerEntry = {
            ...repair(t.id),
            runId: "run-rb",
            key: t.key,
            expected: t.expected,
            nextFingerprint: t.nextFingerprint,
            before: t.before,
            after: t.next,
            undoes: r2!.id,
          };
          await store.claimRepairs([inverse]);
          await store.settleRepairs(
            [{ id: t.id, key: t.key, runId: "run-rb", outcome: "rolled-back", attempts: 1, updatedAt: 3000 }],
            [
              {
                ts: 3000,
                runId: "run-rb",
                type: "rolled-back",
                dataset: inverse.dataset,
                key: JSON.stringify(t.key),
                data: {
                  action: "propagate",
                  after: inverse.after,
                  before: inverse.before,
                  expected: inverse.expected,
                  repair: t.id,
                  target: inverse.target,
                  undoes: r2!.id,
                  written: inverse.nextFingerprint,
                },
              },
            ],
          );
          await store.recordRepairs([{ ...r2!, outcome: "rolled-back", updatedAt: 3000 }]);
        } else {
          if (name.startsWith("a failed")) await store.claimRepairs([{ ...r4, runId: "run-2" }]);
          await settle(store, { ...r4, runId: "run-2" }, "applied");
        }
      };
      const verdict = await verifyAudit(beside(store, meanwhile, when), {});
      expect(verdict, JSON.stringify(verdict)).toMatchObject({ ok: true });
      // And the same store verifies alone, with what the other process wrote.
      expect(await verifyAudit(store, {})).toMatchObject({ ok: true });
    });

    // A row that disagrees is read again after the entries appended since, and those entries can settle a row
    // of a page read before them, or record a repair claimed after the last page: each is judged by its row
    // read again, not by the page's older copy nor by its absence from the pages (two false "BROKEN"s that a
    // chaos run of repairs beside `audit verify` found).
    it.each<[string]>([
      [
        "a repair claimed and settled after the last ledger page, its entry read while another row was rechecked",
      ],
      [
        "a pending row of the page settled after the page was read, its entry read while another row was rechecked",
      ],
    ])("verifies beside another process: %s", async (name) => {
      const store = await settled();
      const [r4, r5] = [repair("r4"), repair("r5")];
      await store.claimRepairs([r4, r5]);
      const afterPage = async () => {
        if (name.startsWith("a repair claimed")) {
          const r0 = repair("r0");
          await store.claimRepairs([r0]);
          await settle(store, r0, "applied");
        } else await settle(store, r5, "applied");
      };
      // r4 settled between the log's read and the page's, so that verify rechecks it and reads what follows.
      const seen = beside(
        beside(store, () => settle(store, r4, "applied"), "before"),
        afterPage,
        "after",
      );
      const verdict = await verifyAudit(seen, {});
      expect(verdict, JSON.stringify(verdict)).toMatchObject({ ok: true });
      expect(await verifyAudit(store, {})).toMatchObject({ ok: true });
    });

    it("still finds an edited row while another process appends to the log", async () => {
      const store = await settled();
      await sql(`UPDATE ledger SET before_values = '["mallory",null]' WHERE id = 'r2'`);
      const r4 = repair("r4");
      await store.claimRepairs([r4]);
      const verdict = await verifyAudit(
        beside(store, () => settle(store, r4, "applied"), "before"),
        {},
      );
      expect(verdict.ok).toBe(false);
      if (!verdict.ok)
        expect(verdict.problem).toMatch(/^the ledger row of repair r2 .* does not match its audit entry 2 /);
    });

    it("verifies as written", async () => {
      const store = await settled();
      expect(await verifyAudit(store, {})).toMatchObject({ ok: true, count: 3, ledger: { settled: 3 } });
    });

    it.each<[string, string]>([
      ["before image", `UPDATE ledger SET before_values = '["mallory",null]' WHERE id = 'r2'`],
      ["after image", `UPDATE ledger SET after_values = '["mallory","x"]' WHERE id = 'r2'`],
      ["written fingerprint", `UPDATE ledger SET next_fingerprint = 'ffffffffffffffff' WHERE id = 'r2'`],
      ["key", `UPDATE ledger SET key = '["9"]' WHERE id = 'r2'`],
    ])("an edit of one row's %s is found, naming that repair and its entry", async (_name, statement) => {
      const store = await settled();
      await sql(statement);
      const verdict = await verifyAudit(store, {});
      expect(verdict.ok).toBe(false);
      if (!verdict.ok)
        expect(verdict.problem).toMatch(/^the ledger row of repair r2 .* does not match its audit entry 2 /);
    });

    /**
     * The three repairs applied, then r2 rolled back (its inverse claimed naming it, settled rolled-back with
     * the entry executeRepairs writes, r2 marked rolled-back), and r3's rollback claimed and left pending (a
     * rollback killed before it settled). Returns the inverses' ids.
     */
    async function rolledBack() {
      const store = await settled();
      const [r2, r3] = (await store.listRepairs({})).slice(1);
      const inverse = (e: LedgerEntry): LedgerEntry => {
        const t = inverseRepair(e);
        return {
          ...repair(t.id),
          runId: "run-rb",
          key: t.key,
          expected: t.expected,
          nextFingerprint: t.nextFingerprint,
          before: t.before,
          after: t.next,
          undoes: e.id,
        };
      };
      const [i2, i3] = [inverse(r2!), inverse(r3!)];
      await store.claimRepairs([i2!, i3!]);
      await store.settleRepairs(
        [{ id: i2!.id, key: i2!.key, runId: "run-rb", outcome: "rolled-back", attempts: 1, updatedAt: 3000 }],
        [
          {
            ts: 3000,
            runId: "run-rb",
            type: "rolled-back",
            dataset: i2!.dataset,
            key: JSON.stringify(i2!.key),
            data: {
              action: "propagate",
              after: i2!.after,
              before: i2!.before,
              expected: i2!.expected,
              repair: i2!.id,
              target: i2!.target,
              undoes: "r2",
              written: i2!.nextFingerprint,
            },
          },
        ],
      );
      await store.recordRepairs([{ ...r2!, outcome: "rolled-back", updatedAt: 3000 }]);
      return { store, i2: i2!.id, i3: i3!.id };
    }

    it("verifies a rollback, settled and pending, as written", async () => {
      const { store } = await rolledBack();
      expect(await verifyAudit(store, {})).toMatchObject({ ok: true, count: 4, ledger: { settled: 4 } });
    });

    // A later episode of r2 (`r2~2`, written while r2 was still applied) has r2's rollback id: rolling it back
    // claims that inverse again, and its last entry then speaks of r2~2 (here: superseded). r2 stays undone by
    // the entry that names it, after its last application; the inverse's last outcome alone made r2 read as
    // "rolled-back, but no audit entry records its rollback".
    it("verifies a repair undone by an inverse whose id a later episode's rollback reused", async () => {
      const { store, i2 } = await rolledBack();
      const r2 = (await store.listRepairs({})).find((e) => e.id === "r2")!;
      const episode: LedgerEntry = { ...r2, id: "r2~2", runId: "run-2", outcome: "pending", attempts: 1 };
      await store.claimRepairs([episode]);
      await settle(store, episode, "applied");
      const inverse = (await store.getRepairs([{ id: i2, key: r2.key }])).get(i2)!;
      const again: LedgerEntry = { ...inverse, runId: "run-rb2", outcome: "pending", undoes: "r2~2" };
      await store.claimRepairs([again]);
      await store.settleRepairs(
        [{ id: i2, key: again.key, runId: "run-rb2", outcome: "superseded", attempts: 2, updatedAt: 4000 }],
        [
          {
            ts: 4000,
            runId: "run-rb2",
            type: "superseded",
            dataset: again.dataset,
            key: JSON.stringify(again.key),
            data: {
              action: "propagate",
              after: again.after,
              before: again.before,
              expected: again.expected,
              repair: i2,
              target: again.target,
              undoes: "r2~2",
              written: again.nextFingerprint,
            },
          },
        ],
      );
      const verdict = await verifyAudit(store, {});
      expect(verdict, JSON.stringify(verdict)).toMatchObject({ ok: true });
    });

    // `undoes` decides what recovery records a pending row's landed write as (the rollback of that repair,
    // which it then marks undone, or a repair of its own); a settled row's is vouched for by its entry.
    it.each<[string, (ids: { i2: string; i3: string }) => string, RegExp]>([
      [
        "a settled rollback's undoes pointed at a repair of another key",
        ({ i2 }) => `UPDATE ledger SET undoes = 'r1' WHERE id = '${i2}'`,
        /says it undoes repair r1, which the ledger does not hold for that key/,
      ],
      [
        "a settled rollback's undoes pointed at another repair of its key (itself)",
        ({ i2 }) => `UPDATE ledger SET undoes = id WHERE id = '${i2}'`,
        /says it undoes repair [0-9a-f]+, but it is not that repair's rollback/,
      ],
      [
        "a settled rollback's undoes removed",
        ({ i2 }) => `UPDATE ledger SET undoes = NULL WHERE id = '${i2}'`,
        /does not match its audit entry 4 \(the row, its before\/after image or the repair it undoes was edited\)/,
      ],
      [
        "a pending rollback's undoes pointed at a repair of another key",
        ({ i3 }) => `UPDATE ledger SET undoes = 'r1' WHERE id = '${i3}'`,
        /says it undoes repair r1, which the ledger does not hold for that key/,
      ],
      [
        "a pending rollback's undoes pointed at another repair of its key (itself)",
        ({ i3 }) => `UPDATE ledger SET undoes = id WHERE id = '${i3}'`,
        /says it undoes repair [0-9a-f]+, but it is not that repair's rollback/,
      ],
      [
        "a pending rollback's undoes naming no repair",
        ({ i3 }) => `UPDATE ledger SET undoes = 'gone' WHERE id = '${i3}'`,
        /says it undoes repair gone, which the ledger does not hold/,
      ],
      [
        "a rolled-back repair's row set back to applied",
        () => `UPDATE ledger SET outcome = 'applied' WHERE id = 'r2'`,
        /^the ledger says repair r2 .* is applied, but audit entry 4 records its rollback after its last applied entry 2 \(the row was edited\)$/,
      ],
      [
        "a repair's row made to say it undoes another",
        () => `UPDATE ledger SET undoes = 'r2' WHERE id = 'r1'`,
        /^the ledger row of repair r1 .* says it undoes repair r2, which the ledger does not hold for that key/,
      ],
    ])("finds %s", async (_name, statement, problem) => {
      const { store, ...ids } = await rolledBack();
      await sql(statement(ids));
      const verdict = await verifyAudit(store, {});
      expect(verdict.ok).toBe(false);
      if (!verdict.ok) expect(verdict.problem).toMatch(problem);
    });

    // Bookkeeping: attempts and updated_at are read by no decision on a settled row, and the ledger's error is a
    // copy of what the failed outcome's entry says (audit show prints the entry's); docs/audit-anchors.md.
    it("lets an edit of attempts, updated_at or error pass (bookkeeping, not vouched for)", async () => {
      const { store } = await rolledBack();
      await sql("UPDATE ledger SET attempts = 7, updated_at = 1, error = 'made up'");
      expect(await verifyAudit(store, {})).toMatchObject({ ok: true, count: 4 });
    });
  });
}
