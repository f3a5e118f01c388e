/** The conformance cases about keys whose nullable unique key columns hold NULL: order, ranges, lookups, writes, duplicates. Tests only. */
import { expect } from "vitest";
import { ConnectorError } from "../../src/connectors/connector.js";
import type { CanonicalValue } from "../../src/core/canonical.js";
import { fingerprintRow } from "../../src/core/fingerprint.js";
import { FULL_RANGE, type Key, type KeyRange, keyId } from "../../src/core/model.js";
import type { SuiteContext } from "./conformance-suite.js";
import type { TableFixture } from "./connector-factories.js";
import {
  checksumOf,
  inKeyOrder,
  oracleCompare,
  oracleInRange,
  recordsOf,
  shapeOf,
  streamAll,
} from "./connector-fixtures.js";

/**
 * A composite key (tenant text, n integer) kept unique by a unique index over nullable columns, with NULL in
 * either part or both, beside the texts '' and 'NULL' and the integers around zero, so NULL must order
 * first, equal only NULL, and hash apart from '' and 'NULL'.
 */
export const NULL_KEYS: TableFixture = {
  key: [
    { name: "tenant", type: "text" },
    { name: "n", type: "integer" },
  ],
  columns: [{ name: "v", type: "text" }],
  keyConstraint: "nullable unique index",
  rows: [
    [null, null, "both null"],
    [null, "-3", "tenant null"],
    [null, "0", "tenant null, zero"],
    [null, "7", null],
    ["", null, "empty tenant, n null"],
    ["", "0", "empty tenant"],
    ["NULL", null, "the text NULL"],
    ["NULL", "1", "the text NULL, one"],
    ["a", null, "a, n null"],
    ["a", "-1", "a, minus one"],
    ["a", "1", "a, one"],
    ["b", null, ""],
    ["b", "2", "b, two"],
  ],
};

/** The fixture's keys in the contract's order (NULL first in each part). */
function sortedKeys(): Key[] {
  return NULL_KEYS.rows.map((r) => r.slice(0, 2) as Key).sort((a, b) => oracleCompare(NULL_KEYS.key, a, b));
}

/** Ranges whose bounds are the fixture's keys (NULL parts included), plus keys between and beyond them. */
function rangesOver(keys: readonly Key[]): KeyRange[] {
  const bounds: Key[] = [
    ...keys,
    [null, "-100"],
    [null, "5"],
    ["", "-1"],
    ["a", "0"],
    ["c", null],
    ["a", "9"],
  ];
  const out: KeyRange[] = [FULL_RANGE];
  for (const b of bounds) out.push({ lo: b, hi: null }, { lo: null, hi: b });
  for (let i = 0; i < bounds.length; i++)
    for (let j = 0; j < bounds.length; j++)
      if (oracleCompare(NULL_KEYS.key, bounds[i]!, bounds[j]!) < 0)
        out.push({ lo: bounds[i]!, hi: bounds[j]! });
  return out;
}

