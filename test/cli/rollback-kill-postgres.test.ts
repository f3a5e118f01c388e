/**
 * `concord rollback` SIGKILLed on PostgreSQL replicas after some of its inverse writes landed but before it
 * recorded them: the rerun's recovery records those writes as a completed rollback would (`rolled-back`,
 * never `applied`), so the ledger tells history right and `rollback --run` of the killed rollback's run
 * finds nothing to undo, as for a completed one.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, type ExpectStatic, it } from "vitest";
import { killAtRateLimitTake } from "../support/kill-at-rate-limit.js";
import {
  createPostgresTestSchema,
  type PostgresTestSchema,
  pgItemsConfig,
} from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import {
  ledgerRows,
  type PlanJson,
  parseJson,
  query,
  runConcord,
  type SpawnOptions,
  spawnConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

const available = await serviceAvailable(POSTGRES);

/** Rows per replica, all stale on b (a renamed them and bumped their version). */
const ROWS = 300;
/** A rate-limited rollback claims a batch and (after the first) waits about a second for it, pending in the ledger. */
const RATE = 50;

let db: PostgresTestSchema | undefined;

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
  for (const side of ["a", "b"])
    await db.admin.query(
      `CREATE TABLE "${db.name}".items_${side} (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL,
       price numeric(10,2) NOT NULL, updated_at timestamptz NOT NULL, version bigint NOT NULL)`,
    );
});

/** Fills both tables afresh: b as it was, a with every row renamed and its version bumped. */
async function fill(schema: string): Promise<void> {
  for (const side of ["a", "b"]) {
    const table = `"${schema}".items_${side}`;
    await db!.admin.query(`TRUNCATE ${table}`);
    await db!.admin.query(
      `INSERT INTO ${table}
       SELECT g, 'item ' || g, (g * 7) % 50, ((g * 37) % 1000) + (g % 4) * 0.25,
              timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', 1 + g % 4
       FROM generate_series(1, ${ROWS}) g`,
    );
  }
  await db!.admin.query(`UPDATE "${schema}".items_a SET name = name || ' (new)', version = version + 1`);
}

/** A repaired pair, then `rollback --run` of the repair SIGKILLed with a batch claimed, whose writes then land. */
async function killRollbackMidway(
  schema: string,
  dir: string,
  expect: ExpectStatic,
  onTestFinished: SpawnOptions["onTestFinished"],
): Promise<{ runId: string; claims: { id: string; run_id: string; undoes: string }[] }> {
  const limited = writeConfig(dir, pgItemsConfig(schema, RATE), "limited.yaml");
  const free = writeConfig(dir, pgItemsConfig(schema), "free.yaml");
  const state = join(dir, "state.db");
  const repair = await runConcord(["repair", "--json", "-c", free]);
  expect(repair.code, repair.stderr).toBe(0);
  const runId = parseJson<PlanJson>(repair).runId;

  // Killed as its second batch of inverse writes asks for the rate limit: the first written and recorded, the
  // second claimed (pending) with nothing written. A kill sent when a poll saw a claim could land after that
  // batch's commit, and the writes "landed" below would find nothing to change.
  const run = spawnConcord(["rollback", "--run", runId, "-c", limited], {
    env: killAtRateLimitTake(2),
    onTestFinished,
  });
  expect((await run.done).signal).toBe("SIGKILL");
  const claims = query<{ id: string; run_id: string; key: string; undoes: string }>(
    state,
    "SELECT id, run_id, key, undoes FROM ledger WHERE outcome = 'pending' ORDER BY rowid",
  );
  expect(claims).toHaveLength(RATE);
  // The claimed writes land, as when the kill comes between a batch's commit and its ledger update: the
  // pending keys hold their before images again (the inverse of the repair's rename and version bump).
  const keys = claims.map((l) => (JSON.parse(l.key) as string[])[0]);
  const landed = await db!.admin.query(
    `UPDATE "${schema}".items_b SET name = left(name, -length(' (new)')), version = version - 1
     WHERE id = ANY($1::bigint[]) AND name LIKE '% (new)'`,
    [keys],
  );
  expect(landed.rowCount).toBe(claims.length);
  return { runId, claims };
}

afterAll(async () => {
  await db?.drop();
});

async function snapshot(schema: string): Promise<unknown[]> {
  return (await db!.admin.query(`SELECT * FROM "${schema}".items_b ORDER BY id`)).rows;
}

