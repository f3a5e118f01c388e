import { describe, expect, it } from "vitest";
import { ConfigError, type DatasetConfig, type PolicyConfig } from "../config/load-config.js";
import type { ColumnInfo, TableDescription } from "../connectors/connector.js";
import type { ColumnType } from "../core/canonical.js";
import type { ClassifyRules } from "../core/classify.js";
import { resolveShape, unifyTypes } from "./resolve-shape.js";

const NATIVE: Record<ColumnType, string> = {
  integer: "INTEGER",
  decimal: "DECIMAL(10,2)",
  float: "REAL",
  float32: "FLOAT",
  boolean: "BOOLEAN",
  text: "TEXT",
  timestamp: "TIMESTAMP",
  time: "TIME",
  json: "JSON",
  bytes: "BLOB",
};

/** A table with the given columns, in the given order; native type names follow the logical type. */
function table(columns: Record<string, ColumnType>): TableDescription {
  return {
    columns: Object.entries(columns).map(([name, type]) => ({ name, type, nativeType: NATIVE[type] })),
  };
}

function replicas(tables: Record<string, Record<string, ColumnType>>): ReadonlyMap<string, TableDescription> {
  return new Map(Object.entries(tables).map(([name, cols]) => [name, table(cols)]));
}

function dataset(
  over: Partial<Omit<DatasetConfig, "policy">> & { policy?: Partial<PolicyConfig> } = {},
): DatasetConfig {
  const { policy, ...rest } = over;
  return {
    name: "items",
    key: ["id"],
    types: {},
    versions: {},
    replicas: [
      { name: "a", url: "memory:a" },
      { name: "b", url: "memory:b" },
    ],
    detect: {},
    mode: "repair",
    intensity: 1,
    checkpointRows: 100_000,
    ...rest,
    policy: { merge: {}, tolerance: {}, limits: {}, ...policy },
  };
}

const ITEMS = {
  id: "integer",
  name: "text",
  price: "decimal",
  updated_at: "timestamp",
  version: "integer",
} as const;

describe("unifyTypes", () => {
  it.each<[ColumnType[], ColumnType | undefined]>([
    [["integer"], "integer"],
    [["text", "text", "text"], "text"],
    [["bytes", "bytes"], "bytes"],
    [["integer", "decimal"], "decimal"],
    [["decimal", "integer", "integer"], "decimal"],
    [["integer", "float"], "decimal"],
    [["decimal", "float"], "decimal"],
    [["integer", "decimal", "float"], "decimal"],
    [["integer", "boolean"], "boolean"],
    [["boolean", "integer", "integer"], "boolean"],
    [["text", "timestamp"], "timestamp"],
    [["timestamp", "text", "timestamp"], "timestamp"],
    [["text", "json"], "json"],
    [["float32", "float32"], "float32"],
    [["float32", "float"], "float"],
    [["float32", "integer"], "decimal"],
    [["float32", "decimal", "float32"], "decimal"],
    [["text", "time"], "time"],
    [["time", "timestamp"], undefined],
    [["float32", "boolean"], undefined],
    [["text", "integer"], undefined],
    [["boolean", "decimal"], undefined],
    [["boolean", "float"], undefined],
    [["timestamp", "json"], undefined],
    [["text", "timestamp", "json"], undefined],
    [["integer", "timestamp"], undefined],
    [["bytes", "text"], undefined],
  ])("%j → %s", (types, expected) => {
    expect(unifyTypes(types)).toBe(expected);
  });
});

