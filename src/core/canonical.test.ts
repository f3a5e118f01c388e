import { describe, expect, it } from "vitest";
import {
  type CanonicalValue,
  type ColumnType,
  canonicalValue,
  encodeRow,
  formatMicros,
  TIMESTAMP_INFINITY,
  TIMESTAMP_NEG_INFINITY,
  timestampMicros,
  ValueError,
} from "./canonical.js";

describe("canonicalValue: integer", () => {
  it.each<[unknown, string]>([
    [0, "0"],
    [-0, "0"],
    [42, "42"],
    [-42, "-42"],
    [7n, "7"],
    [-7n, "-7"],
    ["007", "7"],
    ["-0", "0"],
    ["+5", "5"],
    [" 12 ", "12"],
    ["-0042", "-42"],
    ["0", "0"],
    ["00", "0"],
    ["-00", "0"],
    ["-9", "-9"],
    ["7\n", "7"],
    [true, "1"],
    [false, "0"],
    // Beyond 2^53: text and bigint keep every digit.
    ["9007199254740993", "9007199254740993"],
    [9007199254740993n, "9007199254740993"],
    ["-123456789012345678901234567890", "-123456789012345678901234567890"],
    [2 ** 60, "1152921504606846976"],
    [Number.MAX_SAFE_INTEGER, "9007199254740991"],
  ])("%o → %s", (raw, expected) => {
    expect(canonicalValue("integer", raw)).toBe(expected);
  });

  it.each<[unknown]>([
    [1.5],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    ["1.0"],
    ["abc"],
    [""],
    ["1e3"],
    ["0x10"],
    [{}],
  ])("%o throws ValueError", (raw) => {
    expect(() => canonicalValue("integer", raw)).toThrow(ValueError);
  });
});

