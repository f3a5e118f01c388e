/**
 * Change-log replay under `serve` and the watcher's cursors, on the real servers: PostgreSQL (the owner,
 * watched) → MariaDB. `POST /api/datasets/:name/replay` replays a backlog in serve's process (operator,
 * audited, in status; one-line 400/404/409s); serve's watcher catches up a replica behind the log once a
 * check succeeds; a check that failed while MariaDB was unreachable, retried, moves the cursor to the end.
 */
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runWatch } from "../../src/cli/watch.js";
import { parseConfig } from "../../src/config/load-config.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { createService } from "../../src/serve/service.js";
import { query, tempDir, waitFor, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));
const TOKEN = "replay2-serve-token-7d1e4c9a0b";
const auth = { authorization: `Bearer ${TOKEN}` };

function sink(): Writable & { text(): string } {
  let text = "";
  const w = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return Object.assign(w, { text: () => text });
}

interface Row {
  id: number;
  name: string;
}

describe.skipIf(!up)("replay under serve, and the watcher's cursors: PostgreSQL → MariaDB", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;

  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await pg.admin.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
        WHERE slot_name LIKE $1 AND NOT active`,
      [`concord_replay2_${pg.name}%`],
    );
    const pubs = await pg.admin.query<{ pubname: string }>(
      "SELECT pubname FROM pg_publication WHERE pubname LIKE $1",
      [`concord_replay2_${pg.name}%`],
    );
    for (const { pubname } of pubs.rows) await pg.admin.query(`DROP PUBLICATION "${pubname}"`);
    await pg.drop();
    await my.drop();
  });

  const yaml = (dataset: string, table: string, mode: string, extra = "") => `state: sqlite:state.db
datasets:
  ${dataset}:
    key: id
    mode: ${mode}
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table(table)} }
      maria: { url: "${my.url}", table: ${table} }
    policy: { owner: pg, resolve: replay }
    watch: { replicas: [pg], batch: 50ms, maxKeys: 100 }
${extra}`;

  const pgRows = async (table: string) =>
    (await pg.admin.query<Row>(`SELECT id::int AS id, name FROM ${pg.table(table)} ORDER BY id`)).rows;
  const mariaRows = async (table: string) =>
    (await my.admin.query(`SELECT id, name FROM ${table} ORDER BY id`))[0] as Row[];
  const head = (dir: string, dataset: string) => {
    try {
      return (
        query<{ last_seq: number }>(
          `${dir}/state.db`,
          "SELECT last_seq FROM change_log_heads WHERE dataset = ?",
          dataset,
        )[0]?.last_seq ?? 0
      );
    } catch {
      return 0;
    }
  };
  const cursor = (dir: string, dataset: string) => {
    try {
      return (
        query<{ seq: number }>(
          `${dir}/state.db`,
          "SELECT seq FROM replay_cursors WHERE dataset = ? AND replica = 'maria'",
          dataset,
        )[0]?.seq ?? 0
      );
    } catch {
      return 0;
    }
  };
  const createTables = async (table: string) => {
    await pg.admin.query(`CREATE TABLE ${pg.table(table)} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await my.admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL)`);
  };

  /** Watched in scan mode (logged, not repaired), the owner inserts 1–n, which MariaDB misses; the log's last seq. */
  async function backlog(dir: string, dataset: string, table: string, n: number): Promise<number> {
    await createTables(table);
    const cfg = writeConfig(dir, yaml(dataset, table, "scan"), "watch.yaml");
    const stderr = sink();
    const stop = new AbortController();
    const watching = runWatch({ config: cfg }, { stdout: sink(), stderr, env: {}, cwd: dir }, stop.signal);
    try {
      await waitFor(() => /watching from now/.test(stderr.text()), 30_000);
      await pg.admin.query(
        `INSERT INTO ${pg.table(table)} SELECT g, 'v ' || g FROM generate_series(1, $1::int) g`,
        [n],
      );
      await waitFor(() => head(dir, dataset) >= n, 60_000);
    } finally {
      stop.abort();
      expect(await watching).toBe(0);
    }
    return head(dir, dataset);
  }

  it("POST /api/datasets/:name/replay replays the backlog in serve, audits who asked and shows it in status; bad input is one line", async () => {
    const dir = tempDir();
    const dataset = `replay2_${pg.name}_api`;
    const last = await backlog(dir, dataset, "replay2_api", 120);
    expect(await mariaRows("replay2_api")).toHaveLength(0);
    await createTables("replay2_plain");
    const config = parseConfig(
      `${yaml(dataset, "replay2_api", "scan")}  replay2_plain:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("replay2_plain")} }
      maria: { url: "${my.url}", table: replay2_plain }
    policy: { owner: pg, resolve: owner }
serve:
  token: ${TOKEN}