describe.skipIf(!available)("concord rollback on PostgreSQL replicas, killed", () => {
  it("writes of a killed rollback that landed are recovered as rolled-back; rollback --run of that run finds none applied", {
    timeout: 180_000,
  }, async ({ expect, onTestFinished }) => {
    const schema = db!.name;
    const dir = tempDir(onTestFinished);
    const free = writeConfig(dir, pgItemsConfig(schema), "free.yaml");
    const state = join(dir, "state.db");
    await fill(schema);
    const original = JSON.stringify(await snapshot(schema));
    const { runId, claims } = await killRollbackMidway(schema, dir, expect, onTestFinished);
    const killedRun = claims[0]!.run_id;

    const rerun = await runConcord(["rollback", "--run", runId, "-c", free]);
    expect(rerun.stderr).toBe("");
    // The batch the killed rollback settled was marked undone with it: the rerun finds the other repairs applied.
    expect(rerun.stdout).toContain(`Rolled back: ${ROWS - RATE} repairs`);
    expect(rerun.code).toBe(0);
    expect(JSON.stringify(await snapshot(schema))).toBe(original);

    // The killed rollback's landed writes are recorded as a completed rollback records its own: rolled-back.
    const ledger = ledgerRows(state);
    expect(ledger.filter((l) => l.outcome === "pending")).toEqual([]);
    expect(ledger.filter((l) => l.run_id === killedRun && l.outcome === "applied")).toEqual([]);
    // Every row of the killed run is rolled-back: the claims pending at the kill, and the batch it finished
    // before.
    const killedRows = ledger.filter((l) => l.run_id === killedRun);
    expect(killedRows.filter((l) => l.outcome !== "rolled-back")).toEqual([]);
    expect(killedRows).toHaveLength(2 * RATE);
    expect(killedRows.map((l) => l.id)).toEqual(expect.arrayContaining(claims.map((l) => l.id)));
    expect(
      query(state, "SELECT outcome, COUNT(*) AS n FROM ledger GROUP BY outcome ORDER BY outcome"),
    ).toEqual([{ outcome: "rolled-back", n: 2 * ROWS }]);
    expect(
      query(state, "SELECT COUNT(*) AS n FROM audit WHERE run_id <> ? AND type = 'applied'", runId),
    ).toEqual([{ n: 0 }]);

    // As for a completed rollback: nothing applied in the rollback's run, nothing written.
    for (const rollbackRun of [killedRun, parseRunId(rerun.stdout)]) {
      const again = await runConcord(["rollback", "--run", rollbackRun, "-c", free]);
      expect(again.stderr).toContain("no applied repairs in that run");
      expect(again.code).toBe(2);
    }
    expect(JSON.stringify(await snapshot(schema))).toBe(original);

    const verify = await runConcord(["audit", "verify", "-c", free]);
    expect(verify.stdout).toMatch(/^Audit log intact/);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it("a repair after the kill settles the inverse and the repair it undid at once; rollback --run does not undo them again", {
    timeout: 180_000,
  }, async ({ expect, onTestFinished }) => {
    const schema = db!.name;
    const dir = tempDir(onTestFinished);
    const free = writeConfig(dir, pgItemsConfig(schema), "free.yaml");
    const state = join(dir, "state.db");
    await fill(schema);
    const { runId, claims } = await killRollbackMidway(schema, dir, expect, onTestFinished);
    const outcome = (id: string) =>
      query<{ run_id: string; outcome: string }>(
        state,
        "SELECT run_id, outcome FROM ledger WHERE id = ?",
        id,
      )[0];

    // The repair's recovery settles the killed rollback's claims (and the repairs they undid) before it plans.
    const repair = await runConcord(["repair", "--json", "-c", free]);
    expect(repair.code, repair.stderr).toBe(0);
    const repairRun = parseJson<PlanJson>(repair).runId;
    for (const c of claims) {
      expect(outcome(c.id)).toEqual({ run_id: c.run_id, outcome: "rolled-back" });
      // The undone repair was rolled back at recovery, so the repair's fix of the key is the same repair id
      // claimed again (no second episode): the ledger files it under the repair run.
      expect(outcome(c.undoes)).toEqual({ run_id: repairRun, outcome: "applied" });
    }
    expect(query(state, "SELECT COUNT(*) AS n FROM ledger WHERE id LIKE '%~%'")).toEqual([{ n: 0 }]);
    expect(query(state, "SELECT COUNT(*) AS n FROM ledger WHERE outcome = 'pending'")).toEqual([{ n: 0 }]);

    // rollback --run of the original repair undoes only what it still has applied, not the recovered ones.
    const rest = await runConcord(["rollback", "--run", runId, "-c", free]);
    expect(rest.stderr).toBe("");
    // The killed rollback undid its claims and the batch it finished before.
    expect(query(state, "SELECT id FROM ledger WHERE run_id = ?", claims[0]!.run_id)).toHaveLength(2 * RATE);
    expect(rest.stdout).toContain(`Rolled back: ${ROWS - 2 * RATE} repairs`);
    expect(rest.stdout).not.toMatch(new RegExp(`^(${claims.map((c) => c.undoes).join("|")}) `, "m"));
    expect(rest.code).toBe(0);
    const verify = await runConcord(["audit", "verify", "-c", free]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});

/** The run id a rollback's last line names: `Rolled back: N repairs (run ID).` */
function parseRunId(stdout: string): string {
  return /\(run ([^)]+)\)\.\s*$/.exec(stdout)![1]!;
}
