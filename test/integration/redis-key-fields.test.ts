/**
 * A Redis record whose own key field (a hash field or JSON property named like a key column) says another key
 * than its name stops every read of it in one line naming the Redis key and the field, so neither key is
 * picked silently: before, the name won, the field was never read, and a repair copied the record into SQL
 * under the name's key while the record said another.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/connector.js";
import { FULL_RANGE, type RecordShape } from "../../src/core/model.js";
import { runConcord, tempDir } from "../cli/helpers.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { REDIS, serviceAvailable } from "../support/services.js";

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "name", type: "text" }],
};
const PAIR: RecordShape = {
  key: [
    { name: "region", type: "text" },
    { name: "n", type: "integer" },
  ],
  columns: [{ name: "name", type: "text" }],
};

const prefixes: RedisTestPrefix[] = [];
function testPrefix(): RedisTestPrefix {
  const t = createRedisTestPrefix("types-keyfields");
  prefixes.push(t);
  return t;
}
afterEach(async () => {
  for (const t of prefixes.splice(0)) await t.drop();
});

async function failure(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectorError);
    return (err as Error).message;
  }
  throw new Error("expected the read to fail");
}

async function streamed(c: Awaited<ReturnType<RedisTestPrefix["open"]>>, shape: RecordShape) {
  const keys: unknown[] = [];
  for await (const batch of c.streamFingerprints(shape, FULL_RANGE, 100))
    keys.push(...batch.map((r) => r.key));
  return keys;
}

describe.skipIf(!(await serviceAvailable(REDIS)))("a Redis record's key fields", () => {
  it("stop streams and fetches of a hash whose field says another key, naming the key and the field", async () => {
    const t = testPrefix();
    await t.admin.hset(`${t.prefix}1`, { id: "1", name: "a" });
    await t.admin.hset(`${t.prefix}2`, { id: "7", name: "b" });
    const c = await t.open();
    const line = `test.types-keyfields: cannot read ${t.prefix}2: its field id holds "7", but its name says key column id is "2": the record's key is ambiguous, so it is neither compared nor repaired; make the field agree with the name, or store the record under the name of the key it holds`;
    expect(await failure(() => streamed(c, SHAPE))).toBe(line);
    expect(await failure(() => c.fetchRecords(SHAPE, [["2"]]))).toBe(line);
    // A write to it reads it first, and stops the same way instead of overwriting the field.
    expect(await failure(() => c.applyWrites(SHAPE, [{ key: ["2"], expected: null, next: ["c"] }]))).toBe(
      line,
    );
    expect(await t.admin.hgetall(`${t.prefix}2`)).toEqual({ id: "7", name: "b" });
  });

  it("stop JSON records whose property says another key, composite keys and NULL parts included", async () => {
    const t = testPrefix();
    await t.admin.set(`${t.prefix}eu:1`, JSON.stringify({ region: "eu", n: 1, name: "a" }));
    await t.admin.set(`${t.prefix}eu:2`, JSON.stringify({ region: "us", n: 2, name: "b" }));
    await t.admin.set(`${t.prefix}eu:\\N`, JSON.stringify({ region: "eu", n: 3, name: "c" }));
    const c = await t.open({ format: "json" });
    expect(await failure(() => c.fetchRecords(PAIR, [["eu", "2"]]))).toMatch(
      new RegExp(
        `cannot read ${t.prefix}eu:2: its property region holds "us", but its name says key column region is "eu": `,
      ),
    );
    expect(await failure(() => c.fetchRecords(PAIR, [["eu", null]]))).toMatch(
      /: its property n holds "3", but its name says key column n is NULL: /,
    );
    await t.admin.del(`${t.prefix}eu:2`, `${t.prefix}eu:\\N`);
    expect(await streamed(c, PAIR)).toEqual([["eu", "1"]]);
  });

  it("agree when absent, JSON null, or the same key in another spelling", async () => {
    const h = testPrefix();
    await h.admin.hset(`${h.prefix}1`, { name: "no id field" });
    await h.admin.hset(`${h.prefix}2`, { id: "02", name: "zero-padded" });
    const hashes = await h.open();
    expect((await streamed(hashes, SHAPE)).sort()).toEqual([["1"], ["2"]]);
    const j = testPrefix();
    await j.admin.set(`${j.prefix}1`, '{"id": null, "name": "null id"}');
    await j.admin.set(`${j.prefix}2`, '{"id": 2, "name": "number"}');
    await j.admin.set(`${j.prefix}3`, '{"id": "3", "name": "string"}');
    await j.admin.set(`${j.prefix}4`, '{"id": 4.0, "name": "4.0"}');
    const docs = await j.open({ format: "json" });
    expect((await streamed(docs, SHAPE)).sort()).toEqual([["1"], ["2"], ["3"], ["4"]]);
    // A number that is no integer, or another JSON kind, is another key.
    await j.admin.set(`${j.prefix}5`, '{"id": 5.5, "name": "x"}');
    expect(await failure(() => docs.fetchRecords(SHAPE, [["5"]]))).toMatch(/its property id holds "5\.5", /);
    await j.admin.set(`${j.prefix}5`, '{"id": [5], "name": "x"}');
    expect(await failure(() => docs.fetchRecords(SHAPE, [["5"]]))).toMatch(/its property id holds "\[5\]", /);
  });

  it("stops scan and repair beside SQLite in one line, and nothing is written under either key", async () => {
    const t = testPrefix();
    const dir = tempDir();
    const db = new Database(join(dir, "a.db"));
    db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    db.exec("INSERT INTO customers VALUES (1, 'a')");
    db.close();
    await t.admin.hset(`${t.prefix}1`, { id: "1", name: "a" });
    await t.admin.hset(`${t.prefix}2`, { id: "7", name: "b" });
    const yaml = join(dir, "concord.yaml");
    writeFileSync(
      yaml,
      `state: sqlite:state.db\ndatasets:\n  c:\n    key: id\n    replicas:\n` +
        `      sql: { url: "sqlite:a.db", table: customers }\n` +
        `      cache: { url: ${JSON.stringify(REDIS.url)}, prefix: ${JSON.stringify(t.prefix)} }\n` +
        `    policy: { owner: cache }\n`,
    );
    for (const command of ["scan", "repair"]) {
      const r = await runConcord([command, "-c", yaml]);
      expect(r.code, command).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(
        new RegExp(
          `^concord: c\\.cache: .*cannot read ${t.prefix}2: its field id holds "7", but its name says key column id is "2": [^\\n]*\\n$`,
        ),
      );
    }
    const after = new Database(join(dir, "a.db"));
    expect(after.prepare("SELECT id, name FROM customers ORDER BY id").all()).toEqual([{ id: 1, name: "a" }]);
    after.close();
  });
});