describe("resolveShape: compared columns", () => {
  it("defaults to every non-key column, sorted by name, whatever each store's column order", () => {
    const r = resolveShape(
      dataset(),
      replicas({
        a: { zeta: "text", id: "integer", alpha: "integer", mid: "decimal" },
        b: { mid: "decimal", alpha: "integer", zeta: "text", id: "integer" },
      }),
    );
    expect(r.shape).toEqual({
      key: [{ name: "id", type: "integer" }],
      columns: [
        { name: "alpha", type: "integer" },
        { name: "mid", type: "decimal" },
        { name: "zeta", type: "text" },
      ],
    });
    expect(r.issues).toEqual([]);
    expect(r.versionPositions).toEqual({});
    expect(r.rules).toEqual({
      tolerance: new Map(),
      windowMs: undefined,
      timestampColumn: undefined,
      versioned: false,
      ordering: undefined,
    });
  });

  it("keeps declared columns in the declared order", () => {
    const r = resolveShape(dataset({ columns: ["price", "name"] }), replicas({ a: ITEMS, b: ITEMS }));
    expect(r.shape.columns.map((c) => c.name)).toEqual(["price", "name"]);
  });

  it("unifies types across replicas (integer and decimal → decimal; text and timestamp → timestamp)", () => {
    const r = resolveShape(
      dataset(),
      replicas({
        a: { id: "integer", price: "integer", at: "text" },
        b: { id: "integer", price: "decimal", at: "timestamp" },
      }),
    );
    expect(r.shape.columns).toEqual([
      { name: "at", type: "timestamp" },
      { name: "price", type: "decimal" },
    ]);
    expect(r.issues).toEqual([]);
  });

  it("reports a column missing on one replica and leaves it out", () => {
    const r = resolveShape(
      dataset(),
      replicas({
        a: { id: "integer", name: "text", notes: "text" },
        b: { id: "integer", name: "text" },
        c: { id: "integer", name: "text" },
      }),
    );
    expect(r.shape.columns).toEqual([{ name: "name", type: "text" }]);
    expect(r.issues).toEqual([{ column: "notes", detail: "column notes is missing on b, c" }]);
  });

  it("reports incompatible types with each replica's native type and leaves the column out", () => {
    const r = resolveShape(
      dataset(),
      replicas({
        a: { id: "integer", name: "text", price: "integer" },
        b: { id: "integer", name: "text", price: "text" },
      }),
    );
    expect(r.shape.columns).toEqual([{ name: "name", type: "text" }]);
    expect(r.issues).toEqual([
      { column: "price", detail: "column price has incompatible types: INTEGER on a, TEXT on b" },
    ]);
  });

  it.each([
    [
      "one type name in two stores says what each is read as",
      { name: "bt", type: "integer", nativeType: "bit(8)" },
      { name: "bt", type: "text", nativeType: "bit(8)" },
      "column bt has incompatible types: bit(8) (integer) on a, bit(8) (text) on b",
    ],
    [
      "a shape in two forms says which and that none is converted",
      { name: "bt", type: "text", nativeType: "POINT", spatial: "text" },
      { name: "bt", type: "bytes", nativeType: "point", spatial: "wkb" },
      `column bt has incompatible types: POINT (text) on a, point (bytes) on b (a shape is PostgreSQL's text ("(1,2)") on a, bytes (an SRID, then WKB, as MariaDB/MySQL keep it) on b; Concord converts no shape from one form to another, so the column is not compared)`,
    ],
  ] as const)("%s", (_, a, b, detail) => {
    const id: ColumnInfo = { name: "id", type: "integer", nativeType: "int" };
    const r = resolveShape(
      dataset(),
      new Map<string, TableDescription>([
        ["a", { columns: [id, a] }],
        ["b", { columns: [id, b] }],
      ]),
    );
    expect(r.shape.columns).toEqual([]);
    expect(r.issues).toEqual([{ column: "bt", detail }]);
  });

  it("a declared type overrides incompatible store types", () => {
    const r = resolveShape(
      dataset({ types: { price: "decimal" } }),
      replicas({
        a: { id: "integer", price: "integer" },
        b: { id: "integer", price: "text" },
      }),
    );
    expect(r.shape.columns).toEqual([{ name: "price", type: "decimal" }]);
    expect(r.issues).toEqual([]);
  });

  it("a declared column missing on one replica is an issue, not an error", () => {
    const r = resolveShape(
      dataset({ columns: ["name", "notes"] }),
      replicas({ a: { id: "integer", name: "text", notes: "text" }, b: { id: "integer", name: "text" } }),
    );
    expect(r.shape.columns.map((c) => c.name)).toEqual(["name"]);
    expect(r.issues).toEqual([{ column: "notes", detail: "column notes is missing on b" }]);
  });
});

