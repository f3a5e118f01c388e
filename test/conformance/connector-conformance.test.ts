/** The Connector conformance suite: one set of cases run against every store's factory, skips declared with reasons. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ConditionalWrite,
  capabilitiesOf,
  OPTIONAL_CAPABILITIES,
} from "../../src/connectors/connector.js";
import { canonicalValue } from "../../src/core/canonical.js";
import { FULL_RANGE, keyId, type StoredRecord } from "../../src/core/model.js";
import { registered, suiteContext } from "./conformance-suite.js";
import {
  type ConnectorFactory,
  connectorFactories,
  memoryFactory,
  type StoreTable,
} from "./connector-factories.js";
import {
  CASES,
  inKeyOrder,
  oracleCompare,
  rangesFor,
  recordsOf,
  shapeOf,
  streamAll,
  TYPED,
  TYPED_COLUMNS,
  TYPED_KEY,
} from "./connector-fixtures.js";
import { nullKeyCases } from "./connector-null-key-cases.js";
import { readCases } from "./connector-read-cases.js";
import { keyCases, writeCases } from "./connector-write-cases.js";

describe("fixtures", () => {
  it("hold canonical values only", () => {
    for (const { fixture } of CASES) {
      const types = [...fixture.key, ...fixture.columns].map((c) => c.type);
      for (const row of fixture.rows) {
        for (const [i, v] of row.entries()) expect(canonicalValue(types[i]!, v)).toBe(v);
      }
    }
  });

  it("list their keys in the hand-written order the independent model agrees with", () => {
    for (const { fixture, order } of CASES) {
      expect(order.length).toBe(fixture.rows.length);
      for (let i = 1; i < order.length; i++)
        expect(oracleCompare(fixture.key, order[i - 1]!, order[i]!)).toBe(-1);
    }
  });
});

/** Server stores whose server does not answer are skipped (outside CI; in CI `available` throws). */
const availability = new Map(
  await Promise.all(connectorFactories.map(async (f) => [f.name, (await f.available?.()) ?? true] as const)),
);

describe.each(connectorFactories)("$name connector", (factory: ConnectorFactory) => {
  beforeEach(({ skip }) => {
    if (!availability.get(factory.name)) skip();
  });
  const opened: StoreTable[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.dispose();
  });
  const ctx = suiteContext(factory, opened);

  describe("declarations", () => {
    it("offers exactly the capabilities its factory declares", async () => {
      const { connector } = await ctx.create(TYPED.fixture);
      const declared = factory.capabilities;
      expect({
        pushdown: connector.pushdown,
        ordered: connector.ordered !== false,
        optional: capabilitiesOf(connector),
      }).toEqual({
        pushdown: declared.pushdown,
        ordered: declared.ordered,
        optional: [...declared.optional].sort(byOrder),
      });
    });

    ctx.test(
      "declarations/column-facts",
      "describes the comparability facts its factory declares (timestamp digits, exact decimals)",
      async () => {
        const { connector } = await ctx.create(TYPED.fixture);
        const { columns } = await connector.describe();
        const column = (name: string) => columns.find((c) => c.name === name);
        const { fractionalDigits, exactDecimal } = factory.capabilities.columnFacts;
        expect(column("at")?.fractionalDigits).toBe(fractionalDigits);
        expect(column("amount")?.exactNumber ?? true).toBe(exactDecimal);
        // Integers are exact and floats are not, in every store.
        expect(column("id")?.exactNumber ?? true).toBe(true);
        expect(column("ratio")?.type === "float" || column("ratio")?.exactNumber === false).toBe(true);
      },
    );

    it("skips only cases the suite has, each with a reason", () => {
      const ids = registered.get(factory.name) ?? new Set<string>();
      for (const { reason, tests } of factory.skip ?? []) {
        expect(reason.length, JSON.stringify(tests)).toBeGreaterThan(10);
        for (const id of tests) expect(ids, `skip of ${id}`).toContain(id);
      }
    });
  });

  describe.each(CASES)("$name table", (tc) => readCases(ctx, tc));
  describe("conditional writes", () => writeCases(ctx));
  describe("unique keys", () => keyCases(ctx));
  describe("keys with NULL parts", () => nullKeyCases(ctx));
});

/** Capabilities in the order `capabilitiesOf` lists them. */
function byOrder(
  a: (typeof OPTIONAL_CAPABILITIES)[number],
  b: (typeof OPTIONAL_CAPABILITIES)[number],
): number {
  return OPTIONAL_CAPABILITIES.indexOf(a) - OPTIONAL_CAPABILITIES.indexOf(b);
}

describe.each(connectorFactories.filter((f) => f !== memoryFactory))(
  "cross-store equality: $name and memory",
  (factory: ConnectorFactory) => {
    beforeEach(({ skip }) => {
      if (!availability.get(factory.name)) skip();
    });
    const opened: StoreTable[] = [];
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.dispose();
    });

    it.each(CASES)(
      "hold the same logical rows with identical fingerprints and checksums ($name)",
      async (tc) => {
        const shape = shapeOf(tc.fixture);
        const a = await memoryFactory.create(tc.fixture);
        const b = await factory.create(tc.fixture);
        opened.push(a, b);
        const streamA = await streamAll(a.connector, shape, FULL_RANGE, 8);
        const streamB = await streamAll(b.connector, shape, FULL_RANGE, 8);
        expect(inKeyOrder(b.connector, tc.fixture.key, streamB.rows)).toEqual(streamA.rows);
        const ranges = rangesFor(b.connector, tc);
        expect(await b.connector.checksumRanges(shape, ranges)).toEqual(
          await a.connector.checksumRanges(shape, ranges),
        );
        const sort = (rs: StoredRecord[]) =>
          [...rs].sort((x, y) => oracleCompare(tc.fixture.key, x.key, y.key));
        expect(sort(await b.connector.fetchRecords(shape, tc.order))).toEqual(
          sort(await a.connector.fetchRecords(shape, tc.order)),
        );
      },
    );

    it("stay equal after the same conditional writes", async () => {
      const shape = shapeOf(TYPED.fixture);
      const a = await memoryFactory.create(TYPED.fixture);
      const b = await factory.create(TYPED.fixture);
      opened.push(a, b);
      const original = recordsOf(TYPED.fixture);
      const writes: ConditionalWrite[] = [
        { key: ["-1"], expected: original.get(keyId(["-1"]))!.fingerprint, next: null },
        {
          key: ["7"],
          expected: null,
          next: ["3.25", "-0.5", "t", "", "2030-01-01T00:00:00.000000Z", "[1,2]", "ff"],
        },
        {
          key: ["100"],
          expected: original.get(keyId(["100"]))!.fingerprint,
          next: TYPED_COLUMNS.map(() => null),
        },
      ];
      expect(await b.connector.applyWrites(shape, writes)).toEqual(
        await a.connector.applyWrites(shape, writes),
      );
      expect(
        inKeyOrder(b.connector, TYPED_KEY, (await streamAll(b.connector, shape, FULL_RANGE, 100)).rows),
      ).toEqual((await streamAll(a.connector, shape, FULL_RANGE, 100)).rows);
      const ranges = rangesFor(b.connector, TYPED);
      expect(await b.connector.checksumRanges(shape, ranges)).toEqual(
        await a.connector.checksumRanges(shape, ranges),
      );
    });
  },
);
