/** The PostgreSQL SQL builders without a server: type mapping, pushdown decisions, key order, bound clamping, plan choice. */
import { describe, expect, it } from "vitest";
import type { ColumnType } from "../../core/canonical.js";
import type { RecordShape } from "../../core/model.js";
import { postgresCanonicalSql } from "./postgres-canonical-sql.js";
import { checksumQuery } from "./postgres-checksum-sql.js";
import {
  type PgColumn,
  pgColumnOf,
  postgresColumnInfo,
  postgresLogicalType,
} from "./postgres-column-types.js";
import { postgresCanonicalJsonSql } from "./postgres-json-sql.js";
import { ceilUuid, Params, PostgresShapeSql } from "./postgres-shape-sql.js";

function col(
  name: string,
  base: string,
  collation = "",
  dbCollation = "en_US.UTF-8",
  notNull = "t",
): PgColumn {
  return pgColumnOf([name, base, base, collation, dbCollation, notNull, "-1"]);
}

const COLUMNS = new Map(
  [
    col("id", "int8"),
    col("region", "text", "default"),
    col("code", "text", "C"),
    col("u", "uuid"),
    col("amount", "numeric"),
    col("ratio", "float8"),
    col("doc", "jsonb"),
    col("at", "timestamptz"),
  ].map((c) => [c.name, c]),
);
const ID_INDEX = { columns: [{ name: "id", collation: "" }] };

function shapeOf(key: [string, ColumnType][], columns: [string, ColumnType][]): RecordShape {
  return {
    key: key.map(([name, type]) => ({ name, type })),
    columns: columns.map(([name, type]) => ({ name, type })),
  };
}

describe("postgresLogicalType", () => {
  it.each([
    ["int2", "integer"],
    ["int8", "integer"],
    ["numeric", "decimal"],
    ["money", "decimal"],
    ["float4", "float32"],
    ["float8", "float"],
    ["time", "time"],
    ["timetz", "text"],
    ["bool", "boolean"],
    ["date", "timestamp"],
    ["timestamptz", "timestamp"],
    ["jsonb", "json"],
    ["bytea", "bytes"],
    ["uuid", "text"],
    ["inet", "text"],
  ])("%s → %s", (base, logical) => {
    expect(postgresLogicalType(base)).toBe(logical);
  });
});

describe("postgresColumnInfo: what describe says of a column", () => {
  it.each([
    ["timestamptz", "timestamp with time zone", "-1", { fractionalDigits: 6 }],
    ["timestamp", "timestamp(3) without time zone", "3", { fractionalDigits: 3 }],
    ["timestamptz", "timestamp(0) with time zone", "0", { fractionalDigits: 0 }],
    ["date", "date", "-1", {}],
    ["time", "time without time zone", "-1", { fractionalDigits: 6 }],
    ["time", "time(0) without time zone", "0", { fractionalDigits: 0 }],
    ["numeric", "numeric(10,2)", "655366", {}],
    ["float8", "double precision", "-1", {}],
  ] as const)("%s (%s)", (base, native, typmod, facts) => {
    const info = postgresColumnInfo(pgColumnOf(["x", native, base, "", "C", "f", typmod]));
    expect(info).toEqual({ name: "x", type: postgresLogicalType(base), nativeType: native, ...facts });
  });
});

describe("postgresCanonicalSql", () => {
  it.each([
    ["int8", "integer", "(t.x)::text"],
    ["int8", "decimal", "(t.x)::text"],
    ["int8", "float", undefined],
    ["int8", "boolean", undefined],
    ["numeric", "decimal", "trim_scale(t.x)::text"],
    ["bool", "boolean", "CASE t.x WHEN true THEN 't' WHEN false THEN 'f' END"],
    ["float8", "float", undefined],
    ["jsonb", "json", postgresCanonicalJsonSql("t.x")],
    ["json", "json", undefined],
    ["jsonb", "text", "(t.x)::text"],
    ["text", "json", undefined],
    ["text", "timestamp", undefined],
    ["bytea", "bytes", "encode(t.x, 'hex')"],
    ["uuid", "text", "(t.x)::text"],
  ] as const)("%s read as %s", (base, type, expected) => {
    expect(postgresCanonicalSql("t.x", col("x", base), type)).toBe(expected);
  });
});

