/** The conformance cases about conditional writes, and about what keeps a key unique. Tests only. */
import { expect } from "vitest";
import { type ConditionalWrite, ConnectorError } from "../../src/connectors/connector.js";
import type { CanonicalValue } from "../../src/core/canonical.js";
import { fingerprintRow } from "../../src/core/fingerprint.js";
import { FULL_RANGE, keyId } from "../../src/core/model.js";
import type { SuiteContext } from "./conformance-suite.js";
import {
  COMPOSITE,
  COMPOSITE_KEY,
  fetchOne,
  IDS,
  inKeyOrder,
  oracleCompare,
  recordsOf,
  shapeOf,
  streamAll,
  TYPED,
  TYPED_COLUMNS,
  TYPED_ROWS,
} from "./connector-fixtures.js";

/** Registers the conditional-write cases for one store. */
export function writeCases(ctx: SuiteContext): void {
  const { create } = ctx;
  const test = (id: string, title: string, fn: () => Promise<void>) => ctx.test(`writes/${id}`, title, fn);
  const shape = shapeOf(TYPED.fixture);
  const original = recordsOf(TYPED.fixture);
  const key = ["2"];
  const next: CanonicalValue[] = [
    "99.5",
    "2.5",
    "f",
    "changed|value",
    "2025-06-01T12:00:00.000001Z",
    "2",
    "cafe",
  ];
  const theirs: CanonicalValue[] = ["1", "1", "t", "someone else", null, '{"by":"them"}', ""];

  test(
    "update",
    "applies an update whose expected fingerprint is current; the repeat is a noop",
    async () => {
      const { connector } = await create(TYPED.fixture);
      const write: ConditionalWrite = { key, expected: original.get(keyId(key))!.fingerprint, next };
      expect(await connector.applyWrites(shape, [write])).toEqual(["applied"]);
      expect(await fetchOne(connector, shape, key)).toEqual({
        key,
        values: next,
        fingerprint: fingerprintRow(key, next),
      });
      expect(await connector.applyWrites(shape, [write])).toEqual(["noop"]);
      expect(await fetchOne(connector, shape, key)).toEqual({
        key,
        values: next,
        fingerprint: fingerprintRow(key, next),
      });
      expect(await connector.count(shape, FULL_RANGE)).toBe(IDS.length);
    },
  );

  test(
    "print",
    "printWrites renders one text per write, naming the key's values, and changes nothing",
    async () => {
      const { connector } = await create(TYPED.fixture);
      // In key order: an unordered store may list in another order from one scan to the next, or name a key
      // twice (Redis's SCAN, when other clients' keys resize the keyspace in between or during it).
      const listed = async () =>
        inKeyOrder(connector, shape.key, (await streamAll(connector, shape, FULL_RANGE, 1000)).rows);
      const before = await listed();
      expect(before.map((r) => r.key)).toEqual(TYPED.order);
      const writes: ConditionalWrite[] = [
        { key, expected: original.get(keyId(key))!.fingerprint, next },
        { key: ["3"], expected: original.get(keyId(["3"]))!.fingerprint, next: null },
        { key: ["424242"], expected: null, next },
      ];
      const texts = await connector.printWrites(shape, writes);
      expect(texts).toHaveLength(3);
      for (const t of texts) expect(t).toMatch(/\S/);
      // The update and the insert carry a value of the record written; the delete names no value.
      expect(texts[0]).toContain("changed|value");
      expect(texts[2]).toContain("changed|value");
      expect(texts[1]).not.toContain("changed|value");
      expect(await listed()).toEqual(before);
    },
  );

  test("every-type", "writes every type and null faithfully", async () => {
    const { connector } = await create(TYPED.fixture);
    const writes: ConditionalWrite[] = IDS.map((id, i) => {
      const values = TYPED_COLUMNS.map((_, c) => TYPED_ROWS[(i + c + 1) % TYPED_ROWS.length]![c + 1]!);
      return { key: [id], expected: original.get(keyId([id]))!.fingerprint, next: values };
    });
    const outcomes = await connector.applyWrites(shape, writes);
    expect(outcomes).toEqual(
      writes.map((w) => (w.next!.join() === original.get(keyId(w.key))!.values.join() ? "noop" : "applied")),
    );
    const got = new Map(
      (
        await connector.fetchRecords(
          shape,
          IDS.map((id) => [id]),
        )
      ).map((r) => [keyId(r.key), r]),
    );
    for (const w of writes) expect(got.get(keyId(w.key))?.values, JSON.stringify(w.key)).toEqual(w.next);
    expect(await connector.applyWrites(shape, writes)).toEqual(writes.map(() => "noop"));
  });

  test(
    "stale",
    "refuses (superseded) a write whose expected fingerprint is stale, and writes nothing",
    async () => {
      const store = await create(TYPED.fixture);
      const { connector } = store;
      const seen = (await fetchOne(connector, shape, key))!;
      await store.put([...key, ...theirs]);
      expect(await connector.applyWrites(shape, [{ key, expected: seen.fingerprint, next }])).toEqual([
        "superseded",
      ]);
      expect((await fetchOne(connector, shape, key))?.values).toEqual(theirs);
      expect(await connector.applyWrites(shape, [{ key, expected: seen.fingerprint, next: null }])).toEqual([
        "superseded",
      ]);
      expect((await fetchOne(connector, shape, key))?.values).toEqual(theirs);
    },
  );

  test(
    "insert",
    "inserts where expected is null; the repeat is a noop; expecting absence of a present record is superseded",
    async () => {
      const { connector } = await create(TYPED.fixture);
      const insert: ConditionalWrite = { key: TYPED.missing, expected: null, next };
      expect(await connector.applyWrites(shape, [insert])).toEqual(["applied"]);
      expect(await fetchOne(connector, shape, TYPED.missing)).toEqual({
        key: TYPED.missing,
        values: next,
        fingerprint: fingerprintRow(TYPED.missing, next),
      });
      expect(await connector.applyWrites(shape, [insert])).toEqual(["noop"]);
      expect(await connector.count(shape, FULL_RANGE)).toBe(IDS.length + 1);

      const clobber: ConditionalWrite = { key, expected: null, next };
      expect(await connector.applyWrites(shape, [clobber])).toEqual(["superseded"]);
      expect(await fetchOne(connector, shape, key)).toEqual(original.get(keyId(key)));
    },
  );

  test("delete", "deletes with next = null; the repeat is a noop; a stale delete is superseded", async () => {
    const store = await create(TYPED.fixture);
    const { connector } = store;
    const del: ConditionalWrite = { key, expected: original.get(keyId(key))!.fingerprint, next: null };
    expect(await connector.applyWrites(shape, [del])).toEqual(["applied"]);
    expect(await fetchOne(connector, shape, key)).toBeUndefined();
    expect(await connector.applyWrites(shape, [del])).toEqual(["noop"]);
    expect(await connector.count(shape, FULL_RANGE)).toBe(IDS.length - 1);

    const other = ["10"];
    const seen = (await fetchOne(connector, shape, other))!;
    await store.put([...other, ...theirs]);
    expect(
      await connector.applyWrites(shape, [{ key: other, expected: seen.fingerprint, next: null }]),
    ).toEqual(["superseded"]);
    expect((await fetchOne(connector, shape, other))?.values).toEqual(theirs);
  });

  test(
    "mixed-batch",
    "returns one outcome per write, in order, for a mixed batch on a composite key",
    async () => {
      const store = await create(COMPOSITE.fixture);
      const { connector } = store;
      const cshape = shapeOf(COMPOSITE.fixture);
      const rows = recordsOf(COMPOSITE.fixture);
      const [k1, k2, k3] = [COMPOSITE.order[0]!, COMPOSITE.order[5]!, COMPOSITE.order[9]!];
      await store.put([...k3, "moved on", "7"]);
      const writes: ConditionalWrite[] = [
        { key: k1, expected: rows.get(keyId(k1))!.fingerprint, next: ["updated", null] },
        { key: COMPOSITE.missing, expected: null, next: ["new", "1"] },
        { key: k2, expected: rows.get(keyId(k2))!.fingerprint, next: null },
        { key: k3, expected: rows.get(keyId(k3))!.fingerprint, next: ["lost", "0"] },
        { key: k1, expected: "0123456789abcdef", next: ["updated", null] },
      ];
      expect(await connector.applyWrites(cshape, writes)).toEqual([
        "applied",
        "applied",
        "applied",
        "superseded",
        "noop",
      ]);
      const got = new Map(
        (await connector.fetchRecords(cshape, [k1, k2, k3, COMPOSITE.missing])).map((r) => [keyId(r.key), r]),
      );
      expect(got.get(keyId(k1))?.values).toEqual(["updated", null]);
      expect(got.get(keyId(COMPOSITE.missing))?.values).toEqual(["new", "1"]);
      expect(got.has(keyId(k2))).toBe(false);
      expect(got.get(keyId(k3))?.values).toEqual(["moved on", "7"]);
      const streamed = inKeyOrder(
        connector,
        COMPOSITE_KEY,
        (await streamAll(connector, cshape, FULL_RANGE, 4)).rows,
      );
      expect(streamed.length).toBe(COMPOSITE.order.length);
      for (let i = 1; i < streamed.length; i++) {
        expect(oracleCompare(COMPOSITE_KEY, streamed[i - 1]!.key, streamed[i]!.key)).toBe(-1);
      }
    },
  );
}

