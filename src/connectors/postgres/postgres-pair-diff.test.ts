/** Table tests of the in-PostgreSQL pair: which pairs are declined and the statement that compares them. */
import { describe, expect, it } from "vitest";
import type { Key, KeyRange, RecordShape } from "../../core/model.js";
import { pairHalves, pairHalvesOf } from "../pair-halves.js";
import type { PgColumn } from "./postgres-column-types.js";
import { type PostgresPairSide, pairDiffSql, postgresPairRefusal } from "./postgres-pair-diff.js";
import { PostgresShapeSql, sqlLiteral } from "./postgres-shape-sql.js";

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "f", type: "float" },
    { name: "t", type: "text" },
  ],
};

function col(name: string, baseType: string, nativeType = baseType, over: Partial<PgColumn> = {}): PgColumn {
  return {
    name,
    type: "text",
    nativeType,
    baseType,
    binaryCollation: false,
    collation: baseType === "text" ? "default" : "",
    deterministic: true,
    notNull: name === "id",
    typmod: -1,
    generated: false,
    identityAlways: false,
    ...over,
  };
}

function side(label: string, over: Partial<PostgresPairSide> = {}, f = col("f", "float8")): PostgresPairSide {
  const columns = new Map([col("id", "int8"), f, col("t", "text")].map((c) => [c.name, c]));
  const indexes = [{ columns: [{ name: "id", collation: "", nullsFirst: false }] }];
  const s = new PostgresShapeSql(SHAPE, columns, indexes as never, `"s"."${label}"`);
  return {
    label,
    target: { host: "/var/run/postgresql", port: "5432", database: "bench", user: "root" },
    server: ["bench", "root", "5432", "2026-12-06 15:00:00+00"],
    standardStrings: "on",
    relation: `"s"."${label}"`,
    source: `"s"."${label}"`,
    s,
    ...over,
  };
}

describe("postgresPairRefusal", () => {
  const a = side("a");
  it.each([
    ["same server, database and types", side("b"), undefined],
    [
      "another database",
      side("b", { target: { ...a.target, database: "other" } }),
      "a and b are reached through different connections (another database), which one statement cannot join",
    ],
    [
      "another user",
      side("b", { target: { ...a.target, user: "app" } }),
      "a and b are reached through different connections (another user), which one statement cannot join",
    ],
    [
      "another server answering",
      side("b", { server: ["bench", "root", "5432", "2026-12-06 16:00:00+00"] }),
      "a and b are answered by different servers or databases, which one statement cannot join",
    ],
    [
      // One URL's options turn the setting off: a's filter was checked as b's connection would not read it.
      "string literals read differently",
      side("b", { standardStrings: "off" }),
      "a and b read string literals differently (standard_conforming_strings on and off), so one statement would read a row filter other than it was checked",
    ],
    [
      "another column type",
      side("b", {}, col("f", "float4", "real")),
      "column f is float8 on a and real on b",
    ],
  ])("%s", (_, b, expected) => {
    expect(postgresPairRefusal(a, b)).toBe(expected);
  });
});

describe("sqlLiteral", () => {
  it.each([
    [null, "NULL"],
    ["10", "'10'"],
    ["o'k", "'o''k'"],
    ["b\\s", " E'b\\\\s'"],
    ["it's a\\b", " E'it''s a\\\\b'"],
  ])("%s → %s", (value, literal) => {
    expect(sqlLiteral(value)).toBe(literal);
  });
});

describe("pairDiffSql", () => {
  it("compares floats by their text, text by bytes, and orders by the key", () => {
    const q = pairDiffSql(side("a"), side("b"), { lo: ["10"], hi: null });
    expect(q?.text).toContain(`((t."f")::text) COLLATE "C" AS c0`);
    expect(q?.text).toContain(`t."t" COLLATE "C" AS c1`);
    expect(q?.text).toContain("FULL JOIN");
    expect(q?.text).toMatch(/ORDER BY coalesce\(a\.k0, b\.k0\)$/);
    // Bounds as literals: the cursor opens in one message with its transaction (no parameters there).
    expect(q?.text).toContain(`>= '10'::`);
    expect(q?.values).toEqual([]);
  });
  it("is null for a range no row can lie in", () => {
    expect(pairDiffSql(side("a"), side("b"), { lo: ["5"], hi: ["5"] })).toBeNull();
  });
});

describe("pairHalves", () => {
  const TEXT: RecordShape = { key: [{ name: "k", type: "text" }], columns: [] };
  it.each([
    [
      "a bounded integer range",
      SHAPE,
      { lo: ["100"], hi: ["2050"] },
      [
        { lo: ["100"], hi: ["1075"] },
        { lo: ["1075"], hi: ["2050"] },
      ],
    ],
    [
      "beyond 2^53",
      SHAPE,
      { lo: ["9007199254740993"], hi: ["9007199254740999"] },
      [
        { lo: ["9007199254740993"], hi: ["9007199254740996"] },
        { lo: ["9007199254740996"], hi: ["9007199254740999"] },
      ],
    ],
    ["a range one key wide", SHAPE, { lo: ["5"], hi: ["6"] }, undefined],
    ["the first segment (open below)", SHAPE, { lo: null, hi: ["10"] }, undefined],
    ["the last segment (open above)", SHAPE, { lo: ["10"], hi: null }, undefined],
    ["a text key", TEXT, { lo: ["a"], hi: ["z"] }, undefined],
  ] as const)("%s", (_, shape, range, halves) => {
    expect(pairHalves(shape, range)).toEqual(halves);
  });
});

describe("pairHalvesOf", () => {
  const TEXT: RecordShape = { key: [{ name: "k", type: "text" }], columns: [] };
  // This replica's keys run from 100 to 2049; an open end is closed for the cut at them, and stays open.
  const bounds = async (_: KeyRange): Promise<{ first: Key; last: Key } | null> => ({
    first: ["100"],
    last: ["2049"],
  });
  it.each([
    [
      "a bounded range, as pairHalves cuts it",
      SHAPE,
      { lo: ["100"], hi: ["2050"] },
      bounds,
      [
        { lo: ["100"], hi: ["1075"] },
        { lo: ["1075"], hi: ["2050"] },
      ],
    ],
    [
      "the first segment (open below): cut from the first key, still open below",
      SHAPE,
      { lo: null, hi: ["2050"] },
      bounds,
      [
        { lo: null, hi: ["1075"] },
        { lo: ["1075"], hi: ["2050"] },
      ],
    ],
    [
      "the last segment (open above): cut up to the last key, still open above",
      SHAPE,
      { lo: ["100"], hi: null },
      bounds,
      [
        { lo: ["100"], hi: ["1075"] },
        { lo: ["1075"], hi: null },
      ],
    ],
    [
      "the whole table",
      SHAPE,
      { lo: null, hi: null },
      bounds,
      [
        { lo: null, hi: ["1075"] },
        { lo: ["1075"], hi: null },
      ],
    ],
    ["no key of this replica in the range", SHAPE, { lo: null, hi: ["10"] }, async () => null, undefined],
    [
      "one key of this replica in the whole range",
      SHAPE,
      { lo: null, hi: null },
      async () => ({ first: ["7"], last: ["7"] }),
      undefined,
    ],
    ["a text key", TEXT, { lo: null, hi: ["z"] }, bounds, undefined],
  ] as const)("%s", async (_, shape, range, keyBounds, halves) => {
    expect(await pairHalvesOf(shape, range, keyBounds)).toEqual(halves);
  });
});
