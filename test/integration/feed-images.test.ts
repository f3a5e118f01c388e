/**
 * Targeted checks from the PostgreSQL feed's row images, on the real servers: a key whose image every replica
 * holds is settled without reading PostgreSQL again; a key where a replica differs is read there after all and
 * repaired from what was read (never from an image older than the owner's row); a column whose text depends on
 * session settings makes the key be fetched.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DatasetConfig, parseConfig } from "../../src/config/load-config.js";
import type { ChangeBatch, ChangeFeed, RowImage } from "../../src/connectors/change-feed.js";
import { openChangeFeed } from "../../src/connectors/open-change-feed.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { Key } from "../../src/core/model.js";
import { nativeOf } from "../../src/core/native-values.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { feedOptions } from "../../src/engine/watch-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));

describe.skipIf(!up)("targeted checks from PostgreSQL row images", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let dir: string;
  let state: StateStore;
  let runs = 0;
  const closing: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
    dir = mkdtempSync(join(tmpdir(), "concord-feed-images-"));
    state = await openStateStore(`sqlite:${join(dir, "state.db")}`);
    for (const t of ["items", "stamped"]) {
      const at = t === "stamped" ? ", at timestamptz NOT NULL DEFAULT '2026-01-01Z'" : "";
      await pg.admin.query(`CREATE TABLE ${pg.table(t)} (id bigint PRIMARY KEY, name text NOT NULL${at})`);
      await pg.admin.query(
        `INSERT INTO ${pg.table(t)} (id, name) SELECT i, 'v' || i FROM generate_series(1, 5) i`,
      );
      const myAt = t === "stamped" ? ", at DATETIME(6) NOT NULL DEFAULT '2026-01-01 00:00:00'" : "";
      await my.admin.query(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, name TEXT NOT NULL${myAt})`);
      await my.admin.query(`INSERT INTO ${t} (id, name) SELECT seq, CONCAT('v', seq) FROM seq_1_to_5`);
    }
  });
  afterEach(async () => {
    for (const close of closing.splice(0)) await close();
  });
  afterAll(async () => {
    await state.close();
    await pg.drop();
    await my.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  function dataset(table: string): DatasetConfig {
    const cfg = parseConfig(
      `state: sqlite:state.db
datasets:
  ${pg.name}_${table}:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table(table)} }
      maria: { url: "${my.url}", table: ${table} }
    policy: { owner: pg, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
      join(dir, "concord.yaml"),
    );
    return cfg.datasets[0]!;
  }

  /** The dataset's replicas, PostgreSQL's record fetches counted by key. */
  async function openReplicas(ds: DatasetConfig): Promise<{ replicas: OpenReplica[]; fetched: Key[] }> {
    const fetched: Key[] = [];
    const replicas: OpenReplica[] = [];
    for (const r of ds.replicas) {
      const connector = await openConnector(ds.name, r, { readonly: false });
      closing.push(() => connector.close());
      if (r.name === "pg") {
        const fetch = connector.fetchRecords.bind(connector);
        connector.fetchRecords = (shape, keys) => {
          fetched.push(...keys);
          return fetch(shape, keys);
        };
      }
      replicas.push({ name: r.name, connector });
    }
    return { replicas, fetched };
  }

  /** The feed's batches until every key in `want` came; merged as the watcher merges them. */
  async function changes(feed: ChangeFeed, want: number): Promise<ChangeBatch> {
    const keys = new Map<string, Key>();
    const images = new Map<string, RowImage | null>();
    const waits: (() => Promise<void>)[] = [];
    const deadline = Date.now() + 20_000;
    while (keys.size < want && Date.now() < deadline) {
      const b = await feed.take({ maxKeys: 100, waitMs: 500 });
      for (const k of b.keys) {
        keys.set(JSON.stringify(k), k);
        const image = b.images?.get(JSON.stringify(k));
        if (image === undefined) images.delete(JSON.stringify(k));
        else images.set(JSON.stringify(k), image);
      }
      if (b.beforeRead) waits.push(b.beforeRead);
    }
    return {
      keys: [...keys.values()],
      position: undefined,
      images,
      beforeRead: async () => void (await Promise.all(waits.map((w) => w()))),
    };
  }

  const check = (ds: DatasetConfig, replicas: OpenReplica[], batch: ChangeBatch) =>
    runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: `images-${++runs}`,
        command: "watch",
        mode: "repair",
        keys: batch.keys,
        images: { replica: "pg", images: batch.images ?? new Map(), beforeRead: batch.beforeRead },
      },
    );

  const mariaName = async (table: string, id: number) => {
    const [rows] = (await my.admin.query(`SELECT name FROM ${table} WHERE id = ?`, [id])) as unknown as [
      { name: string }[],
    ];
    return rows[0]?.name;
  };

  it("settles keys whose rows every replica holds without reading PostgreSQL, and repairs the others from a read", async () => {
    const ds = dataset("items");
    const feed = await openChangeFeed(ds.replicas.find((r) => r.name === "pg")!, feedOptions(ds, "pg"));
    closing.push(() => feed.drop());
    await feed.start(undefined);
    // 1 and 2 reach MariaDB (replication did its job); 3 does not; 4 is deleted everywhere; 5 only on PostgreSQL.
    await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'w' || id WHERE id IN (1, 2, 3)`);
    await pg.admin.query(`DELETE FROM ${pg.table("items")} WHERE id IN (4, 5)`);
    await my.admin.query("UPDATE items SET name = CONCAT('w', id) WHERE id IN (1, 2)");
    await my.admin.query("DELETE FROM items WHERE id = 4");
    const batch = await changes(feed, 5);
    expect(batch.images?.size).toBe(5);
    const { replicas, fetched } = await openReplicas(ds);
    let waited = 0;
    const run = await check(ds, replicas, {
      ...batch,
      beforeRead: async () => {
        waited++;
        await batch.beforeRead?.();
      },
    });
    expect(run.status).toBe("ok");
    expect(run.totals.repairs).toEqual({ applied: 2 });
    // Only the keys a replica differed on were read on PostgreSQL (and read again to verify the repair).
    expect(new Set(fetched.map((k) => k.join()))).toEqual(new Set(["3", "5"]));
    // What was read equals the images (the commits were visible): no visibility wait was needed.
    expect(waited).toBe(0);
    expect(await mariaName("items", 3)).toBe("w3");
    expect(await mariaName("items", 5)).toBeUndefined();
  }, 60_000);

  it("a replica already holding a newer row than the image is compared with a read, not written back", async () => {
    const ds = dataset("items");
    // The owner and MariaDB both moved on past the change the image comes from.
    await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'newer' WHERE id = 1`);
    await my.admin.query("UPDATE items SET name = 'newer' WHERE id = 1");
    const { replicas, fetched } = await openReplicas(ds);
    let waited = 0;
    const run = await check(ds, replicas, {
      keys: [["1"]],
      position: undefined,
      images: new Map([['["1"]', { id: "1", name: "older" }]]),
      beforeRead: async () => void waited++,
    });
    expect(run.status).toBe("ok");
    expect(run.totals.repairs).toEqual({});
    // Read once, unlike the image: read again after the visibility wait, and that read decides.
    expect(fetched).toEqual([["1"], ["1"]]);
    expect(waited).toBe(1);
    expect(await mariaName("items", 1)).toBe("newer");
  }, 60_000);

  it("a row image of every type it takes gives the record a fetch reads", async () => {
    const t = pg.table("typed");
    await pg.admin.query(
      `CREATE TABLE ${t} (id int4 PRIMARY KEY, s int2, b int8, d numeric, tx text, v varchar(20),
         f bool, u uuid, j json, jb jsonb)`,
    );
    await pg.admin.query(`CREATE TABLE ${t}_copy (LIKE ${t} INCLUDING ALL)`);
    const ds = parseConfig(
      `state: sqlite:state.db
datasets:
  ${pg.name}_typed:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${t} }
      copy: { url: "${POSTGRES.url}", table: ${t}_copy }
`,
      join(dir, "concord.yaml"),
    ).datasets[0]!;
    const feed = await openChangeFeed(ds.replicas[0]!, feedOptions(ds, "pg"));
    closing.push(() => feed.drop());
    await feed.start(undefined);
    await pg.admin.query(
      `INSERT INTO ${t} VALUES
         (1, -32768, 9223372036854775807, 1.500, 'a ''quoted'' é ✓', 'x ', true,
          'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ' {"x" : 1, "x": 2} ', '{"b": 1, "a": [1, 2.50, "é"]}'),
         (2, 0, -1, 'NaN', '', '', false, '00000000-0000-0000-0000-000000000000', '[]', 'null'),
         (3, NULL, NULL, -0.0, NULL, NULL, NULL, NULL, NULL, NULL)`,
    );
    const batch = await changes(feed, 3);
    const { replicas } = await openReplicas(ds);
    const connector = replicas[0]!.connector;
    const { describeDataset } = await import("../../src/engine/describe-dataset.js");
    const { shape } = await describeDataset(ds, replicas);
    const fetched = await connector.fetchRecords(shape, batch.keys);
    expect(fetched).toHaveLength(3);
    for (const rec of fetched) {
      const image = batch.images?.get(JSON.stringify(rec.key));
      expect(image, JSON.stringify(rec.key)).toBeTruthy();
      const fromImage = await connector.recordFromImage!(shape, image!);
      expect(fromImage).toEqual(rec);
      // With the texts a write sends (numeric 1.500, the json's spacing and repeated member) as the fetch's.
      expect(nativeOf(fromImage!.values)).toEqual(nativeOf(rec.values));
    }
  }, 60_000);

  it("repairs a key a batch's images came with by writing the owner's own texts (numeric 1.50, json spacing)", async () => {
    const t = pg.table("hfx_exact");
    await pg.admin.query(
      `CREATE TABLE ${t} (id int4 PRIMARY KEY, n numeric, j json, jb jsonb);
       CREATE TABLE ${t}_copy (LIKE ${t} INCLUDING ALL);
       INSERT INTO ${t}_copy VALUES (2, 9.00, '{"z":  1}', '{"y": 2.50}');`,
    );
    const ds = parseConfig(
      `state: sqlite:state.db
datasets:
  ${pg.name}_hfx_exact:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${t} }
      copy: { url: "${POSTGRES.url}", table: ${t}_copy }
    policy: { owner: pg, resolve: owner }
`,
      join(dir, "concord.yaml"),
    ).datasets[0]!;
    const feed = await openChangeFeed(ds.replicas[0]!, feedOptions(ds, "pg"));
    closing.push(() => feed.drop());
    await feed.start(undefined);
    await pg.admin.query(
      `INSERT INTO ${t} VALUES (1, 1.50, '{"b": 1,  "a": [1.0, 2]}', '{"x": 1.50}'),
         (2, 2.50, '{"a":1,"a":2}', '{"y": [2.0, 1e2]}')`,
    );
    const batch = await changes(feed, 2);
    expect(batch.images?.size).toBe(2);
    const { replicas, fetched } = await openReplicas(ds);
    const run = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: `images-${++runs}`,
        command: "watch",
        mode: "repair",
        keys: batch.keys,
        images: { replica: "pg", images: batch.images!, beforeRead: batch.beforeRead },
      },
    );
    expect(run.totals.repairs).toEqual({ applied: 2 });
    // The decision rests on the images; the records written are those read from the owner (the keys differed).
    expect(new Set(fetched.map((k) => k.join()))).toEqual(new Set(["1", "2"]));
    const rows = async (table: string) =>
      (await pg.admin.query<{ text: string }>(`SELECT r::text AS text FROM ${table} r ORDER BY id`)).rows.map(
        (r) => r.text,
      );
    expect(await rows(`${t}_copy`)).toEqual([
      `(1,1.50,"{""b"": 1,  ""a"": [1.0, 2]}","{""x"": 1.50}")`,
      `(2,2.50,"{""a"":1,""a"":2}","{""y"": [2.0, 100]}")`,
    ]);
    expect(await rows(`${t}_copy`)).toEqual(await rows(t));
  }, 60_000);

  it("fetches a key whose row has a column the image cannot give exactly (timestamptz)", async () => {
    const ds = dataset("stamped");
    const { replicas, fetched } = await openReplicas(ds);
    const run = await check(ds, replicas, {
      keys: [["2"]],
      position: undefined,
      images: new Map([['["2"]', { id: "2", name: "v2", at: "2026-01-01 00:00:00+00" }]]),
    });
    expect(run.status).toBe("ok");
    expect(fetched).toEqual([["2"]]);
  }, 60_000);
});