describe("resolveShape: versions", () => {
  it("includes version columns even when columns: leaves them out", () => {
    const r = resolveShape(
      dataset({ columns: ["name"], versions: { counter: "version", timestamp: "updated_at" } }),
      replicas({ a: ITEMS, b: ITEMS }),
    );
    expect(r.shape.columns.map((c) => c.name)).toEqual(["name", "version", "updated_at"]);
    expect(r.versionPositions).toEqual({ counter: 1, timestamp: 2 });
    expect(r.rules.versioned).toBe(true);
    expect(r.rules.ordering).toBe("counter");
    expect(r.rules.timestampColumn).toBe(2);
  });

  it("does not list a version column twice when columns: names it", () => {
    const r = resolveShape(
      dataset({ columns: ["version", "name"], versions: { counter: "version" } }),
      replicas({ a: ITEMS, b: ITEMS }),
    );
    expect(r.shape.columns.map((c) => c.name)).toEqual(["version", "name"]);
    expect(r.versionPositions).toEqual({ counter: 0 });
    expect(r.rules.ordering).toBe("counter");
  });

  it.each<[DatasetConfig["versions"], DatasetConfig["policy"]["resolve"], ClassifyRules["ordering"]]>([
    [{}, undefined, undefined],
    [{ timestamp: "updated_at" }, undefined, "timestamp"],
    [{ counter: "version" }, undefined, "counter"],
    // Without a strategy, the strongest version declared orders the records.
    [{ counter: "version", timestamp: "updated_at" }, undefined, "counter"],
    [{ vector: "clock", timestamp: "updated_at" }, undefined, "vector"],
    [{ counter: "version", timestamp: "updated_at" }, "owner", "counter"],
    // A strategy orders by what it names, whatever else is declared.
    [{ counter: "version", timestamp: "updated_at" }, "lww", "timestamp"],
    [{ vector: "clock", counter: "version", timestamp: "updated_at" }, "highest-version", "counter"],
    [{ vector: "clock", counter: "version" }, "version-vector", "vector"],
  ])("versions %j, resolve %s → ordering %s", (versions, resolve, expected) => {
    const cols = { ...ITEMS, clock: "json" as const };
    const r = resolveShape(dataset({ versions, policy: { resolve } }), replicas({ a: cols, b: cols }));
    expect(r.rules.versioned).toBe(Object.keys(versions).length > 0);
    expect(r.rules.ordering).toBe(expected);
  });

  it("an ordering strategy whose version column is not compared orders nothing", () => {
    const r = resolveShape(
      dataset({ versions: { counter: "version", timestamp: "updated_at" }, policy: { resolve: "lww" } }),
      replicas({ a: ITEMS, b: { id: "integer", name: "text", price: "decimal", version: "integer" } }),
    );
    expect(r.issues).toEqual([{ column: "updated_at", detail: "column updated_at is missing on b" }]);
    expect(r.rules.ordering).toBeUndefined();
  });

  it("carries the window and the timestamp column's position into the rules", () => {
    const r = resolveShape(
      dataset({ versions: { timestamp: "updated_at" }, policy: { windowMs: 30_000 } }),
      replicas({ a: ITEMS, b: ITEMS }),
    );
    expect(r.rules.windowMs).toBe(30_000);
    expect(r.rules.timestampColumn).toBe(r.shape.columns.findIndex((c) => c.name === "updated_at"));
  });

  it("a version column missing on one replica is an issue and versions are off", () => {
    const r = resolveShape(
      dataset({ versions: { counter: "version" } }),
      replicas({ a: ITEMS, b: { id: "integer", name: "text", price: "decimal", updated_at: "timestamp" } }),
    );
    expect(r.issues).toEqual([{ column: "version", detail: "column version is missing on b" }]);
    expect(r.versionPositions).toEqual({});
    expect(r.rules.versioned).toBe(false);
  });
});

