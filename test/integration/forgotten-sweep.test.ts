/**
 * The sweep visits forgotten leaves first, on the real servers (PostgreSQL → MariaDB, SQLite state): after a
 * key-grain pass checked one segment's changed key and forgot its leaf, the next pass sweeps that segment (with
 * `sweepSegments: 1`, not the next in rotation) and finds an edit beside the key that no mark named.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { markChangedKeys, runPlannedPass, segmentOf } from "../../src/engine/dirty-segment-pass.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { MysqlTestDatabase } from "../support/mysql-test-database.js";
import type { PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";
import { createWatchedItems, type WatchedItems } from "../support/watched-items.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));
const ROWS = 4000;

describe.skipIf(!up)("the sweep visits forgotten leaves first: PostgreSQL → MariaDB", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let dir: string;
  let items: WatchedItems | undefined;

  beforeAll(async () => {
    items = await createWatchedItems(ROWS, "concord-forgotten-sweep-");
    ({ pg, my, dir } = items);
  });
  afterAll(async () => {
    await items?.drop();
  });

  it("sweeps a segment checked by key only at the next pass, and finds an unmarked edit there", async () => {
    const cfg = parseConfig(
      `state: "sqlite:state.db"
datasets:
  ${pg.name}:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      maria: { url: "${my.url}", table: items }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], segmentRows: 200, sweepSegments: 1, dirtyKeys: 4 }
`,
      join(dir, "concord.yaml"),
    );
    const ds = cfg.datasets[0]!;
    const state = await openStateStore(cfg.state);
    const replicas: OpenReplica[] = [];
    for (const r of ds.replicas)
      replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
    let n = 0;
    const pass = () =>
      runPlannedPass(
        ds,
        replicas,
        { state, now: Date.now },
        { runId: `hs-p-${++n}`, command: "serve repair", mode: "repair" },
      );
    const maria = async (id: number) =>
      (
        (await my.admin.query("SELECT name FROM items WHERE id = ?", [id])) as unknown as [{ name: string }[]]
      )[0][0]!.name;
    try {
      expect((await pass()).run.status).toBe("ok");
      // A feed position, as a watcher stores one: the marks can be trusted.
      await state.putFeedPosition({ dataset: ds.name, replica: "pg", position: "1", updatedAt: Date.now() });
      const summary = (await state.getSegmentSummary(ds.name))!;
      const of = summary.bounds.length + 1;
      expect(of).toBeGreaterThanOrEqual(15);
      // Every segment hashed once (marked whole): each replica's tree knows every leaf.
      await state.markSegmentsDirty(
        ds.name,
        Array.from({ length: of }, (_, i) => i),
        Date.now(),
      );
      expect((await pass()).plan).toMatchObject({ kind: "dirty", keyed: [], swept: [] });
      const cursor = (await state.getSegmentSummary(ds.name))!.sweepCursor;

      // A changed key half the rotation away from the sweep's cursor, marked by key; beside it, an edit on
      // MariaDB that no feed saw.
      const segment = (cursor + Math.floor(of / 2)) % of;
      const changed = segment === 0 ? 7 : Number(summary.bounds[segment - 1]![0]) + 7;
      expect(segmentOf([{ name: "id", type: "integer" }], summary.bounds, [String(changed)])).toBe(segment);
      await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'changed' WHERE id = $1`, [changed]);
      await my.admin.query("UPDATE items SET name = 'drift' WHERE id = ?", [changed + 1]);
      expect(await markChangedKeys(state, ds.name, [[String(changed)]], Date.now(), 4)).toBe(1);

      const byKey = await pass();
      expect(byKey.plan).toMatchObject({ kind: "dirty", keyed: [segment], segments: [] });
      expect(byKey.plan.kind === "dirty" && byKey.plan.swept).not.toContain(segment);
      expect(byKey.keyRun?.status).toBe("ok");
      expect(await maria(changed)).toBe("changed");
      expect(await maria(changed + 1)).toBe("drift");
      expect(await state.getSegmentTreeNodes(ds.name, 0, [segment])).toEqual([]);

      // The next pass sweeps the forgotten segment, not the next in rotation, and repairs the edit.
      const next = await pass();
      expect(next.plan).toMatchObject({ kind: "dirty", swept: [segment], keyed: [], segments: [] });
      expect(next.run.status).toBe("ok");
      expect(await maria(changed + 1)).toBe(`item ${changed + 1}`);
      // Known again, the rotation goes on where it was.
      const after = await pass();
      expect(after.plan).toMatchObject({
        kind: "dirty",
        swept: [byKey.plan.kind === "dirty" ? byKey.plan.sweepNext : -1],
      });
    } finally {
      for (const r of replicas) await r.connector.close();
      await state.close();
    }
  }, 120_000);
});
