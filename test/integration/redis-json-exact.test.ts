/**
 * Redis JSON documents are read and written by their exact text: numbers past 2^53 or past a double's range
 * are neither rounded nor lost, on read, on compare, and on repair.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import type { RecordShape } from "../../src/core/model.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { REDIS, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(REDIS);

const prefixes: RedisTestPrefix[] = [];
function testPrefix(what: string): RedisTestPrefix {
  const t = createRedisTestPrefix(what);
  prefixes.push(t);
  return t;
}
afterEach(async () => {
  for (const t of prefixes.splice(0)) await t.drop();
});

const DOC: RecordShape = { key: [{ name: "id", type: "integer" }], columns: [{ name: "doc", type: "json" }] };
const NUMBERS: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "n", type: "integer" },
    { name: "d", type: "decimal" },
    { name: "f", type: "float" },
  ],
};

async function values(c: Connector, shape: RecordShape, ids: readonly string[]) {
  const got = await c.fetchRecords(
    shape,
    ids.map((id) => [id]),
  );
  return Object.fromEntries(got.map((r) => [r.key[0], r.values]));
}

describe.skipIf(!available)("redis JSON documents, exactly", () => {
  it("tells apart json columns whose numbers a double cannot hold", async () => {
    const t = testPrefix("json-exact-read");
    await t.admin.set(`${t.prefix}1`, '{"doc":{"id":9007199254740993}}');
    await t.admin.set(`${t.prefix}2`, '{"doc":{"id":9007199254740992}}');
    await t.admin.set(`${t.prefix}3`, '{"doc":{"x":1e400}}');
    await t.admin.set(`${t.prefix}4`, '{"doc":{"x":null}}');
    const c = await t.open({ format: "json" });
    expect(await values(c, DOC, ["1", "2", "3", "4"])).toEqual({
      "1": ['{"id":9007199254740993}'],
      "2": ['{"id":9007199254740992}'],
      "3": ['{"x":1e+400}'],
      "4": ['{"x":null}'],
    });
    const fingerprints = (await c.fetchRecords(DOC, [["1"], ["2"], ["3"], ["4"]])).map((r) => r.fingerprint);
    expect(new Set(fingerprints).size).toBe(4);
  });

  it("reads number properties by their exact text, and refuses a float past a double's range", async () => {
    const t = testPrefix("json-exact-numbers");
    await t.admin.set(`${t.prefix}1`, '{"n":9007199254740993,"d":0.30000000000000001,"f":0.1}');
    await t.admin.set(`${t.prefix}2`, '{"n":1e21,"d":-1.50e2,"f":-0}');
    await t.admin.set(`${t.prefix}3`, '{"n":1.5}');
    await t.admin.set(`${t.prefix}4`, '{"f":1e400}');
    const c = await t.open({ format: "json" });
    expect(await values(c, NUMBERS, ["1", "2"])).toEqual({
      "1": ["9007199254740993", "0.30000000000000001", "0.1"],
      "2": ["1000000000000000000000", "-150", "0"],
    });
    await expect(c.fetchRecords(NUMBERS, [["3"]])).rejects.toThrow(/column n: 1\.5 is not an integer/);
    await expect(c.fetchRecords(NUMBERS, [["4"]])).rejects.toThrow(
      /column f at key \["\d+"\]: "1e\+400" is beyond the range of a float/,
    );
  });

  it("writes json columns and number properties exactly, keeping each property's number or string form", async () => {
    const t = testPrefix("json-exact-write");
    const name = `${t.prefix}1`;
    // n is a number, d a string: a repair keeps each as it is; other properties keep their exact text.
    await t.admin.set(name, '{"keep":123456789012345678901234567890,"n":1,"d":"1","doc":{"id":1}}');
    const c = await t.open({ format: "json" });
    const shape: RecordShape = {
      key: NUMBERS.key,
      columns: [...NUMBERS.columns, { name: "doc", type: "json" }],
    };
    const [seen] = await c.fetchRecords(shape, [["1"]]);
    const next = ["9007199254740993", "0.30000000000000001", "NaN", '{"id":9007199254740993,"x":1e+400}'];
    expect(await c.applyWrites(shape, [{ key: ["1"], expected: seen!.fingerprint, next }])).toEqual([
      "applied",
    ]);
    expect(await t.admin.get(name)).toBe(
      '{"keep":1.2345678901234567890123456789e+29,"n":9007199254740993,"d":"0.30000000000000001","doc":{"id":9007199254740993,"x":1e+400},"id":1,"f":"NaN"}',
    );
    expect((await c.fetchRecords(shape, [["1"]]))[0]?.values).toEqual(next);
    // A new document: numbers a double holds exactly are numbers, the rest strings.
    const out = await c.applyWrites(shape, [
      { key: ["2"], expected: null, next: ["9007199254740993", "2.5", "0.1", "[1e+400]"] },
    ]);
    expect(out).toEqual(["applied"]);
    expect(await t.admin.get(`${t.prefix}2`)).toBe(
      '{"id":2,"n":"9007199254740993","d":2.5,"f":0.1,"doc":[1e+400]}',
    );
  });

  it("writes NaN and the infinities as strings, even over a number property (JSON has no such number)", async () => {
    const t = testPrefix("json-exact-nan");
    await t.admin.set(`${t.prefix}1`, '{"d":1,"f":2}');
    const c = await t.open({ format: "json" });
    const shape: RecordShape = {
      key: NUMBERS.key,
      columns: [
        { name: "d", type: "decimal" },
        { name: "f", type: "float" },
      ],
    };
    const [seen] = await c.fetchRecords(shape, [["1"]]);
    const next = ["NaN", "-Infinity"];
    expect(await c.applyWrites(shape, [{ key: ["1"], expected: seen!.fingerprint, next }])).toEqual([
      "applied",
    ]);
    expect(await t.admin.get(`${t.prefix}1`)).toBe('{"d":"NaN","f":"-Infinity","id":1}');
    expect((await c.fetchRecords(shape, [["1"]]))[0]?.values).toEqual(next);
  });
});