/** Registers the NULL-key cases for one store. */
export function nullKeyCases(ctx: SuiteContext): void {
  const { create } = ctx;
  const shape = shapeOf(NULL_KEYS);
  const expected = recordsOf(NULL_KEYS);
  const keys = sortedKeys();

  ctx.test(
    "null-keys/listing",
    "lists keys with NULL parts, NULL first, each fingerprinted apart from '' and 'NULL'",
    async () => {
      const { connector } = await create(NULL_KEYS);
      expect(await connector.count(shape, FULL_RANGE)).toBe(keys.length);
      const { rows: listed } = await streamAll(connector, shape, FULL_RANGE, 5);
      // An unordered store's repeat of a key (SCAN's, on a resize) is dropped, its fingerprint checked equal.
      const inOrder = inKeyOrder(connector, shape.key, listed);
      expect(inOrder.map((r) => r.key)).toEqual(keys);
      for (const r of listed)
        expect(r.fingerprint, keyId(r.key)).toBe(expected.get(keyId(r.key))!.fingerprint);
      expect(new Set(listed.map((r) => r.fingerprint)).size).toBe(keys.length);
      const [sum] = await connector.checksumRanges(shape, [FULL_RANGE]);
      expect(sum).toEqual(checksumOf(listed.map((r) => r.fingerprint)));
    },
  );

  ctx.test(
    "null-keys/ranges",
    "counts, checksums, lists and splits ranges whose bounds hold NULL exactly as the key order says",
    async () => {
      const { connector } = await create(NULL_KEYS);
      const ranges = rangesOver(keys);
      const sums = await connector.checksumRanges(shape, ranges);
      for (const [i, range] of ranges.entries()) {
        const want = keys.filter((k) => oracleInRange(shape.key, range, k));
        const what = JSON.stringify(range);
        expect(sums[i]!.count, what).toBe(want.length);
        expect(sums[i], what).toEqual(checksumOf(want.map((k) => expected.get(keyId(k))!.fingerprint)));
        expect(await connector.count(shape, range), what).toBe(want.length);
        const { rows: listed } = await streamAll(connector, shape, range, 4);
        expect(
          listed.map((r) => r.key),
          what,
        ).toEqual(want);
      }
      const splits = await connector.splitRange(shape, FULL_RANGE, 4);
      expect(splits.length).toBeGreaterThan(0);
      for (let i = 1; i < splits.length; i++)
        expect(oracleCompare(shape.key, splits[i - 1]!, splits[i]!)).toBe(-1);
      for (const split of splits) expect(oracleCompare(shape.key, keys[0]!, split)).toBe(-1);
      if (connector.keyBounds) {
        const bounds = await connector.keyBounds(shape, FULL_RANGE);
        if (bounds) expect(bounds).toEqual({ first: keys[0], last: keys.at(-1) });
      }
      if (connector.streamFingerprintsIn) {
        const disjoint: KeyRange[] = [
          { lo: null, hi: [null, "0"] },
          { lo: [null, "7"], hi: ["NULL", "1"] },
          { lo: ["a", null], hi: ["b", null] },
        ];
        const got: Key[] = [];
        for await (const batch of connector.streamFingerprintsIn(shape, disjoint, 3))
          got.push(...batch.map((r) => r.key));
        expect(got).toEqual(keys.filter((k) => disjoint.some((r) => oracleInRange(shape.key, r, k))));
      }
    },
    "ordered",
  );

  ctx.test(
    "null-keys/fetch",
    "fetches records by keys with NULL parts, and finds nothing for an absent one",
    async () => {
      const { connector } = await create(NULL_KEYS);
      const absent: Key[] = [
        ["zz", null],
        [null, "99"],
        ["a", "2"],
      ];
      const got = await connector.fetchRecords(shape, [...keys, ...absent]);
      expect(got.length).toBe(keys.length);
      for (const rec of got) expect(rec).toEqual(expected.get(keyId(rec.key)));
    },
  );

  ctx.test(
    "null-keys/writes",
    "updates, inserts and deletes keys with NULL parts conditionally, never touching ['', null] or ['NULL', null]",
    async () => {
      const { connector } = await create(NULL_KEYS);
      const changed: CanonicalValue[] = ["changed"];
      const updated: Key = ["a", null];
      const inserted: Key = ["c", null];
      const deleted: Key = [null, null];
      const fp = (k: Key) => expected.get(keyId(k))!.fingerprint;
      const writes = [
        { key: updated, expected: fp(updated), next: changed },
        { key: inserted, expected: null, next: ["new"] },
        { key: deleted, expected: fp(deleted), next: null },
        // Someone else's state: left alone.
        { key: ["b", null] as Key, expected: fp(["a", "1"]), next: changed },
      ];
      expect(await connector.applyWrites(shape, writes)).toEqual([
        "applied",
        "applied",
        "applied",
        "superseded",
      ]);
      expect(await connector.applyWrites(shape, writes.slice(0, 3))).toEqual(["noop", "noop", "noop"]);
      const after = new Map(
        (await streamAll(connector, shape, FULL_RANGE, 100)).rows.map((r) => [keyId(r.key), r]),
      );
      expect(after.size).toBe(keys.length);
      expect(after.get(keyId(updated))!.fingerprint).toBe(fingerprintRow(updated, changed));
      expect(after.get(keyId(inserted))!.fingerprint).toBe(fingerprintRow(inserted, ["new"]));
      expect(after.has(keyId(deleted))).toBe(false);
      for (const k of [
        ["", null],
        ["NULL", null],
        ["b", null],
        [null, "-3"],
      ] as Key[])
        expect(after.get(keyId(k))!.fingerprint, keyId(k)).toBe(fp(k));
    },
  );

  ctx.test(
    "null-keys/duplicates",
    "refuses, naming the key, a key with NULL parts that several rows hold (its unique index lets NULLs repeat)",
    async () => {
      const doubled = { ...NULL_KEYS, rows: [...NULL_KEYS.rows, ["a", null, "a second row"]] };
      const { connector } = await create(doubled);
      const err = await connector.count(shape, FULL_RANGE).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toMatch(
        /key \["a",null\] names several rows of table \S+ \(its unique index/,
      );
      expect((err as Error).message).not.toContain("\n");
    },
  );

  ctx.test(
    "null-keys/duplicate-write",
    "refuses a write to a NULL key that a second row took after the first read, writing neither row",
    async () => {
      const store = await create(NULL_KEYS);
      const { connector } = store;
      expect(await connector.count(shape, FULL_RANGE)).toBe(keys.length);
      await store.put(["b", null, "a second row"]);
      const key: Key = ["b", null];
      const err = await connector
        .applyWrites(shape, [{ key, expected: expected.get(keyId(key))!.fingerprint, next: ["changed"] }])
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toMatch(/key \["b",null\] names several rows of table/);
      const held = await connector.fetchRecords(shape, [key]);
      expect(held.map((r) => r.values).sort()).toEqual([[""], ["a second row"]]);
    },
  );
}
