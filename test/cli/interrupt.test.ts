/**
 * Interrupting `concord repair` through the real binary (a process, for the signals): Ctrl-C (SIGINT)
 * stops between write batches with ledger and audit consistent; SIGKILL at random moments leaves at most
 * pending entries, which the next run settles. Either way a rerun (in-process) converges the replicas and
 * no repair id is applied twice.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { join } from "node:path";
import { describe, it } from "vitest";
import { RATE_LIMIT_TAKE_CHANNEL, type RateLimitTake } from "../../src/execute/rate-limiter.js";
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
  waitFor,
  writeConfig,
} from "./helpers.js";

/** Divergent rows: every one is stale on b (a renamed it and bumped its version). */
const ROWS = 1500;
/**
 * Low enough that the writes take half a minute: a batch carries a second's worth (50 writes) and waits
 * about a second for its tokens, taken after it is marked pending, so a batch spends that time pending in
 * the ledger. The signals land within that window however slowly a crowded machine lets this test process
 * react (it shares its event loop with the in-process runs of the tests beside it); an interrupted run
 * stops within a batch.
 */
const RATE = 50;

/**
 * a.db and b.db with ROWS rows that all differ (a newer), a config that rate-limits the writes and one
 * that does not (same replicas, same state store).
 */
function bigReplicas(dir: string): { limited: string; free: string; state: string; a: string; b: string } {
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
    a,
    b,
  };
}

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

/** Audit `applied` entries per repair id (only ids with more than one). */
function appliedTwice(state: string): { repair: string; n: number }[] {
  return query<{ repair: string; n: number }>(
    state,
    `SELECT json_extract(data, '$.repair') AS repair, COUNT(*) AS n FROM audit WHERE type = 'applied'
     GROUP BY repair HAVING n > 1`,
  );
}

/** Ids of b's rows that equal a's (timestamps compared as instants). */
function converged(a: string, b: string): number {
  const left = new Map(itemsSnapshot(a).map((r) => [r.id, JSON.stringify(r)]));
  return itemsSnapshot(b).filter((r) => left.get(r.id) === JSON.stringify(r)).length;
}

