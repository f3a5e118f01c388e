/**
 * `concord escalations resolve` killed mid-write (SIGKILL while a batch is claimed and pending): the next
 * resolution settles what it left pending at once, from its run lease naming a process that is gone, and
 * finishes the work once — no write twice, nothing pending, the log verifies.
 */
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  ledgerRows,
  makeSqliteTable,
  query,
  runConcord,
  spawnConcord,
  storedEscalations,
  tempDir,
  waitFor,
  writeConfig,
} from "./helpers.js";

/** Rows on a; the first MISSING of them are missing on b (15%, under the blast-radius guard). */
const ROWS = 1000;
const MISSING = 150;
/** A batch carries a second's worth of writes and waits about a second for them, pending. */
const RATE = 25;

describe.concurrent("concord escalations resolve killed mid-write", () => {
  it("SIGKILL while a batch is pending, then an immediate rerun: every escalation resolved once, nothing pending", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const rows = itemRows(ROWS);
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, rows);
    makeSqliteTable(join(dir, "b.db"), "items", ITEMS_DDL, rows.slice(MISSING));
    // No owner: every missing row is escalated.
    const free = writeConfig(dir, itemsConfig("window: 0s"), "free.yaml");
    const limited = writeConfig(
      dir,
      itemsConfig(`window: 0s\nlimits: { writesPerSecond: ${RATE} }`),
      "limited.yaml",
    );
    const state = join(dir, "state.db");
    const repair = await runConcord(["repair", "-c", free]);
    expect(repair.code, repair.stderr).toBe(1);
    expect(storedEscalations(state, "open")).toHaveLength(MISSING);

    const pendingNow = () => ledgerRows(state).filter((l) => l.outcome === "pending");
    const run = spawnConcord(
      ["escalations", "resolve", "--all-matching", "--pick", "a", "--yes", "-c", limited],
      { onTestFinished },
    );
    let exited = false;
    void run.done.then(() => {
      exited = true;
    });
    await waitFor(() => exited || pendingNow().length > 0);
    run.child.kill("SIGKILL");
    const killed = await run.done;
    expect(killed.signal).toBe("SIGKILL");
    expect(pendingNow().length).toBeGreaterThan(0);

    // At once, not after the killed claims went stale (60 s).
    const rerun = await runConcord([
      "escalations",
      "resolve",
      "--all-matching",
      "--pick",
      "a",
      "--yes",
      "-c",
      free,
    ]);
    expect(rerun.stderr).toBe("");
    expect(rerun.stdout).toMatch(/ 0 left open/);
    expect(rerun.code).toBe(0);
    expect(storedEscalations(state, "open")).toEqual([]);
    expect(pendingNow()).toEqual([]);
    expect(query<{ n: number }>(join(dir, "b.db"), "SELECT COUNT(*) AS n FROM items")[0]!.n).toBe(ROWS);
    expect(
      query(
        state,
        `SELECT json_extract(data, '$.repair') AS repair, COUNT(*) AS n FROM audit
         WHERE type = 'applied' GROUP BY repair HAVING n > 1`,
      ),
    ).toEqual([]);
    expect(query(state, "SELECT COUNT(*) AS n FROM audit WHERE type = 'applied'")).toEqual([{ n: MISSING }]);
    const verify = await runConcord(["audit", "verify", "-c", free]);
    expect(verify.stdout).toMatch(/^Audit log intact/);
    expect(verify.code, verify.stderr).toBe(0);
  });
});
