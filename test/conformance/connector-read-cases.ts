/** The conformance cases about reading one table: order, fingerprints, checksums, listings, splits. Tests only. */
import { expect } from "vitest";
import { keyBucket } from "../../src/core/key-bucket.js";
import { FULL_RANGE, type KeyFingerprint, keyId } from "../../src/core/model.js";
import type { Need, SuiteContext } from "./conformance-suite.js";
import {
  type Case,
  checksumOf,
  describeRange,
  inKeyOrder,
  isOrdered,
  oracleCompare,
  oracleInRange,
  rangesFor,
  recordsOf,
  shapeOf,
  streamAll,
  streamAllIn,
} from "./connector-fixtures.js";

/** Registers the read cases of `tc` ("typed", "composite") for one store. */
export function readCases(ctx: SuiteContext, tc: Case): void {
  const { create } = ctx;
  const shape = shapeOf(tc.fixture);
  const expected = recordsOf(tc.fixture);
  const test = (id: string, title: string, fn: () => Promise<void>, needs?: Need) =>
    ctx.test(`${tc.id}/${id}`, title, fn, needs);

  test(
    "describe",
    "describes every column with its logical type (a schemaless store: a sample of untyped fields)",
    async () => {
      const { connector } = await create(tc.fixture);
      const { columns, schemaless } = await connector.describe();
      const all = [...tc.fixture.key, ...tc.fixture.columns];
      if (schemaless) {
        // No schema to report: the fields of a few records, typed by the other replicas or `types:`.
        expect(columns.length).toBeGreaterThan(0);
        for (const c of columns) {
          expect(all.map((a) => a.name)).toContain(c.name);
          expect(c.typed, c.name).toBe(false);
        }
      } else {
        expect(columns.map((c) => ({ name: c.name, type: c.type }))).toEqual(
          all.map((c) => ({ name: c.name, type: c.type })),
        );
      }
      for (const c of columns) expect(c.nativeType).not.toBe("");
    },
  );

  for (const batchSize of [1, 7, 1000])
    test(
      `stream-${batchSize}`,
      `streams every key, in ascending key order unless unordered, in batches of at most ${batchSize}`,
      async () => {
        const { connector } = await create(tc.fixture);
        const { sizes, rows } = await streamAll(connector, shape, FULL_RANGE, batchSize);
        expect(inKeyOrder(connector, tc.fixture.key, rows).map((r) => r.key)).toEqual(tc.order);
        for (const n of sizes) expect(n).toBeLessThanOrEqual(batchSize);
        // Bounded memory: a store must not hand the whole table over in one batch.
        if (batchSize < tc.order.length) expect(sizes.length).toBeGreaterThan(1);
      },
    );

  test("fingerprints", "streams the fingerprints computed client-side from canonical values", async () => {
    const { connector } = await create(tc.fixture);
    const { rows } = await streamAll(connector, shape, FULL_RANGE, 10);
    for (const r of rows)
      expect(r.fingerprint, JSON.stringify(r.key)).toBe(expected.get(keyId(r.key))!.fingerprint);
  });

  test("fetch", "fetches canonical values of the keys that exist, and only those", async () => {
    const { connector } = await create(tc.fixture);
    const keys = [...tc.order].reverse();
    const got = await connector.fetchRecords(shape, [...keys, tc.missing]);
    expect(got.length).toBe(keys.length);
    for (const rec of got) expect(rec).toEqual(expected.get(keyId(rec.key)));
    expect(await connector.fetchRecords(shape, [])).toEqual([]);
    expect(await connector.fetchRecords(shape, [tc.missing])).toEqual([]);
  });

  test("checksum", "checksums and counts each range exactly like the fingerprints it streams", async () => {
    const { connector } = await create(tc.fixture);
    const ranges = rangesFor(connector, tc);
    const sums = await connector.checksumRanges(shape, ranges);
    expect(sums.length).toBe(ranges.length);
    for (const [i, range] of ranges.entries()) {
      const what = describeRange(range);
      const streamed = await streamAll(connector, shape, range, 5);
      streamed.rows = inKeyOrder(connector, tc.fixture.key, streamed.rows);
      const inRange = tc.order.filter((k) => oracleInRange(tc.fixture.key, range, k));
      expect(
        streamed.rows.map((r) => r.key),
        what,
      ).toEqual(inRange);
      const fromStream = checksumOf(streamed.rows.map((r) => r.fingerprint));
      const fromModel = checksumOf(inRange.map((k) => expected.get(keyId(k))!.fingerprint));
      expect(sums[i], what).toEqual(fromStream);
      expect(sums[i], what).toEqual(fromModel);
      expect(await connector.count(shape, range), what).toBe(inRange.length);
    }
    expect(await connector.checksumRanges(shape, [])).toEqual([]);
    if (!isOrdered(connector)) return;
    const empty = tc.ranges.filter((r) => !tc.order.some((k) => oracleInRange(tc.fixture.key, r, k)));
    expect(empty.length).toBeGreaterThan(0);
    for (const sum of await connector.checksumRanges(shape, empty)) {
      expect(sum).toEqual({ count: 0, xor: "0000000000000000" });
    }
  });

  test(
    "stream-in",
    "lists many ranges at once exactly like streaming each in turn",
    async () => {
      const { connector } = await create(tc.fixture);
      const oneByOne: KeyFingerprint[] = [];
      for (const range of tc.leaves) oneByOne.push(...(await streamAll(connector, shape, range, 5)).rows);
      const inAny = tc.order.filter((k) => tc.leaves.some((r) => oracleInRange(tc.fixture.key, r, k)));
      expect(oneByOne.map((r) => r.key)).toEqual(inAny);
      for (const r of oneByOne)
        expect(r.fingerprint, JSON.stringify(r.key)).toBe(expected.get(keyId(r.key))!.fingerprint);
      for (const batchSize of [1, 3, 1000]) {
        const { sizes, rows } = await streamAllIn(connector, shape, tc.leaves, batchSize);
        expect(rows, `in batches of ${batchSize}`).toEqual(oneByOne);
        for (const n of sizes) expect(n).toBeLessThanOrEqual(batchSize);
        if (batchSize < rows.length) expect(sizes.length).toBeGreaterThan(1);
      }
      for (const range of [...tc.leaves, FULL_RANGE]) {
        const alone = await streamAllIn(connector, shape, [range], 4);
        expect(alone.rows, describeRange(range)).toEqual((await streamAll(connector, shape, range, 4)).rows);
      }
      expect((await streamAllIn(connector, shape, [], 4)).rows).toEqual([]);
      const empty = tc.leaves.filter((r) => !tc.order.some((k) => oracleInRange(tc.fixture.key, r, k)));
      expect(empty.length).toBeGreaterThan(0);
      expect((await streamAllIn(connector, shape, empty, 4)).rows).toEqual([]);
    },
    "streamFingerprintsIn",
  );

  test(
    "key-bounds",
    "bounds each range by its least and greatest key",
    async () => {
      const { connector } = await create(tc.fixture);
      const keyBounds = connector.keyBounds?.bind(connector);
      if (!keyBounds) throw new Error("keyBounds is declared but not offered");
      for (const range of [...tc.ranges, FULL_RANGE]) {
        const inRange = tc.order.filter((k) => oracleInRange(tc.fixture.key, range, k));
        const bounds = await keyBounds(shape, range);
        // Null also when no index serves the key order: then for every range.
        if (bounds === null && inRange.length > 0) {
          expect(await keyBounds(shape, FULL_RANGE)).toBeNull();
          continue;
        }
        expect(bounds, describeRange(range)).toEqual(
          inRange.length ? { first: inRange[0], last: inRange.at(-1) } : null,
        );
      }
    },
    "keyBounds",
  );

  test(
    "native-hash",
    "lists native row hashes like its fingerprints: same keys, equal where rows are equal",
    async () => {
      const { connector } = await create(tc.fixture);
      const native = connector.nativeHash;
      if (!native) throw new Error("nativeHash is declared but not offered");
      // A shape without a native hash is a skip its factory declares, with why.
      expect(await native.signature(shape)).toEqual(expect.any(String));
      const listed: KeyFingerprint[] = [];
      for await (const batch of native.streamHashesIn(shape, tc.leaves, 3)) listed.push(...batch);
      const canonical = (await streamAllIn(connector, shape, tc.leaves, 1000)).rows;
      expect(listed.map((r) => r.key)).toEqual(canonical.map((r) => r.key));
      // A native hash is a function of the record: records with equal fingerprints hash equal.
      const byFingerprint = new Map<string, string>();
      for (const [i, r] of listed.entries()) {
        const fp = canonical[i]!.fingerprint;
        if (byFingerprint.has(fp)) expect(r.fingerprint).toBe(byFingerprint.get(fp));
        byFingerprint.set(fp, r.fingerprint);
      }
      const sums = await native.checksumRanges(shape, tc.leaves);
      expect(sums.reduce((n, s) => n + s.count, 0)).toBe(listed.length);
    },
    "nativeHash",
  );

  test(
    "key-buckets",
    "checksums and lists key-hash buckets exactly as the engine buckets keys",
    async () => {
      const { connector } = await create(tc.fixture);
      const buckets = connector.keyBuckets;
      if (!buckets) throw new Error("keyBuckets is declared but not offered");
      const records = [...expected.values()];
      for (const modulus of [1, 3, 7]) {
        const all = Array.from({ length: modulus }, (_, b) => b);
        const of = (b: number) => records.filter((r) => keyBucket(r.key, modulus) === b);
        const sums = await buckets.checksumBuckets(shape, modulus, all, "fingerprint");
        expect(sums, `modulus ${modulus}`).toEqual(
          all.map((b) => checksumOf(of(b).map((r) => r.fingerprint))),
        );
        // Some buckets, in an order of the caller's: answered in that order, listed with their fingerprints.
        const some = all.filter((b) => b % 2 === 1).reverse();
        expect(await buckets.checksumBuckets(shape, modulus, some, "fingerprint")).toEqual(
          some.map((b) => sums[b]),
        );
        const listed: KeyFingerprint[] = [];
        for await (const batch of buckets.streamBuckets(shape, modulus, some, "fingerprint", 2))
          listed.push(...batch);
        const want = some.flatMap(of).map((r) => `${keyId(r.key)} ${r.fingerprint}`);
        expect(listed.map((r) => `${keyId(r.key)} ${r.fingerprint}`).sort()).toEqual(want.sort());
      }
    },
    "keyBuckets",
  );

  test(
    "key-buckets-native",
    "native key-hash buckets partition the table, refine by modulus and list what they count",
    async () => {
      const { connector } = await create(tc.fixture);
      const buckets = connector.keyBuckets;
      if (!buckets) throw new Error("keyBuckets is declared but not offered");
      const list = async (modulus: number, bs: number[]) => {
        const out: string[] = [];
        for await (const batch of buckets.streamBuckets(shape, modulus, bs, "native", 2))
          out.push(...batch.map((r) => keyId(r.key)));
        return out.sort();
      };
      const coarse = await buckets.checksumBuckets(shape, 3, [0, 1, 2], "native");
      expect(coarse.reduce((n, c) => n + c.count, 0)).toBe(expected.size);
      const fine = await buckets.checksumBuckets(shape, 9, [0, 1, 2, 3, 4, 5, 6, 7, 8], "native");
      const seen = new Set<string>();
      for (const b of [0, 1, 2]) {
        const keys = await list(3, [b]);
        expect(keys.length).toBe(coarse[b]!.count);
        // Bucket b at 3 is buckets b, b + 3, b + 6 at 9.
        expect(await list(9, [b, b + 3, b + 6])).toEqual(keys);
        expect(fine[b]!.count + fine[b + 3]!.count + fine[b + 6]!.count).toBe(keys.length);
        for (const k of keys) seen.add(k);
      }
      expect(seen).toEqual(new Set(expected.keys()));
    },
    "keyBuckets",
  );

  // Split points are key order; the engine never asks an unordered store for them.
  for (const parts of [2, 3, 4, 16])
    test(
      `split-${parts}`,
      `splits ranges into ${parts} ascending runs of about equal size`,
      async () => {
        const { connector } = await create(tc.fixture);
        for (const range of tc.ranges) {
          const what = `${describeRange(range)} into ${parts}`;
          const inRange = tc.order.filter((k) => oracleInRange(tc.fixture.key, range, k));
          const splits = await connector.splitRange(shape, range, parts);
          expect(splits.length, what).toBeLessThanOrEqual(parts - 1);
          const positions = splits.map((s) =>
            inRange.findIndex((k) => oracleCompare(tc.fixture.key, k, s) === 0),
          );
          // Existing keys, strictly inside the range (never its first row), strictly ascending.
          for (const [j, p] of positions.entries()) {
            expect(p, `${what}: ${JSON.stringify(splits[j])}`).toBeGreaterThan(0);
            if (j > 0) expect(p, what).toBeGreaterThan(positions[j - 1]!);
          }
          const bounds = [0, ...positions, inRange.length];
          const runs = bounds.slice(1).map((b, j) => b - bounds[j]!);
          const even = Math.ceil(inRange.length / parts);
          for (const run of runs) expect(run, what).toBeLessThanOrEqual(2 * even);
          expect(runs.length, what).toBeGreaterThanOrEqual(Math.min(inRange.length, Math.ceil(parts / 2)));
        }
      },
      "ordered",
    );

  test("read-only", "changes nothing when read", async () => {
    const { connector } = await create(tc.fixture);
    const before = await connector.checksumRanges(shape, [FULL_RANGE]);
    await streamAll(connector, shape, FULL_RANGE, 3);
    await connector.fetchRecords(shape, tc.order);
    await connector.splitRange(shape, FULL_RANGE, 5);
    await connector.count(shape, FULL_RANGE);
    await connector.describe();
    expect(await connector.checksumRanges(shape, [FULL_RANGE])).toEqual(before);
    expect(before[0]!.count).toBe(tc.order.length);
  });
}
