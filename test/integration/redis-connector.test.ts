/**
 * What only the Redis connector does, on a real server: key names, the hash and JSON layouts, errors, SCAN
 * repeats, the script cache. What every connector promises runs in test/conformance.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ConditionalWrite } from "../../src/connectors/connector.js";
import { ConnectorError } from "../../src/connectors/connector.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { openRedisConnector } from "../../src/connectors/redis/redis-connector.js";
import { fingerprintRow } from "../../src/core/fingerprint.js";
import { FULL_RANGE, type Key, type RecordShape } from "../../src/core/model.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { REDIS, serviceAvailable, TEST_PREFIX } from "../support/services.js";

const available = await serviceAvailable(REDIS);

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "balance", type: "decimal" },
    { name: "active", type: "boolean" },
    { name: "doc", type: "json" },
  ],
};

const prefixes: RedisTestPrefix[] = [];
function testPrefix(what: string): RedisTestPrefix {
  const t = createRedisTestPrefix(what);
  prefixes.push(t);
  return t;
}
afterEach(async () => {
  for (const t of prefixes.splice(0)) await t.drop();
});

async function streamAll(
  c: { streamFingerprints: (s: RecordShape, r: typeof FULL_RANGE, b: number) => AsyncIterable<unknown> },
  shape = SHAPE,
) {
  const out: unknown[] = [];
  for await (const batch of c.streamFingerprints(shape, FULL_RANGE, 100)) out.push(...(batch as unknown[]));
  return out;
}

async function rejection(p: Promise<unknown> | AsyncIterable<unknown>): Promise<Error> {
  try {
    if (Symbol.asyncIterator in p) for await (const _ of p);
    else await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe.skipIf(!available)("redis connector", () => {
  describe("opening", () => {
    it("names the replica and fails fast when nothing listens", async () => {
      const started = Date.now();
      const err = await rejection(
        openRedisConnector("redis://127.0.0.1:1/0", { prefix: "x:", label: "ds.cache" }),
      );
      expect(err).toBeInstanceOf(ConnectorError);
      expect(err.message).toMatch(
        /^ds\.cache: cannot connect to redis:\/\/127\.0\.0\.1:1\/0: .*ECONNREFUSED/,
      );
      expect(err.message).not.toContain("\n");
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it("refuses a wrong password without printing it", async () => {
      const url = REDIS.url.replace("redis://", "redis://nobody-such:s3cret-pw@");
      const err = await rejection(openRedisConnector(url, { prefix: "x:", label: "ds.cache" }));
      expect(err).toBeInstanceOf(ConnectorError);
      expect(err.message).toMatch(/^ds\.cache: cannot connect to redis:\/\/nobody-such:\*\*\*@.*WRONGPASS/);
      expect(err.message).not.toContain("s3cret-pw");
    });

    it("refuses a database index the server does not have, or a path that is no index", async () => {
      const base = new URL(REDIS.url);
      const err = await rejection(
        openRedisConnector(`redis://${base.host}/9999`, { prefix: "x:", label: "ds.cache" }),
      );
      expect(err.message).toMatch(/^ds\.cache: cannot connect to .*DB index is out of range/);
      const path = await rejection(openRedisConnector(`redis://${base.host}/cache`, { prefix: "x:" }));
      expect(path.message).toMatch(/the path must be a database number/);
    });

    it("needs a prefix in the replica config, and takes no table", async () => {
      await expect(openConnector("ds", { name: "cache", url: REDIS.url })).rejects.toThrow(
        /^ds\.cache: redis replica needs "prefix"/,
      );
      await expect(
        openConnector("ds", { name: "cache", url: REDIS.url, prefix: "c:", table: "t" }),
      ).rejects.toThrow(/^ds\.cache: redis replica takes "prefix", not "table"/);
      const c = await openConnector("ds", { name: "cache", url: REDIS.url, prefix: `${TEST_PREFIX}:none:` });
      expect(c.kind).toBe("redis");
      await c.close();
    });

    it("refuses writes when opened read-only", async () => {
      const t = testPrefix("readonly");
      const c = await t.open({ readonly: true });
      await expect(
        c.applyWrites(SHAPE, [{ key: ["1"], expected: null, next: ["a", "1", "t", null] }]),
      ).rejects.toThrow(/read-only/);
      expect(await t.admin.exists(`${t.prefix}1`)).toBe(0);
    });
  });

  describe("reading", () => {
    it("describes a sample of untyped fields and says it keeps no schema", async () => {
      const t = testPrefix("describe");
      await t.admin.hset(`${t.prefix}1`, "name", "a", "balance", "1.50");
      const c = await t.open();
      const d = await c.describe();
      expect(d.schemaless).toBe(true);
      expect(d.columns.map((col) => [col.name, col.typed])).toEqual([
        ["balance", false],
        ["name", false],
      ]);
      const empty = await (await testPrefix("empty").open()).describe();
      expect(empty).toEqual({ columns: [], schemaless: true, store: "Redis" });
    });

    it("canonicalises what applications store: text numbers, booleans, JSON text", async () => {
      const t = testPrefix("canonical");
      await t.admin.hset(
        `${t.prefix}7`,
        "name",
        "Ada",
        "balance",
        "012.50",
        "active",
        "TRUE",
        "doc",
        '{"b":1, "a":2}',
      );
      await t.admin.hset(`${t.prefix}8`, "id", "8", "extra", "ignored");
      const c = await t.open();
      const got = await c.fetchRecords(SHAPE, [["7"], ["8"], ["9"]]);
      expect(got).toEqual([
        {
          key: ["7"],
          values: ["Ada", "12.5", "t", '{"a":2,"b":1}'],
          fingerprint: fingerprintRow(["7"], ["Ada", "12.5", "t", '{"a":2,"b":1}']),
        },
        {
          key: ["8"],
          values: [null, null, null, null],
          fingerprint: fingerprintRow(["8"], [null, null, null, null]),
        },
      ]);
      const streamed = (await streamAll(c)) as { key: Key; fingerprint: string }[];
      expect(streamed.map((r) => r.key).sort()).toEqual([["7"], ["8"]]);
      expect(await c.count(SHAPE, FULL_RANGE)).toBe(2);
    });

    // Read as UTF-8 with U+FFFD, \xff, \xfe and the text "\ufffd" were one value (a false "equal"), and a
    // repair's guard, comparing the decoded text with the stored bytes, never matched (superseded forever).
    it("reads values that are not UTF-8 by their bytes: exact in a bytes column, refused in any other", async () => {
      const t = testPrefix("binary");
      const shape: RecordShape = {
        key: [{ name: "id", type: "integer" }],
        columns: [
          { name: "b", type: "bytes" },
          { name: "t", type: "text" },
        ],
      };
      await t.admin.hset(`${t.prefix}1`, "b", Buffer.from("ff00fe", "hex"), "t", "\u00e9");
      const c = await t.open();
      const [rec] = await c.fetchRecords(shape, [["1"]]);
      expect(rec?.values).toEqual(["ff00fe", "\u00e9"]);
      expect(await streamAll(c, shape)).toEqual([{ key: ["1"], fingerprint: rec!.fingerprint }]);
      expect(
        await c.applyWrites(shape, [{ key: ["1"], expected: rec!.fingerprint, next: ["fe", "x"] }]),
      ).toEqual(["applied"]);
      expect((await c.fetchRecords(shape, [["1"]]))[0]?.values).toEqual(["fe", "x"]);

      await t.admin.hset(`${t.prefix}2`, "t", Buffer.from("ff", "hex"));
      const message = /cannot read .*:2: column t at key \["2"\]: bytes ff are not UTF-8 text/;
      expect((await rejection(c.fetchRecords(shape, [["2"]]))).message).toMatch(message);
      expect((await rejection(streamAll(c, shape))).message).toMatch(message);

      const j = testPrefix("binary-json");
      await j.admin.set(`${j.prefix}1`, Buffer.from('{"t":"\xff"}', "latin1"));
      const json = await j.open({ format: "json" });
      expect((await rejection(json.fetchRecords(shape, [["1"]]))).message).toMatch(
        /cannot read .*:1: the value is not UTF-8 text/,
      );
    });

    // Decoded with U+FFFD by SCAN, `…\xff` named no key when read back: the record was skipped as vanished,
    // so a record only Redis held went unreported (replicas "agree").
    it("refuses a key name that is not UTF-8, in streams and counts, instead of skipping its record", async () => {
      const t = testPrefix("binary-name");
      const shape: RecordShape = {
        key: [{ name: "id", type: "text" }],
        columns: [{ name: "t", type: "text" }],
      };
      await t.admin.hset(`${t.prefix}a`, "t", "x");
      const binary = Buffer.concat([Buffer.from(t.prefix), Buffer.from("ff", "hex")]);
      await t.admin.hset(binary, "t", "y");
      try {
        const c = await t.open();
        const message = /scan failed: key ".*:\ufffd" \(bytes [0-9a-f]*3aff\) is not UTF-8 text/;
        expect((await rejection(streamAll(c, shape))).message).toMatch(message);
        expect((await rejection(c.count(shape, FULL_RANGE))).message).toMatch(message);
      } finally {
        // The prefix's cleanup deletes by decoded names, which do not name this key.
        await t.admin.del(binary);
      }
    });

    // Number() read "0x10" as 16: a Redis field no reader takes as a float equalled the double 16 elsewhere.
    it("refuses a float field in hexadecimal, binary or octal notation instead of reading its number", async () => {
      const t = testPrefix("hex-float");
      const shape: RecordShape = {
        key: [{ name: "id", type: "integer" }],
        columns: [
          { name: "f", type: "float" },
          { name: "g", type: "float32" },
        ],
      };
      await t.admin.hset(`${t.prefix}1`, "f", "1.5e1", "g", "+.5");
      await t.admin.hset(`${t.prefix}2`, "f", "0x10", "g", "1");
      await t.admin.hset(`${t.prefix}3`, "f", "1", "g", "0b11");
      const c = await t.open();
      expect((await c.fetchRecords(shape, [["1"]]))[0]?.values).toEqual(["15", "0.5"]);
      expect((await rejection(c.fetchRecords(shape, [["2"]]))).message).toMatch(
        /cannot read .*:2: column f at key \["2"\]: "0x10" is not a float/,
      );
      expect((await rejection(c.fetchRecords(shape, [["3"]]))).message).toMatch(
        /cannot read .*:3: column g at key \["3"\]: "0b11" is not a float32/,
      );
    });

    it("reads JSON documents: JSON null and an absent property are different for a json column", async () => {
      const t = testPrefix("json-read");
      await t.admin.set(
        `${t.prefix}1`,
        JSON.stringify({ name: null, balance: 12.5, active: false, doc: null }),
      );
      await t.admin.set(
        `${t.prefix}2`,
        JSON.stringify({ name: 5, balance: "0.10", active: 1, doc: { z: [1, null] } }),
      );
      const c = await t.open({ format: "json" });
      const got = await c.fetchRecords(SHAPE, [["1"], ["2"]]);
      expect(got.map((r) => r.values)).toEqual([
        [null, "12.5", "f", "null"],
        ["5", "0.1", "t", '{"z":[1,null]}'],
      ]);
      // Numbers past 2^53 keep every digit: the document's text is read, not a double.
      await t.admin.set(`${t.prefix}3`, '{"balance": 9007199254740993.25}');
      expect((await c.fetchRecords(SHAPE, [["3"]]))[0]?.values[1]).toBe("9007199254740993.25");
      await t.admin.set(`${t.prefix}4`, "[1,2]");
      expect((await rejection(c.fetchRecords(SHAPE, [["4"]]))).message).toMatch(/not a JSON object/);
    });

    it.each(["hash", "json"] as const)("names a key of the wrong type (%s)", async (format) => {
      const t = testPrefix(`wrongtype-${format}`);
      if (format === "hash") await t.admin.set(`${t.prefix}5`, "{}");
      else await t.admin.hset(`${t.prefix}5`, "name", "x");
      const c = await t.open({ format, label: "ds.cache" });
      const err = await rejection(streamAll(c));
      expect(err).toBeInstanceOf(ConnectorError);
      expect(err.message).toMatch(/^ds\.cache: scan failed/);
      expect(err.message).toContain(`${t.prefix}5`);
      expect(err.message).toContain(
        format === "hash" ? "keeps records in hashes" : "keeps records in strings",
      );
      const fetch = await rejection(c.fetchRecords(SHAPE, [["5"]]));
      expect(fetch.message).toMatch(/WRONGTYPE/);
      expect(fetch.message).toContain(`${t.prefix}5`);
    });

    it.each([
      { stored: "007", why: /007 is not a record key of this dataset: the record of key \["7"\] is .*:7$/ },
      { stored: "abc", why: /cannot read .*abc: column id: "abc" is not an integer/ },
      { stored: "1:orders", why: /is not an integer/ },
    ])("refuses $stored under the prefix, which is no canonical integer key", async ({ stored, why }) => {
      const t = testPrefix("names");
      await t.admin.hset(`${t.prefix}${stored}`, "name", "x");
      const c = await t.open();
      expect((await rejection(streamAll(c))).message).toMatch(why);
      expect((await rejection(c.count(SHAPE, FULL_RANGE))).message).toMatch(/abc|007|orders/);
    });

    it("escapes ':' and '\\' inside composite key parts", async () => {
      const t = testPrefix("composite");
      const shape: RecordShape = {
        key: [
          { name: "region", type: "text" },
          { name: "seq", type: "integer" },
        ],
        columns: [{ name: "note", type: "text" }],
      };
      const c = await t.open();
      const keys: Key[] = [
        ["eu:west", "1"],
        ["back\\slash", "2"],
        ["", "3"],
      ];
      const writes = keys.map((key): ConditionalWrite => ({ key, expected: null, next: [key[0]!] }));
      expect(await c.applyWrites(shape, writes)).toEqual(["applied", "applied", "applied"]);
      expect((await t.admin.keys(`${t.prefix}*`)).sort()).toEqual(
        [`${t.prefix}:3`, `${t.prefix}back\\\\slash:2`, `${t.prefix}eu\\:west:1`].sort(),
      );
      const streamed = (await streamAll(c, shape)) as { key: Key }[];
      expect(streamed.map((r) => r.key).sort()).toEqual([...keys].sort());
    });

    it("finds the few records of its prefix among many other keys", async () => {
      const mine = testPrefix("sparse");
      const others = testPrefix("crowd");
      const p = others.admin.pipeline();
      for (let i = 0; i < 20_000; i++) p.set(`${others.prefix}${i}`, "x");
      for (let i = 0; i < 10; i++) p.hset(`${mine.prefix}${i}`, "name", `n${i}`);
      await p.exec();
      const c = await mine.open({ scanCount: 100 });
      const streamed = (await streamAll(c)) as { key: Key }[];
      expect(streamed.map((r) => Number(r.key[0])).sort((a, b) => a - b)).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
      ]);
      expect(await c.count(SHAPE, FULL_RANGE)).toBe(10);
      // SCAN's COUNT grew while pages came back nearly empty: fewer round trips than 20,000 / 100.
      expect(c.stats.queries).toBeLessThan(150);
    });

    it("refuses a range other than the full key range", async () => {
      const c = await testPrefix("ranges").open({ label: "ds.cache" });
      const part = { lo: ["1"], hi: null };
      await expect(c.count(SHAPE, part)).rejects.toThrow(
        /^ds\.cache: redis keeps no key order: count covers only the full key range/,
      );
      await expect(c.checksumRanges(SHAPE, [FULL_RANGE, part])).rejects.toThrow(/full key range/);
      expect((await rejection(c.streamFingerprints(SHAPE, part, 10))).message).toMatch(/full key range/);
      expect(await c.splitRange(SHAPE, FULL_RANGE, 4)).toEqual([]);
    });

    it("counts and checksums exactly over several dedup passes, and estimates high", async () => {
      const t = testPrefix("passes");
      const p = t.admin.pipeline();
      for (let i = 0; i < 300; i++) p.hset(`${t.prefix}${i}`, "name", `n${i}`);
      await p.exec();
      const one = await t.open();
      const many = await t.open({ dedupRows: 40, scanCount: 7 });
      expect(await many.count(SHAPE, FULL_RANGE)).toBe(300);
      expect(await many.checksumRanges(SHAPE, [FULL_RANGE])).toEqual(
        await one.checksumRanges(SHAPE, [FULL_RANGE]),
      );
      expect((await one.checksumRanges(SHAPE, [FULL_RANGE]))[0]!.count).toBe(300);
      expect(await one.estimateCount(SHAPE)).toBeGreaterThanOrEqual(300);
    });
  });

  describe("writing", () => {
    it("has no record for a NULL one-column key, and refuses its write naming the key column", async () => {
      const t = testPrefix("null-key");
      const c = await t.open({ format: "hash" });
      expect(await c.fetchRecords(SHAPE, [[null], ["1"]])).toEqual([]);
      const err = await rejection(
        c.applyWrites(SHAPE, [{ key: [null], expected: null, next: ["x", null, null, null] }]),
      );
      expect(err).toBeInstanceOf(ConnectorError);
      expect(err.message).toMatch(
        /key \[null\] cannot be written: key column id is NULL, and a one-column key that is NULL has no Redis key name/,
      );
      expect(err.message).not.toContain("\n");
      expect(await t.admin.keys(`${t.prefix}*`)).toEqual([]);
    });

    it("writes a NULL part of a composite key as \\N, and reads it back as NULL", async () => {
      const t = testPrefix("null-part");
      const c = await t.open({ format: "hash" });
      const shape: RecordShape = {
        key: [
          { name: "tenant", type: "text" },
          { name: "n", type: "integer" },
        ],
        columns: [{ name: "name", type: "text" }],
      };
      expect(await c.applyWrites(shape, [{ key: ["eu", null], expected: null, next: ["x"] }])).toEqual([
        "applied",
      ]);
      expect(await t.admin.hgetall(`${t.prefix}eu:\\N`)).toEqual({ tenant: "eu", name: "x" });
      const listed = (await streamAll(c, shape)) as { key: Key }[];
      expect(listed.map((r) => r.key)).toEqual([["eu", null]]);
    });

    it.each(["hash", "json"] as const)(
      "keeps what the shape does not cover, and the TTL (%s)",
      async (format) => {
        const t = testPrefix(`keep-${format}`);
        const name = `${t.prefix}1`;
        if (format === "hash") await t.admin.hset(name, "name", "old", "other", "kept");
        else await t.admin.set(name, JSON.stringify({ name: "old", other: "kept" }));
        await t.admin.expire(name, 3600);
        const c = await t.open({ format });
        const [seen] = await c.fetchRecords(SHAPE, [["1"]]);
        const next = ["new", "2.5", null, "[1]"];
        expect(await c.applyWrites(SHAPE, [{ key: ["1"], expected: seen!.fingerprint, next }])).toEqual([
          "applied",
        ]);
        expect((await c.fetchRecords(SHAPE, [["1"]]))[0]?.values).toEqual(next);
        if (format === "hash") {
          expect(await t.admin.hgetall(name)).toEqual({
            id: "1",
            name: "new",
            balance: "2.5",
            doc: "[1]",
            other: "kept",
          });
        } else {
          expect(JSON.parse((await t.admin.get(name))!)).toEqual({
            name: "new",
            other: "kept",
            id: 1,
            balance: 2.5,
            active: null,
            doc: [1],
          });
        }
        expect(await t.admin.ttl(name)).toBeGreaterThan(3000);
      },
    );

    it("writes a record whose compared columns are all null, and reads it back as present", async () => {
      const t = testPrefix("all-null");
      const c = await t.open();
      const next = [null, null, null, null];
      expect(await c.applyWrites(SHAPE, [{ key: ["3"], expected: null, next }])).toEqual(["applied"]);
      expect(await c.fetchRecords(SHAPE, [["3"]])).toEqual([
        { key: ["3"], values: next, fingerprint: fingerprintRow(["3"], next) },
      ]);
      expect(await c.count(SHAPE, FULL_RANGE)).toBe(1);
      expect(await c.applyWrites(SHAPE, [{ key: ["3"], expected: null, next }])).toEqual(["noop"]);
    });

    it("re-reads and re-decides when the record changes between its read and its commit", async () => {
      const t = testPrefix("race");
      await t.admin.hset(`${t.prefix}1`, "name", "a");
      await t.admin.hset(`${t.prefix}2`, "name", "b");
      await t.admin.hset(`${t.prefix}3`, "name", "c");
      const seen = new Map(
        (await (await t.open()).fetchRecords(SHAPE, [["1"], ["2"], ["3"]])).map((r) => [
          r.key[0],
          r.fingerprint,
        ]),
      );
      let rounds = 0;
      const c = await t.open({
        beforeCommit: async (keys) => {
          rounds++;
          if (rounds > 1) return;
          expect(keys).toEqual([["1"], ["2"], ["3"]]);
          await t.admin.hset(`${t.prefix}1`, "name", "theirs"); // someone else's change: superseded
          await t.admin.hset(`${t.prefix}2`, "name", "b"); // rewritten as it was: still as expected
          await t.admin.hset(`${t.prefix}3`, "name", "ours"); // already what we write: noop
        },
      });
      const writes: ConditionalWrite[] = ["1", "2", "3"].map((id) => ({
        key: [id],
        expected: seen.get(id)!,
        next: ["ours", null, null, null],
      }));
      expect(await c.applyWrites(SHAPE, writes)).toEqual(["superseded", "applied", "noop"]);
      expect(rounds).toBe(1);
      expect(await t.admin.hget(`${t.prefix}1`, "name")).toBe("theirs");
    });

    it("gives up, superseded, on a record that changes before every commit", async () => {
      const t = testPrefix("livelock");
      await t.admin.hset(`${t.prefix}1`, "balance", "1.5");
      const [seen] = await (await t.open()).fetchRecords(SHAPE, [["1"]]);
      let rounds = 0;
      const c = await t.open({
        // A different text of the same value: the fingerprint stays, the stored bytes change.
        beforeCommit: async () => {
          rounds++;
          await t.admin.hset(`${t.prefix}1`, "balance", `1.5${"0".repeat(rounds)}`);
        },
      });
      expect(
        await c.applyWrites(SHAPE, [
          { key: ["1"], expected: seen!.fingerprint, next: ["x", null, null, null] },
        ]),
      ).toEqual(["superseded"]);
      expect(rounds).toBe(5);
      expect(await t.admin.hget(`${t.prefix}1`, "name")).toBeNull();
    });

    it.each(["hash", "json"] as const)("survives a flushed script cache (%s)", async (format) => {
      const t = testPrefix(`noscript-${format}`);
      const c = await t.open({ format });
      const next = ["a", "1", "t", null];
      expect(await c.applyWrites(SHAPE, [{ key: ["1"], expected: null, next }])).toEqual(["applied"]);
      expect(await streamAll(c)).toHaveLength(1);
      await t.admin.script("FLUSH");
      expect(await c.applyWrites(SHAPE, [{ key: ["2"], expected: null, next }])).toEqual(["applied"]);
      await t.admin.script("FLUSH");
      expect(await streamAll(c)).toHaveLength(2);
    });
  });
});