/** Registers the cases about unique keys for one store: what keeps a key unique is enough, and needed. */
export function keyCases(ctx: SuiteContext): void {
  const shape = shapeOf(TYPED.fixture);
  ctx.test(
    "keys/unique-index",
    "takes a key kept unique by a unique index instead of a primary key",
    async () => {
      const { connector } = await ctx.create({ ...TYPED.fixture, keyConstraint: "unique index" });
      expect(await connector.count(shape, FULL_RANGE)).toBe(IDS.length);
      const sums = await connector.checksumRanges(shape, [FULL_RANGE]);
      expect(sums[0]!.count).toBe(IDS.length);
    },
  );

  ctx.test(
    "keys/not-unique",
    "refuses, naming the table and the key, a key that no primary key or unique index keeps unique",
    async () => {
      const { connector } = await ctx.create({ ...TYPED.fixture, keyConstraint: "none" });
      // describe() knows no key; the first call that names the shape refuses it, before any other work.
      await connector.describe();
      for (const call of [
        () => connector.count(shape, FULL_RANGE),
        () => connector.checksumRanges(shape, [FULL_RANGE]),
        () => connector.fetchRecords(shape, [["1"]]),
      ]) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ConnectorError);
        expect((err as Error).message).toMatch(
          /items\S*"? does not keep key \(id\) unique: no primary key or unique index/,
        );
        expect((err as Error).message).not.toContain("\n");
      }
    },
  );
}
