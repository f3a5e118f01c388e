/**
 * `concord rollback` when things go wrong: a ledger edited behind the store's back (a forged before image is
 * never written into a replica), and a rollback killed mid-batch, before or after the batch's writes landed
 * (the next rollback settles what it left pending and finishes the work once).
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, it } from "vitest";
import { killAtRateLimitTake } from "../support/kill-at-rate-limit.js";
import {
  execSql,
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  itemsSnapshot,
  ledgerRows,
  makeSqliteTable,
  type PlanJson,
  parseJson,
  query,
  runConcord,
  spawnConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

/** Rows that all differ (a renamed them and bumped their version). */
const ROWS = 300;
/**
 * A rollback batch carries a second's worth of writes; after the first (the bucket starts full) each waits about
 * a second for them, pending.
 */
const RATE = 50;

/** a.db newer than b.db on every row; a config that rate-limits writes and one that does not. */
function replicas(dir: string): { limited: string; free: string; state: string; b: string } {
  const a = join(dir, "a.db");
  const b = join(dir, "b.db");
  const rows = itemRows(ROWS);
  makeSqliteTable(a, "items", ITEMS_DDL, rows, {
    sql: "UPDATE items SET name = name || ' (new)', version = version + 1;",
  });
  makeSqliteTable(b, "items", ITEMS_DDL, rows);
  return {
    limited: writeConfig(dir, itemsConfig(`limits: { writesPerSecond: ${RATE} }`), "limited.yaml"),
    free: writeConfig(dir, itemsConfig(), "free.yaml"),
    state: join(dir, "state.db"),
    b,
  };
}

/** Outcome entries per repair id that record a write (applied or rolled-back), for ids with more than one. */
function writtenTwice(state: string): { repair: string; n: number }[] {
  return query<{ repair: string; n: number }>(
    state,
    `SELECT json_extract(data, '$.repair') AS repair, COUNT(*) AS n FROM audit
     WHERE type IN ('applied', 'rolled-back') GROUP BY repair HAVING n > 1`,
  );
}

/** Ledger rows pending (claimed, not settled). */
function pendingRows(state: string): ReturnType<typeof ledgerRows> {
  return ledgerRows(state).filter((l) => l.outcome === "pending");
}

/** Of the ledger rows' keys, how many b still holds as the repair wrote them (renamed " (new)"). */
function stillRepaired(b: string, rows: readonly { key: string }[]): number {
  const ids = rows.map((l) => Number((JSON.parse(l.key) as string[])[0]));
  return query<{ n: number }>(
    b,
    `SELECT COUNT(*) AS n FROM items WHERE id IN (${ids.join(",")}) AND name LIKE '% (new)'`,
  )[0]!.n;
}

/** Repairs of run `runId` the ledger records as rolled back. */
function undone(state: string, runId: string): number {
  return query<{ n: number }>(
    state,
    "SELECT COUNT(*) AS n FROM ledger WHERE run_id = ? AND outcome = 'rolled-back'",
    runId,
  )[0]!.n;
}

/** Inverse writes (a rollback's, naming the repair they undo) the ledger records as carried out. */
function inversesRolledBack(state: string): number {
  return query<{ n: number }>(
    state,
    "SELECT COUNT(*) AS n FROM ledger WHERE undoes IS NOT NULL AND outcome = 'rolled-back'",
  )[0]!.n;
}