describe("PostgresShapeSql", () => {
  it("pushes a shape down only when every column has an exact SQL form", () => {
    const pushed = new PostgresShapeSql(
      shapeOf(
        [["id", "integer"]],
        [
          ["amount", "decimal"],
          ["at", "timestamp"],
        ],
      ),
      COLUMNS,
      [],
      "x",
    );
    expect(pushed.pushdown).toBe(true);
    const mixed = new PostgresShapeSql(
      shapeOf(
        [["id", "integer"]],
        [
          ["ratio", "float"],
          ["doc", "json"],
        ],
      ),
      COLUMNS,
      [],
      "x",
    );
    expect(mixed.pushdown).toBe(false);
    // jsonb has canonical SQL (postgres-json-sql.ts); the float keeps the shape in the engine.
    expect(mixed.clientSide.map((c) => c.column)).toEqual(["ratio"]);
    const json = new PostgresShapeSql(shapeOf([["id", "integer"]], [["doc", "json"]]), COLUMNS, [], "x");
    expect(json.pushdown).toBe(true);
    expect(json.nativeHashable).toBe(true);
    expect(json.nativeHash64()).toContain(`(t."doc")::text COLLATE "C"`);
  });

  it("orders text keys in binary order, and knows which index serves that order", () => {
    const shape = (name: string) => shapeOf([[name, "text"]], []);
    const byDefault = new PostgresShapeSql(
      shape("region"),
      COLUMNS,
      [{ columns: [{ name: "region", collation: "default" }] }],
      "x",
    );
    expect(byDefault.orderBy).toBe('t."region" COLLATE "C"');
    expect(byDefault.indexed).toBe(false);
    expect(
      new PostgresShapeSql(shape("region"), COLUMNS, [{ columns: [{ name: "region", collation: "C" }] }], "x")
        .indexed,
    ).toBe(true);
    const binary = new PostgresShapeSql(
      shape("code"),
      COLUMNS,
      [{ columns: [{ name: "code", collation: "C" }] }],
      "x",
    );
    expect(binary.orderBy).toBe('t."code"');
    expect(binary.indexed).toBe(true);
    expect(
      new PostgresShapeSql(shape("u"), COLUMNS, [{ columns: [{ name: "u", collation: "" }] }], "x").indexed,
    ).toBe(true);
  });

  it("clamps integer bounds beyond bigint: opens or empties the range", () => {
    const s = new PostgresShapeSql(shapeOf([["id", "integer"]], []), COLUMNS, [ID_INDEX], "x");
    const big = "9223372036854775808";
    expect(s.normalize({ lo: [`-${big}1`], hi: ["5"] })).toEqual({ lo: null, hi: ["5"] });
    expect(s.normalize({ lo: ["5"], hi: [big] })).toEqual({ lo: ["5"], hi: null });
    expect(s.normalize({ lo: [big], hi: null })).toBeNull();
    expect(s.normalize({ lo: null, hi: [`-${big}1`] })).toBeNull();
    expect(s.normalize({ lo: ["5"], hi: ["5"] })).toBeNull();
    const composite = new PostgresShapeSql(
      shapeOf(
        [
          ["region", "text"],
          ["id", "integer"],
        ],
        [],
      ),
      COLUMNS,
      [],
      "x",
    );
    expect(() => composite.normalize({ lo: ["a", big], hi: null })).toThrow(/out of range for bigint/);
  });
});

describe("checksumQuery", () => {
  const s = new PostgresShapeSql(
    shapeOf([["id", "integer"]], [["amount", "decimal"]]),
    COLUMNS,
    [ID_INDEX],
    '"s"."items"',
  );
  const tiles = [
    { index: 0, range: { lo: null, hi: ["10"] } },
    { index: 1, range: { lo: ["10"], hi: ["20"] } },
    { index: 2, range: { lo: ["20"], hi: null } },
  ];

  it("buckets adjacent bigint ranges in one scan: by arithmetic when evenly spaced, else width_bucket", () => {
    const q = checksumQuery(s, tiles);
    expect(q.plan).toBe("scan");
    expect(q.text).toMatch(
      /^SELECT CASE WHEN t\."id" < \$1::int8 THEN 0 WHEN t\."id" >= \$2::int8 THEN 2 ELSE \(t\."id" - \$1::int8\) \/ \$3::int8 \+ 1 END \+ 0 AS b, count\(\*\)::text AS n, /,
    );
    expect(q.text).toMatch(/ FROM "s"\."items" AS t GROUP BY 1$/);
    expect(q.values).toEqual(["10", "20", "10"]);

    const uneven = [
      ...tiles.slice(0, 2),
      { index: 2, range: { lo: ["20"], hi: ["25"] } },
      { index: 3, range: { lo: ["25"], hi: null } },
    ];
    const w = checksumQuery(s, uneven);
    expect(w.text).toMatch(/^SELECT width_bucket\(t\."id", \$1::int8\[\]\) \+ 0 AS b, /);
    expect(w.values).toEqual([["10", "20", "25"]]);
  });

  it("probes scattered ranges one index range each, one UNION ALL branch per kind of bound", () => {
    const q = checksumQuery(s, [tiles[0]!, tiles[2]!, { index: 3, range: { lo: ["3"], hi: ["4"] } }]);
    expect(q.plan).toBe("probe");
    expect(q.text.split(" UNION ALL ")).toHaveLength(3);
    expect(q.text).toContain(
      "FROM unnest($1::int4[], $2::int8[], $3::int8[]) AS b(i, l0, h0) CROSS JOIN LATERAL",
    );
    expect(q.text).toContain('WHERE t."id" >= b.l0 AND t."id" < b.h0) AS s');
    expect(q.values).toEqual([[3], ["3"], ["4"], [0], ["10"], [2], ["20"]]);
  });

  it("probes composite keys with row comparisons", () => {
    const c = new PostgresShapeSql(
      shapeOf(
        [
          ["code", "text"],
          ["id", "integer"],
        ],
        [],
      ),
      COLUMNS,
      [],
      "x",
    );
    const q = checksumQuery(c, [{ index: 0, range: { lo: ["a", "1"], hi: ["b", "2"] } }]);
    expect(q.text).toContain(
      'WHERE (t."code", t."id") >= (b.l0, b.l1) AND (t."code", t."id") < (b.h0, b.h1)',
    );
  });
});

