import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ColumnSpec,
  compareKeyPart,
  compareKeys,
  FULL_RANGE,
  type Key,
  type KeyRange,
  keyId,
  keyInRange,
  keyText,
  keyToJson,
} from "./model.js";

const INT: ColumnSpec[] = [{ name: "id", type: "integer" }];
const TEXT: ColumnSpec[] = [{ name: "code", type: "text" }];
const TENANT_ID: ColumnSpec[] = [
  { name: "tenant", type: "text" },
  { name: "id", type: "integer" },
];

const sign = (n: number) => Math.sign(n);

describe("compareKeys: integer keys compare numerically", () => {
  it.each<[string, string, number]>([
    ["1", "1", 0],
    ["1", "2", -1],
    ["2", "10", -1],
    ["10", "9", 1],
    ["-1", "0", -1],
    ["-1", "1", -1],
    ["-10", "-9", -1],
    ["-9", "-10", 1],
    ["-5", "-5", 0],
    ["0", "-100", 1],
    ["99", "100", -1],
    ["9007199254740993", "9007199254740992", 1],
    ["-9007199254740993", "-9007199254740992", -1],
    ["123456789012345678901234567890", "99999999999999999999999999999", 1],
  ])("%s vs %s → %i", (a, b, expected) => {
    expect(sign(compareKeys(INT, [a], [b]))).toBe(expected);
    expect(sign(compareKeys(INT, [b], [a]))).toBe(-expected || 0);
  });

  it("agrees with BigInt order for any canonical integers", () => {
    fc.assert(
      fc.property(fc.bigInt(), fc.bigInt(), (x, y) => {
        const expected = x < y ? -1 : x > y ? 1 : 0;
        expect(sign(compareKeyPart("integer", x.toString(), y.toString()))).toBe(expected);
      }),
    );
  });
});

describe("compareKeys: text keys compare by code point", () => {
  it.each<[string, string, number]>([
    ["a", "a", 0],
    ["a", "b", -1],
    ["B", "a", -1],
    ["a", "ab", -1],
    ["", "a", -1],
    ["10", "9", -1],
    ["é", "z", 1],
    // UTF-16 order would put the surrogate pair of U+1F600 (0xD83D…) before U+FFFF; code point order does not.
    ["\uFFFF", "\u{1F600}", -1],
    ["\uE000", "\u{10000}", -1],
    ["\u{1F600}", "\u{1F601}", -1],
    ["a\u{1F600}", "a\uFFFF", 1],
    ["\u{1F600}", "\u{1F600}", 0],
  ])("%j vs %j → %i", (a, b, expected) => {
    expect(sign(compareKeys(TEXT, [a], [b]))).toBe(expected);
    expect(sign(compareKeys(TEXT, [b], [a]))).toBe(-expected || 0);
  });

  it("agrees with UTF-8 byte order for any strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        const expected = sign(Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
        expect(sign(compareKeyPart("text", a, b))).toBe(expected);
      }),
    );
  });

  it("non-integer key types also compare by code point", () => {
    expect(sign(compareKeyPart("decimal", "10", "9"))).toBe(-1);
  });
});

describe("compareKeys: composite keys are lexicographic", () => {
  it.each<[Key, Key, number]>([
    [["eu", "1"], ["eu", "1"], 0],
    [["eu", "2"], ["eu", "10"], -1],
    [["eu", "-1"], ["eu", "0"], -1],
    [["eu", "999"], ["us", "1"], -1],
    [["us", "1"], ["eu", "999"], 1],
    [["eu", "10"], ["eu", "9"], 1],
  ])("%j vs %j → %i", (a, b, expected) => {
    expect(sign(compareKeys(TENANT_ID, a, b))).toBe(expected);
  });
});

describe("keyInRange: half-open [lo, hi)", () => {
  const range = (lo: string | null, hi: string | null): KeyRange => ({
    lo: lo === null ? null : [lo],
    hi: hi === null ? null : [hi],
  });

  it.each<[KeyRange, string, boolean]>([
    [range("10", "20"), "10", true],
    [range("10", "20"), "15", true],
    [range("10", "20"), "19", true],
    [range("10", "20"), "20", false],
    [range("10", "20"), "9", false],
    [range("10", "20"), "100", false],
    [range("-5", "5"), "-5", true],
    [range("-5", "5"), "-6", false],
    [range(null, "20"), "-1000", true],
    [range(null, "20"), "20", false],
    [range("10", null), "10", true],
    [range("10", null), "9", false],
    [range("10", null), "123456789012345678901234567890", true],
    [FULL_RANGE, "0", true],
    [range("5", "5"), "5", false],
  ])("%j holds %s → %s", (r, key, expected) => {
    expect(keyInRange(INT, r, [key])).toBe(expected);
  });

  it.each<[Key, boolean]>([
    [["eu", "5"], true],
    [["eu", "4"], false],
    [["fr", "1"], true],
    [["us", "2"], true],
    [["us", "3"], false],
  ])("composite range [eu/5, us/3) holds %j → %s", (key, expected) => {
    expect(keyInRange(TENANT_ID, { lo: ["eu", "5"], hi: ["us", "3"] }, key)).toBe(expected);
  });
});

