/**
 * Two `concord repair` processes on the same PostgreSQL dataset at once: the ledger lets each repair be
 * written once, and the process that finds repairs the other has pending leaves them to it, says so in one
 * line naming the other run, and exits 1 (not everything it planned was carried out by it).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import {
  createPostgresTestSchema,
  type PostgresTestSchema,
  pgItemsConfig,
} from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { ledgerRows, query, runConcord, spawnConcord, tempDir, waitFor, writeConfig } from "./helpers.js";

const available = await serviceAvailable(POSTGRES);

const ROWS = 600;
/** The first repair claims a batch and writes it at this rate: pending for seconds. */
const RATE = 30;

let db: PostgresTestSchema | undefined;

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
  for (const side of ["a", "b"]) {
    const table = `"${db.name}".items_${side}`;
    await db.admin.query(
      `CREATE TABLE ${table} (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL,
       price numeric(10,2) NOT NULL, updated_at timestamptz NOT NULL, version bigint NOT NULL)`,
    );
    await db.admin.query(
      `INSERT INTO ${table}
       SELECT g, 'item ' || g, (g * 7) % 50, g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', 1
       FROM generate_series(1, ${ROWS}) g`,
    );
  }
  await db.admin.query(`UPDATE "${db.name}".items_a SET name = name || ' (new)', version = 2`);
});

afterAll(async () => {
  await db?.drop();
});

describe.skipIf(!available)("two concord repair processes on one dataset", () => {
  it("write each repair once; the one that finds the other's claims names it and exits 1", {
    timeout: 120_000,
  }, async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const slow = writeConfig(dir, pgItemsConfig(db!.name, RATE), "slow.yaml");
    const state = join(dir, "state.db");
    const first = spawnConcord(["repair", "-c", slow], { onTestFinished });
    await waitFor(() => ledgerRows(state).some((l) => l.outcome === "pending"));
    const holder = ledgerRows(state).find((l) => l.outcome === "pending")!.run_id;

    const second = await runConcord(["repair", "-c", slow]);
    expect(second.stderr).toBe("");
    expect(second.stdout).toMatch(
      new RegExp(
        `\\n {2}\\d+ repairs? left to run ${holder}, which has them pending \\(another process repairing items at the same time\\); run again once it has finished\\n`,
      ),
    );
    expect(second.code).toBe(1);
    // The first may in turn find batches the second claimed meanwhile: then it says so the same way.
    const done = await first.done;
    expect(done.stderr).toBe("");
    if (done.code !== 0) {
      expect(done.code).toBe(1);
      expect(done.stdout).toMatch(/\n {2}\d+ repairs? left to run \S+, which has them pending/);
    }

    // Each key written once: one applied ledger entry and one applied audit entry per repaired key.
    expect(query(state, "SELECT outcome, COUNT(*) AS n FROM ledger GROUP BY outcome")).toEqual([
      { outcome: "applied", n: ROWS },
    ]);
    expect(query(state, "SELECT COUNT(*) AS n FROM audit WHERE type = 'applied'")).toEqual([{ n: ROWS }]);
    const rows = await db!.admin.query(
      `SELECT count(*)::int AS n FROM "${db!.name}".items_b WHERE name LIKE '% (new)' AND version = 2`,
    );
    expect(rows.rows[0].n).toBe(ROWS);
  });
});
