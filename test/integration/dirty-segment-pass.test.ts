/**
 * Dirty-segment passes on the real servers: PostgreSQL (watched through its logical-replication feed) →
 * MariaDB. A scheduled pass after a verified whole pass re-reads only the segments the feed marked dirty —
 * finding there a divergence the feed never saw, and not one in a clean segment until the sweep reaches it — and falls back to a whole
 * pass (its notes say why) when there is no summary, a feed has no stored position, or the feed had a gap.
 * Segment grain (`dirtyKeys: 0`); key-grain marks are dirty-key-pass.test.ts.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { openChangeFeed } from "../../src/connectors/open-change-feed.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { planPass, runPlannedPass, segmentOf } from "../../src/engine/dirty-segment-pass.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { feedOptions, type WatchCheck, watchDataset } from "../../src/engine/watch-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import type { MysqlTestDatabase } from "../support/mysql-test-database.js";
import type { PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";
import { createWatchedItems, type WatchedItems } from "../support/watched-items.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));
const ROWS = 4000;

describe.skipIf(!up)("dirty-segment passes: PostgreSQL (watched) → MariaDB", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let dir: string;
  let items: WatchedItems | undefined;

  beforeAll(async () => {
    items = await createWatchedItems(ROWS, "concord-dirty-");
    ({ pg, my, dir } = items);
  });
  afterAll(async () => {
    await items?.drop();
  });

  it("re-reads only dirty segments while the feed vouches for every change, and the whole table otherwise", async () => {
    const cfg = parseConfig(
      `state: sqlite:state.db
datasets:
  ${pg.name}:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      maria: { url: "${my.url}", table: items }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], batch: 50ms, bufferKeys: 20, segmentRows: 200, dirtyKeys: 0 }
`,
      join(dir, "concord.yaml"),
    );
    const ds = cfg.datasets[0]!;
    const state: StateStore = await openStateStore(cfg.state);
    const replicas: OpenReplica[] = [];
    for (const r of ds.replicas)
      replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
    const stop = new AbortController();
    const checks: WatchCheck[] = [];
    let started = false;
    const deps = { state, now: Date.now };
    const watching = watchDataset(
      ds,
      replicas,
      [{ replica: "pg", open: () => openChangeFeed(ds.replicas[0]!, feedOptions(ds, "pg")) }],
      deps,
      {
        signal: stop.signal,
        newRunId: () => `w-${checks.length}-${Math.random().toString(36).slice(2)}`,
        observer: {
          onStarted: () => {
            started = true;
          },
          onChecked: (c) => {
            checks.push(c);
          },
        },
      },
    );
    let n = 0;
    const pass = () =>
      runPlannedPass(ds, replicas, deps, { runId: `p-${++n}`, command: "serve repair", mode: "repair" });
    const shape = [{ name: "id", type: "integer" as const }];
    try {
      await waitFor(async () => started);
      // No summary yet: whole, and it makes one that the verified pass vouches for.
      const first = await pass();
      expect(first.plan).toEqual({
        kind: "whole",
        reason: "no segment summary yet (no verified whole pass)",
      });
      expect(first.run.status).toBe("ok");
      expect(first.run.resolved.notes).toContain(
        "whole pass: no segment summary yet (no verified whole pass)",
      );
      const summary = (await state.getSegmentSummary(ds.name))!;
      expect(summary).toMatchObject({ runId: "p-1", invalid: undefined });
      expect(summary.bounds.length).toBeGreaterThanOrEqual(15);
      const segment = (id: number) => segmentOf(shape, summary.bounds, [String(id)]);

      // Writes on the owner: the watcher repairs them and marks their segments dirty.
      await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'changed' WHERE id IN (450, 451, 3500)`);
      await waitFor(async () => checks.some((c) => c.keys === 3));
      await waitFor(async () => (await state.getFeedPosition(ds.name, "pg")) !== undefined);
      const dirty = [segment(450), segment(3500)];
      expect((await state.listDirtySegments(ds.name)).map((d) => d.segment)).toEqual(dirty);

      // Divergence the feed never saw (written straight to the replica): in a dirty segment and a clean one.
      await my.admin.query("UPDATE items SET name = 'drift' WHERE id IN (3501, 2000)");
      const incremental = await pass();
      expect(incremental.plan).toMatchObject({
        kind: "dirty",
        segments: dirty,
        of: summary.bounds.length + 1,
      });
      expect(incremental.run.resolved.notes.join("\n")).toMatch(
        new RegExp(`dirty-segment pass: 2 of ${summary.bounds.length + 1} segments changed since .* p-1`),
      );
      expect(incremental.run.totals.repairs).toEqual({ applied: 1 });
      expect(incremental.run.totals.stats.rowsScanned).toBeLessThan(first.run.totals.stats.rowsScanned / 5);
      const [maria] = await my.admin.query("SELECT id, name FROM items WHERE id IN (2000, 3501) ORDER BY id");
      expect(maria).toEqual([
        { id: 2000, name: "drift" },
        { id: 3501, name: "item 3501" },
      ]);
      // Checked equal: its marks are cleared, and the next pass reads nothing.
      expect(await state.listDirtySegments(ds.name)).toEqual([]);
      // Nothing changed since, but the sweep re-verifies the next clean segment, finding drift no feed saw.
      const next = (await state.getSegmentSummary(ds.name))!.sweepCursor;
      expect(next).toBeGreaterThan(0);
      const inNext = Number(summary.bounds[next - 1]![0]);
      await my.admin.query("UPDATE items SET name = 'drift' WHERE id = ?", [inNext]);
      const idle = await pass();
      expect(idle.plan).toMatchObject({ kind: "dirty", segments: [], swept: [next] });
      expect(idle.run.resolved.notes.join("\n")).toMatch(
        /0 of \d+ segments changed .*; 1 clean re-verified by the sweep/,
      );
      expect(idle.run.totals.repairs).toEqual({ applied: 1 });
      expect(idle.run.totals.stats.rowsScanned).toBeLessThan(first.run.totals.stats.rowsScanned / 10);
      expect((await state.getSegmentSummary(ds.name))!.sweepCursor).toBe(next + 1);

      // More changed keys at once than bufferKeys: the feed reports a gap, the summary is invalidated and the
      // watcher's whole pass (which repairs id 2000 too) verifies it again.
      await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'bulk' WHERE id BETWEEN 1000 AND 1099`);
      await waitFor(async () => checks.some((c) => c.gap !== undefined));
      const gap = checks.find((c) => c.gap !== undefined)!;
      expect(gap.result.status).toBe("ok");
      const [fixed] = await my.admin.query("SELECT name FROM items WHERE id = 2000");
      expect(fixed).toEqual([{ name: "item 2000" }]);
      expect(await state.getSegmentSummary(ds.name)).toMatchObject({
        runId: gap.result.runId,
        invalid: undefined,
      });

      // A gap recorded while the summary is valid makes the next scheduled pass whole, saying why.
      await state.invalidateSegmentSummary(ds.name, "the feed of pg had a gap: test", Date.now());
      await my.admin.query("UPDATE items SET name = 'drift' WHERE id = 10");
      const whole = await pass();
      expect(whole.plan).toEqual({ kind: "whole", reason: "the feed of pg had a gap: test" });
      expect(whole.run.resolved.notes).toContain("whole pass: the feed of pg had a gap: test");
      expect(whole.run.totals.repairs).toEqual({ applied: 1 });
      expect((await state.getSegmentSummary(ds.name))?.invalid).toBeUndefined();

      // A watched replica whose feed has no stored position may hold changes no feed reported.
      stop.abort();
      await watching;
      expect((await planPass(ds, state, shape, Date.now())).kind).toBe("dirty");
      await state.deleteFeedPosition(ds.name, "pg");
      expect(await planPass(ds, state, shape, Date.now())).toEqual({
        kind: "whole",
        reason: "the feed of pg has no stored position (changes may be unseen)",
      });
    } finally {
      stop.abort();
      await watching;
      for (const r of replicas) await r.connector.close();
      await state.close();
    }
  }, 120_000);
});

async function waitFor(condition: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
