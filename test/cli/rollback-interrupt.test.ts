/**
 * Stopping `concord rollback` through the real binary (a process, for the signals): SIGINT or SIGTERM stops
 * after the write batch in flight, exit 130 / 143, with ledger and audit consistent, nothing left pending
 * and the run's lease released, so a second rollback finishes the work at once.
 */
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  itemsSnapshot,
  makeSqliteTable,
  type PlanJson,
  parseJson,
  query,
  runConcord,
  spawnConcord,
  tempDir,
  waitFor,
  writeConfig,
} from "./helpers.js";

/** Divergent rows: every one is stale on b (a renamed it and bumped its version). */
const ROWS = 600;
/** A rate-limited rollback writes a batch of about a second's worth (50) and waits for its tokens. */
const RATE = 50;

interface RollbackJson {
  readonly runId: string;
  readonly interrupted: boolean;
  readonly rollbacks: { repair: string; outcome: string }[];
}

describe.concurrent("concord rollback, stopped by a signal", () => {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    it(`${signal} stops after the batch in flight: exit ${code}, nothing pending, a second rollback finishes`, {
      timeout: 120_000,
    }, async ({ expect, onTestFinished }) => {
      const dir = tempDir(onTestFinished);
      const a = join(dir, "a.db");
      const b = join(dir, "b.db");
      const rows = itemRows(ROWS);
      makeSqliteTable(a, "items", ITEMS_DDL, rows, {
        sql: "UPDATE items SET name = name || ' (new)', version = version + 1;",
      });
      makeSqliteTable(b, "items", ITEMS_DDL, rows);
      const before = JSON.stringify(itemsSnapshot(b));
      const limited = writeConfig(dir, itemsConfig(`limits: { writesPerSecond: ${RATE} }`), "limited.yaml");
      const free = writeConfig(dir, itemsConfig(), "free.yaml");
      const state = join(dir, "state.db");
      const repair = await runConcord(["repair", "--json", "-c", free]);
      expect(repair.code, repair.stderr).toBe(0);
      const runId = parseJson<PlanJson>(repair).runId;

      const run = spawnConcord(["rollback", "--run", runId, "--json", "-c", limited], { onTestFinished });
      let exited = false;
      void run.done.then(() => {
        exited = true;
      });
      // Stopped once the first batch of inverse writes is settled; more wait for the rate limit.
      const inverses = () =>
        query<{ n: number }>(
          state,
          "SELECT COUNT(*) AS n FROM ledger WHERE undoes IS NOT NULL AND outcome <> 'pending'",
        )[0]!.n;
      await waitFor(() => exited || inverses() > 0);
      run.child.kill(signal);
      const r = await run.done;
      expect(r.signal, r.stderr).toBeNull();
      expect(r.stderr).toContain("stopping after the batch in flight");
      expect(r.stderr).toContain(
        "concord: interrupted; what was rolled back is in the ledger and the audit log",
      );
      expect(r.code, r.stderr).toBe(code);
      const doc = JSON.parse(r.stdout) as RollbackJson;
      expect(doc.interrupted).toBe(true);
      const done = doc.rollbacks.length;
      expect(done).toBeGreaterThan(0);
      expect(done).toBeLessThan(ROWS);
      for (const x of doc.rollbacks) expect(x.outcome).toBe("rolled-back");

      // The ledger says what was done: nothing pending, each undone repair and its inverse rolled-back.
      expect(
        query(state, "SELECT outcome, COUNT(*) AS n FROM ledger GROUP BY outcome ORDER BY outcome"),
      ).toEqual([
        { outcome: "applied", n: ROWS - done },
        { outcome: "rolled-back", n: 2 * done },
      ]);
      const verify = await runConcord(["audit", "verify", "-c", free]);
      expect(verify.stdout).toMatch(/^Audit log intact/);
      expect(verify.code, verify.stderr).toBe(0);

      // The stopped rollback released its leases: a second one starts at once and undoes the rest.
      const rest = await runConcord(["rollback", "--run", runId, "-c", free]);
      expect(rest.stderr).toBe("");
      expect(rest.stdout).toContain(`Rolled back: ${ROWS - done} repairs`);
      expect(rest.code).toBe(0);
      expect(JSON.stringify(itemsSnapshot(b))).toBe(before);
    });
  }
});
