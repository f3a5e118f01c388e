/**
 * Crash safety of the real `concord repair` on PostgreSQL replicas: the binary is SIGKILLed at random
 * moments (startup, scan, planning or while its rate-limited write batches run) and rerun, then finished
 * without the rate limit. Wherever the kills land, and whether they land at all, the replicas converge, no
 * ledger entry is left pending, no repair id is applied twice and the audit chain verifies.
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

/** Rows per replica; ids 1..STALE are stale on b (a renamed them and bumped their version). */
const ROWS = 3500;
const STALE = 3000;
/**
 * Writes per second: with 500-write batches the first batch goes at once and each later one waits a second
 * for the rate limit (pending in the ledger meanwhile), so an uninterrupted run writes for about 5 s.
 */
const RATE = 500;
/** How long one run of the binary may take (the helpers' knob: raise it on a crowded machine). */
const RUN_TIMEOUT_MS = Number(process.env.CONCORD_TEST_RUN_TIMEOUT_MS) || 60_000;

let db: PostgresTestSchema | undefined;

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
  for (const side of ["a", "b"]) {
    const table = `"${db.name}".items_${side}`;
    await db.admin.query(
      `CREATE TABLE ${table} (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL,
       price numeric(10,2) NOT NULL, note text, updated_at timestamptz NOT NULL, version bigint NOT NULL)`,
    );
    await db.admin.query(
      `INSERT INTO ${table}
       SELECT g, 'item ' || g, (g * 7) % 50, ((g * 37) % 1000) + (g % 4) * 0.25,
              CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || (g % 13) END,
              timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', 1 + g % 4
       FROM generate_series(1, ${ROWS}) g`,
    );
  }
  await db.admin.query(
    `UPDATE "${db.name}".items_a SET name = name || ' (new)', version = version + 1 WHERE id <= ${STALE}`,
  );
});

afterAll(async () => {
  await db?.drop();
});

/** Outcome counts of the ledger (`{}` while the state store does not exist yet). */
function outcomes(state: string): Record<string, number> {
  try {
    const rows = query<{ outcome: string; n: number }>(
      state,
      "SELECT outcome, COUNT(*) AS n FROM ledger GROUP BY outcome",
    );
    return Object.fromEntries(rows.map((r) => [r.outcome, r.n]));
  } catch {
    return {};
  }
}

/** Rows that differ between the two tables, either way round. */
async function differing(schema: string): Promise<number> {
  const { rows } = await db!.admin.query(
    `SELECT count(*)::int AS n FROM (
       (SELECT * FROM "${schema}".items_a EXCEPT ALL SELECT * FROM "${schema}".items_b)
       UNION ALL
       (SELECT * FROM "${schema}".items_b EXCEPT ALL SELECT * FROM "${schema}".items_a)) d`,
  );
  return rows[0].n as number;
}

describe.skipIf(!available)("concord repair on PostgreSQL replicas, killed", () => {
  it("SIGKILL at random moments, reruns in between, then a final rerun: converged, nothing pending, nothing applied twice, chain verifies", {
    timeout: Math.max(180_000, 6 * RUN_TIMEOUT_MS),
  }, async ({ expect, onTestFinished }) => {
    const schema = db!.name;
    const dir = tempDir(onTestFinished);
    const limited = writeConfig(dir, pgItemsConfig(schema, RATE), "limited.yaml");
    const free = writeConfig(dir, pgItemsConfig(schema), "free.yaml");
    const state = join(dir, "state.db");
    expect(await differing(schema)).toBe(2 * STALE);

    const history: string[] = [];
    const why = () => history.join("\n");
    // Kill 1 after a random delay from the start (startup, scan, planning or the writes); kills 2 and 3 a
    // random delay after that run recorded its first batch. A run may also finish before its kill lands.
    for (const [anchor, lo, hi] of [
      ["start", 300, 4500],
      ["first batch", 0, 1800],
      ["first batch", 0, 1800],
    ] as const) {
      const known = new Set(ledgerRows(state).map((l) => l.run_id));
      const started = Date.now();
      const run = spawnConcord(["repair", "--json", "-c", limited], { onTestFinished });
      let exited = false;
      void run.done.then(() => {
        exited = true;
      });
      if (anchor === "first batch") {
        await waitFor(
          () => exited || ledgerRows(state).some((l) => !known.has(l.run_id)),
          RUN_TIMEOUT_MS + 15_000,
        );
      }
      const from = Date.now();
      const delay = Math.round(lo + Math.random() * (hi - lo));
      await waitFor(() => exited || Date.now() >= from + delay, delay + 5_000, 10);
      run.child.kill("SIGKILL");
      const r = await run.done;
      history.push(
        `run ${history.length + 1}: kill ${delay} ms after ${anchor} (${from - started} ms from spawn): ` +
          `${r.signal ?? `exit ${r.code}`}, ledger ${JSON.stringify(outcomes(state))}`,
      );
      // Killed, or it finished everything before the kill landed.
      if (r.signal !== "SIGKILL") expect(r.code, `${why()}\n${r.stderr}`).toBe(0);
    }

    // The final rerun, without the rate limit, settles whatever is pending and writes the rest.
    const rerun = await runConcord(["repair", "--json", "-c", free]);
    history.push(`final rerun: exit ${rerun.code}, ledger ${JSON.stringify(outcomes(state))}`);
    expect(rerun.stderr, why()).toBe("");
    expect(rerun.code, why()).toBe(0);

    // The replicas agree: by the engine's own scan, and row for row.
    const scan = await runConcord(["scan", "-c", free]);
    expect(scan.code, `${why()}\n${scan.stdout}${scan.stderr}`).toBe(0);
    expect(await differing(schema), why()).toBe(0);

    // One ledger entry per stale key, all applied, none pending.
    const ledger = ledgerRows(state);
    expect(
      ledger.filter((l) => l.outcome === "pending"),
      why(),
    ).toEqual([]);
    expect(outcomes(state), why()).toEqual({ applied: STALE });
    expect(new Set(ledger.map((l) => l.key)).size, why()).toBe(STALE);

    // No repair id (episodes `id~n` are ids of their own) has more than one `applied` audit entry.
    const twice = query<{ repair: string; n: number }>(
      state,
      `SELECT json_extract(data, '$.repair') AS repair, COUNT(*) AS n FROM audit WHERE type = 'applied'
         GROUP BY repair HAVING n > 1`,
    );
    expect(twice, why()).toEqual([]);
    // Every applied audit entry is a repair the ledger shows applied: no stray episode of a repair.
    const audited = query<{ repair: string }>(
      state,
      "SELECT DISTINCT json_extract(data, '$.repair') AS repair FROM audit WHERE type = 'applied'",
    );
    const ledgerIds = new Set(ledger.map((l) => l.id));
    expect(
      audited.filter((a) => !ledgerIds.has(a.repair)),
      why(),
    ).toEqual([]);

    const verify = await runConcord(["audit", "verify", "-c", free]);
    expect(verify.stdout, why()).toMatch(/^Audit log intact/);
    expect(verify.code, verify.stderr).toBe(0);
  });
});
