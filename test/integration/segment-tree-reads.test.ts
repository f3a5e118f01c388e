/**
 * Segment trees hand their reads to the run: a dirty-segment pass re-hashes its segments in parts, and the run
 * over a segment that differs compares those parts' checksums as its first round instead of reading the
 * segment again, so a pass with the trees never reads more rows than the same pass without them. A change
 * landing between the trees' read and the run is found by this pass when a feed marked it, and by the next
 * one otherwise. PostgreSQL → MariaDB, SQLite state; segments are marked dirty as a feed would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type DatasetConfig, parseConfig } from "../../src/config/load-config.js";
import type { Connector } from "../../src/connectors/connector.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { keyId } from "../../src/core/model.js";
import { markChangedKeys, runPlannedPass } from "../../src/engine/dirty-segment-pass.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));
const ROWS = 4000;

describe.skipIf(!up)("segment trees hand their reads to the run: PostgreSQL → MariaDB", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let dir: string;
  let ds: DatasetConfig;
  let state: StateStore;
  const replicas: OpenReplica[] = [];
  /**
   * Runs once, after the next `checksumRanges` call on MariaDB returns and every other replica's call in flight
   * has returned too (the trees read the replicas at once), before anything else reads.
   */
  let afterRead: (() => Promise<void>) | undefined;
  /** `checksumRanges` calls in flight, on any replica. */
  const reading = new Set<Promise<unknown>>();
  let n = 0;

  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
    dir = mkdtempSync(join(tmpdir(), "concord-tree-reads-"));
    await pg.admin.query(`CREATE TABLE ${pg.table("items")} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await pg.admin.query(
      `INSERT INTO ${pg.table("items")} SELECT i, 'item ' || i FROM generate_series(1, ${ROWS}) i`,
    );
    await my.admin.query("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL)");
    const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
    await my.admin.query("INSERT INTO items (id, name) VALUES ?", [ids.map((i) => [i, `item ${i}`])]);
    const cfg = parseConfig(
      `state: sqlite:state.db
datasets:
  ${pg.name}:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      maria: { url: "${my.url}", table: items }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], segmentRows: 400, sweepSegments: 1 }
