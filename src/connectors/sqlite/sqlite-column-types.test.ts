import { describe, expect, it } from "vitest";
import { canonicalValue } from "../../core/canonical.js";
import { sqliteLogicalType } from "./sqlite-column-types.js";
import { formatTimestamp, timestampStyleOf } from "./sqlite-connector.js";

describe("SQLite timestamp styles: repairs write the format the column already uses", () => {
  it.each([
    ["2024-01-01 00:01:00", "2024-03-04T05:06:07.000000Z", "2024-03-04 05:06:07"],
    ["2024-01-01 00:01:00", "2024-03-04T05:06:07.120000Z", "2024-03-04 05:06:07.12"],
    ["2024-01-01 00:01:00.000", "2024-03-04T05:06:07.000000Z", "2024-03-04 05:06:07.000"],
    ["2024-01-01T00:01:00Z", "2024-03-04T05:06:07.000001Z", "2024-03-04T05:06:07.000001Z"],
    ["2024-01-01T00:01:00.000000+00:00", "2024-03-04T05:06:07.000000Z", "2024-03-04T05:06:07.000000+00:00"],
    ["2024-01-01", "2024-03-04T00:00:00.000000Z", "2024-03-04"],
    ["2024-01-01", "2024-03-04T05:06:07.000000Z", "2024-03-04 05:06:07"],
    [1704067200, "2024-03-04T05:06:07.000000Z", 1709528767],
    [1704067200, "2024-03-04T05:06:07.500000Z", 1709528767.5],
    [1704067200, "1969-12-31T23:59:59.500000Z", -0.5],
    [1704067200, "infinity", "infinity"],
    [1704067200, "+010000-01-01T00:00:00.000000Z", "+010000-01-01T00:00:00.000000Z"],
    ["2024-01-01 00:01:00", "-000043-03-15T00:00:00.000000Z", "-000043-03-15T00:00:00.000000Z"],
    ["2024-01-01", "-infinity", "-infinity"],
    ["not a timestamp", "2024-03-04T05:06:07.000000Z", "2024-03-04T05:06:07.000000Z"],
    [null, "2024-03-04T05:06:07.000000Z", "2024-03-04T05:06:07.000000Z"],
  ] as const)("sample %j: %s is written as %j", (sample, canonical, written) => {
    const out = formatTimestamp(canonical, timestampStyleOf(sample));
    expect(out).toBe(written);
    // Whatever the style, the written value reads back as the same instant.
    expect(canonicalValue("timestamp", out)).toBe(canonical);
  });
});

describe("SQLite declared types: the logical type a column is compared as", () => {
  it.each([
    ["INTEGER", "integer"],
    ["BIGINT UNSIGNED", "integer"],
    ["int", "integer"],
    ["TINYINT(1)", "integer"],
    ["BOOLEAN", "boolean"],
    ["DECIMAL(10,2)", "decimal"],
    ["TEXT", "text"],
    ["", "text"],
    ["BLOB", "bytes"],
    ["DOUBLE PRECISION", "float"],
    ["TIMESTAMP", "timestamp"],
    // PostgreSQL type names a copied schema keeps: SQLite's rule reads "INT" in them, but they hold no integers
    // (before, a PostgreSQL interval beside an SQLite INTERVAL was "incompatible types: interval on a,
    // interval on b", and an SQLite INTERVAL holding '1 day' failed the scan as no integer).
    ["INTERVAL", "text"],
    ["interval", "text"],
    ["POINT", "text"],
    ["INT4RANGE", "text"],
    ["TSTZRANGE", "text"],
    ["INTEGER[]", "text"],
    ["int[]", "text"],
    ["BOOLEAN[]", "text"],
    ["TIMESTAMPTZ[]", "text"],
    ["JSONB[]", "text"],
    ["NUMERIC(10,2)[]", "text"],
    ["TIME WITH TIME ZONE", "text"],
    ["TIME WITHOUT TIME ZONE", "time"],
    ["TIME", "time"],
    ["SERIAL", "integer"],
    ["bigserial", "integer"],
    ["SERIAL8", "integer"],
    ["YEAR", "integer"],
    ["BIT(8)", "integer"],
    ["BIT", "integer"],
    ["BIT VARYING(8)", "text"],
    ["BYTEA", "bytes"],
  ] as const)("%j is compared as %s", (declared, type) => {
    expect(sqliteLogicalType(declared)).toBe(type);
  });
});
