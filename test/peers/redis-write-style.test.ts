/**
 * A Redis cache of a PostgreSQL table with `writeStyle: preserve`: repairs write each value in the form the
 * cache already uses for that field ("402.00" stays two-decimal, timestamps keep their text form, JSON its
 * spacing, booleans their spelling), so the application reading the cache sees no change of format; the
 * default writes canonical text.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

const available = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(REDIS));

describe.skipIf(!available)("writeStyle: preserve on a Redis cache", () => {
  let pg: PostgresTestSchema;
  let kept: RedisTestPrefix;
  let canon: RedisTestPrefix;
  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    kept = createRedisTestPrefix("style-kept");
    canon = createRedisTestPrefix("style-canon");
  });
  afterAll(async () => {
    await pg?.drop();
    await kept?.drop();
    await canon?.drop();
  });

  it("repairs values in the cache's own form, and canonical text where it is not asked", async ({
    onTestFinished,
  }) => {
    const t = pg.table("products");
    await pg.admin.query(
      `CREATE TABLE ${t} (id int PRIMARY KEY, price numeric(10,2), seen timestamptz, attrs jsonb, active boolean)`,
    );
    await pg.admin.query(
      `INSERT INTO ${t} VALUES (1, 402.00, '2026-01-01 12:00:00+00', '{"a": 1, "b": [1, 2]}', true)`,
    );
    const cached = {
      price: "399.00",
      seen: "2025-12-31 08:00:00+00:00",
      attrs: '{"a": 0, "b": []}',
      active: "false",
    };
    for (const p of [kept, canon]) await p.admin.hset(`${p.prefix}1`, cached);
    const dir = tempDir(onTestFinished);
    writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  products:
    key: id
    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${t} }
      kept:  { url: "${REDIS.url}", prefix: "${kept.prefix}", writeStyle: preserve }
      canon: { url: "${REDIS.url}", prefix: "${canon.prefix}" }
    policy: { owner: pg, resolve: owner }
`,
    );
    // --print shows the preserved forms before anything is written.
    const printed = await runConcord(["repair", "--print"], { cwd: dir });
    expect(printed.stderr).toBe("");
    expect(printed.stdout).toContain(
      `HSET ${kept.prefix}1 id 1 active true attrs "{\\"a\\": 1, \\"b\\": [1, 2]}" price 402.00 seen "2026-01-01 12:00:00+00:00"`,
    );
    const r = await runConcord(["repair"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await kept.admin.hgetall(`${kept.prefix}1`)).toEqual({
      id: "1",
      price: "402.00",
      seen: "2026-01-01 12:00:00+00:00",
      attrs: '{"a": 1, "b": [1, 2]}',
      active: "true",
    });
    expect(await canon.admin.hgetall(`${canon.prefix}1`)).toEqual({
      id: "1",
      price: "402",
      seen: "2026-01-01T12:00:00.000000Z",
      attrs: '{"a":1,"b":[1,2]}',
      active: "t",
    });
    // Both now agree with the owner.
    expect((await runConcord(["scan"], { cwd: dir })).code).toBe(0);
  });

  it("keeps a JSON-string record's number texts where the value is unchanged, and their form where it changed", async ({
    onTestFinished,
  }) => {
    const t = pg.table("offers");
    await pg.admin.query(
      `CREATE TABLE ${t} (id int PRIMARY KEY, price numeric(10,2), rate double precision, qty int, attrs jsonb, title text)`,
    );
    await pg.admin.query(
      `INSERT INTO ${t} VALUES (1, 402.00, 1.5, 7, '{"w": 1.50, "tags": ["a"]}', 'new title'),
                              (2, 19.90, 0.25, 3, '{"w": 2}', 'kept')`,
    );
    // The application writes two-decimal prices, 1.50 for 1.5, spaced JSON and an extra property.
    const one =
      '{"id": 1, "price": 399.00, "rate": 1.50, "qty": 7, "attrs": {"w": 1.50, "tags": ["a"]}, "title": "old title", "app": 1.0}';
    const two = '{"id": 2, "price": 19.90, "rate": 0.250, "qty": 3, "attrs": {"w": 2.0}, "title": "stale"}';
    for (const p of [kept, canon]) {
      await p.admin.set(`${p.prefix}1`, one);
      await p.admin.set(`${p.prefix}2`, two);
    }
    const dir = tempDir(onTestFinished);
    writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  offers:
    key: id
    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${t} }
      kept:  { url: "${REDIS.url}", prefix: "${kept.prefix}", format: json, writeStyle: preserve }
      canon: { url: "${REDIS.url}", prefix: "${canon.prefix}", format: json }
    policy: { owner: pg, resolve: owner }
`,
    );
    const r = await runConcord(["repair"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // Unchanged values keep their exact text (399.00 → 402.00 keeps two decimals; 1.50, 0.250, 2.0 stay).
    expect(await kept.admin.get(`${kept.prefix}1`)).toBe(
      '{"id": 1, "price": 402.00, "rate": 1.50, "qty": 7, "attrs": {"w": 1.50, "tags": ["a"]}, "title": "new title", "app": 1.0}',
    );
    expect(await kept.admin.get(`${kept.prefix}2`)).toBe(
      '{"id": 2, "price": 19.90, "rate": 0.250, "qty": 3, "attrs": {"w": 2.0}, "title": "kept"}',
    );
    // Without preserve: canonical numbers, outside the shape too.
    expect(await canon.admin.get(`${canon.prefix}1`)).toBe(
      '{"id":1,"price":402,"rate":1.5,"qty":7,"attrs":{"tags":["a"],"w":1.5},"title":"new title","app":1}',
    );
    expect((await runConcord(["scan"], { cwd: dir })).code).toBe(0);
  });
});
