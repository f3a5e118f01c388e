/** What PostgreSQL is sent for a canonical value, and which values a column refuses, without a server. */
import { describe, expect, it } from "vitest";
import type { ColumnType } from "../../core/canonical.js";
import { type PgColumn, pgColumnOf } from "./postgres-column-types.js";
import { postgresRefusal, postgresTimestampLiteral, postgresWriteValue } from "./postgres-write-values.js";

/** A column from its native name, base type and type modifier (as the catalog reports them). */
function col(native: string, base: string, typmod = -1): PgColumn {
  return pgColumnOf(["c", native, base, "", "C", "f", String(typmod)]);
}

describe("postgresTimestampLiteral", () => {
  it.each([
    ["2024-01-01T10:00:00.000000Z", false, "2024-01-01 10:00:00.000000+00"],
    ["infinity", false, "infinity"],
    ["-infinity", true, "-infinity"],
    ["-000043-03-15T12:00:00.000000Z", false, "0044-03-15 12:00:00.000000+00 BC"],
    ["0000-06-15T00:00:00.000000Z", false, "0001-06-15 00:00:00.000000+00 BC"],
    ["+010000-01-01T00:00:00.000000Z", false, "10000-01-01 00:00:00.000000+00"],
    ["-004713-11-24T00:00:00.000000Z", true, "4714-11-24 BC"],
    ["+5874897-12-31T00:00:00.000000Z", true, "5874897-12-31"],
  ] as const)("%s (date %s) → %s", (canonical, date, expected) => {
    expect(postgresTimestampLiteral(canonical, date)).toBe(expected);
  });

  it("sends timestamps in PostgreSQL's syntax, other values as they are", () => {
    expect(postgresWriteValue(col("date", "date"), "timestamp", "-000043-03-15T00:00:00.000000Z")).toBe(
      "0044-03-15 BC",
    );
    expect(postgresWriteValue(col("text", "text"), "timestamp", "-000043-03-15T00:00:00.000000Z")).toBe(
      "-000043-03-15T00:00:00.000000Z",
    );
    expect(postgresWriteValue(col("numeric", "numeric"), "decimal", "1.5")).toBe("1.5");
    expect(postgresWriteValue(col("smallint", "int2"), "boolean", "t")).toBe("1");
    expect(postgresWriteValue(col("bigint", "int8"), "boolean", "f")).toBe("0");
    expect(postgresRefusal(col("smallint", "int2"), "boolean", "t")).toBeUndefined();
  });
});

