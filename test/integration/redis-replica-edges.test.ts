/**
 * Redis replicas at edges a peer tool's type suite probes, against the real servers: a JSON string escaping
 * half of a surrogate pair is no text (it would equal U+FFFD), and a conditional write over a hash never
 * overwrites a key field an application changed between Concord's read and its commit.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import { openRedisConnector } from "../../src/connectors/redis/redis-connector.js";
import { FULL_RANGE, type RecordShape } from "../../src/core/model.js";
import { runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

const redisUp = await serviceAvailable(REDIS);
const bothUp = redisUp && (await serviceAvailable(POSTGRES));

const prefixes: RedisTestPrefix[] = [];
const schemas: PostgresTestSchema[] = [];
function testPrefix(what: string): RedisTestPrefix {
  const t = createRedisTestPrefix(what);
  prefixes.push(t);
  return t;
}
afterEach(async () => {
  for (const t of prefixes.splice(0)) await t.drop();
  for (const s of schemas.splice(0)) await s.drop();
});

describe.skipIf(!bothUp)("redis JSON strings beside PostgreSQL text", () => {
  it("refuses a lone surrogate naming the key and column, instead of equalling U+FFFD", async () => {
    const pg = await createPostgresTestSchema();
    schemas.push(pg);
    const t = testPrefix("lone-surrogate");
    const table = pg.table("t");
    await pg.admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY, s text)`);
    // PostgreSQL's U+FFFD, and a Redis document escaping a high surrogate with nothing after it: different
    // values (no UTF-8 text spells the second), which a UTF-8 fingerprint would make one.
    await pg.admin.query(`INSERT INTO ${table} VALUES (1, E'a\\uFFFD'), (2, 'b')`);
    await t.admin.set(`${t.prefix}1`, '{"id":1,"s":"a\\ud800"}');
    await t.admin.set(`${t.prefix}2`, '{"id":2,"s":"b"}');
    const dir = tempDir();
    const config = writeConfig(
      dir,
      `state: sqlite:${dir}/state.db
datasets:
  t:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${table} }
      cache: { url: "${REDIS.url}", prefix: "${t.prefix}", format: json }
    policy: { owner: cache, resolve: owner }
`,
    );
    for (const command of ["scan", "repair"]) {
      const r = await runConcord([command, "-c", config]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(
        `concord: t.cache: cannot read ${t.prefix}1: column s: its string holds a lone surrogate \\ud800 (at character 1), which is no Unicode character: UTF-8 text cannot hold it`,
      );
    }
    // Nothing was carried over as U+FFFD.
    expect((await pg.admin.query(`SELECT s FROM ${table} ORDER BY id`)).rows).toEqual([
      { s: "a\uFFFD" },
      { s: "b" },
    ]);

    // A pair escaped whole is one character, and a key property with a lone surrogate is refused too.
    await t.admin.set(`${t.prefix}1`, '{"id":1,"s":"a\\ud83d\\ude00"}');
    const repaired = await runConcord(["repair", "-c", config]);
    expect(repaired.stderr).toBe("");
    expect((await pg.admin.query(`SELECT s FROM ${table} WHERE id = 1`)).rows).toEqual([{ s: "a😀" }]);
    await t.admin.set(`${t.prefix}3`, '{"id":"\\udc00"}');
    const keyed = await runConcord(["scan", "-c", config]);
    expect(keyed.code).toBe(2);
    expect(keyed.stderr).toContain(
      `cannot read ${t.prefix}3: column id: its string holds a lone surrogate \\udc00`,
    );
  });
});

describe.skipIf(!redisUp)("redis JSON records holding a structure in a column of another type", () => {
  it("names the column and the JSON it holds, not [object Map]", async () => {
    const t = testPrefix("structure");
    await t.admin.set(`${t.prefix}1`, '{"id":1,"name":{"first":"Ann"}}');
    await t.admin.set(`${t.prefix}2`, '{"id":2,"name":[0,255]}');
    const c = await t.open({ format: "json" });
    await expect(c.fetchRecords(SHAPE, [["1"]])).rejects.toThrow(
      `cannot read ${t.prefix}1: column name: a JSON object ({"first":"Ann"}) is no text value; only a json column holds one`,
    );
    await expect(c.fetchRecords(SHAPE, [["2"]])).rejects.toThrow(
      `cannot read ${t.prefix}2: column name: a JSON array ([0,255]) is no text value; only a json column holds one`,
    );
  });
});

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "name", type: "text" }],
};

describe.skipIf(!redisUp)("redis hash writes against a concurrent writer", () => {
  it("never overwrites a key field another client wrote after the read", async () => {
    const t = testPrefix("key-field-race");
    const name = `${t.prefix}1`;
    await t.admin.hset(name, "name", "a");
    const [seen] = await (await t.open()).fetchRecords(SHAPE, [["1"]]);
    const c = await t.open({
      // The application writes the record's key field (it now says key 7) in the read-to-commit window.
      beforeCommit: async () => {
        await t.admin.hset(name, "id", "7");
      },
    });
    // Read again, the record now names two keys: the write stops naming it, and writes nothing.
    await expect(
      c.applyWrites(SHAPE, [{ key: ["1"], expected: seen!.fingerprint, next: ["b"] }]),
    ).rejects.toThrow(`cannot read ${name}: its field id holds "7", but its name says key column id is "1"`);
    expect(await t.admin.hgetall(name)).toEqual({ name: "a", id: "7" });
  });
});

describe.skipIf(!bothUp)("redis repairs racing an application, through the CLI", () => {
  it.each(["hash", "json"] as const)("never lose a write made after the observation (%s)", async (format) => {
    const N = 1500;
    const pg = await createPostgresTestSchema();
    schemas.push(pg);
    const t = testPrefix(`cli-race-${format}`);
    const table = pg.table("t");
    await pg.admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text, n bigint)`);
    await pg.admin.query(
      `INSERT INTO ${table} SELECT i, 'owner ' || i, i::bigint * 1000000007 FROM generate_series(1, ${N}) i`,
    );
    const record = (id: number, name: string) =>
      format === "hash"
        ? ([
            "hset",
            `${t.prefix}${id}`,
            "id",
            String(id),
            "name",
            name,
            "n",
            String(id * 1000000007),
          ] as const)
        : (["set", `${t.prefix}${id}`, JSON.stringify({ id, name, n: id * 1000000007 })] as const);
    const seed = t.admin.pipeline();
    for (let id = 1; id <= N; id++) {
      const [cmd, ...args] = record(id, `stale ${id}`);
      seed.call(cmd, ...args);
    }
    await seed.exec();
    const dir = tempDir();
    const config = writeConfig(
      dir,
      `state: sqlite:${dir}/state.db
datasets:
  t:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${table} }
      cache: { url: "${REDIS.url}", prefix: "${t.prefix}", format: ${format} }
    policy: { owner: pg, resolve: owner }
`,
    );
    const observed = await runConcord(["scan", "--output", `${dir}/diff.jsonl`, "-c", config]);
    expect(observed.code).toBe(1);

    // After the observation the application rewrites records, each with a value only it writes, while
    // the repair of what was observed runs: every such write must outlive the repair.
    const theirs = new Map<number, string>();
    let gen = 0;
    let running = true;
    const writer = (async () => {
      while (running) {
        const p = t.admin.pipeline();
        for (let i = 0; i < 5; i++) {
          // Every third record only: the others are repaired whatever the timing.
          const id = 3 * (1 + ((gen * 7919 + i * 104729) % (N / 3)));
          const name = `app ${id} ${++gen}`;
          theirs.set(id, name);
          const [cmd, ...args] = record(id, name);
          p.call(cmd, ...args);
        }
        await p.exec();
      }
    })();
    const repair = await runConcord(["repair", "--from", `${dir}/diff.jsonl`, "-c", config]);
    running = false;
    await writer;
    expect(repair.stderr).not.toMatch(/concord:/);
    expect(theirs.size).toBeGreaterThan(20);
    // Both kinds of race happened: records changed before the repair read them (stale) and between its
    // read and its commit (superseded by the compare-and-set, when one lands there), the rest repaired.
    expect(repair.stdout).toMatch(/repair: applied [\d,]+/);
    expect(repair.stdout).toMatch(/stale: [\d,]+ entries/);

    const names = Array.from({ length: N }, (_, i) => `${t.prefix}${i + 1}`);
    const p = t.admin.pipeline();
    for (const name of names) format === "hash" ? p.hget(name, "name") : p.get(name);
    const held = ((await p.exec()) ?? []).map(([, v]) =>
      format === "hash" ? (v as string) : (JSON.parse(v as string) as { name: string }).name,
    );
    for (let id = 1; id <= N; id++) expect(held[id - 1], `id ${id}`).toBe(theirs.get(id) ?? `owner ${id}`);
  });
});

describe.skipIf(!bothUp)("writeStyle: preserve on strings and integer numbers", () => {
  it("keeps the text of string properties, integer numbers and key fields whose value is unchanged", async () => {
    const pg = await createPostgresTestSchema();
    schemas.push(pg);
    const json = testPrefix("preserve-json");
    const hash = testPrefix("preserve-hash");
    const table = pg.table("t");
    await pg.admin.query(
      `CREATE TABLE ${table} (id int PRIMARY KEY, title text, price numeric(10,2), active boolean, seen timestamptz, qty bigint, stock int)`,
    );
    await pg.admin.query(
      `INSERT INTO ${table} VALUES (7, 'new', 402.00, true, '2024-01-01 10:00:00+00', 1000, 5),
                                   (8, 'new', 399.00, false, '2024-06-01 12:30:00+00', 2000, 6)`,
    );
    // An application keeping prices, booleans and timestamps as strings in its own forms, a key as "007",
    // and integers as 7.0 or 1E3 (numbers whose value is an integer).
    const doc = (id: string, title: string) =>
      `{"id":${id},"title":"${title}","price":"402.00","active":"yes","seen":"2024-01-01 10:00:00+00:00","qty":1E3,"stock":5.0}`;
    await json.admin.set(`${json.prefix}7`, doc('"007"', "old"));
    await json.admin.set(`${json.prefix}8`, doc("8.0", "old"));
    const fields = {
      price: "402.00",
      active: "yes",
      seen: "2024-01-01 10:00:00+00:00",
      qty: "1000",
      stock: "5",
    };
    await hash.admin.hset(`${hash.prefix}7`, { id: "007", title: "old", ...fields });
    const dir = tempDir();
    const config = writeConfig(
      dir,
      `state: sqlite:${dir}/state.db
datasets:
  t:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${table} }
      json: { url: "${REDIS.url}", prefix: "${json.prefix}", format: json, writeStyle: preserve }
      hash: { url: "${REDIS.url}", prefix: "${hash.prefix}", writeStyle: preserve }
    policy: { owner: pg, resolve: owner }
`,
    );
    const r = await runConcord(["repair", "-c", config]);
    expect(r.stderr).toBe("");
    // Record 7 changed only its title: everything else keeps its text. Record 8 changed every value: each
    // is written in the form its property had (two decimals, yes/no, the timestamp's layout, a number).
    expect(await json.admin.get(`${json.prefix}7`)).toBe(doc('"007"', "new"));
    expect(await json.admin.get(`${json.prefix}8`)).toBe(
      '{"id":8.0,"title":"new","price":"399.00","active":"no","seen":"2024-06-01 12:30:00+00:00","qty":2000,"stock":6}',
    );
    expect(await hash.admin.hgetall(`${hash.prefix}7`)).toEqual({ id: "007", title: "new", ...fields });
    expect((await runConcord(["scan", "-c", config])).code).toBe(0);
  });
});

const REDIS_SERVER = "/usr/bin/redis-server";

/** A redis-server of this test's own (its script cache is flushed over and over; the shared one is not). */
async function privateRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const server = spawn(
    REDIS_SERVER,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${port}/0`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on("error", () => undefined);
  for (let i = 0; ; i++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  probe.disconnect();
  return {
    url,
    stop: async () => {
      const exited = new Promise((r) => server.once("exit", r));
      server.kill();
      await exited;
    },
  };
}

describe.skipIf(!existsSync(REDIS_SERVER))(
  "redis scripts on a server whose script cache keeps being flushed",
  () => {
    it.each(["hash", "json"] as const)("scans and writes every record all the same (%s)", async (format) => {
      const server = await privateRedis();
      onTestFinished(() => server.stop());
      const admin = new Redis(server.url);
      onTestFinished(() => void admin.quit());
      const N = 3000;
      const seed = admin.pipeline();
      for (let id = 1; id <= N; id++)
        if (format === "hash") seed.hset(`r:${id}`, "name", `n${id}`);
        else seed.set(`r:${id}`, JSON.stringify({ name: `n${id}` }));
      await seed.exec();
      const c = await openRedisConnector(server.url, {
        prefix: "r:",
        format,
        scanCount: 50,
        pipelineSize: 100,
      });
      onTestFinished(() => c.close());
      // Another client flushes the script cache as fast as the server answers, all along.
      let flushing = true;
      const flusher = new Redis(server.url);
      const flushes = (async () => {
        let n = 0;
        while (flushing) {
          await flusher.script("FLUSH");
          n++;
        }
        await flusher.quit();
        return n;
      })();
      try {
        const seen: { key: readonly (string | null)[]; fingerprint: string }[] = [];
        for await (const batch of c.streamFingerprints(SHAPE, FULL_RANGE, 500)) seen.push(...batch);
        expect(seen).toHaveLength(N);
        const outcomes = await c.applyWrites(
          SHAPE,
          seen.map((r) => ({ key: r.key, expected: r.fingerprint, next: [`m${r.key[0]}`] })),
        );
        expect(outcomes.filter((o) => o !== "applied")).toEqual([]);
      } finally {
        flushing = false;
      }
      expect(await flushes).toBeGreaterThan(10);
      expect(await admin.hget("r:7", "name").catch(() => admin.get("r:7"))).toMatch(/m7/);
    });
  },
);

describe.skipIf(!bothUp || !existsSync("/usr/bin/redis-cli"))("repair --print into Redis", () => {
  it("writes bidi and C1 characters as byte escapes, which redis-cli reads back exactly", async () => {
    const pg = await createPostgresTestSchema();
    schemas.push(pg);
    const t = testPrefix("print-inert");
    const table = pg.table("t");
    await pg.admin.query(`CREATE TABLE ${table} (id text PRIMARY KEY, v text)`);
    const value = "a\u202eb\u0085c\u2028d\u2066e";
    await pg.admin.query(`INSERT INTO ${table} VALUES ($1, $2)`, ["k\u202e1", value]);
    const dir = tempDir();
    const config = writeConfig(
      dir,
      `state: sqlite:${dir}/state.db
datasets:
  t:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${table} }
      cache: { url: "${REDIS.url}", prefix: "${t.prefix}" }
    policy: { owner: pg, resolve: owner }
