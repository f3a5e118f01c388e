/**
 * Key-grain dirty marks on the real servers: PostgreSQL (watched through its logical-replication feed) →
 * MariaDB, with SQLite state and with PostgreSQL state. Changed keys spread over every segment make the
 * watcher's marks list them; the scheduled pass checks exactly those keys through the key form (rows read in
 * proportion to the keys, not the segments), re-reads only a segment whose mark overflowed, leaves the
 * checked segments' leaves unknown, and the sweep later finds a divergence no mark named. A pass killed
 * between checking the keys and clearing their marks loses no mark.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { openChangeFeed } from "../../src/connectors/open-change-feed.js";
import { openConnector } from "../../src/connectors/open-connector.js";
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

describe.skipIf(!up)("key-grain dirty marks: PostgreSQL (watched) → MariaDB", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let dir: string;
  let items: WatchedItems | undefined;

  beforeAll(async () => {
    items = await createWatchedItems(ROWS, "concord-dirty-keys-");
    ({ pg, my, dir } = items);
  });
  afterAll(async () => {
    await items?.drop();
  });

  it.each(["sqlite", "postgres"] as const)(
    "%s state: checks only the marked keys, the sweep finds what no mark named, and a killed pass keeps its marks",
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
    watch: { replicas: [pg], batch: 50ms, segmentRows: 200, sweepSegments: 2, dirtyKeys: 4 }
`,
        join(dir, `concord-${kind}.yaml`),
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
      const pass = (store: StateStore = state) =>
        runPlannedPass(
          ds,
          replicas,
          { state: store, now: Date.now },
          {
            runId: `p-${++n}`,
            command: "serve repair",
            mode: "repair",
          },
        );
      const checkedKeys = () => checks.reduce((k, c) => k + c.keys, 0);
      const maria = async (id: number) =>
        (
          (await my.admin.query("SELECT name FROM items WHERE id = ?", [id])) as unknown as [
            { name: string }[],
          ]
        )[0][0]!.name;
      try {
        await waitFor(async () => started);
        const first = await pass();
        expect(first.plan.kind).toBe("whole");
        expect(first.run.status).toBe("ok");
        const summary = (await state.getSegmentSummary(ds.name))!;
        const of = summary.bounds.length + 1;
        expect(of).toBeGreaterThanOrEqual(15);
        const segment = (id: number) =>
          segmentOf([{ name: "id", type: "integer" }], summary.bounds, [String(id)]);
        // Every segment hashed once (marked whole), so each replica's tree knows every leaf.
        await state.markSegmentsDirty(
          ds.name,
          Array.from({ length: of }, (_, i) => i),
          Date.now(),
        );
        const hashed = await pass();
        expect(hashed.plan).toMatchObject({ kind: "dirty", keyed: [] });
        expect(await state.listDirtySegments(ds.name)).toEqual([]);
        expect((await viewSegmentTrees(state, ds.name))!.replicas.map((r) => r.known)).toEqual([of, of]);

        // One changed key in every segment's range (a uniform spread), and six in one segment: more than
        // dirtyKeys (4), so that segment's mark is whole.
        const spread = summary.bounds.map((b) => Number(b[0]) + 7);
        const crowded = [1, 2, 3, 4, 5, 6];
        const changed = [...spread, ...crowded];
        await pg.admin.query(
          `UPDATE ${pg.table("items")} SET name = 'changed' WHERE id = ANY($1::bigint[])`,
          [changed],
        );
        await waitFor(async () => checkedKeys() >= changed.length);
        await waitFor(async () => (await state.getFeedPosition(ds.name, "pg")) !== undefined);
        const marks = await state.listDirtySegments(ds.name);
        expect(marks).toHaveLength(of);
        expect(marks.find((m) => m.segment === 0)?.keys).toBeUndefined();
        expect(marks.filter((m) => m.keys === 1)).toHaveLength(of - 1);

        // A replica that lost one marked key since the watcher's check, and one unmarked edit (a manual
        // fix no feed saw) in a segment whose mark lists another key.
        const lost = spread[4]!;
        const unmarked = spread[9]! + 1;
        await my.admin.query("UPDATE items SET name = 'lost' WHERE id = ?", [lost]);
        await my.admin.query("UPDATE items SET name = 'drift' WHERE id = ?", [unmarked]);

        const byKey = await pass();
        if (byKey.plan.kind !== "dirty") throw new Error(byKey.plan.reason);
        const keyed = Array.from({ length: of - 1 }, (_, i) => i + 1);
        expect(byKey.plan.segments).toEqual([0]);
        expect(byKey.plan.keyed).toEqual(keyed);
        expect(byKey.plan.keys.map((k) => Number(k.key[0])).sort((a, b) => a - b)).toEqual(spread);
        expect(byKey.run.resolved.notes.join("\n")).toMatch(
          new RegExp(
            `${of} of ${of} segments changed .* \\(${of - 1} checked by their ${of - 1} changed keys\\)`,
          ),
        );
        // Only the marked keys were read (on each replica), not their segments.
        const keyRun = byKey.keyRun!;
        expect(keyRun.status).toBe("ok");
        expect(keyRun.totals.repairs).toEqual({ applied: 1 });
        const keyRows = keyRun.totals.stats.rowsRead + keyRun.totals.stats.rowsScanned;
        expect(keyRows).toBeGreaterThanOrEqual(of - 1);
        expect(keyRows).toBeLessThanOrEqual(5 * (of - 1));
        expect(await maria(lost)).toBe("changed");
        // The segment whose mark overflowed and the swept ones were re-read: far less than a whole pass.
        const rangeRows = byKey.run.totals.stats.rowsRead + byKey.run.totals.stats.rowsScanned;
        const wholeRows = first.run.totals.stats.rowsRead + first.run.totals.stats.rowsScanned;
        expect(rangeRows + keyRows).toBeLessThan(wholeRows / 3);
        // Not the unmarked edit: no mark named it. Every mark is cleared; the keyed segments' leaves are
        // unknown (checked by key, not re-hashed), so the trees no longer vouch for them.
        expect(await maria(unmarked)).toBe("drift");
        expect(await state.listDirtySegments(ds.name)).toEqual([]);
        const leaves = await state.getSegmentTreeNodes(ds.name, 0, keyed);
        expect(byKey.plan.swept).toEqual([]); // every segment was dirty: none to sweep
        expect(leaves).toEqual([]);

        // The sweep re-hashes segments in rotation and finds the edit within of / sweepSegments passes.
        let sweeps = 0;
        while ((await maria(unmarked)) === "drift" && sweeps < Math.ceil(of / 2) + 1) {
          const swept = await pass();
          expect(swept.run.status).toBe("ok");
          sweeps++;
        }
        expect(await maria(unmarked)).toBe(`item ${unmarked}`);

        // Killed between checking the keys and clearing their marks: the check ran (the lost key is
        // repaired), and every mark is still there for the next pass, which checks the same keys again.
        const again = [spread[2]!, spread[6]!, spread[6]! + 2];
        await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'again' WHERE id = ANY($1::bigint[])`, [
          again,
        ]);
        const before = checkedKeys();
        await waitFor(async () => checkedKeys() >= before + again.length);
        await waitFor(async () => (await state.listDirtyKeys(ds.name, [segment(spread[6]!)])).length === 2);
        await my.admin.query("UPDATE items SET name = 'lost' WHERE id = ?", [again[0]]);
        const marked = await state.listDirtySegments(ds.name);
        const markedKeys = await state.listDirtyKeys(
          ds.name,
          marked.map((m) => m.segment),
        );
        expect(markedKeys.map((k) => Number(k.key[0])).sort((a, b) => a - b)).toEqual(again);
        const killed: StateStore = Object.create(state);
        Object.defineProperty(killed, "clearDirtyKeys", {
          value: async () => {
            throw new Error("killed between checking and clearing");
          },
        });
        await expect(pass(killed)).rejects.toThrow(/killed between checking and clearing/);
        expect(await maria(again[0]!)).toBe("again");
        expect(await state.listDirtySegments(ds.name)).toEqual(marked);
        expect(
          await state.listDirtyKeys(
            ds.name,
            marked.map((m) => m.segment),
          ),
        ).toEqual(markedKeys);
        const resumed = await pass();
        if (resumed.plan.kind !== "dirty") throw new Error(resumed.plan.reason);
        expect(resumed.plan.keys).toEqual(markedKeys);
        expect(resumed.keyRun?.status).toBe("ok");
        expect(await state.listDirtySegments(ds.name)).toEqual([]);
      } finally {
        stop.abort();
        await watching;
        for (const r of replicas) await r.connector.close();
        await state.close();
      }
    },
    180_000,
  );
});

async function waitFor(condition: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