describe("keyToJson", () => {
  it.each<[ColumnSpec[], Key, (string | number)[]]>([
    [INT, ["42"], [42]],
    [INT, ["-7"], [-7]],
    [INT, ["9007199254740991"], [9007199254740991]],
    // Not exactly representable as a number: stays text.
    [INT, ["9007199254740993"], ["9007199254740993"]],
    [INT, ["-9007199254740993"], ["-9007199254740993"]],
    [TEXT, ["42"], ["42"]],
    [TENANT_ID, ["eu", "12"], ["eu", 12]],
  ])("%j %j → %j", (columns, key, expected) => {
    expect(keyToJson(columns, key)).toEqual(expected);
  });
});

describe("keyId", () => {
  it.each<[Key, Key]>([
    [["a", "b"], ["a,b"]],
    [["a|b"], ["a", "b"]],
    [["1"], ["1", ""]],
  ])("%j and %j have different ids", (a, b) => {
    expect(keyId(a)).not.toBe(keyId(b));
  });

  it("is the same for equal keys", () => {
    expect(keyId(["eu", "1"])).toBe(keyId(["eu", "1"]));
  });

  // The text is built directly for plain parts: it must stay JSON.stringify's, byte for byte (stored keys).
  it.each<[Key]>([
    [[]],
    [["1"]],
    [[null]],
    [["eu", null, "3"]],
    [['a"b']],
    [["back\\slash"]],
    [["tab\tnew\nline\u0000"]],
    [["\u007f\u00e9\u2028"]],
    [["pair \ud83d\ude00"]],
    [["lone \ud800"]],
    [["lone \udfff end"]],
  ])("is JSON.stringify of %j", (key) => {
    expect(keyId(key)).toBe(JSON.stringify(key));
  });

  it("is JSON.stringify of any key, any text (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.string({ unit: "binary" }), { nil: null })), (key) => {
        expect(keyId(key)).toBe(JSON.stringify(key));
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.option(fc.string({ unit: "binary-ascii" }), { nil: null })), (key) => {
        expect(keyId(key)).toBe(JSON.stringify(key));
      }),
    );
  });

  it("is JSON.stringify of a key that is not all text and nulls (an array with a hole, a number)", () => {
    const holed = ["a", "b"] as string[];
    delete holed[0];
    for (const key of [holed, ["a", 1 as unknown as string], ["a", undefined as unknown as string]])
      expect(keyId(key)).toBe(JSON.stringify(key));
  });
});

describe("compareKeyPart on equal negative integers", () => {
  it("returns 0, not -0", () => {
    expect(Object.is(compareKeyPart("integer", "-59", "-59"), 0)).toBe(true);
  });
});

describe("keys with NULL parts", () => {
  const columns = [
    { name: "tenant", type: "text" as const },
    { name: "n", type: "integer" as const },
  ];
  it("order NULL before every value, '' and 'NULL' included, and equal only NULL", () => {
    const keys = [
      ["", "1"],
      [null, "5"],
      ["NULL", null],
      [null, null],
      ["", null],
      [null, "-7"],
    ];
    const sorted = [...keys].sort((a, b) => compareKeys(columns, a, b));
    expect(sorted).toEqual([
      [null, null],
      [null, "-7"],
      [null, "5"],
      ["", null],
      ["", "1"],
      ["NULL", null],
    ]);
    expect(compareKeys(columns, [null, null], [null, null])).toBe(0);
    expect(keyInRange(columns, { lo: [null, "0"], hi: ["", null] }, [null, "5"])).toBe(true);
    expect(keyInRange(columns, { lo: [null, "0"], hi: ["", null] }, ["", null])).toBe(false);
    expect(keyInRange(columns, { lo: [null, "0"], hi: ["", null] }, [null, null])).toBe(false);
  });

  it("show NULL as JSON null, never as '' or the text NULL", () => {
    expect(keyToJson(columns, [null, "3"])).toEqual([null, 3]);
    expect(keyId([null, "3"])).toBe('[null,"3"]');
    expect(keyId([null, "3"])).not.toBe(keyId(["null", "3"]));
    expect(keyText([null, 3])).toBe("[null,3]");
    expect(keyText(["", 3])).toBe(",3");
    expect(keyText(["eu", 3])).toBe("eu,3");
  });
});