`,
      join(dir, "concord.yaml"),
    );
    ds = cfg.datasets[0]!;
    state = await openStateStore(cfg.state);
    for (const r of ds.replicas) {
      const connector = await openConnector(ds.name, r, { readonly: false });
      // The real connector; only the moment after a checksum read is observed (to change a row there).
      const observed = new Proxy(connector, {
        get(target, prop) {
          const v = Reflect.get(target, prop, target) as unknown;
          if (prop !== "checksumRanges" || typeof v !== "function") return v;
          return async (...args: Parameters<Connector["checksumRanges"]>) => {
            const call = target.checksumRanges(...args);
            reading.add(call);
            try {
              const out = await call;
              if (r.name !== "maria") return out;
              await Promise.allSettled([...reading].filter((p) => p !== call));
              const then = afterRead;
              afterRead = undefined;
              await then?.();
              return out;
            } finally {
              reading.delete(call);
            }
          };
        },
      });
      replicas.push({ name: r.name, connector: observed });
    }
  });
  afterAll(async () => {
    for (const r of replicas) await r.connector.close();
    await state?.close();
    await pg.drop();
    await my.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    // Every replica equal and a verified summary; the feed "has" a position.
    await state.deleteSegmentSummary(ds.name);
    const whole = await pass("repair");
    expect(whole.plan.kind).toBe("whole");
    expect(whole.run.status).toBe("ok");
    await state.putFeedPosition({ dataset: ds.name, replica: "pg", position: "0/0", updatedAt: Date.now() });
  });

  const pass = async (mode: "scan" | "repair", tree = true) => {
    const keys: string[] = [];
    const before = replicas.map((r) => ({ ...r.connector.stats }));
    const result = await runPlannedPass(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: `p-${++n}`,
        command: `test ${mode}`,
        mode,
        observer: {
          onSegment({ scan }) {
            for (const d of scan.divergences) keys.push(keyId(d.key));
          },
        },
      },
      { tree },
    );
    const rows = replicas.reduce(
      (sum, r, i) =>
        sum +
        r.connector.stats.rowsScanned -
        before[i]!.rowsScanned +
        r.connector.stats.rowsRead -
        before[i]!.rowsRead,
      0,
    );
    return { ...result, keys: keys.sort(), rows };
  };
  /** Changes `ids` on PostgreSQL, copies all but `lost` to MariaDB, and marks their segments dirty. */
  const change = async (ids: readonly number[], lost: readonly number[]) => {
    await pg.admin.query(`UPDATE ${pg.table("items")} SET name = name || '+' WHERE id = ANY($1::bigint[])`, [
      ids,
    ]);
    const copied = ids.filter((id) => !lost.includes(id));
    if (copied.length)
      await my.admin.query("UPDATE items SET name = CONCAT(name, '+') WHERE id IN (?)", [copied]);
    await markChangedKeys(
      state,
      ds.name,
      ids.map((id) => [String(id)]),
      Date.now(),
    );
  };

  it("reads a differing segment once per replica: never more rows than the pass without the trees, and the same divergences", async () => {
    // Three dirty segments (400 rows each): two hold a lost change, one was copied whole.
    await change([450, 460, 1250, 2900, 2910], [450, 2910]);
    const without = await pass("scan", false);
    const withTrees = await pass("scan");
    expect(withTrees.tree?.comparison.differ).toHaveLength(2);
    expect(withTrees.keys).toEqual(['["2910"]', '["450"]']);
    expect(withTrees.keys).toEqual(without.keys);
    expect(withTrees.run.totals.remaining).toBe(2);
    // Each planned segment (three dirty, one swept) is read once per replica for the trees; the run lists only
    // the parts (about 64 rows) that differ, and fetches their records.
    const hashed = 4 * 400 * 2;
    expect(withTrees.rows).toBeLessThanOrEqual(without.rows);
    expect(withTrees.rows).toBeLessThan(hashed + 2 * 2 * 100);
    // Repaired, the segments are hashed again and agree: the next pass reads nothing past its hashes.
    const repaired = await pass("repair");
    expect(repaired.run.totals.repairs).toEqual({ applied: 2 });
    await change([451], []);
    const after = await pass("scan");
    expect(after.tree?.checked).toEqual([]);
    expect(after.run.segments).toBe(0);
  });

  it("a change marked between the trees' read and the run is read by the run itself; one no feed saw, by the next pass", async () => {
    await change([1250], [1250]);
    // Marked while the trees read: the segment cannot be vouched for, and the run reads it afresh.
    afterRead = async () => {
      await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'between' WHERE id = 1390`);
      await markChangedKeys(state, ds.name, [["1390"]], Date.now());
    };
    const marked = await pass("scan");
    expect(marked.tree?.comparison.unknown).toContain(3);
    expect(marked.keys).toEqual(['["1250"]', '["1390"]']);

    // Not marked (an edit no feed saw) in a part the trees found equal: this pass answers as of the trees'
    // read; the segment stays dirty (the pass left a divergence), so the next pass finds the edit.
    await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'item 1390' WHERE id = 1390`);
    afterRead = async () => {
      await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'unseen' WHERE id = 1391`);
    };
    const unseen = await pass("scan");
    expect(unseen.tree?.comparison.differ).toEqual([3]);
    expect(unseen.keys).toEqual(['["1250"]']);
    expect((await state.listDirtySegments(ds.name)).map((d) => d.segment)).toContain(3);
    const next = await pass("repair");
    expect(next.keys).toEqual(['["1250"]', '["1391"]']);
    expect(next.run.totals.repairs).toEqual({ applied: 2 });
  });
});