describe("PostgresShapeSql: a key column that may hold NULL", () => {
  const columns = new Map(
    [
      col("tenant", "text", "C", "en_US.UTF-8", "f"),
      col("n", "int8", "", "en_US.UTF-8", "f"),
      col("v", "text"),
    ].map((c) => [c.name, c]),
  );
  const s = new PostgresShapeSql(
    shapeOf(
      [
        ["tenant", "text"],
        ["n", "integer"],
      ],
      [["v", "text"]],
    ),
    columns,
    [
      {
        columns: [
          { name: "tenant", collation: "C" },
          { name: "n", collation: "" },
        ],
      },
    ],
    "x",
  );

  it("orders NULL first, and an index serves that only when built NULLS FIRST", () => {
    expect(s.orderBy).toBe('t."tenant" NULLS FIRST, t."n" NULLS FIRST');
    expect(s.orderIn("DESC")).toBe('t."tenant" DESC NULLS LAST, t."n" DESC NULLS LAST');
    expect(s.indexed).toBe(false);
    const nullsFirst = new PostgresShapeSql(
      s.shape,
      columns,
      [
        {
          columns: [
            { name: "tenant", collation: "C", nullsFirst: true },
            { name: "n", collation: "", nullsFirst: true },
          ],
        },
      ],
      "x",
    );
    expect(nullsFirst.indexed).toBe(true);
  });

  it("bounds ranges without row comparisons, IS NULL for a NULL part, never = NULL", () => {
    const params = new Params();
    const where = s.rangeWhere({ lo: [null, "5"], hi: ["eu", null] }, params);
    expect(where).toBe(
      '((t."tenant" IS NOT NULL OR t."tenant" IS NULL AND t."n" >= $1::int8)) AND ((t."tenant" IS NULL OR t."tenant" < $2::text))',
    );
    expect(params.values).toEqual(["5", "eu"]);
    const eq = new Params();
    expect(s.keyEquals(["eu", null], eq)).toBe('t."tenant" = $1::text AND t."n" IS NULL');
    expect(
      s.keyIn(
        [
          ["eu", null],
          ["eu", "1"],
        ],
        new Params(),
      ),
    ).toContain('t."n" IS NULL');
  });

  it("never buckets by width_bucket or arithmetic, which have no bucket for NULL", () => {
    const one = new PostgresShapeSql(shapeOf([["n", "integer"]], [["v", "text"]]), columns, [], "x");
    const tiles = [
      { index: 0, range: { lo: null, hi: ["10"] } },
      { index: 1, range: { lo: ["10"], hi: ["20"] } },
    ];
    expect(checksumQuery(one, tiles).plan).toBe("probe");
  });
});

describe("ceilUuid: the least canonical uuid at or above a text key", () => {
  const Z = "00000000-0000-0000-0000-000000000000";
  it.each([
    [
      "a canonical uuid is itself",
      "0180bb7c-08d2-4bb6-bfae-fd5aa06f76be",
      "0180bb7c-08d2-4bb6-bfae-fd5aa06f76be",
    ],
    ["the empty text: the least uuid", "", Z],
    ["a prefix: completed with zeros", "01", `01${Z.slice(2)}`],
    ["a character below a digit: the least digit there", "0!", Z],
    ["upper case: the next lowercase digit up", "A", "a0000000-0000-0000-0000-000000000000"],
    ["past f: carried to the previous character", "0g", "10000000-0000-0000-0000-000000000000"],
    ["a hyphen missing: the next uuid after the prefix", "00000000x", "00000001-0000-0000-0000-000000000000"],
    ["longer than a uuid: the next one", `${Z}0`, "00000000-0000-0000-0000-000000000001"],
    ["above every uuid", "not-a-uuid", undefined],
    ["the greatest uuid and more", "ffffffff-ffff-ffff-ffff-ffffffffffff0", undefined],
  ])("%s", (_, text, ceil) => {
    expect(ceilUuid(text)).toBe(ceil);
    // What it promises: no canonical uuid lies in [text, ceil).
    if (ceil !== undefined) expect(ceil >= text).toBe(true);
  });
});