describe.concurrent("concord rollback", () => {
  it("refuses (exit 3, one line naming the repair) when a ledger row's before image was edited; the replica is left alone", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { free, state, b } = replicas(dir);
    const repair = await runConcord(["repair", "--json", "-c", free]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;
    const repaired = JSON.stringify(itemsSnapshot(b));

    execSql(
      state,
      `UPDATE ledger SET before_values = replace(before_values, '"item 7"', '"forged"') WHERE key = '["7"]'`,
    );
    const r = await runConcord(["rollback", "--run", runId, "-c", free]);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n")).toHaveLength(2);
    expect(r.stderr).toMatch(/^concord: rollback: nothing rolled back, the audit log does not verify/);
    expect(r.stderr).toContain('items key ["7"] on b) does not match its audit entry');
    expect(r.code).toBe(3);
    expect(JSON.stringify(itemsSnapshot(b))).toBe(repaired);
    expect(query(state, "SELECT COUNT(*) AS n FROM audit WHERE type = 'rolled-back'")).toEqual([{ n: 0 }]);
  });

  it("after a rollback, audit verify vouches for the repair each inverse row undoes: an edit of it exits 3", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { free, state } = replicas(dir);
    const repair = await runConcord(["repair", "--json", "-c", free]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;
    const back = await runConcord(["rollback", "--run", runId, "-c", free]);
    expect(back.code, back.stderr).toBe(0);
    expect((await runConcord(["audit", "verify", "-c", free])).code).toBe(0);
    // The inverse of key 7's repair, as the rollback wrote it: its entry names the repair it undoes.
    const [inverse] = query<{ id: string; undoes: string; data: string }>(
      state,
      `SELECT l.id, l.undoes, a.data FROM ledger AS l JOIN audit AS a ON json_extract(a.data, '$.repair') = l.id
       WHERE l.key = '["7"]' AND l.undoes IS NOT NULL`,
    );
    expect(JSON.parse(inverse!.data).undoes).toBe(inverse!.undoes);
    const [other] = query<{ id: string }>(
      state,
      `SELECT id FROM ledger WHERE key = '["8"]' AND undoes IS NULL AND run_id = '${runId}'`,
    );
    for (const edit of [
      `UPDATE ledger SET undoes = NULL WHERE id = '${inverse!.id}'`,
      `UPDATE ledger SET undoes = '${other!.id}' WHERE id = '${inverse!.id}'`,
    ]) {
      execSql(state, edit);
      const r = await runConcord(["audit", "verify", "-c", free]);
      expect(r.code, edit).toBe(3);
      expect(r.stdout, edit).toMatch(
        new RegExp(`^Audit log BROKEN: the ledger row of repair ${inverse!.id} `),
      );
      execSql(state, `UPDATE ledger SET undoes = '${inverse!.undoes}' WHERE id = '${inverse!.id}'`);
    }
    expect((await runConcord(["audit", "verify", "-c", free])).code).toBe(0);
  });

  it("refuses a before image edited while its row was pending, which recovery then copied into an audit entry", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { free, state, b } = replicas(dir);
    const repair = await runConcord(["repair", "--json", "-c", free]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;
    const repaired = JSON.stringify(itemsSnapshot(b));

    // Row 7 as a run killed after its write landed leaves it (pending, long ago), its before image edited.
    execSql(
      state,
      `UPDATE ledger SET outcome = 'pending', updated_at = 0,
         before_values = replace(before_values, '"item 7"', '"forged"') WHERE key = '["7"]'`,
    );
    const rerun = await runConcord(["repair", "-c", free]);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(query(state, "SELECT outcome FROM ledger WHERE key = '[\"7\"]'")).toEqual([
      { outcome: "applied" },
    ]);
    // Recovery recorded the row as it found it: the chain and the ledger check cannot tell.
    expect((await runConcord(["audit", "verify", "-c", free])).code).toBe(0);

    const r = await runConcord(["rollback", "--run", runId, "-c", free]);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /^concord: rollback: nothing rolled back, the ledger row of repair \w+ \(items key \["7"\] on b\) holds a before or after image that is not what its fingerprints say \(the row was edited\)\n$/,
    );
    expect(r.code).toBe(3);
    expect(JSON.stringify(itemsSnapshot(b))).toBe(repaired);
  });

  it("SIGKILL while a batch waits for its rate limit, twice, then a rerun: the rest rolled back once, nothing pending, the log verifies", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { limited, free, state, b } = replicas(dir);
    const original = JSON.stringify(itemsSnapshot(b));
    const repair = await runConcord(["repair", "--json", "-c", free]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;
    const history: string[] = [];

    // Two rollbacks, each killed as its second batch asks for the rate limit: the first batch written and
    // settled, the second claimed (pending) with nothing written. The second rollback first settles what the
    // first left pending.
    for (let kill = 1; kill <= 2; kill++) {
      const r = await spawnConcord(["rollback", "--run", runId, "-c", limited], {
        env: killAtRateLimitTake(2),
        onTestFinished,
      }).done;
      const pending = pendingRows(state);
      history.push(`kill ${kill} (${r.signal ?? `exit ${r.code}`}): ${pending.length} pending`);
      expect(r.signal, `${history.join("\n")}\n${r.stderr}`).toBe("SIGKILL");
      expect(pending.length, history.join("\n")).toBe(RATE);
      expect(stillRepaired(b, pending), history.join("\n")).toBe(RATE);
      expect(inversesRolledBack(state), history.join("\n")).toBe(kill * RATE);
      // The repairs the settled batches undid were marked rolled-back with them (one transaction), not left
      // applied for a repair in between to take for a divergence come back.
      expect(undone(state, runId), history.join("\n")).toBe(kill * RATE);
    }

    const rerun = await runConcord(["rollback", "--run", runId, "-c", free]);
    expect(rerun.stderr, history.join("\n")).toBe("");
    // The rest: what the killed rollbacks' settled batches undid is recorded so already.
    expect(rerun.stdout, history.join("\n")).toContain(`Rolled back: ${ROWS - 2 * RATE} repairs`);
    expect(rerun.code, history.join("\n")).toBe(0);

    expect(JSON.stringify(itemsSnapshot(b))).toBe(original);
    expect(pendingRows(state)).toEqual([]);
    expect(
      query(state, "SELECT COUNT(*) AS n FROM ledger WHERE run_id = ? AND outcome = 'rolled-back'", runId),
    ).toEqual([{ n: ROWS }]);
    expect(writtenTwice(state), history.join("\n")).toEqual([]);
    const verify = await runConcord(["audit", "verify", "-c", free]);
    expect(verify.stdout, history.join("\n")).toMatch(/^Audit log intact/);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it("SIGKILL after a batch's inverse writes landed, before they were recorded: the next rollback records them rolled-back under the killed one, and the rest is rolled back once", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { limited, free, state, b } = replicas(dir);
    const original = JSON.stringify(itemsSnapshot(b));
    const repair = await runConcord(["repair", "--json", "-c", free]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;

    // Killed with its second batch claimed; that batch's writes then land, as when the kill comes between the
    // replica's commit and the ledger's settlement (two stores: no transaction spans both).
    const first = await spawnConcord(["rollback", "--run", runId, "-c", limited], {
      env: killAtRateLimitTake(2),
      onTestFinished,
    }).done;
    expect(first.signal, first.stderr).toBe("SIGKILL");
    const claims = query<{ id: string; run_id: string; key: string; undoes: string }>(
      state,
      "SELECT id, run_id, key, undoes FROM ledger WHERE outcome = 'pending' ORDER BY rowid",
    );
    expect(claims).toHaveLength(RATE);
    execSql(
      b,
      `UPDATE items SET name = substr(name, 1, length(name) - length(' (new)')), version = version - 1
       WHERE id IN (${claims.map((c) => Number((JSON.parse(c.key) as string[])[0])).join(",")})`,
    );
    expect(stillRepaired(b, claims)).toBe(0);

    // The next rollback, killed alike, recovers the landed claims first: rolled-back, in the killed
    // rollback's name, and the repairs they undid marked rolled-back as that rollback would have.
    const second = await spawnConcord(["rollback", "--run", runId, "-c", limited], {
      env: killAtRateLimitTake(2),
      onTestFinished,
    }).done;
    expect(second.signal, second.stderr).toBe("SIGKILL");
    const killedRun = claims[0]!.run_id;
    const row = (id: string) =>
      query<{ run_id: string; outcome: string }>(
        state,
        "SELECT run_id, outcome FROM ledger WHERE id = ?",
        id,
      );
    for (const c of claims) {
      expect(row(c.id)).toEqual([{ run_id: killedRun, outcome: "rolled-back" }]);
      expect(row(c.undoes)).toEqual([{ run_id: runId, outcome: "rolled-back" }]);
    }

    // So a rollback after that finds those repairs undone already, and those of the batch each killed one
    // settled: it rolls back the others (the CI run that saw 250 of 300 was the first of these).
    expect(undone(state, runId)).toBe(3 * RATE);
    const rerun = await runConcord(["rollback", "--run", runId, "-c", free]);
    expect(rerun.stderr).toBe("");
    expect(rerun.stdout).toContain(`Rolled back: ${ROWS - 3 * RATE} repairs`);
    for (const c of claims) expect(rerun.stdout).not.toContain(`${c.undoes}  `);
    expect(rerun.code).toBe(0);

    expect(JSON.stringify(itemsSnapshot(b))).toBe(original);
    expect(pendingRows(state)).toEqual([]);
    expect(
      query(state, "SELECT COUNT(*) AS n FROM ledger WHERE run_id = ? AND outcome = 'rolled-back'", runId),
    ).toEqual([{ n: ROWS }]);
    expect(writtenTwice(state)).toEqual([]);
    const verify = await runConcord(["audit", "verify", "-c", free]);
    expect(verify.stdout).toMatch(/^Audit log intact/);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it("a row an application wrote since the repair is left to it (superseded), and the summary says how many of the repairs were undone", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { free, b } = replicas(dir);
    const repair = await runConcord(["repair", "--json", "-c", free]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;
    // The application changes three repaired rows afterwards: rolling those back would lose its writes.
    execSql(b, "UPDATE items SET name = 'written by the app' WHERE id IN (1, 2, 3)");

    const rollback = await runConcord(["rollback", "--run", runId, "-c", free]);
    expect(rollback.code, rollback.stderr).toBe(1);
    expect(rollback.stdout).toMatch(
      new RegExp(
        `^Partly rolled back: ${ROWS - 3} of ${ROWS} repairs \\(3 superseded\\) \\(run \\S+\\)\\.$`,
        "m",
      ),
    );
    expect(
      query<{ n: number }>(b, "SELECT COUNT(*) AS n FROM items WHERE name = 'written by the app'"),
    ).toEqual([{ n: 3 }]);
  });

  it("two rollbacks of one run at once: one rolls it back, the other is refused (exit 2, one line naming the first), as one rollback", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { limited, free, state, b } = replicas(dir);
    const original = JSON.stringify(itemsSnapshot(b));
    const repair = await runConcord(["repair", "--json", "-c", free]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;

    // Started together; each takes seconds under the rate limit, so they overlap.
    const runs = [0, 1].map(() =>
      spawnConcord(["rollback", "--run", runId, "-c", limited], { onTestFinished }),
    );
    const done = await Promise.all(runs.map((r) => r.done));
    const report = done.map(
      (r, i) => `${runs[i]!.child.pid}: exit ${r.code}\n${r.stdout.slice(-300)}${r.stderr}`,
    );
    const winner = done.findIndex((r) => r.code === 0);
    expect(winner, report.join("\n")).toBeGreaterThanOrEqual(0);
    const loser = done[1 - winner]!;
    expect(done[winner]!.stdout).toContain(`Rolled back: ${ROWS} repairs`);
    expect({ code: loser.code, stdout: loser.stdout }, report.join("\n")).toEqual({ code: 2, stdout: "" });
    expect(loser.stderr).toMatch(
      new RegExp(
        `^concord: rollback --run ${runId}: run ${runId} is being rolled back by another process \\(${hostname()}:${runs[winner]!.child.pid}:[0-9a-f]+\\); nothing done here: its report is the result\n$`,
      ),
    );

    expect(JSON.stringify(itemsSnapshot(b))).toBe(original);
    expect(ledgerRows(state).filter((l) => l.outcome === "pending")).toEqual([]);
    expect(
      query(state, "SELECT COUNT(*) AS n FROM ledger WHERE run_id = ? AND outcome = 'rolled-back'", runId),
    ).toEqual([{ n: ROWS }]);
    expect(query(state, "SELECT COUNT(*) AS n FROM audit WHERE type = 'rolled-back'")).toEqual([{ n: ROWS }]);
    expect(query(state, "SELECT name FROM leases WHERE name LIKE 'rollback:%'")).toEqual([]);
    // Once it is done, another rollback of the run finds nothing left to undo.
    const again = await runConcord(["rollback", "--run", runId, "-c", free]);
    expect(again.stderr).toBe(
      `concord: rollback --run ${runId}: no applied repairs in that run (its ${ROWS} repairs were rolled back already)\n`,
    );
    expect(again.code).toBe(2);
    const verify = await runConcord(["audit", "verify", "-c", free]);
    expect(verify.code, verify.stderr).toBe(0);
  });
});