describe.concurrent("concord repair, interrupted", () => {
  it("SIGINT stops between batches: exit 130, chain intact, nothing pending; a rerun finishes the work once", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { limited, free, state, a, b } = bigReplicas(dir);

    const run = spawnConcord(["repair", "--json", "-c", limited], { onTestFinished });
    let exited = false;
    void run.done.then(() => {
      exited = true;
    });
    // Interrupt once the first batch is recorded; more are still waiting for the rate limit.
    await waitFor(() => exited || (outcomes(state).applied ?? 0) > 0);
    run.child.kill("SIGINT");
    const r = await run.done;
    expect(r.signal).toBeNull();
    expect(r.stderr).toContain("interrupted; stopping after the step in flight");
    expect(r.stderr).toContain("concord: interrupted; what was written is in the ledger and the audit log");
    expect(r.code, r.stderr).toBe(130);
    const doc = parseJson<PlanJson & { interrupted?: boolean }>(r);
    expect(doc.interrupted).toBe(true);
    const done = doc.datasets[0]!.repairs!;
    expect(done.length).toBeGreaterThan(0);
    expect(done.length).toBeLessThan(ROWS);
    for (const p of done) expect(p.outcome).toBe("applied");

    // Ledger, audit and the replica agree on what was written; nothing is left pending.
    expect(outcomes(state)).toEqual({ applied: done.length });
    expect(converged(a, b)).toBe(done.length);
    expect(query(state, "SELECT COUNT(*) AS n FROM audit WHERE type = 'applied'")).toEqual([
      { n: done.length },
    ]);
    const verify = await runConcord(["audit", "verify", "-c", limited]);
    expect(verify.stdout).toMatch(/^Audit log intact/);
    expect(verify.code, verify.stderr).toBe(0);

    const rerun = await runConcord(["repair", "--json", "-c", free]);
    expect(rerun.stderr).toBe("");
    expect(rerun.code, rerun.stderr).toBe(0);
    const rest = parseJson<PlanJson>(rerun).datasets[0]!.repairs!;
    expect(rest.length).toBe(ROWS - done.length);
    for (const p of rest) expect(p.outcome).toBe("applied");
    const first = new Set(done.map((p) => p.id));
    expect(rest.filter((p) => first.has(p.id))).toEqual([]);

    expect(converged(a, b)).toBe(ROWS);
    expect(outcomes(state)).toEqual({ applied: ROWS });
    expect(appliedTwice(state)).toEqual([]);
    expect(query(state, "SELECT COUNT(*) AS n FROM audit WHERE type = 'applied'")).toEqual([{ n: ROWS }]);
    expect((await runConcord(["audit", "verify", "-c", free])).code).toBe(0);
  });

  it("SIGKILL at random moments, then a rerun: pending settled, replicas converge, chain verifies, nothing applied twice", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { limited, free, state, a, b } = bigReplicas(dir);
    const history: string[] = [];

    // Two kills after random delays: during startup, scan, planning or the writes.
    for (const [lo, hi] of [
      [300, 1000],
      [1000, 2200],
    ] as const) {
      const delay = Math.round(lo + Math.random() * (hi - lo));
      const run = spawnConcord(["repair", "--json", "-c", limited], { onTestFinished });
      await new Promise((r) => setTimeout(r, delay));
      run.child.kill("SIGKILL");
      const r = await run.done;
      history.push(
        `killed after ${delay} ms (${r.signal ?? `exit ${r.code}`}): ${JSON.stringify(outcomes(state))}`,
      );
    }

    // A third kill while a batch is pending (recorded, waiting for the rate limit): it must be settled next run.
    // Repairs new to this run: the ones an earlier run left pending are settled first (and quickly), while
    // a new batch waits for the rate limit.
    const known = new Set(ledgerRows(state).map((l) => l.id));
    const run = spawnConcord(["repair", "--json", "-c", limited], { onTestFinished });
    let exited = false;
    void run.done.then(() => {
      exited = true;
    });
    const mine = () => ledgerRows(state).filter((l) => l.outcome === "pending" && !known.has(l.id));
    await waitFor(() => exited || mine().length > 0);
    run.child.kill("SIGKILL");
    const killed = await run.done;
    history.push(
      `killed while pending (${killed.signal ?? `exit ${killed.code}`}): ${JSON.stringify(outcomes(state))}`,
    );
    expect(killed.signal, history.join("\n")).toBe("SIGKILL");
    const pending = new Set(
      ledgerRows(state)
        .filter((l) => l.outcome === "pending")
        .map((l) => l.id),
    );
    expect(pending.size, history.join("\n")).toBeGreaterThan(0);

    const rerun = await runConcord(["repair", "--json", "-c", free]);
    expect(rerun.stderr, history.join("\n")).toBe("");
    expect(rerun.code, history.join("\n")).toBe(0);
    const rerunId = parseJson<PlanJson>(rerun).runId;

    // The rerun settled every pending entry (recoverPending), in the audit log under its own run id.
    const settled = query<{ repair: string; type: string }>(
      state,
      `SELECT json_extract(data, '$.repair') AS repair, type FROM audit
       WHERE run_id = ? AND json_extract(data, '$.recovered') = 1`,
      rerunId,
    );
    expect(new Set(settled.map((s) => s.repair))).toEqual(pending);
    for (const s of settled) expect(["applied", "failed"]).toContain(s.type);
    // And --json lists them, with the outcome the audit log recorded.
    const listed = parseJson<PlanJson>(rerun).datasets.flatMap(
      (d) => (d as { recovered?: { id: string; outcome: string }[] }).recovered ?? [],
    );
    expect(new Map(listed.map((r) => [r.id, r.outcome]))).toEqual(
      new Map(settled.map((s) => [s.repair, s.type])),
    );

    // Converged; one ledger entry per key, all applied; no repair id applied twice; the chain verifies.
    expect(converged(a, b), history.join("\n")).toBe(ROWS);
    const ledger = ledgerRows(state);
    expect(ledger.length).toBe(ROWS);
    expect(new Set(ledger.map((l) => l.key)).size).toBe(ROWS);
    expect(outcomes(state)).toEqual({ applied: ROWS });
    expect(appliedTwice(state), history.join("\n")).toEqual([]);
    const verify = await runConcord(["audit", "verify", "-c", free]);
    expect(verify.stdout, history.join("\n")).toMatch(/^Audit log intact/);
    expect(verify.code, verify.stderr).toBe(0);
  });
  it("a record changed while its batch waits for the rate limit is left alone (superseded), exit 1", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const a = join(dir, "a.db");
    const b = join(dir, "b.db");
    const rows = itemRows(1000);
    makeSqliteTable(a, "items", ITEMS_DDL, rows, { sql: "UPDATE items SET version = version + 1;" });
    makeSqliteTable(b, "items", ITEMS_DDL, rows);
    const config = writeConfig(dir, itemsConfig("limits: { writesPerSecond: 500 }"));
    const state = join(dir, "state.db");

    // Keys 1..500 are written at once; 501..1000 are marked pending, then take their tokens: they wait about
    // a second for them (unless a crowded machine made the first batch take longer). The limiter says when
    // each batch asks (its diagnostics channel, published synchronously before any wait): the record is
    // changed when the second asks, whatever the machine's load. No signal is involved, so the run is
    // in-process, where the channel is seen.
    let asked = 0;
    let seen: Record<string, number> | undefined;
    const onTake = (message: unknown) => {
      if ((message as RateLimitTake).perSecond !== 500 || ++asked !== 2) return;
      seen = outcomes(state);
      execSql(b, "UPDATE items SET name = 'changed meanwhile' WHERE id = 900;");
    };
    subscribe(RATE_LIMIT_TAKE_CHANNEL, onTake);
    onTestFinished(() => {
      unsubscribe(RATE_LIMIT_TAKE_CHANNEL, onTake);
    });
    const r = await runConcord(["repair", "--json", "-c", config]);
    // The change landed while the second batch was pending, the first one applied.
    expect(seen).toEqual({ applied: 500, pending: 500 });
    expect(r.code, r.stderr).toBe(1);
    const repairs = parseJson<PlanJson>(r).datasets[0]!.repairs!;
    expect(repairs.filter((p) => p.outcome !== "applied").map((p) => [p.key, p.outcome])).toEqual([
      [[900], "superseded"],
    ]);
    expect(parseJson<PlanJson>(r).datasets[0]!.summary).toMatchObject({ applied: 999, superseded: 1 });
    expect(query(b, "SELECT name FROM items WHERE id = 900")).toEqual([{ name: "changed meanwhile" }]);
    expect(outcomes(state)).toEqual({ applied: 999, superseded: 1 });
  });
});
