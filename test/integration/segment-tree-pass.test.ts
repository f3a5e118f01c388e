/**
 * Segment trees on the real servers: PostgreSQL (watched through its logical-replication feed) → MariaDB.
 * The feed marks segments dirty; a dirty-segment pass re-hashes them into each replica's Merkle tree and
 * runs only the segments the trees say differ; the sweep finds a manual edit on the replica that no feed
 * saw, marks it and the trees show the roots differ until a pass repairs it; serve's view shows the roots.
 * Once with SQLite state and once with PostgreSQL state. Segment grain (`dirtyKeys: 0`): a changed key's
 * segment is re-hashed.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { openChangeFeed } from "../../src/connectors/open-change-feed.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { treeHeight } from "../../src/core/segment-tree.js";
import { runPlannedPass, segmentOf } from "../../src/engine/dirty-segment-pass.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { viewSegmentTrees } from "../../src/engine/segment-trees.js";
import { feedOptions, type WatchCheck, watchDataset } from "../../src/engine/watch-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import type { MysqlTestDatabase } from "../support/mysql-test-database.js";
import type { PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";
import { createWatchedItems, type WatchedItems } from "../support/watched-items.js";
import { postgresUrl } from "./state-store-factories.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));
const ROWS = 4000;

describe.skipIf(!up)("segment trees: PostgreSQL (watched) → MariaDB", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let dir: string;
  let items: WatchedItems | undefined;

  beforeAll(async () => {
    items = await createWatchedItems(ROWS, "concord-tree-");
    ({ pg, my, dir } = items);
  });
  afterAll(async () => {
    await items?.drop();
  });

  // The same pass over either state store: the trees' port behaves alike on both (one dataset, and so one
  // replication slot, each).
  it.each(["sqlite", "postgres"] as const)(
    "%s state: runs only the segments the trees say differ, and the sweep finds an edit no feed saw",
    async (kind) => {
      const name = kind === "sqlite" ? pg.name : `${pg.name}_pgstate`;
      const stateUrl = kind === "sqlite" ? "sqlite:state.db" : postgresUrl(`${pg.name}_state`);
      const cfg = parseConfig(
        `state: "${stateUrl}"
datasets:
  ${name}:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      maria: { url: "${my.url}", table: items }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], batch: 50ms, segmentRows: 200, sweepSegments: 4, dirtyKeys: 0 }
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
      const pass = (mode: "repair" | "scan" = "repair") =>
        runPlannedPass(ds, replicas, deps, { runId: `p-${++n}`, command: `serve ${mode}`, mode });
      try {
        await waitFor(async () => started);
        const first = await pass();
        expect(first.plan.kind).toBe("whole");
        expect(first.run.status).toBe("ok");
        const summary = (await state.getSegmentSummary(ds.name))!;
        const segments = summary.bounds.length + 1;
        expect(segments).toBeGreaterThanOrEqual(15);
        const segment = (id: number) =>
          segmentOf([{ name: "id", type: "integer" }], summary.bounds, [String(id)]);
        // No segment hashed yet: no trees, nothing to say.
        expect(await viewSegmentTrees(state, ds.name)).toMatchObject({ segments, replicas: [], agree: null });

        // Changes on the owner the feed reports (the watcher repairs them and marks their segments dirty), and an
        // edit straight on the replica in one of those segments.
        await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'changed' WHERE id IN (450, 3500)`);
        await waitFor(async () => checks.reduce((k, c) => k + c.keys, 0) >= 2);
        await waitFor(async () => (await state.getFeedPosition(ds.name, "pg")) !== undefined);
        expect((await state.listDirtySegments(ds.name)).map((d) => d.segment)).toEqual([
          segment(450),
          segment(3500),
        ]);
        await my.admin.query("UPDATE items SET name = 'drift' WHERE id = 3501");
        const dirty = await pass();
        expect(dirty.plan).toMatchObject({ kind: "dirty", segments: [segment(450), segment(3500)] });
        // Both dirty segments re-hashed (and the sweep's four): only the one that differs is run.
        expect(dirty.tree).toMatchObject({ hashed: 6, checked: [segment(3500)], unseen: [] });
        expect(dirty.tree?.comparison.differ).toEqual([segment(3500)]);
        expect(dirty.run).toMatchObject({ status: "ok", segments: 1 });
        expect(dirty.run.totals.repairs).toEqual({ applied: 1 });
        expect(dirty.run.resolved.notes.join("\n")).toMatch(
          /segment trees: 6 re-hashed, 1 to check \(1 differing/,
        );
        expect(await state.listDirtySegments(ds.name)).toEqual([]);

        // Idle passes: the sweep hashes four clean segments each until every replica's tree is complete. Passes
        // whose segments all agree run nothing.
        for (let i = 0; i < segments; i++) {
          const idle = await pass();
          expect(idle.tree?.checked).toEqual([]);
          expect(idle.run).toMatchObject({ status: "ok", segments: 0 });
          if ((await viewSegmentTrees(state, ds.name))?.completeAt !== null) break;
        }
        const complete = (await viewSegmentTrees(state, ds.name))!;
        expect(complete).toMatchObject({ segments, dirty: 0, stale: 0, agree: true });
        expect(complete.replicas.map((r) => [r.replica, r.known])).toEqual([
          ["maria", segments],
          ["pg", segments],
        ]);
        expect(complete.replicas[0]!.root).toBe(complete.replicas[1]!.root);
        expect(complete.completeAt).toEqual(expect.any(Number));

        // An edit no feed sees, in a clean segment: the trees cannot know until the sweep re-reads it. The sweep
        // (scan mode: nothing repaired) finds its checksum changed, marks it, and the roots now differ.
        const edited = segment(2000);
        await my.admin.query("UPDATE items SET name = 'manual edit' WHERE id = 2000");
        await state.moveSweepCursor(ds.name, edited);
        const sweep = await pass("scan");
        expect(sweep.plan).toMatchObject({ kind: "dirty", segments: [] });
        expect(sweep.tree).toMatchObject({ unseen: [edited], checked: [edited] });
        expect(sweep.run.resolved.notes.join("\n")).toMatch(/the sweep found 1 changed that no feed marked/);
        expect(sweep.run.totals.remaining).toBe(1);
        expect((await state.listDirtySegments(ds.name)).map((d) => d.segment)).toEqual([edited]);
        expect(await viewSegmentTrees(state, ds.name)).toMatchObject({ dirty: 1, stale: 0, agree: false });

        // The next pass: the mark plans it, the descent names it in O(log n) comparisons, the run repairs it.
        const fix = await pass();
        expect(fix.plan).toMatchObject({ kind: "dirty", segments: [edited] });
        expect(fix.tree?.checked).toEqual([edited]);
        expect(fix.tree?.comparison.compared).toBeLessThanOrEqual(1 + 2 * treeHeight(segments));
        expect(fix.run.totals.repairs).toEqual({ applied: 1 });
        expect(await viewSegmentTrees(state, ds.name)).toMatchObject({ dirty: 0, agree: true });
        const [maria] = await my.admin.query("SELECT name FROM items WHERE id IN (2000, 3501) ORDER BY id");
        expect(maria).toEqual([{ name: "item 2000" }, { name: "item 3501" }]);

        // A difference the trees hold that someone else settled: no mark plans its segment, the descent names
        // it, the run finds it equal and writes nothing, and it is hashed again, so the next pass checks nothing.
        const other = segment(1000);
        await my.admin.query("UPDATE items SET name = 'manual edit' WHERE id = 1000");
        await state.moveSweepCursor(ds.name, other);
        expect((await pass("scan")).tree?.unseen).toEqual([other]);
        await state.clearDirtySegments(ds.name, [other], Date.now());
        await my.admin.query("UPDATE items SET name = 'item 1000' WHERE id = 1000");
        expect(await viewSegmentTrees(state, ds.name)).toMatchObject({ dirty: 0, agree: false });
        const settled = await pass();
        expect(settled.plan).toMatchObject({ kind: "dirty", segments: [] });
        expect(settled.tree?.checked).toEqual([other]);
        expect(settled.run).toMatchObject({ status: "ok", segments: 1 });
        expect(settled.run.totals.repairs).toEqual({});
        expect(await viewSegmentTrees(state, ds.name)).toMatchObject({ agree: true });
        expect((await pass()).tree?.checked).toEqual([]);
      } finally {
        stop.abort();
        await watching;
        for (const r of replicas) await r.connector.close();
        await state.close();
      }
    },
    120_000,
  );
});

async function waitFor(condition: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