`,
      `${dir}/concord.yaml`,
    );
    const service = await createService(config, { log: () => {} });
    const app = buildHttpApp(service.api, { token: TOKEN });
    try {
      const post = (name: string, payload: unknown) =>
        app.inject({
          method: "POST",
          url: `/api/datasets/${name}/replay`,
          headers: auth,
          payload: payload as Record<string, unknown>,
        });
      const refused = async (name: string, payload: unknown, status: number, message: RegExp) => {
        const res = await post(name, payload);
        expect(res.statusCode).toBe(status);
        const { error } = res.json() as { error: string };
        expect(error).not.toContain("\n");
        expect(error).toMatch(message);
      };
      await refused("nope", { replica: "maria" }, 404, /^no dataset named nope$/);
      await refused(
        dataset,
        { replica: "elsewhere" },
        400,
        new RegExp(`^replica: elsewhere is not a replica of ${dataset}$`),
      );
      await refused(dataset, { replica: "pg" }, 400, new RegExp(`^replica: pg is ${dataset}'s owner`));
      await refused(dataset, {}, 400, /^body\.replica: /);
      await refused("replay2_plain", { replica: "maria" }, 409, /policy\.resolve is not replay/);

      const res = await post(dataset, { replica: "maria" });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        dataset,
        source: "pg",
        replica: "maria",
        cursor: { from: 0, to: last },
        logLast: last,
        batches: Math.ceil(last / 100),
        gap: null,
        repairs: { applied: 120 },
        remaining: 0,
      });
      expect(await mariaRows("replay2_api")).toEqual(await pgRows("replay2_api"));
      expect(cursor(dir, dataset)).toBe(last);

      const status = (await service.api.datasets()).find((d) => d.name === dataset)!;
      expect(status.state).toBe("idle");
      expect(status.replay).toMatchObject({
        replica: "maria",
        by: "api",
        state: "finished",
        from: 0,
        cursor: last,
        last,
      });
      const audit = await service.api.audit({ limit: 1000 });
      expect(audit.filter((e) => e.type === "triggered" && e.dataset === dataset)).toEqual([
        expect.objectContaining({ data: { by: "api", mode: "replay", replica: "maria" } }),
      ]);
      // Replay runs name who asked.
      const runs = await service.api.runs({ dataset, limit: 10 });
      expect(runs.map((r) => r.command)).toContain("replay");

      // Serialised with passes: while one runs, a replay is a 409 (and a replay again has nothing to do).
      await service.api.trigger(dataset, "scan");
      await refused(dataset, { replica: "maria" }, 409, new RegExp(`^dataset ${dataset} is running a pass$`));
      await service.idle();
      expect(await service.api.replay(dataset, "maria", "test")).toMatchObject({
        cursor: { from: last, to: last },
        batches: 0,
      });
      expect((await service.api.verifyAudit()).ok).toBe(true);
    } finally {
      await app.close();
      await service.stop();
    }
  });

  it("serve's watcher catches up a replica behind the owner's log once a check succeeds", async () => {
    const dir = tempDir();
    const dataset = `replay2_${pg.name}_catchup`;
    const last = await backlog(dir, dataset, "replay2_catchup", 150);
    expect(cursor(dir, dataset)).toBe(0);
    const logs: string[] = [];
    const service = await createService(
      parseConfig(yaml(dataset, "replay2_catchup", "repair"), `${dir}/concord.yaml`),
      { log: (l) => logs.push(l) },
    );
    try {
      await service.start();
      await waitFor(() => logs.some((l) => l.startsWith(`${dataset}.pg: watching its change feed`)), 30_000);
      // A new change: its check succeeds (MariaDB is reachable), and MariaDB is behind the log.
      await pg.admin.query(`INSERT INTO ${pg.table("replay2_catchup")} VALUES (1000, 'new')`);
      await waitFor(() => {
        const now = head(dir, dataset);
        return now > last && cursor(dir, dataset) === now;
      }, 60_000);
      expect(await mariaRows("replay2_catchup")).toEqual(await pgRows("replay2_catchup"));
      expect(logs.some((l) => /maria is behind the owner's change log \(cursor 0, /.test(l))).toBe(true);
      const status = (await service.api.datasets()).find((d) => d.name === dataset)!;
      expect(status.replay).toMatchObject({ replica: "maria", by: "serve", state: "finished" });
    } finally {
      await service.stop();
    }
  });

  it("a check that failed while the replica was unreachable, retried successfully, moves its cursor to the log's end", async () => {
    const dir = tempDir();
    const dataset = `replay2_${pg.name}_retry`;
    const table = "replay2_retry";
    await createTables(table);
    const cfg = writeConfig(dir, yaml(dataset, table, "repair"));
    const stderr = sink();
    const out = sink();
    const stop = new AbortController();
    const watching = runWatch({ config: cfg }, { stdout: out, stderr, env: {}, cwd: dir }, stop.signal);
    try {
      await waitFor(() => /watching from now/.test(stderr.text()), 30_000).catch((e) => {
        throw new Error(`${e}: ${stderr.text()}`);
      });
      // MariaDB "partitioned": its table is gone while the owner writes, so the check fails.
      await my.admin.query(`RENAME TABLE ${table} TO ${table}_away`);
      await pg.admin.query(`INSERT INTO ${pg.table(table)} SELECT g, 'n' || g FROM generate_series(1, 40) g`);
      await waitFor(() => /starting again in/.test(stderr.text()), 30_000).catch((e) => {
        throw new Error(`${e}: ${stderr.text()} // ${out.text()}`);
      });
      await my.admin.query(`RENAME TABLE ${table}_away TO ${table}`);
      // The feed starts again at its stored position: the batch is logged again and checked, clean.
      await waitFor(() => head(dir, dataset) >= 80 && cursor(dir, dataset) === head(dir, dataset), 60_000);
    } finally {
      stop.abort();
      expect(await watching).toBe(0);
    }
    expect(await mariaRows(table)).toEqual(await pgRows(table));
  });
});
