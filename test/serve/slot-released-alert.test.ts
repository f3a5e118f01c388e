/**
 * The `slot-released` alert end to end: serve watches a PostgreSQL table whose replication slot retained more
 * WAL than `maxLagBytes` while nobody read it; on start the feed releases the slot, a whole pass covers the gap,
 * and the webhook receives one firing notification naming the dataset and replica (recorded in the audit).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { openChangeFeed } from "../../src/connectors/open-change-feed.js";
import { feedOptions } from "../../src/engine/watch-dataset.js";
import { createService } from "../../src/serve/service.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const up = await serviceAvailable(POSTGRES);

describe.skipIf(!up)("slot-released alert", () => {
  let pg: PostgresTestSchema;
  let receiver: Server;
  let url: string;
  const got: { status: string; alert: string; dataset: string | null; replica?: string; summary: string }[] =
    [];
  let dir: string;

  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    dir = mkdtempSync(join(tmpdir(), "concord-slot-alert-"));
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        got.push(JSON.parse(body));
        res.end("ok");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook/secret-token`;
  });
  afterAll(async () => {
    await pg.admin.query(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1 AND NOT active",
      [`concord_${pg.name}%`],
    );
    const pubs = await pg.admin.query<{ pubname: string }>(
      "SELECT pubname FROM pg_publication WHERE pubname LIKE $1",
      [`concord_${pg.name}%`],
    );
    for (const { pubname } of pubs.rows) await pg.admin.query(`DROP PUBLICATION "${pubname}"`);
    await pg.drop();
    await new Promise((r) => receiver.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("fires when serve's feed releases a lagging slot, naming dataset and replica", async () => {
    await pg.admin.query(`CREATE TABLE ${pg.table("items")} (id bigint PRIMARY KEY, v text NOT NULL)`);
    const lite = new Database(join(dir, "copy.db"));
    lite.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    lite.close();
    const config = parseConfig(
      `state: sqlite:state.db
datasets:
  ${pg.name}:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      copy: { url: "sqlite:copy.db", table: items }
    policy: { owner: pg, resolve: owner }
    schedule: 1h
    watch: { replicas: [pg], batch: 20ms, maxLagBytes: 1000 }
alerts:
  - { when: slot-released, webhook: "${url}" }
`,
      join(dir, "concord.yaml"),
    );
    const ds = config.datasets[0]!;
    // A feed that ran once (its slot made, its position stored) and then stopped reading…
    const feed = await openChangeFeed(ds.replicas[0]!, feedOptions(ds, "pg"));
    await feed.start(undefined);
    const { rows } = await pg.admin.query<{ lsn: string }>(
      "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name LIKE $1",
      [`concord_${pg.name}%`],
    );
    await feed.close();
    const state = await openStateStore(config.state);
    await state.putFeedPosition({ dataset: ds.name, replica: "pg", position: rows[0]!.lsn, updatedAt: 1 });
    await state.close();
    // …while the table took far more WAL than maxLagBytes.
    await pg.admin.query(
      `INSERT INTO ${pg.table("items")} SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g`,
    );

    const lines: string[] = [];
    const service = await createService(config, { log: (l) => lines.push(l) });
    try {
      await service.start();
      await until(() => got.length >= 1);
      expect(got[0]).toMatchObject({
        alert: "slot-released",
        status: "firing",
        dataset: ds.name,
        replica: "pg",
      });
      expect(got[0]!.summary).toMatch(/replication slot released for lagging/);
      // The gap's whole pass copied what the released slot dropped.
      await until(() => lines.some((l) => l.includes("change feed gap")));
      const copy = new Database(join(dir, "copy.db"), { readonly: true });
      expect(copy.prepare("SELECT count(*) AS n FROM items").get()).toEqual({ n: 2000 });
      copy.close();
      const audit = await service.api.audit({ limit: 100_000 });
      expect(
        audit.filter((e) => e.type === "alert").map((e) => (e.data as { alert: string }).alert),
      ).toContain("slot-released");
    } finally {
      await service.stop();
    }
  }, 60_000);
});

async function until(condition: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
