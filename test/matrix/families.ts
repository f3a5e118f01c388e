/** The type matrix's shared vocabulary: each family's values with their canonical texts, and the key values. Tests only. */
import { type ColumnType, canonicalValue } from "../../src/core/canonical.js";
import { float32AsDouble } from "../../src/core/canonical-float32.js";
import { canonicalJsonText, type JsonDuplicates } from "../../src/core/canonical-json-text.js";
import type { MatrixFamily, MatrixValue } from "./matrix.js";

const v = (id: string, canonical: string, ...spellings: string[]): MatrixValue =>
  spellings.length ? { id, canonical, spellings } : { id, canonical };

/**
 * Whether a JSON store whose JSON functions read a repeated member name's `duplicates` value may be handed
 * `spelling` for `value`: only when it means that value there.
 */
export const spellsJson =
  (duplicates: JsonDuplicates) =>
  (spelling: string, value: MatrixValue): boolean => {
    try {
      return canonicalJsonText(spelling, duplicates) === value.canonical;
    } catch {
      return true;
    }
  };

/**
 * The families. The first value of each is the one written beside NULL (so NULL vs "" is tested for text,
 * bytes and JSON); every family has at least two values, all pairwise different.
 */
export const FAMILIES: readonly MatrixFamily[] = [
  {
    name: "integer",
    logical: "integer",
    values: [
      v("zero", "0"),
      v("one", "1"),
      v("minus-one", "-1"),
      v("int2-max", "32767"),
      v("int2-min", "-32768"),
      v("int4-max", "2147483647"),
      v("int4-min", "-2147483648"),
      v("2^53+1", "9007199254740993"),
      v("int8-max", "9223372036854775807"),
      v("int8-min", "-9223372036854775808"),
      v("uint8-max", "18446744073709551615"),
      v("year", "2024"),
    ],
  },
  {
    name: "decimal",
    logical: "decimal",
    values: [
      v("zero", "0", "0.00", "-0"),
      v("one-and-half", "1.5", "1.50"),
      v("minus-cent", "-0.01"),
      v("max-10-2", "99999999.99"),
      v(
        "full-precision",
        "123456789012345678901234567890.123456789",
        "123456789012345678901234567890.1234567890",
      ),
      v("tiny", "0.000000000000000000000000000001", "1e-30"),
      v("2^53+1", "9007199254740993"),
      v("65-digits", `${"9".repeat(35)}.${"9".repeat(30)}`),
      v("nan", "NaN"),
      v("infinity", "Infinity"),
      v("minus-infinity", "-Infinity"),
    ],
  },
  {
    name: "float",
    logical: "float",
    values: [
      v("zero", "0", "-0"),
      v("tenth", "0.1"),
      v("third", "0.3333333333333333"),
      v("minus-2.5", "-2.5"),
      v("1e21", "1e+21"),
      v("2^53", "9007199254740992"),
      v("max", "1.7976931348623157e+308"),
      v("min-subnormal", "5e-324"),
      v("1e-7", "1e-7"),
      v("nan", "NaN"),
      v("infinity", "Infinity"),
      v("minus-infinity", "-Infinity"),
    ],
  },
  {
    name: "float32",
    logical: "float32",
    values: [
      v("zero", "0"),
      v("third", "0.33333334"),
      v("1.0000012", "1.0000012"),
      v("2^24", "16777216"),
      v("max", "3.4028235e+38", "3.4028234e+38"),
      v("min-subnormal", "1e-45", "1.4e-45"),
      v("tenth", "0.1"),
      v("minus-2.5", "-2.5"),
      v("nan", "NaN"),
      v("infinity", "Infinity"),
      v("minus-infinity", "-Infinity"),
    ],
  },
  {
    name: "boolean",
    logical: "boolean",
    values: [v("false", "f"), v("true", "t")],
  },
  {
    name: "text",
    logical: "text",
    values: [
      v("empty", ""),
      v("a", "a"),
      v("A", "A"),
      v("trailing-space", "a "),
      v("leading-space", " a"),
      v("e-acute-nfc", "\u00e9"),
      v("e-acute-nfd", "e\u0301"),
      v("emoji", "\u{1F600}"),
      v("escapes", "\\|\\N|"),
      v("newline", "line\nbreak"),
      v("sharp-s", "\u00df"),
      v("long", "x".repeat(300)),
    ],
  },
  {
    name: "uuid",
    logical: "text",
    values: [
      v("nil", "00000000-0000-0000-0000-000000000000"),
      v("some", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
      v("max", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
    ],
  },
  {
    name: "timestamp",
    logical: "timestamp",
    values: [
      v("epoch", "1970-01-01T00:00:00.000000Z"),
      v("midnight", "2024-01-01T00:00:00.000000Z"),
      v("half-second", "2024-01-01T00:00:00.500000Z"),
      v("millis", "2024-02-29T12:34:56.123000Z"),
      v("micros", "2024-02-29T12:34:56.123456Z"),
      v("year-1", "0001-01-01T00:00:00.000000Z"),
      v("year-9999", "9999-12-31T23:59:59.999999Z"),
      v("44-ad", "0044-03-15T00:00:00.000000Z"),
      v("44-bc", "-000043-03-15T00:00:00.000000Z"),
      v("1-bc", "0000-06-15T00:00:00.000000Z"),
      v("julian-day-0", "-004713-11-24T00:00:00.000000Z"),
      v("year-10000", "+010000-01-01T00:00:00.000000Z"),
      v("294276-ad", "+294276-12-31T00:00:00.000000Z"),
      v("5874897-ad", "+5874897-12-31T00:00:00.000000Z"),
      v("infinity", "infinity"),
      v("minus-infinity", "-infinity"),
    ],
  },
  {
    name: "time",
    logical: "time",
    values: [
      v("midnight", "00:00:00.000000", "00:00:00"),
      v("ten", "10:00:00.000000", "10:00:00", "10:00"),
      v("half-second", "10:00:00.500000", "10:00:00.5"),
      v("millis", "12:34:56.123000"),
      v("last-micro", "23:59:59.999999"),
      v("end-of-day", "24:00:00.000000"),
      v("minus-one", "-01:00:00.000000", "-01:00:00"),
      v("838-hours", "838:59:59.000000", "838:59:59"),
    ],
  },
  {
    name: "json",
    logical: "json",
    values: [
      v("empty-string", '""'),
      v("beyond-2^53-v1", '{"id":9007199254740993,"v":1}', '{"v":1,"id":9007199254740993}'),
      v("beyond-2^53-v2", '{"id":9007199254740993,"v":2}'),
      v("beyond-2^53", '{"id":9007199254740993}'),
      v("2^53", '{"id":9007199254740992}'),
      v("beyond-double", '{"x":1e+400}', '{"x":10e399}', '{"x":1E400}'),
      v("member-null", '{"x":null}'),
      v("json-null", "null"),
      v("one", "1", "1.0", "10E-1"),
      v("decimal", '{"p":0.30000000000000001}'),
      v("nested", '{"a":[1,2,{"b":false}],"z":"\u00e9"}', '{ "z" : "\\u00e9", "a" : [1, 2, {"b": false}] }'),
      // A repeated name means its first value in MariaDB and SQLite, its last in PostgreSQL and Redis JSON:
      // each store is handed only the spelling that means this value there (`spellsJson`).
      v("duplicate-key", '{"a":2}', '{"a":1,"a":2}', '{"a":2,"a":1}'),
      v("empty-array", "[]"),
      v("empty-object", "{}"),
    ],
  },
  {
    name: "bytes",
    logical: "bytes",
    values: [
      v("empty", ""),
      v("zero-byte", "00"),
      v("ff", "ff"),
      v("mixed", "00ff10"),
      v("text-bytes", "68656c6c6f"),
      v("deadbeef", "deadbeef"),
      v("trailing-zero", "ff0000"),
    ],
  },
  {
    name: "interval",
    logical: "text",
    values: [
      v("day", "1 day"),
      v("24-hours", "24:00:00"),
      v("month", "1 mon"),
      v("micro", "00:00:00.000001"),
      v("mixed-signs", "-1 days +02:00:00"),
    ],
  },
];

/**
 * Key values in key order's trouble spots. Text: case and Unicode normalization variants side by side (so a
 * case- or accent-insensitive target already holds the first when the second is inserted), trailing spaces,
 * the empty key, surrogate pairs, the encoding's escape characters.
 */
export const KEY_VALUES: Readonly<Record<"integer" | "text" | "bytes", readonly string[]>> = {
  integer: ["-9223372036854775808", "-32768", "-1", "0", "1", "32767", "2147483648", "9223372036854775807"],
  text: ["a", "A", "\u00e9", "e\u0301", "", "a ", "b", "\u{1F600}", "\\|", "Z", "\u00df", "ss"],
  /**
   * Bytes, as lowercase hex: the empty key, 0x00 and 0xFF beside their prefixes and extensions (memcmp
   * order: a prefix first), 0x7f/0x80 (signed-byte order would swap them), and 16-byte keys (a BINARY(16)
   * UUID) with leading and trailing zero bytes, which a BINARY(n)'s padding must not confuse.
   */
  bytes: [
    "",
    "00",
    "0000",
    "00ff",
    "01",
    "7f",
    "80",
    "ff",
    "ff00",
    "ffff",
    "00000000000000000000000000000000",
    "00000000000000000000000000000001",
    "0102030405060708090a0b0c0d0e0f00",
    "0102030405060708090a0b0c0d0e0f10",
    "7fffffffffffffffffffffffffffffff",
    "80000000000000000000000000000000",
    "ff000000000000000000000000000000",
    "ffffffffffffffffffffffffffffffff",
  ],
};

/**
 * The canonical text `value` of `family` reads as when its column is compared as `type`: its own canonical
 * text in its own type; a single compared as a double (a `real` beside a `double precision`) is the double
 * that holds it exactly ("0.33333334" is 0.3333333432674408).
 */
export function canonicalIn(family: MatrixFamily, type: ColumnType, value: MatrixValue): string | null {
  if (family.logical === "float32" && type === "float")
    return canonicalValue("float", float32AsDouble(value.canonical));
  return canonicalValue(type, value.canonical);
}

/** What a double column is handed for a single: the double that holds it exactly. */
export const singleAsDouble = (text: string): string => float32AsDouble(text);