`,
    );
    const printed = await runConcord(["repair", "--print", "-c", config]);
    expect(printed.stderr).toBe("");
    const command = printed.stdout.split("\n").find((line) => line.startsWith("HSET "))!;
    // Nothing a terminal would obey (a right-to-left override reorders the rest of the line).
    expect(command).not.toMatch(/[\u0080-\u009f\u2028\u202a-\u202e\u2066-\u2069]/);
    expect(command).toBe(
      `HSET "${t.prefix}k\\xe2\\x80\\xae1" id "k\\xe2\\x80\\xae1" v "a\\xe2\\x80\\xaeb\\xc2\\x85c\\xe2\\x80\\xa8d\\xe2\\x81\\xa6e"`,
    );
    // Run by hand, it writes exactly what the repair would.
    const db = new URL(REDIS.url);
    const cli = spawnSync(
      "/usr/bin/redis-cli",
      ["-h", db.hostname, "-p", db.port || "6379", "-n", db.pathname.slice(1) || "0"],
      { input: `${command}\n`, encoding: "utf8" },
    );
    expect(cli.status).toBe(0);
    expect(await t.admin.hgetall(`${t.prefix}k\u202e1`)).toEqual({ id: "k\u202e1", v: value });
    expect((await runConcord(["scan", "-c", config])).code).toBe(0);
  });
});