describe("canonicalValue: decimal", () => {
  it.each<[unknown, string]>([
    ["1.50", "1.5"],
    ["100", "100"],
    ["100.000", "100"],
    ["-0.00", "0"],
    ["-0", "0"],
    ["0", "0"],
    ["1e3", "1000"],
    ["1.5e-3", "0.0015"],
    ["1.5E2", "150"],
    ["12.345e1", "123.45"],
    ["-2.5e-1", "-0.25"],
    [".5", "0.5"],
    ["5.", "5"],
    ["+3.10", "3.1"],
    ["0007.2500", "7.25"],
    [" 1.0 ", "1"],
    ["-1.50", "-1.5"],
    ["123456789012345678901234567890.1", "123456789012345678901234567890.1"],
    [1.5, "1.5"],
    [-0, "0"],
    [100, "100"],
    [1e21, "1000000000000000000000"],
    [1e-7, "0.0000001"],
    [12n, "12"],
    // PostgreSQL's numeric specials (its output spellings, and the input ones it also takes).
    ["NaN", "NaN"],
    ["nan", "NaN"],
    ["Infinity", "Infinity"],
    ["-Infinity", "-Infinity"],
    ["+inf", "Infinity"],
    [Number.NaN, "NaN"],
    [Number.NEGATIVE_INFINITY, "-Infinity"],
  ])("%o → %s", (raw, expected) => {
    expect(canonicalValue("decimal", raw)).toBe(expected);
  });

  it.each<[unknown]>([["."], [""], ["abc"], ["1.2.3"], ["1e"], ["--1"], ["Infinit"], [true]])(
    "%o throws ValueError",
    (raw) => {
      expect(() => canonicalValue("decimal", raw)).toThrow(ValueError);
    },
  );

  it("lays out long fractions in linear time (PostgreSQL's numeric holds 16,383 fraction digits)", () => {
    // Trimming trailing zeros with /0+$/ retried at every zero of a run ending in another digit: quadratic,
    // 0.2 s for PostgreSQL's smallest numeric, and a Redis text 1e-99999999 held a scan for hours.
    const digits = 300_000;
    const text = `0.${"0".repeat(digits)}1`;
    const started = performance.now();
    expect(canonicalValue("decimal", text)).toBe(text);
    expect(canonicalValue("decimal", `1e-${digits + 1}`)).toBe(text);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it.each<[string]>([["1e-99999999"], ["1e999999999"], ["-5e+2000000"], ["1e9999999999999"]])(
    "%s: an exponent no store's decimal holds is a ValueError naming it, not a string past memory",
    (raw) => {
      expect(() => canonicalValue("decimal", raw)).toThrow(ValueError);
      expect(() => canonicalValue("decimal", raw)).toThrow(raw);
    },
  );
});

describe("canonicalValue: float", () => {
  it.each<[unknown, string]>([
    [0.1, "0.1"],
    [-0, "0"],
    [0, "0"],
    [1.5, "1.5"],
    [-2.25, "-2.25"],
    [1e21, "1e+21"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [Number.NEGATIVE_INFINITY, "-Infinity"],
    ["NaN", "NaN"],
    ["Infinity", "Infinity"],
    ["-Infinity", "-Infinity"],
    ["0.10", "0.1"],
    ["-0.0", "0"],
    ["1e3", "1000"],
    [" 2.5 ", "2.5"],
    [3n, "3"],
  ])("%o → %s", (raw, expected) => {
    expect(canonicalValue("float", raw)).toBe(expected);
  });

  // Number() reads "0x10", "0b11" and "0o7" as 16, 3 and 7: a Redis field "0x10" equalled a double 16.
  it.each<[unknown]>([
    [""],
    ["  "],
    ["abc"],
    ["nan"],
    [true],
    [{}],
    ["0x10"],
    ["0b11"],
    ["0o7"],
    ["-0x1"],
    ["1_0"],
  ])("%o throws ValueError", (raw) => {
    expect(() => canonicalValue("float", raw)).toThrow(ValueError);
    expect(() => canonicalValue("float32", raw)).toThrow(ValueError);
  });

  it.each<[string, string]>([
    ["+1", "1"],
    [".5", "0.5"],
    ["5.", "5"],
    ["1E-7", "1e-7"],
    ["-1.5e+3", "-1500"],
  ])("%s → %s", (raw, expected) => {
    expect(canonicalValue("float", raw)).toBe(expected);
  });
});

describe("canonicalValue: boolean", () => {
  it.each<[unknown, string]>([
    [true, "t"],
    [false, "f"],
    [1, "t"],
    [0, "f"],
    [1n, "t"],
    [0n, "f"],
    ["true", "t"],
    ["TRUE", "t"],
    ["t", "t"],
    ["1", "t"],
    ["yes", "t"],
    ["on", "t"],
    ["false", "f"],
    ["f", "f"],
    ["F", "f"],
    ["0", "f"],
    ["no", "f"],
    ["off", "f"],
  ])("%o → %s", (raw, expected) => {
    expect(canonicalValue("boolean", raw)).toBe(expected);
  });

  it.each<[unknown]>([[2], [-1], [0.5], [2n], [""], ["maybe"], ["tru"], [{}]])(
    "%o throws ValueError",
    (raw) => {
      expect(() => canonicalValue("boolean", raw)).toThrow(ValueError);
    },
  );
});

describe("canonicalValue: text", () => {
  it.each<[unknown, string]>([
    ["hello", "hello"],
    ["", ""],
    ["  padded  ", "  padded  "],
    ["a|b\\c", "a|b\\c"],
    ["\u{1F600} é", "\u{1F600} é"],
    [42, "42"],
    [10n, "10"],
    [true, "true"],
    [Buffer.from("héllo", "utf8"), "héllo"],
    [new Uint8Array([0x61, 0x62]), "ab"],
    [Buffer.from("efbbbf61", "hex"), "\ufeffa"],
  ])("%o → %j", (raw, expected) => {
    expect(canonicalValue("text", raw)).toBe(expected);
  });

  it.each<[ColumnType, string, RegExp]>([
    ["text", "ff", /^bytes ff are not UTF-8 text$/],
    ["text", "c3", /^bytes c3 are not UTF-8 text$/],
    ["text", "eda080", /^bytes eda080 are not UTF-8 text$/],
    ["json", "22ff22", /^bytes 22ff22 are not UTF-8 text$/],
  ])("%s: bytes that are not UTF-8 (%s) are an error, never U+FFFD", (type, hex, message) => {
    expect(() => canonicalValue(type, Buffer.from(hex, "hex"))).toThrow(message);
  });

  it("throws ValueError for an object", () => {
    expect(() => canonicalValue("text", { a: 1 })).toThrow(ValueError);
  });

  it.each<[ColumnType, string]>([
    ["decimal", "X'31' is not a decimal"],
    ["integer", "X'31' is not an integer"],
    ["boolean", "X'31' is not a boolean"],
    ["timestamp", "X'31' is not a timestamp"],
  ])("bytes where a %s is read are named as bytes, not as the text they decode to", (type, message) => {
    expect(() => canonicalValue(type, Buffer.from("1"))).toThrow(message);
  });
});

describe("canonicalValue: null", () => {
  const types: ColumnType[] = [
    "integer",
    "decimal",
    "float",
    "boolean",
    "text",
    "timestamp",
    "json",
    "bytes",
    "float32",
    "time",
  ];

  it.each(types)("%s: null and undefined are null", (type) => {
    expect(canonicalValue(type, null)).toBeNull();
    expect(canonicalValue(type, undefined)).toBeNull();
  });

  it.each<[ColumnType, string]>([
    ["text", ""],
    ["bytes", ""],
  ])("%s: the empty string is not null", (type, expected) => {
    expect(canonicalValue(type, "")).toBe(expected);
  });

  it("null and the empty string encode differently", () => {
    expect(encodeRow([null])).not.toBe(encodeRow([canonicalValue("text", "")]));
  });
});

describe("canonicalValue: timestamp", () => {
  it.each<[unknown, string]>([
    ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000000Z"],
    ["2024-01-01T00:00:00z", "2024-01-01T00:00:00.000000Z"],
    ["2024-01-01 00:00:00 UTC", "2024-01-01T00:00:00.000000Z"],
    // No offset means UTC.
    ["2024-01-01 00:00:00", "2024-01-01T00:00:00.000000Z"],
    ["2024-01-01T12:30", "2024-01-01T12:30:00.000000Z"],
    ["2024-01-01", "2024-01-01T00:00:00.000000Z"],
    // Offsets are converted to UTC, across day and year boundaries.
    ["2024-01-01T00:00:00+02:00", "2023-12-31T22:00:00.000000Z"],
    ["2024-01-01T00:00:00+0200", "2023-12-31T22:00:00.000000Z"],
    ["2024-01-01T00:00:00+02", "2023-12-31T22:00:00.000000Z"],
    ["2023-12-31T23:00:00-05:30", "2024-01-01T04:30:00.000000Z"],
    ["2024-06-15 10:00:00+05:45", "2024-06-15T04:15:00.000000Z"],
    // Fractions: microsecond precision, shorter ones padded, longer ones truncated.
    ["2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.500000Z"],
    ["2024-01-01T00:00:00.123Z", "2024-01-01T00:00:00.123000Z"],
    ["2024-01-01T00:00:00.123456Z", "2024-01-01T00:00:00.123456Z"],
    ["2024-01-01 00:00:00.000001", "2024-01-01T00:00:00.000001Z"],
    ["2024-01-01T00:00:00.1234567Z", "2024-01-01T00:00:00.123456Z"],
    ["2024-01-01T00:00:00,25Z", "2024-01-01T00:00:00.250000Z"],
    ["2024-02-29T23:59:59.999999+00:00", "2024-02-29T23:59:59.999999Z"],
    // Years before 100 are not years of the 20th century.
    ["0001-01-01 00:00:00", "0001-01-01T00:00:00.000000Z"],
    ["0099-12-31T23:59:59Z", "0099-12-31T23:59:59.000000Z"],
    // Date objects.
    [new Date("2024-01-01T00:00:00.123Z"), "2024-01-01T00:00:00.123000Z"],
    [new Date(Date.UTC(2024, 0, 1, 5)), "2024-01-01T05:00:00.000000Z"],
    // Numbers are Unix epoch seconds.
    [0, "1970-01-01T00:00:00.000000Z"],
    [1704067200, "2024-01-01T00:00:00.000000Z"],
    [1704067200.5, "2024-01-01T00:00:00.500000Z"],
    [1704067200.000001, "2024-01-01T00:00:00.000001Z"],
    [-1.5, "1969-12-31T23:59:58.500000Z"],
    [1704067200n, "2024-01-01T00:00:00.000000Z"],
    // The infinities (PostgreSQL's spellings), distinct from null and from every instant.
    ["infinity", "infinity"],
    ["Infinity", "infinity"],
    ["+infinity", "infinity"],
    ["-infinity", "-infinity"],
    [Number.POSITIVE_INFINITY, "infinity"],
    [Number.NEGATIVE_INFINITY, "-infinity"],
    // Astronomical years, ISO 8601 expanded beyond 0–9999: year 0 is 1 BC, -000043 is 44 BC.
    ["0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000000Z"],
    ["-000043-03-15T12:00:00Z", "-000043-03-15T12:00:00.000000Z"],
    ["-000043-03-15 12:00:00", "-000043-03-15T12:00:00.000000Z"],
    ["-004713-11-24T00:00:00.000000Z", "-004713-11-24T00:00:00.000000Z"],
    ["+010000-01-01", "+010000-01-01T00:00:00.000000Z"],
    ["+294276-12-31T23:59:59.999999Z", "+294276-12-31T23:59:59.999999Z"],
    ["+5874897-12-31", "+5874897-12-31T00:00:00.000000Z"],
    ["0001-01-01T00:30:00+01:00", "0000-12-31T23:30:00.000000Z"],
    ["9999-12-31T23:30:00-01:00", "+010000-01-01T00:30:00.000000Z"],
    // Leap years in the proleptic calendar: year 0 and -4 are leap years, -100 is not.
    ["0000-02-29", "0000-02-29T00:00:00.000000Z"],
    ["-000004-02-29", "-000004-02-29T00:00:00.000000Z"],
  ])("%o → %s", (raw, expected) => {
    expect(canonicalValue("timestamp", raw)).toBe(expected);
  });

  it.each<[string, string]>([
    ["infinity", "-infinity"],
    ["-000043-03-15T00:00:00.000000Z", "0044-03-15T00:00:00.000000Z"],
    ["0000-01-01T00:00:00.000000Z", "0001-01-01T00:00:00.000000Z"],
  ])("%s and %s are different values", (a, b) => {
    expect(canonicalValue("timestamp", a)).not.toBe(canonicalValue("timestamp", b));
  });

  it("orders the infinities around every instant and BC years before AD", () => {
    const ordered = [
      "-infinity",
      "-004713-11-24T00:00:00.000000Z",
      "-000043-03-15T00:00:00.000000Z",
      "0000-12-31T23:59:59.999999Z",
      "0001-01-01T00:00:00.000000Z",
      "+294276-12-31T23:59:59.999999Z",
      "+5874897-12-31T00:00:00.000000Z",
      "infinity",
    ].map((t) => timestampMicros(t));
    for (let i = 1; i < ordered.length; i++) expect(ordered[i]! > ordered[i - 1]!).toBe(true);
  });

  it.each<[string]>([["-100-02-29"], ["-000100-02-29"], ["+10000000-01-01"]])("%s throws", (raw) => {
    expect(() => canonicalValue("timestamp", raw)).toThrow(ValueError);
  });

  it.each<[unknown]>([
    ["not a date"],
    [""],
    ["2024-13-01"],
    ["2024-00-10"],
    ["2024-01-32"],
    ["2024-02-30"],
    ["2023-02-29"],
    ["2024-04-31T00:00:00Z"],
    ["2024-01-01T24:00:00"],
    ["2024-01-01T10:60:00"],
    ["2024-01-01T10:00:61"],
    ["2024/01/01"],
    ["2024-01-01T00:00:00 Europe/Paris"],
    [new Date(Number.NaN)],
    [Number.NaN],
    [true],
    ["infinite"],
    // Expanded years need a sign and six digits; there is no year -0.
    ["10000-01-01"],
    ["-0044-03-15"],
    ["-000000-01-01"],
    ["+00044-01-01"],
  ])("%o throws ValueError", (raw) => {
    expect(() => canonicalValue("timestamp", raw)).toThrow(ValueError);
  });

  it("the same instant in different forms gives one canonical text", () => {
    const forms: unknown[] = [
      "2024-03-10T15:04:05.250Z",
      "2024-03-10 17:04:05.25+02:00",
      "2024-03-10T10:04:05.250000-05:00",
      new Date("2024-03-10T15:04:05.250Z"),
      1710083045.25,
    ];
    const canonical = new Set(forms.map((f) => canonicalValue("timestamp", f)));
    expect([...canonical]).toEqual(["2024-03-10T15:04:05.250000Z"]);
  });
});

describe("formatMicros and timestampMicros", () => {
  it.each<[bigint, string]>([
    [0n, "1970-01-01T00:00:00.000000Z"],
    [1n, "1970-01-01T00:00:00.000001Z"],
    [-1n, "1969-12-31T23:59:59.999999Z"],
    [-1000n, "1969-12-31T23:59:59.999000Z"],
    [-1001n, "1969-12-31T23:59:59.998999Z"],
    [1704067200123456n, "2024-01-01T00:00:00.123456Z"],
    [-62135596800000000n, "0001-01-01T00:00:00.000000Z"],
    [-62135596800000001n, "0000-12-31T23:59:59.999999Z"],
    [-63517824000000000n, "-000043-03-15T00:00:00.000000Z"],
    [253402300800000000n, "+010000-01-01T00:00:00.000000Z"],
    [9224318015999999999n, "+294276-12-31T23:59:59.999999Z"],
    [TIMESTAMP_INFINITY, "infinity"],
    [TIMESTAMP_NEG_INFINITY, "-infinity"],
  ])("%s µs ↔ %s", (micros, text) => {
    expect(formatMicros(micros)).toBe(text);
    expect(timestampMicros(text)).toBe(micros);
  });
});

describe("canonicalValue: json", () => {
  it.each<[unknown, string]>([
    ['{"b":1,"a":2}', '{"a":2,"b":1}'],
    ['{ "a" : 2 , "b" : 1 }', '{"a":2,"b":1}'],
    ['{"z":{"y":1,"x":[{"d":1,"c":2}]},"a":null}', '{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}'],
    ["[3, 1, 2]", "[3,1,2]"],
    ["1.0", "1"],
    ['"text"', '"text"'],
    ['""', '""'],
    ["null", "null"],
    [{ b: 1, a: [true, false] }, '{"a":[true,false],"b":1}'],
    [[{ b: 1, a: 2 }], '[{"a":2,"b":1}]'],
    [Buffer.from('{"b":1,"a":2}'), '{"a":2,"b":1}'],
    // "__proto__" is an ordinary key in JSON text; it must survive canonicalisation.
    ['{"__proto__":{"x":1},"a":1}', '{"__proto__":{"x":1},"a":1}'],
    // Exact: numbers never pass through a double (canonical-json-text.ts).
    ['{"v":1,"id":9007199254740993}', '{"id":9007199254740993,"v":1}'],
    ['{"x":1e400}', '{"x":1e+400}'],
    ["[1.0, 10E-1, -0]", "[1,1,0]"],
    // SQLite hands a JSON integer in a column of numeric affinity back as a bigint: its exact digits.
    [9007199254740993n, "9007199254740993"],
    [10n ** 22n, "1e+22"],
    [1.5, "1.5"],
  ])("%o → %s", (raw, expected) => {
    expect(canonicalValue("json", raw)).toBe(expected);
  });

  it.each<[string, string]>([
    ['{"id":9007199254740993,"v":1}', '{"id":9007199254740993,"v":2}'],
    ['{"id":9007199254740993}', '{"id":9007199254740992}'],
    ['{"x":1e400}', '{"x":null}'],
  ])("%s and %s are different values", (a, b) => {
    expect(canonicalValue("json", a)).not.toBe(canonicalValue("json", b));
  });

  it("key order does not change the canonical text", () => {
    expect(canonicalValue("json", '{"a":1,"b":{"c":1,"d":2}}')).toBe(
      canonicalValue("json", '{"b":{"d":2,"c":1},"a":1}'),
    );
  });

  it("a __proto__ key is not lost (it would hide a difference)", () => {
    expect(canonicalValue("json", '{"__proto__":{"x":1}}')).not.toBe(canonicalValue("json", "{}"));
  });

  it("names what is wrong with text that is not JSON", () => {
    expect(() => canonicalValue("json", '{"a":1,}')).toThrow(
      new ValueError('"{\\"a\\":1,}" is not valid JSON (at position 7: expected a member name)'),
    );
  });

  it.each<[unknown]>([["{not json"], ["{'a':1}"], [""], [Buffer.from("{")], [Number.NaN]])(
    "%o throws ValueError",
    (raw) => {
      expect(() => canonicalValue("json", raw)).toThrow(ValueError);
    },
  );
});

describe("canonicalValue: bytes", () => {
  it.each<[unknown, string]>([
    [Buffer.from([0x00, 0xff, 0x10]), "00ff10"],
    [new Uint8Array([0xde, 0xad, 0xbe, 0xef]), "deadbeef"],
    [Buffer.alloc(0), ""],
    ["\\xDEADBEEF", "deadbeef"],
    ["CAFE", "cafe"],
    // Text that is not hex is read as UTF-8.
    ["hi", "6869"],
    ["abc", "616263"],
  ])("%o → %s", (raw, expected) => {
    expect(canonicalValue("bytes", raw)).toBe(expected);
  });

  it.each<[unknown]>([[42], [true], [{}]])("%o throws ValueError", (raw) => {
    expect(() => canonicalValue("bytes", raw)).toThrow(ValueError);
  });
});

describe("encodeRow", () => {
  it.each<[CanonicalValue[], string]>([
    [["a", "b"], "a|b"],
    [["a|b"], "a\\|b"],
    [[null], "\\N"],
    [["\\N"], "\\\\N"],
    [["a\\"], "a\\\\"],
    [["", ""], "|"],
    [["x", null, "y"], "x|\\N|y"],
  ])("%j → %s", (values, expected) => {
    expect(encodeRow(values)).toBe(expected);
  });

  it.each<[CanonicalValue[], CanonicalValue[]]>([
    [["a|b"], ["a", "b"]],
    [[null], ["\\N"]],
    [[null], [""]],
    [["a\\", "b"], ["a\\|b"]],
    [
      ["a\\|", "b"],
      ["a", "|b"],
    ],
    [
      ["", "x"],
      ["x", ""],
    ],
    [["\\", "|"], ["\\|"]],
  ])("%j and %j encode differently", (a, b) => {
    expect(encodeRow(a)).not.toBe(encodeRow(b));
  });

  it("escapes a long value (over its bytes) as a short one is escaped", () => {
    const unit = "é|\\😀x";
    const long = unit.repeat(20000);
    expect(long.length).toBeGreaterThan(65536);
    expect(encodeRow([long, "a|b"])).toBe(`${"é\\|\\\\😀x".repeat(20000)}|a\\|b`);
  });
});

describe("canonical timestamp text", () => {
  it("is returned as is when valid, and equals what parsing and formatting it gives", () => {
    // Every day of a leap year and a common one, in every year kind (0000, century, 400-year), at odd times.
    for (const year of [0, 1, 1900, 1999, 2000, 2023, 2024, 2100, 9999]) {
      for (let t = Date.UTC(2001, 0, 1); t < Date.UTC(2002, 0, 1); t += 86_400_000 * 3 + 3_723_456) {
        const d = new Date(t);
        d.setUTCFullYear(year);
        const text = `${String(year).padStart(4, "0")}-${d.toISOString().slice(5, 23)}123Z`;
        expect(canonicalValue("timestamp", text)).toBe(text);
        expect(formatMicros(timestampMicros(text))).toBe(text);
      }
    }
  });

  it("rejects impossible dates and times in canonical form", () => {
    for (const bad of [
      "2023-02-29T00:00:00.000000Z",
      "1900-02-29T00:00:00.000000Z",
      "2024-04-31T00:00:00.000000Z",
      "2024-13-01T00:00:00.000000Z",
      "2024-00-10T00:00:00.000000Z",
      "2024-01-00T00:00:00.000000Z",
      "2024-01-01T24:00:00.000000Z",
      "2024-01-01T23:60:00.000000Z",
      "2024-01-01T23:59:60.000000Z",
    ])
      expect(() => canonicalValue("timestamp", bad), bad).toThrow(/not a timestamp/);
    expect(canonicalValue("timestamp", "2024-02-29T23:59:59.999999Z")).toBe("2024-02-29T23:59:59.999999Z");
    expect(canonicalValue("timestamp", "2000-02-29T00:00:00.000000Z")).toBe("2000-02-29T00:00:00.000000Z");
  });

  // PostgreSQL prints a zone's local mean time with seconds (Europe/Amsterdam before 1892: +00:19:32); that
  // text was refused as "not a timestamp".
  it.each([
    ["1850-01-01 00:19:32+00:19:32", "1850-01-01T00:00:00.000000Z"],
    ["1850-01-01T00:19:32.5+001932", "1850-01-01T00:00:00.500000Z"],
    ["1850-01-01 00:00:00-04:56:02", "1850-01-01T04:56:02.000000Z"],
    ["1850-01-01 00:00:00-045602", "1850-01-01T04:56:02.000000Z"],
    ["2024-01-01 00:00:00+00:00:01", "2023-12-31T23:59:59.000000Z"],
    ["0001-01-01 00:00:00+01:02:03", "0000-12-31T22:57:57.000000Z"],
  ])("reads the offset with seconds of %s exactly", (text, canonical) => {
    expect(canonicalValue("timestamp", text)).toBe(canonical);
  });

  it("refuses an offset whose minutes or seconds are not a clock's, or mixes its separators", () => {
    for (const bad of [
      "2024-01-01 00:00:00+00:19:60",
      "2024-01-01 00:00:00+00:60",
      "2024-01-01 00:00:00+0060",
      "2024-01-01 00:00:00+00:1932",
      "2024-01-01 00:00:00+0019:32",
      "2024-01-01 00:00:00+00:19:3",
      "2024-01-01 00:00:00+00:19:32:00",
    ])
      expect(() => canonicalValue("timestamp", bad), bad).toThrow(/not a timestamp/);
  });
});