describe("postgresRefusal", () => {
  const numeric = (p: number, s: number) =>
    col(`numeric(${p},${s})`, "numeric", ((p << 16) | (s & 0x7ff)) + 4);
  it.each<[PgColumn, ColumnType, string, string | undefined]>([
    [col("smallint", "int2"), "integer", "32767", undefined],
    [col("smallint", "int2"), "integer", "32768", "out of range for smallint"],
    [col("integer", "int4"), "integer", "-2147483649", "out of range for integer"],
    [col("bigint", "int8"), "integer", "9223372036854775808", "out of range for bigint"],
    [col("bigint", "int8"), "decimal", "1.5", "not an integer"],
    [col("numeric", "numeric"), "decimal", "Infinity", undefined],
    [numeric(10, 2), "decimal", "99999999.99", undefined],
    [numeric(10, 2), "decimal", "NaN", undefined],
    [numeric(10, 2), "decimal", "0.001", "numeric(10,2) would round it to 2 decimal places"],
    [numeric(10, 2), "decimal", "100000000", "too large for numeric(10,2)"],
    [numeric(10, 2), "decimal", "-Infinity", "numeric(10,2) holds no infinity"],
    [numeric(10, 2), "float", "1e+21", "too large for numeric(10,2)"],
    [numeric(10, 2), "float", "5e-324", "numeric(10,2) would round it to 2 decimal places"],
    [numeric(2, -3), "decimal", "12000", undefined],
    [numeric(2, -3), "decimal", "12500", "numeric(2,-3) would round it to a multiple of 1e3"],
    [col("real", "float4"), "float32", "3.4028235e+38", undefined],
    [col("real", "float4"), "float32", "1e+39", "beyond the range of real (single precision)"],
    [col("real", "float4"), "float32", "1e-50", "too small for real (single precision)"],
    [col("real", "float4"), "float32", "NaN", undefined],
    [col("real", "float4"), "float", "0.1", "real (single precision) would round it"],
    [col("real", "float4"), "float", "0.5", undefined],
    // Beside an exact number (compared as a decimal), a float must give the decimal back as itself.
    [col("real", "float4"), "decimal", "0.10000000149011612", undefined],
    [
      col("real", "float4"),
      "decimal",
      "0.100000001490116119384765625",
      "real would hold it as 0.10000000149011612",
    ],
    [col("double precision", "float8"), "decimal", "0.1", undefined],
    [col("double precision", "float8"), "decimal", "NaN", undefined],
    [
      col("double precision", "float8"),
      "integer",
      "9007199254740993",
      "double precision would hold it as 9007199254740992",
    ],
    [
      col("double precision", "float8"),
      "decimal",
      "0.1000000000000000000001",
      "double precision would hold it as 0.1",
    ],
    [
      col("double precision", "float8"),
      "decimal",
      `1${"0".repeat(400)}`,
      "beyond the range of double precision",
    ],
    [col("double precision", "float8"), "float", "9007199254740992", undefined],
    [col("timestamp", "timestamp"), "timestamp", "infinity", undefined],
    [col("timestamp", "timestamp"), "timestamp", "-004713-11-24T00:00:00.000000Z", undefined],
    [
      col("timestamp", "timestamp"),
      "timestamp",
      "-004713-11-23T23:59:59.999999Z",
      "outside the range of timestamp (4714-11-24 BC to 294276-12-31 AD)",
    ],
    [
      col("timestamp(3)", "timestamp", 3),
      "timestamp",
      "2024-01-01T00:00:00.000500Z",
      "timestamp(3) would round it to 3 fractional digits",
    ],
    [col("date", "date"), "timestamp", "+5874897-12-31T00:00:00.000000Z", undefined],
    [col("date", "date"), "timestamp", "2024-01-01T00:00:00.000001Z", "a date holds no time of day"],
    [col("time", "time"), "time", "24:00:00.000000", undefined],
    [col("time", "time"), "time", "-01:00:00.000000", "a time of day is between 00:00:00 and 24:00:00"],
    [col("time(0)", "time", 0), "time", "10:00:00.500000", "time(0) would round it to 0 fractional digits"],
    [col("character(4)", "bpchar", 8), "text", "ab", undefined],
    [col("character(4)", "bpchar", 8), "text", "ab ", "character(n) does not keep trailing spaces"],
    [col("character(4)", "bpchar", 8), "text", "abcde", "longer than 4 characters"],
    [col("character varying(2)", "varchar", 6), "text", "😀😀", undefined],
    [col("character varying(2)", "varchar", 6), "text", "abc", "longer than 2 characters"],
    [col("text", "text"), "text", "a\u0000b", "PostgreSQL text holds no U+0000 (NUL) character"],
    [col("bytea", "bytea"), "bytes", "00", undefined],
    [col("uuid", "uuid"), "text", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", undefined],
    [
      col("uuid", "uuid"),
      "text",
      "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
      "not a uuid in its canonical spelling (lowercase, hyphenated)",
    ],
    [col("inet", "inet"), "text", "10.0.0.1", undefined],
    [col("inet", "inet"), "text", "10.0.0.0/8", undefined],
    [col("inet", "inet"), "text", "2001:db8::/32", undefined],
    [col("inet", "inet"), "text", "10.0.0.1/32", "inet drops a host's full mask (/32, /128) when read"],
    [col("inet", "inet"), "text", "::1/128", "inet drops a host's full mask (/32, /128) when read"],
    [col("jsonb", "jsonb"), "json", '{"a":"\\u0000"}', "jsonb holds no \\u0000 in strings"],
    [col("jsonb", "jsonb"), "json", '{"a":"\\\\u0000"}', undefined],
    [col("json", "json"), "json", '{"a":"\\u0000"}', undefined],
  ])("%o as %s: %s", (column, type, value, expected) => {
    expect(postgresRefusal(column, type, value)).toBe(expected);
  });
});
