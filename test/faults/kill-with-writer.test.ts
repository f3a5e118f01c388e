/**
 * `kill -9` of `concord repair` at random moments while another client keeps writing to the replica being
 * repaired (PostgreSQL): whatever the kills interrupt (start-up, scan, planning, a write batch holding its
 * row locks), no row the writer wrote is ever overwritten with an older value, and a rerun converges both
 * replicas with nothing left pending, no repair id applied twice and the audit chain intact.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { ledgerRows, query, runConcord, spawnConcord, tempDir, waitFor } from "../cli/helpers.js";
import { killAtRateLimitTake } from "../support/kill-at-rate-limit.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { type FaultStore, faultConfig, type Item, items, openFaultStore } from "./fault-stores.js";

const available = await serviceAvailable(POSTGRES);

const ROWS = 3000;
/** Rows a holds newer (to be written to b), and the rate that makes a run write for about 5 s. */
const STALE = 2000;
const RATE = 400;
/**
 * The kills: during start-up or the scan (a random delay), twice a random time after the run's first ledger
 * entries appeared (mid-writes: a batch's write in flight holding its row locks, or landed and not yet
 * settled, or between batches), and last as the run's first write batch asks for its rate limit
 * (killAtRateLimitTake: claimed pending in the ledger, nothing written), so the rerun has pending repairs to
 * settle whatever the machine's load. The mid-write kills stay timed: a kill at a batch boundary never
 * lands inside a write.
 */
const KILLS = ["early", "writing", "writing", "pending"] as const;
describe.skipIf(!available)("kill -9 of concord repair with a concurrent writer on the replica", () => {
  let store: FaultStore;
  beforeAll(async () => {
    store = await openFaultStore("postgres");
  });
  afterAll(async () => {
    await store?.drop();
  });

  it("never overwrites the writer's rows, and a rerun converges", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    await store.load(items(ROWS));
    const newer = items(ROWS, STALE);
    const replica = store.replica(POSTGRES.url);
    const limited = faultConfig(dir, replica, newer, {
      timeouts: "{ connect: 5s, query: 10s }",
      limits: `{ writesPerSecond: ${RATE} }`,
    });
    const state = join(dir, "state.db");

    // The writer: newer versions than anything Concord holds, on keys Concord is repairing (and others),
    // each remembered once committed.
    const written = new Map<number, Item>();
    let writing = true;
    let n = 0;
    const writer = (async () => {
      while (writing) {
        const id = 1 + Math.floor(Math.random() * ROWS);
        const row = { id, name: `writer ${++n}`, version: 100 + n };
        await store.write(row);
        written.set(id, row);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const history: string[] = [];
    try {
      const killOnce = async (when: (typeof KILLS)[number]) => {
        const known = new Set(ledgerRows(state).map((l) => l.id));
        const mine = (outcome?: string) =>
          ledgerRows(state).filter((l) => !known.has(l.id) && (!outcome || l.outcome === outcome)).length;
        const run = spawnConcord(["repair", "-c", limited], {
          onTestFinished,
          ...(when === "pending" ? { env: killAtRateLimitTake(1) } : {}),
        });
        let exited = false;
        void run.done.then(() => {
          exited = true;
        });
        const started = Date.now();
        if (when === "early") await new Promise((r) => setTimeout(r, 100 + Math.random() * 700));
        else if (when === "writing") {
          await waitFor(() => exited || mine() > 0);
          await new Promise((r) => setTimeout(r, Math.random() * 1200));
        }
        // "pending": the run kills itself.
        if (when !== "pending") run.child.kill("SIGKILL");
        const r = await run.done;
        const outcomes = ledgerRows(state).reduce<Record<string, number>>((o, l) => {
          o[l.outcome] = (o[l.outcome] ?? 0) + 1;
          return o;
        }, {});
        history.push(
          `${when}: killed after ${Date.now() - started} ms (${r.signal ?? `exit ${r.code}`}): ${JSON.stringify(outcomes)}, ${mine("pending")} of its own pending`,
        );
      };
      for (const when of KILLS) await killOnce(when);
    } finally {
      writing = false;
      await writer;
    }
    const why = `${history.join("\n")}\nwriter: ${n} writes on ${written.size} keys`;
    // The last kill landed while a batch of its own was pending: there is something for the rerun to settle.
    expect(history.at(-1), why).toMatch(/SIGKILL.*"pending":[1-9].*, [1-9]\d* of its own pending$/);

    // The rerun, with the writer stopped: it settles what the kills left pending and repairs the rest.
    const rerun = await runConcord(["repair", "-c", limited]);
    expect(rerun.stderr, why).toBe("");
    expect(rerun.code, `${why}\n${rerun.stdout}`).toBe(0);
    const scan = await runConcord(["scan", "-c", limited]);
    expect(scan.code, `${why}\n${scan.stdout}`).toBe(0);

    // Never clobbered: every row the writer wrote holds its last write, on b and (copied) on a.
    const b = await store.read();
    const a = new Map(
      query<Item>(join(dir, "a.db"), "SELECT id, name, version FROM items").map((r) => [r.id, r]),
    );
    const clobbered = [...written.values()].filter((w) => JSON.stringify(b.get(w.id)) !== JSON.stringify(w));
    expect(clobbered, why).toEqual([]);
    // Converged: every other row holds a's newer value.
    for (const want of newer) {
      const expected = written.get(want.id) ?? want;
      expect(b.get(want.id), why).toEqual(expected);
      expect(a.get(want.id), why).toEqual(expected);
    }
    expect(
      ledgerRows(state).filter((l) => l.outcome === "pending"),
      why,
    ).toEqual([]);
    const twice = query(
      state,
      `SELECT json_extract(data, '$.repair') AS repair, COUNT(*) AS n FROM audit WHERE type = 'applied'
       GROUP BY repair HAVING n > 1`,
    );
    expect(twice, why).toEqual([]);
    const verify = await runConcord(["audit", "verify", "-c", limited]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
