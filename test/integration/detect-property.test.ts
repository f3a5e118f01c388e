/** Property: detection reports exactly the keys whose replicas differ, over every store and tuning. */
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import type { CanonicalValue } from "../../src/core/canonical.js";
import type { Observation } from "../../src/core/classify.js";
import { fingerprintRow } from "../../src/core/fingerprint.js";
import { type ColumnSpec, type Key, type KeyRange, keyId, type RecordShape } from "../../src/core/model.js";
import { type DetectOptions, detectDivergences } from "../../src/detect/detect-divergences.js";
import {
  type ConnectorFactory,
  memoryFactory,
  memoryStreamingFactory,
  memoryUnorderedFactory,
  type StoreTable,
  sqliteInMemoryFactory,
  type TableFixture,
} from "../conformance/connector-factories.js";

const COLUMNS: readonly ColumnSpec[] = [
  { name: "name", type: "text" },
  { name: "qty", type: "integer" },
  { name: "price", type: "decimal" },
  { name: "flag", type: "boolean" },
];

const INTEGER_KEY: readonly ColumnSpec[] = [{ name: "id", type: "integer" }];
const COMPOSITE_KEY: readonly ColumnSpec[] = [
  { name: "region", type: "text" },
  { name: "seq", type: "integer" },
];

// ---------------------------------------------------------------------------------------------------------
// Generated data: a base table, then for each of three replicas an edit per key (keep, delete, or write).

type Values = readonly CanonicalValue[];
type Edit =
  | { readonly kind: "keep" }
  | { readonly kind: "delete" }
  | { readonly kind: "write"; readonly values: Values };

interface Entry {
  readonly key: Key;
  readonly base: Values | null;
  readonly edits: readonly Edit[];
}

const valuesArb: fc.Arbitrary<Values> = fc.tuple(
  fc.oneof(
    fc.constant(null),
    fc.constant(""),
    fc.constantFrom("a", "b", "a|b", "\\N", "x\\", "😀"),
    fc.string({ unit: "grapheme", maxLength: 3 }),
  ),
  fc.option(fc.integer({ min: -1000, max: 1000 }).map(String), { nil: null }),
  fc.option(fc.constantFrom("0", "1.5", "-2.25", "100", "0.01", "123456.789"), { nil: null }),
  fc.constantFrom("t", "f", null),
);

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ kind: "keep" } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: "delete" } as const) },
  { weight: 1, arbitrary: valuesArb.map((values) => ({ kind: "write", values }) as const) },
);

const integerKeyArb: fc.Arbitrary<Key> = fc
  .oneof(
    { weight: 6, arbitrary: fc.integer({ min: -120, max: 120 }) },
    { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }) },
  )
  .map((n) => [String(n)]);

const compositeKeyArb: fc.Arbitrary<Key> = fc
  .tuple(
    fc.constantFrom("", "A", "Z", "a", "a|b", "b", "é", "\uFFFF", "😀"),
    fc.integer({ min: -12, max: 12 }),
  )
  .map(([text, n]) => [text, String(n)]);

/** Keys of a unique index over nullable columns: NULL in either part or both, beside '' and 'NULL'. */
const nullableKeyArb: fc.Arbitrary<Key> = fc
  .tuple(
    fc.option(fc.constantFrom("", "NULL", "a", "b", "\\N"), { nil: null, freq: 3 }),
    fc.option(fc.integer({ min: -6, max: 6 }), { nil: null, freq: 3 }),
  )
  .map(([text, n]) => [text, n === null ? null : String(n)]);

function entriesArb(keyArb: fc.Arbitrary<Key>): fc.Arbitrary<Entry[]> {
  return fc
    .uniqueArray(
      fc.tuple(
        keyArb,
        fc.option(valuesArb, { nil: null, freq: 6 }),
        fc.array(editArb, { minLength: 3, maxLength: 3 }),
      ),
      { selector: ([key]) => keyId(key), maxLength: 90 },
    )
    .map((rows) => rows.map(([key, base, edits]) => ({ key, base, edits })));
}