describe("resolveShape: tolerances", () => {
  it("compiles numeric and duration tolerances", () => {
    const r = resolveShape(
      dataset({
        policy: {
          tolerance: { price: { kind: "numeric", bound: 0.005 }, updated_at: { kind: "duration", ms: 1500 } },
        },
      }),
      replicas({ a: ITEMS, b: ITEMS }),
    );
    expect(r.rules.tolerance).toEqual(
      new Map([
        ["price", { kind: "numeric", bound: 0.005 }],
        ["updated_at", { kind: "duration", micros: 1_500_000n }],
      ]),
    );
  });

  it("accepts a numeric tolerance on integer and float columns", () => {
    const cols = { id: "integer", qty: "integer", ratio: "float" } as const;
    const r = resolveShape(
      dataset({
        policy: { tolerance: { qty: { kind: "numeric", bound: 1 }, ratio: { kind: "numeric", bound: 0.1 } } },
      }),
      replicas({ a: cols, b: cols }),
    );
    expect([...r.rules.tolerance.keys()]).toEqual(["qty", "ratio"]);
  });
});

describe("resolveShape: config errors name the path", () => {
  it.each<[string, DatasetConfig, Record<string, Record<string, ColumnType>>, string]>([
    [
      "numeric tolerance on a text column",
      dataset({ policy: { tolerance: { name: { kind: "numeric", bound: 1 } } } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.policy.tolerance.name: a numeric tolerance needs a numeric column, "name" is text',
    ],
    [
      "numeric tolerance on a timestamp column",
      dataset({ policy: { tolerance: { updated_at: { kind: "numeric", bound: 1 } } } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.policy.tolerance.updated_at: a numeric tolerance needs a numeric column, "updated_at" is timestamp',
    ],
    [
      "duration tolerance on a decimal column",
      dataset({ policy: { tolerance: { price: { kind: "duration", ms: 1000 } } } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.policy.tolerance.price: a duration tolerance needs a timestamp column, "price" is decimal',
    ],
    [
      "tolerance on a column that is not compared",
      dataset({ columns: ["name"], policy: { tolerance: { price: { kind: "numeric", bound: 1 } } } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.policy.tolerance.price: "price" is not a compared column',
    ],
    [
      "version column no replica has",
      dataset({ versions: { counter: "rev" } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.versions.counter: no replica has a column "rev"',
    ],
    [
      "version column that is a key column",
      dataset({ versions: { counter: "id" } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.versions.counter: "id" is a key column',
    ],
    [
      "timestamp version column that is not a timestamp",
      dataset({ versions: { timestamp: "name" } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.versions.timestamp: column "name" is not a timestamp (declare it in types:)',
    ],
    [
      "counter version column that is text",
      dataset({ versions: { counter: "name" } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.versions.counter: column "name" is text; a counter needs an integer column (declare it in types: when the store keeps it as text)',
    ],
    [
      "counter version column that is decimal",
      dataset({ versions: { counter: "price" } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.versions.counter: column "price" is decimal; a counter needs an integer column (declare it in types: when the store keeps it as text)',
    ],
    [
      "vector version column that is a number",
      dataset({ versions: { vector: "price" } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.versions.vector: column "price" is decimal; a vector needs a JSON object column',
    ],
    [
      "declared column no replica has",
      dataset({ columns: ["name", "colour"] }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.columns: no replica has a column "colour"',
    ],
    [
      "declared type for a column no replica has",
      dataset({ types: { colour: "text" } }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.types.colour: no replica has a column "colour"',
    ],
    [
      "key column missing on a replica",
      dataset(),
      { a: ITEMS, b: { name: "text" } },
      'datasets.items.key: key column "id" cannot be compared (column id is missing on b)',
    ],
    [
      "key column with incompatible types",
      dataset(),
      { a: ITEMS, b: { ...ITEMS, id: "text" } },
      'datasets.items.key: key column "id" cannot be compared (column id has incompatible types: INTEGER on a, TEXT on b)',
    ],
    [
      "key column of a type keys cannot have",
      dataset({ key: ["updated_at"] }),
      { a: ITEMS, b: ITEMS },
      'datasets.items.key: key column "updated_at" is timestamp; key columns must be integer, text or bytes',
    ],
  ])("%s", (_name, ds, tables, message) => {
    const run = () => resolveShape(ds, replicas(tables));
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(new ConfigError(message));
  });
});

describe("resolveShape: schemaless and untyped stores", () => {
  const redis: TableDescription = {
    schemaless: true,
    columns: [{ name: "name", type: "text", nativeType: "string", typed: false }],
  };

  it("takes columns and types from the typed replicas; the schemaless one is never 'missing' a column", () => {
    const r = resolveShape(
      dataset(),
      new Map([
        ["a", table(ITEMS)],
        ["b", redis],
      ]),
    );
    expect(r.issues).toEqual([]);
    expect(r.shape.columns).toEqual([
      { name: "name", type: "text" },
      { name: "price", type: "decimal" },
      { name: "updated_at", type: "timestamp" },
      { name: "version", type: "integer" },
    ]);
  });

  it("does not let an untyped column's text type clash with a typed integer", () => {
    const untyped: TableDescription = {
      columns: [
        { name: "id", type: "text", nativeType: "string", typed: false },
        { name: "qty", type: "text", nativeType: "string", typed: false },
      ],
    };
    const r = resolveShape(
      dataset(),
      new Map([
        ["a", table({ id: "integer", qty: "integer" })],
        ["b", untyped],
      ]),
    );
    expect(r.issues).toEqual([]);
    expect(r.shape.key).toEqual([{ name: "id", type: "integer" }]);
    expect(r.shape.columns).toEqual([{ name: "qty", type: "integer" }]);
  });

  it("uses the config's columns and types when every replica is schemaless", () => {
    const r = resolveShape(
      dataset({ columns: ["qty", "note"], types: { id: "integer", qty: "integer" } }),
      new Map([
        ["a", redis],
        ["b", redis],
      ]),
    );
    expect(r.shape.key).toEqual([{ name: "id", type: "integer" }]);
    expect(r.shape.columns).toEqual([
      { name: "qty", type: "integer" },
      { name: "note", type: "text" },
    ]);
  });

  it("requires columns: when every replica is schemaless", () => {
    expect(() =>
      resolveShape(
        dataset(),
        new Map([
          ["a", redis],
          ["b", redis],
        ]),
      ),
    ).toThrow(new ConfigError("datasets.items.columns: required when no replica has a schema (a, b)"));
  });
});

describe("resolveShape: notes on columns the stores cannot keep alike", () => {
  type Column = Omit<ColumnInfo, "name">;
  /** Each replica's description: its store's name and the facts its connector reports per column. */
  const described = (replicas: Record<string, { store: string; columns: Record<string, Column> }>) =>
    new Map<string, TableDescription>(
      Object.entries(replicas).map(([replica, { store, columns }]) => [
        replica,
        {
          store,
          columns: [
            { name: "id", type: "integer", nativeType: "bigint" },
            ...Object.entries(columns).map(([name, c]) => ({ name, ...c })),
          ],
        },
      ]),
    );
  const pg = (columns: Record<string, Column>) => ({ store: "PostgreSQL", columns });
  const maria = (columns: Record<string, Column>) => ({ store: "MariaDB", columns });
  const lite = (columns: Record<string, Column>) => ({ store: "SQLite", columns });
  const sqliteDecimal: Column = { type: "decimal", nativeType: "DECIMAL(12,2)", exactNumber: false };

  // Compared as floats, an exact number equalled the double it rounds to: bigint 9007199254740993 equalled
  // double 9007199254740992, numeric 0.1000000000000000000001 equalled 0.1.
  it("compares decimals beside floats as exact decimals, and says so", () => {
    const r = resolveShape(
      dataset(),
      described({
        a: pg({ x: { type: "decimal", nativeType: "numeric(30,10)" } }),
        b: maria({ x: { type: "float", nativeType: "double" } }),
      }),
    );
    expect(r.shape.columns).toEqual([{ name: "x", type: "decimal" }]);
    expect(r.notes).toEqual([
      "column x is compared as an exact decimal (numeric(30,10) on a, double on b): a float equals a decimal only when its shortest text is that decimal (0.1 is, 0.1000000000000000000001 and 9007199254740993 are no double); declare types: { x: float } to compare as doubles",
    ]);
    const single = resolveShape(
      dataset(),
      described({
        a: pg({ x: { type: "integer", nativeType: "bigint" } }),
        b: maria({ x: { type: "float32", nativeType: "float" } }),
      }),
    );
    expect(single.shape.columns).toEqual([{ name: "x", type: "decimal" }]);
    expect(single.notes).toEqual([
      "column x is compared as an exact decimal (bigint on a, float on b): a float equals a decimal only when its shortest text is that decimal (0.1 is, 0.1000000000000000000001 and 9007199254740993 are no double); b keeps 32-bit floats, read as the doubles they are (0.1 is 0.10000000149011612 there); declare types: { x: float } to compare as doubles",
    ]);
  });

  it("says when 32-bit floats are compared as doubles, naming the declaration that compares them as float32", () => {
    const r = resolveShape(
      dataset(),
      described({
        a: pg({ x: { type: "float", nativeType: "double precision" } }),
        b: maria({ x: { type: "float32", nativeType: "float" } }),
      }),
    );
    expect(r.shape.columns).toEqual([{ name: "x", type: "float" }]);
    expect(r.notes).toEqual([
      "column x is compared as a 64-bit float (double precision on a, float on b): b keeps 32-bit floats, which hold few other values exactly (0.1 is 0.10000000149011612 there); declare types: { x: float32 } to compare at 32-bit precision",
    ]);
    const both = resolveShape(
      dataset(),
      described({
        a: pg({ x: { type: "float32", nativeType: "real" } }),
        b: maria({ x: { type: "float32", nativeType: "float" } }),
      }),
    );
    expect(both.shape.columns).toEqual([{ name: "x", type: "float32" }]);
    expect(both.notes).toEqual([]);
  });

  it("says when a key column's collation equates distinct texts, naming it and the replica", () => {
    const r = resolveShape(
      dataset({ key: ["code"] }),
      new Map<string, TableDescription>([
        ["a", { columns: [{ name: "code", type: "text", nativeType: "text" }] }],
        [
          "b",
          {
            columns: [
              {
                name: "code",
                type: "text",
                nativeType: "varchar(20)",
                lenientCollation: "utf8mb4_general_ci",
              },
            ],
          },
        ],
      ]),
    );
    expect(r.notes).toEqual([
      "key column code compares text under utf8mb4_general_ci on b: keys that differ only in what it ignores (case, accents, trailing spaces) are one key there, so only one of them can be written to it",
    ]);
  });

  it("says when a store keeps JSON numbers as doubles beside one that keeps them as written", () => {
    const r = resolveShape(
      dataset(),
      described({
        a: pg({ x: { type: "json", nativeType: "jsonb" } }),
        b: { store: "MySQL", columns: { x: { type: "json", nativeType: "json", exactNumber: false } } },
      }),
    );
    expect(r.notes).toEqual([
      "column x: json on b keeps JSON numbers as 64-bit integers and doubles; documents with longer numbers differ there and cannot be written to it",
    ]);
  });

  it("says when SQLite's floating-point DECIMAL sits beside an exact one, not between two SQLite files", () => {
    const mixed = resolveShape(
      dataset(),
      described({
        a: pg({ x: { type: "decimal", nativeType: "numeric(12,2)" } }),
        b: lite({ x: sqliteDecimal }),
      }),
    );
    expect(mixed.notes).toEqual([
      "column x: SQLite keeps DECIMAL(12,2) as floating point on b (about 15 significant digits); longer decimals will differ",
    ]);
    const both = resolveShape(
      dataset(),
      described({ a: lite({ x: sqliteDecimal }), b: lite({ x: sqliteDecimal }) }),
    );
    expect(both.notes).toEqual([]);
  });

  it("says when timestamps are kept at different precisions, and not when they agree or have none", () => {
    const r = resolveShape(
      dataset(),
      described({
        pg: pg({
          t: { type: "timestamp", nativeType: "timestamp with time zone", fractionalDigits: 6 },
          u: { type: "timestamp", nativeType: "timestamp(3) with time zone", fractionalDigits: 3 },
        }),
        my: maria({
          t: { type: "timestamp", nativeType: "datetime", fractionalDigits: 0 },
          u: { type: "timestamp", nativeType: "datetime(3)", fractionalDigits: 3 },
        }),
        lite: lite({
          t: { type: "timestamp", nativeType: "TIMESTAMP" },
          u: { type: "timestamp", nativeType: "TIMESTAMP" },
        }),
      }),
    );
    expect(r.notes).toEqual([
      "column t is kept at different precisions (timestamp with time zone on pg: 6 fractional digits, datetime on my: 0 fractional digits): differences below the coarsest are reported as divergence",
    ]);
  });

  it("says when times are kept at different precisions", () => {
    const r = resolveShape(
      dataset(),
      described({
        pg: pg({ t: { type: "time", nativeType: "time without time zone", fractionalDigits: 6 } }),
        my: maria({ t: { type: "time", nativeType: "time", fractionalDigits: 0 } }),
      }),
    );
    expect(r.notes).toEqual([
      "column t is kept at different precisions (time without time zone on pg: 6 fractional digits, time on my: 0 fractional digits): differences below the coarsest are reported as divergence",
    ]);
  });

  it("judges by what describe reports, never by URLs or native type names", () => {
    // A replica URL that says sqlite, and native names that look like PostgreSQL's, change nothing: the
    // connector's facts decide.
    const r = resolveShape(
      dataset({
        replicas: [
          { name: "a", url: "sqlite:a.db" },
          { name: "b", url: "postgres://h/db" },
        ],
      }),
      described({
        a: lite({
          x: { type: "decimal", nativeType: "DECIMAL(12,2)" },
          t: { type: "timestamp", nativeType: "timestamp(3)" },
        }),
        b: pg({
          x: { type: "decimal", nativeType: "numeric" },
          t: { type: "timestamp", nativeType: "timestamptz" },
        }),
      }),
    );
    expect(r.notes).toEqual([]);
  });

  it("names the store generically when its description does not", () => {
    const r = resolveShape(
      dataset(),
      new Map<string, TableDescription>([
        [
          "a",
          {
            columns: [
              { name: "id", type: "integer", nativeType: "int" },
              { name: "x", type: "decimal", nativeType: "numeric" },
            ],
          },
        ],
        [
          "b",
          {
            columns: [
              { name: "id", type: "integer", nativeType: "int" },
              { name: "x", ...sqliteDecimal },
            ],
          },
        ],
      ]),
    );
    expect(r.notes).toEqual([
      "column x: the store keeps DECIMAL(12,2) as floating point on b (about 15 significant digits); longer decimals will differ",
    ]);
  });
});
