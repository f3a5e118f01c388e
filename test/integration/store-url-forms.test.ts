/** Connection URL forms the server-store connectors accept beyond host:port: unix sockets and host as a parameter. */
import { existsSync } from "node:fs";
import { createPool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { openPostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import type { RecordShape } from "../../src/core/model.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const SHAPE: RecordShape = { key: [{ name: "id", type: "integer" }], columns: [{ name: "v", type: "text" }] };
const FULL = { lo: null, hi: null };

const mysqlUp = await serviceAvailable(MYSQL);
const pgUp = await serviceAvailable(POSTGRES);

describe.skipIf(!mysqlUp)("mysql: ?socket=PATH", () => {
  let db: MysqlTestDatabase;
  let socket = "";
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query("CREATE TABLE items (id BIGINT PRIMARY KEY, v TEXT)");
    await db.admin.query("INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, NULL)");
    const [rows] = await db.admin.query({ sql: "SELECT @@socket", rowsAsArray: true });
    socket = String((rows as string[][])[0]?.[0] ?? "");
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("connects through the server's unix socket, ignoring host and port", async (ctx) => {
    // The server must be on this machine, and its socket must accept the test URL's user.
    if (!socket || !existsSync(socket)) ctx.skip();
    const u = new URL(db.url);
    const probe = createPool({
      socketPath: socket,
      user: decodeURIComponent(u.username || "root"),
      password: decodeURIComponent(u.password),
    });
    const usable = await probe.query("SELECT 1").then(
      () => true,
      () => false,
    );
    await probe.end();
    if (!usable) ctx.skip();
    u.hostname = "unused.invalid";
    u.port = "1";
    u.searchParams.set("socket", socket);
    const c = openMysqlConnector(u.toString(), "items", { label: "ds.sock", readonly: true });
    try {
      expect(await c.count(SHAPE, FULL)).toBe(3);
      const direct = openMysqlConnector(db.url, "items", { readonly: true });
      try {
        expect(await c.checksumRanges(SHAPE, [FULL])).toEqual(await direct.checksumRanges(SHAPE, [FULL]));
      } finally {
        await direct.close();
      }
    } finally {
      await c.close();
    }
  });

  it("writes (deletes included) to a database-qualified table when the URL names no database", async () => {
    const u = new URL(db.url);
    u.pathname = "/";
    const c = openMysqlConnector(u.toString(), `${db.name}.items`, { label: "ds.qualified" });
    try {
      const [one] = await c.fetchRecords(SHAPE, [["1"]]);
      expect(await c.applyWrites(SHAPE, [{ key: ["1"], expected: one!.fingerprint, next: null }])).toEqual([
        "applied",
      ]);
      expect(await c.count(SHAPE, FULL)).toBe(2);
      expect(await c.applyWrites(SHAPE, [{ key: ["1"], expected: null, next: ["a"] }])).toEqual(["applied"]);
      expect(await c.count(SHAPE, FULL)).toBe(3);
    } finally {
      await c.close();
    }
  });

  it("still reports an unreachable socket as one line naming the replica", async () => {
    const c = openMysqlConnector("mysql://root@localhost/test?socket=/nonexistent/mysqld.sock", "items", {
      label: "ds.nosock",
      connectTimeoutMs: 2000,
    });
    try {
      await expect(c.describe()).rejects.toThrow(/^ds\.nosock: /);
    } finally {
      await c.close();
    }
  });
});

describe.skipIf(!pgUp)("postgres: host as a query parameter", () => {
  let db: PostgresTestSchema;
  beforeAll(async () => {
    db = await createPostgresTestSchema();
    await db.admin.query(`CREATE TABLE ${db.table("items")} (id bigint PRIMARY KEY, v text)`);
    await db.admin.query(`INSERT INTO ${db.table("items")} VALUES (1, 'a'), (2, 'b')`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("takes ?host= (a directory means a unix socket) in place of the authority's host", async () => {
    const u = new URL(POSTGRES.url);
    const host = u.hostname;
    const form = `postgres://${u.username}${u.password ? `:${u.password}` : ""}@${u.pathname}?host=${encodeURIComponent(host)}&port=${u.port || "5432"}`;
    const c = openPostgresConnector(form, db.table("items"), { label: "ds.hostparam", readonly: true });
    try {
      expect(await c.count(SHAPE, FULL)).toBe(2);
    } finally {
      await c.close();
    }
  });
});