/** Tunings: defaults, and small ones that make bisection split and recurse on small tables. */
const TUNINGS: readonly DetectOptions[] = [
  {},
  { segmentRows: 4, fanout: 3, leafRows: 2, batchSize: 3 },
  { segmentRows: 1, fanout: 2, leafRows: 1, batchSize: 1 },
  { segmentRows: 8, fanout: 4, leafRows: 3 },
  { segmentRows: 16, fanout: 16, leafRows: 5, batchSize: 7 },
];

interface Scenario {
  readonly entries: readonly Entry[];
  readonly replicaCount: number;
  readonly options: DetectOptions;
  /** Restricts detection to a range between two generated keys (ordered by the independent model). */
  readonly bounds: readonly [Key | null, Key | null] | null;
}

function scenarioArb(keyColumns: readonly ColumnSpec[], keyArb: fc.Arbitrary<Key>): fc.Arbitrary<Scenario> {
  return fc.record({
    entries: entriesArb(keyArb),
    replicaCount: fc.constantFrom(2, 3),
    options: fc.constantFrom(...TUNINGS),
    bounds: fc.option(
      fc.tuple(fc.option(keyArb, { nil: null }), fc.option(keyArb, { nil: null })).map(([a, b]) => {
        if (a && b && modelCompare(keyColumns, a, b) > 0) return [b, a] as const;
        return [a, b] as const;
      }),
      { nil: null, freq: 5 },
    ),
  });
}

// ---------------------------------------------------------------------------------------------------------
// The independent model: what each replica holds, which keys differ, in which order keys come.

function modelCompare(keyColumns: readonly ColumnSpec[], a: Key, b: Key): number {
  for (let i = 0; i < keyColumns.length; i++) {
    let c: number;
    // NULL (a nullable unique key's) before every value, equal only to NULL.
    if (a[i] === null || b[i] === null) c = a[i] === b[i] ? 0 : a[i] === null ? -1 : 1;
    else if (keyColumns[i]!.type === "integer") {
      const [x, y] = [BigInt(a[i]!), BigInt(b[i]!)];
      c = x < y ? -1 : x > y ? 1 : 0;
    } else {
      const x = Array.from(a[i]!, (ch) => ch.codePointAt(0)!);
      const y = Array.from(b[i]!, (ch) => ch.codePointAt(0)!);
      c = x.length - y.length;
      for (let j = 0; j < Math.min(x.length, y.length); j++) {
        if (x[j] !== y[j]) {
          c = x[j]! - y[j]!;
          break;
        }
      }
    }
    if (c !== 0) return c;
  }
  return 0;
}

function heldBy(entry: Entry, replica: number): Values | null {
  const edit = entry.edits[replica]!;
  if (edit.kind === "keep") return entry.base;
  return edit.kind === "delete" ? null : edit.values;
}

function inBounds(keyColumns: readonly ColumnSpec[], s: Scenario, key: Key): boolean {
  if (!s.bounds) return true;
  const [lo, hi] = s.bounds;
  return (!lo || modelCompare(keyColumns, key, lo) >= 0) && (!hi || modelCompare(keyColumns, key, hi) < 0);
}

/** Keys whose replicas differ: absent from some but not all, or holding different values. */
function expectedDivergences(keyColumns: readonly ColumnSpec[], s: Scenario): Map<string, (Values | null)[]> {
  const out = new Map<string, (Values | null)[]>();
  for (const entry of s.entries) {
    if (!inBounds(keyColumns, s, entry.key)) continue;
    const held = Array.from({ length: s.replicaCount }, (_, r) => heldBy(entry, r));
    const texts = new Set(held.map((v) => JSON.stringify(v)));
    if (texts.size > 1) out.set(keyId(entry.key), held);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

const NAMES = ["alpha", "beta", "gamma"];

interface StoreMix {
  readonly name: string;
  /** The store of replica i is `stores[i % stores.length]`. */
  readonly stores: readonly ConnectorFactory[];
}

/** Memory with pushdown that, as the port allows, offers no split points for ranges of up to 8 rows. */
const reluctantSplitFactory: ConnectorFactory = {
  name: "memory-reluctant-split",
  capabilities: memoryFactory.capabilities,
  async create(fixture) {
    const store = await memoryFactory.create(fixture);
    const c = store.connector;
    const split = c.splitRange.bind(c);
    c.splitRange = async (shape, range, parts) =>
      (await c.count(shape, range)) <= 8 ? [] : split(shape, range, parts);
    return store;
  },
};

const MIXES: readonly StoreMix[] = [
  { name: "memory with pushdown", stores: [memoryFactory] },
  { name: "memory without pushdown (streaming merge)", stores: [memoryStreamingFactory] },
  { name: "sqlite with pushdown", stores: [sqliteInMemoryFactory] },
  {
    name: "mixed: memory without pushdown and sqlite",
    stores: [memoryStreamingFactory, sqliteInMemoryFactory],
  },
  { name: "mixed: memory with pushdown and sqlite", stores: [sqliteInMemoryFactory, memoryFactory] },
  { name: "unordered (hash store) and sqlite", stores: [memoryUnorderedFactory, sqliteInMemoryFactory] },
  { name: "unordered everywhere", stores: [memoryUnorderedFactory] },
  {
    name: "memory with pushdown, declining to split small ranges",
    stores: [reluctantSplitFactory, memoryFactory],
  },
];

const KEYS: readonly {
  name: string;
  key: readonly ColumnSpec[];
  arb: fc.Arbitrary<Key>;
  constraint?: TableFixture["keyConstraint"];
}[] = [
  { name: "integer keys", key: INTEGER_KEY, arb: integerKeyArb },
  { name: "composite [text, integer] keys", key: COMPOSITE_KEY, arb: compositeKeyArb },
  {
    name: "nullable [text, integer] keys with NULL parts",
    key: COMPOSITE_KEY,
    arb: nullableKeyArb,
    constraint: "nullable unique index",
  },
];

/**
 * The connector with a budget of calls: detection that stops making progress would otherwise spin on
 * microtasks forever (starving every timer), so it fails here instead of hanging the suite.
 */
function withCallBudget(c: Connector, budget: number): Connector {
  let calls = 0;
  const spend = <T>(call: () => T): T => {
    calls++;
    if (calls > budget) {
      throw new Error(`over ${budget} calls to one connector: detection does not terminate`);
    }
    return call();
  };
  return {
    kind: c.kind,
    pushdown: c.pushdown,
    ...(c.ordered === undefined ? {} : { ordered: c.ordered }),
    stats: c.stats,
    describe: () => c.describe(),
    count: (shape, range) => spend(() => c.count(shape, range)),
    checksumRanges: (shape, ranges) => spend(() => c.checksumRanges(shape, ranges)),
    splitRange: (shape, range, parts) => spend(() => c.splitRange(shape, range, parts)),
    streamFingerprints: (shape, range, batchSize) =>
      spend(() => c.streamFingerprints(shape, range, batchSize)),
    fetchRecords: (shape, keys) => c.fetchRecords(shape, keys),
    applyWrites: (shape, writes) => c.applyWrites(shape, writes),
    printWrites: (shape, writes) => c.printWrites(shape, writes),
    close: () => c.close(),
  };
}

async function checkScenario(
  mix: StoreMix,
  keyColumns: readonly ColumnSpec[],
  s: Scenario,
  keyConstraint?: TableFixture["keyConstraint"],
): Promise<void> {
  const shape: RecordShape = { key: keyColumns, columns: COLUMNS };
  const stores: StoreTable[] = [];
  try {
    for (let r = 0; r < s.replicaCount; r++) {
      const rows = s.entries.flatMap((e) => {
        const held = heldBy(e, r);
        return held ? [[...e.key, ...held]] : [];
      });
      stores.push(
        await mix.stores[r % mix.stores.length]!.create({
          key: keyColumns,
          columns: COLUMNS,
          rows,
          ...(keyConstraint ? { keyConstraint } : {}),
        }),
      );
    }
    const names = NAMES.slice(0, s.replicaCount);
    const replicas = stores.map((st, r) => ({
      name: names[r]!,
      connector: withCallBudget(st.connector, 5000),
    }));
    const unordered = stores.some((st) => st.connector.ordered === false);
    // An unordered store is compared whole, by hash partitions (small ones here, so they spill to disk).
    const range: KeyRange | undefined =
      s.bounds && !unordered ? { lo: s.bounds[0], hi: s.bounds[1] } : undefined;
    const base: DetectOptions = unordered
      ? { ...s.options, partitionRows: s.entries.length % 2 ? 2 : 1000 }
      : s.options;
    const options: DetectOptions = range ? { ...base, range } : base;
    const batchSize = options.batchSize ?? 1000;
    const expected = expectedDivergences(keyColumns, range ? s : { ...s, bounds: null });

    const seen = new Map<string, Observation>();
    for await (const batch of detectDivergences(shape, replicas, options)) {
      expect(batch.length).toBeGreaterThan(0);
      expect(batch.length).toBeLessThanOrEqual(batchSize);
      // Read records while detection is suspended, as the engine does between batches.
      for (const [r, { connector }] of stores.entries()) {
        const keys = batch.filter((o) => o.replicas[names[r]!]?.present).map((o) => o.key);
        const records = await connector.fetchRecords(shape, keys);
        expect(records.length).toBe(keys.length);
        for (const rec of records) expect(rec.values).toEqual(expected.get(keyId(rec.key))?.[r]);
      }
      for (const o of batch) {
        const id = keyId(o.key);
        expect(seen.has(id), `${id} reported twice`).toBe(false);
        seen.set(id, o);
      }
    }

    expect([...seen.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [id, held] of expected) {
      const o = seen.get(id)!;
      expect(Object.keys(o.replicas)).toEqual(names);
      held.forEach((values, r) => {
        const want = values
          ? { present: true, fingerprint: fingerprintRow(o.key, values) }
          : { present: false };
        expect(o.replicas[names[r]!], `${id} on ${names[r]}`).toEqual(want);
      });
    }
  } finally {
    for (const st of stores) await st.dispose();
  }
}

describe.each(MIXES)("detectDivergences over $name", (mix: StoreMix) => {
  it.each(KEYS)(
    "finds exactly the differing keys among 2 or 3 replicas ($name)",
    async ({ key, arb, constraint }) => {
      await fc.assert(
        fc.asyncProperty(scenarioArb(key, arb), (s) => checkScenario(mix, key, s, constraint)),
        { numRuns: 100 },
      );
    },
  );
});

describe("detectDivergences with pushdown", () => {
  it("bisects differing ranges instead of listing every key", async () => {
    const rows = Array.from({ length: 300 }, (_, i) => [
      String(i * 3 - 400),
      `row ${i}`,
      String(i),
      "1.5",
      "t",
    ]);
    const changed = rows.map((row, i) => (i === 137 ? [row[0]!, "changed", ...row.slice(2)] : row));
    const fixture = { key: INTEGER_KEY, columns: COLUMNS };
    const a = await sqliteInMemoryFactory.create({ ...fixture, rows });
    const b = await memoryFactory.create({ ...fixture, rows: changed });
    try {
      const checksums = vi.spyOn(a.connector, "checksumRanges");
      const streams = vi.spyOn(a.connector, "streamFingerprints");
      const found: Observation[] = [];
      const replicas = [
        { name: "a", connector: a.connector },
        { name: "b", connector: b.connector },
      ];
      const shape = { key: INTEGER_KEY, columns: COLUMNS };
      for await (const batch of detectDivergences(shape, replicas, {
        segmentRows: 16,
        fanout: 3,
        leafRows: 2,
      })) {
        found.push(...batch);
      }
      expect(found.map((o) => o.key)).toEqual([[rows[137]![0]!]]);
      expect(checksums.mock.calls.length).toBeGreaterThanOrEqual(3);
      expect(streams.mock.calls.length).toBe(1);
      expect(a.connector.stats.rowsRead).toBeLessThan(100);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });
});
