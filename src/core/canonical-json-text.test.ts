import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalJsonNumber,
  canonicalJsonOf,
  canonicalJsonText,
  JsonNumber,
  JsonSyntaxError,
  parseJsonExact,
  stringifyJsonExact,
} from "./canonical-json-text.js";

describe("canonicalJsonNumber", () => {
  it.each<[string, string]>([
    // The same value, whatever the spelling.
    ["1", "1"],
    ["1.0", "1"],
    ["1e0", "1"],
    ["10E-1", "1"],
    ["0.1e1", "1"],
    ["100", "100"],
    ["1e2", "100"],
    ["1.50", "1.5"],
    ["-2.500e1", "-25"],
    // Zero has no sign.
    ["0", "0"],
    ["-0", "0"],
    ["-0.0e5", "0"],
    ["0e-400", "0"],
    // Beyond 2^53: every digit kept.
    ["9007199254740993", "9007199254740993"],
    ["-9007199254740993", "-9007199254740993"],
    ["123456789012345678901", "123456789012345678901"],
    ["0.30000000000000001", "0.30000000000000001"],
    ["1234567890.12345678901234567890", "1234567890.1234567890123456789"],
    // The ECMAScript layout: exponents past 21 digits and below 10^-6.
    ["1e21", "1e+21"],
    ["1e20", "100000000000000000000"],
    ["1234567890123456789012", "1.234567890123456789012e+21"],
    ["0.000001", "0.000001"],
    ["0.0000001", "1e-7"],
    ["0.00000012345", "1.2345e-7"],
    ["-1.5e-7", "-1.5e-7"],
    // Beyond the range of a double: kept as an exponent, never expanded, never Infinity or 0.
    ["1e400", "1e+400"],
    ["1E+400", "1e+400"],
    ["-12.5e399", "-1.25e+400"],
    ["1e-400", "1e-400"],
    ["1e0000000000000000000000400", "1e+400"],
    ["1e123456789012345678901234567890", "1e+123456789012345678901234567890"],
    ["0.01e-123456789012345678901234567890", "1e-123456789012345678901234567892"],
  ])("%s → %s", (token, expected) => {
    expect(canonicalJsonNumber(token)).toBe(expected);
  });

  it("gives every double's value the text JSON.stringify gives it, however the value is spelled", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.nat(3), fc.nat(4), (x, z, f) => {
        const shortest = shortestDecimal(x);
        expect(canonicalJsonNumber(spell(shortest, z, f))).toBe(JSON.stringify(x));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("canonicalJsonText", () => {
  it.each<[string, string]>([
    ['{"b":1,"a":2}', '{"a":2,"b":1}'],
    [' { "a" : [ 1 , 2 ] }\n', '{"a":[1,2]}'],
    // Array-index keys first, numerically; then UTF-16 code units: "é" (U+00E9), "😀" (U+D83D …), "ｆ" (U+FF46).
    [
      '{"ｆ":1,"😀":2,"é":3,"Z":4,"a":5,"10":6,"9":7,"":8}',
      '{"9":7,"10":6,"":8,"Z":4,"a":5,"é":3,"😀":2,"ｆ":1}',
    ],
    // Not array indexes: leading zeros, a sign, 2^32 − 1 and beyond sort as text.
    [
      '{"b":1,"4294967295":2,"4294967294":3,"01":4,"-1":5,"1":6}',
      '{"1":6,"4294967294":3,"-1":5,"01":4,"4294967295":2,"b":1}',
    ],
    // A duplicate key keeps its last value (JSON.parse and PostgreSQL's jsonb do the same).
    ['{"a":1,"b":2,"a":3}', '{"a":3,"b":2}'],
    ['{"a":{"x":1},"a":{"y":2}}', '{"a":{"y":2}}'],
    // Strings as JSON.stringify writes them.
    ['"\\u0041\\/\\u00e9"', '"A/é"'],
    ['"tab\\there\\u001f"', '"tab\\there\\u001f"'],
    ['"\\ud83d\\ude00"', '"😀"'],
    ['"\\ud800"', '"\\ud800"'],
    ['"\\u2028"', '"\u2028"'],
    ['"quote\\"back\\\\"', '"quote\\"back\\\\"'],
    // Exact numbers inside documents.
    ['{"id":9007199254740993,"v":1}', '{"id":9007199254740993,"v":1}'],
    ['{"x":1e400}', '{"x":1e+400}'],
    ["[1.0, -0, 2E3]", "[1,0,2000]"],
    ["true", "true"],
    ["null", "null"],
    ['"__proto__"', '"__proto__"'],
    ['{"__proto__":{"x":1},"a":1}', '{"__proto__":{"x":1},"a":1}'],
    ["[]", "[]"],
    ["{}", "{}"],
    ["[[],{},[{}]]", "[[],{},[{}]]"],
  ])("%s → %s", (text, expected) => {
    expect(canonicalJsonText(text)).toBe(expected);
  });

  // The reproductions of issue 12: values a double cannot hold must not compare equal.
  it.each<[string, string]>([
    ['{"id":9007199254740993,"v":1}', '{"id":9007199254740992,"v":1}'],
    ['{"id":9007199254740993}', '{"id":9007199254740992}'],
    ['{"x":1e400}', '{"x":null}'],
    ['{"x":1e400}', '{"x":1e401}'],
    ['{"x":1e-400}', '{"x":0}'],
    ["0.30000000000000001", "0.3"],
  ])("%s and %s differ", (a, b) => {
    expect(canonicalJsonText(a)).not.toBe(canonicalJsonText(b));
  });

  it.each<[string, string]>([
    ["", "at end of input: expected a value"],
    ["{", "at end of input: expected a member name"],
    ["{'a':1}", "at position 1: expected a member name"],
    ['{"a":1,}', "at position 7: expected a member name"],
    ["[1,]", "at position 3: expected a value"],
    ["[1 2]", 'at position 3: expected "," or "]"'],
    ["01", "at position 1: unexpected text after the value"],
    ["1.", "at end of input: expected a digit after the decimal point"],
    [".5", "at position 0: expected a value"],
    ["+1", "at position 0: expected a value"],
    ["1e", "at end of input: expected a digit in the exponent"],
    ["NaN", "at position 0: expected a value"],
    ["tru", "at position 0: expected a value"],
    ['"abc', "at end of input: unterminated string"],
    ['"a\tb"', "at position 2: control character in a string"],
    ['"\\x"', "at position 0: invalid escape or control character in a string"],
    ["{} x", "at position 3: unexpected text after the value"],
    ["// comment\n1", "at position 0: expected a value"],
    ["\uFEFF1", "at position 0: expected a value"],
  ])("rejects %j: %s", (text, where) => {
    expect(() => canonicalJsonText(text)).toThrow(new JsonSyntaxError(`invalid JSON ${where}`));
    expect(() => parseJsonExact(text)).toThrow(JsonSyntaxError);
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
  });

  it("rejects nesting deeper than the stack as a syntax error, not a crash", () => {
    expect(() => canonicalJsonText("[".repeat(1_000_000))).toThrow(JsonSyntaxError);
  });

  it("is idempotent: canonical(canonical(x)) = canonical(x)", () => {
    fc.assert(
      fc.property(jsonValueArb.chain(spellingArb), (text) => {
        const once = canonicalJsonText(text);
        expect(canonicalJsonText(once)).toBe(once);
      }),
      { numRuns: 500 },
    );
  });

  it("gives equal text for equal values, however they are written", () => {
    fc.assert(
      fc.property(
        jsonValueArb.chain((v) => fc.tuple(spellingArb(v), spellingArb(v))),
        ([a, b]) => {
          expect(canonicalJsonText(a)).toBe(canonicalJsonText(b));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("gives different text for numbers differing in one digit beyond 2^53 or beyond the range of a double", () => {
    const big = fc.record({
      digits: fc.stringMatching(/^[1-9][0-9]{16,40}$/),
      at: fc.nat(),
      delta: fc.integer({ min: 1, max: 9 }),
      exponent: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 300, max: 5000 }),
        fc.integer({ min: -5000, max: -300 }),
      ),
      z: fc.nat(3),
      f: fc.nat(4),
    });
    fc.assert(
      fc.property(big, ({ digits, at, delta, exponent, z, f }) => {
        const i = at % digits.length;
        const changed = (Number(digits[i]) + delta) % 10;
        // Leading digit 0 would change the digit count instead: keep the number's length.
        if (i === 0 && changed === 0) return;
        const other = digits.slice(0, i) + changed + digits.slice(i + 1);
        const a = canonicalJsonText(`{"n":${spell({ negative: false, digits, exponent }, z, f)}}`);
        const b = canonicalJsonText(`{"n":${spell({ negative: false, digits: other, exponent }, z, f)}}`);
        expect(a).not.toBe(b);
      }),
      { numRuns: 1000 },
    );
  });

  it("agrees with JSON.parse + sorted JSON.stringify on data a double holds exactly (fingerprints stay)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        expect(canonicalJsonText(text)).toBe(JSON.stringify(sortJson(JSON.parse(text))));
      }),
      { numRuns: 1000 },
    );
  });

  it("accepts exactly the text JSON.parse accepts", () => {
    const candidates = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.stringMatching(/^[-+0-9.eE]{1,8}$/),
      fc
        .json()
        .chain((j) =>
          fc
            .tuple(fc.nat(j.length), fc.constantFrom("", ",", "}", "]", "{", '"', "\\", "0", " ", "e", "-"))
            .map(([i, s]) => j.slice(0, i) + s + j.slice(i + 1)),
        ),
    );
    fc.assert(
      fc.property(candidates, (text) => {
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        if (parses) expect(() => canonicalJsonText(text)).not.toThrow();
        else expect(() => canonicalJsonText(text)).toThrow(JsonSyntaxError);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("parseJsonExact, canonicalJsonOf, stringifyJsonExact", () => {
  it("keeps numbers exact and members in a Map", () => {
    const tree = parseJsonExact('{"b":[1.50,9007199254740993],"__proto__":null,"b":true}');
    expect(tree).toEqual(
      new Map<string, unknown>([
        ["b", true],
        ["__proto__", null],
      ]),
    );
    const list = parseJsonExact("[1.50,9007199254740993,1e400]") as JsonNumber[];
    for (const n of list) expect(n).toBeInstanceOf(JsonNumber);
    expect(list.map((n) => n.text)).toEqual(["1.5", "9007199254740993", "1e+400"]);
  });

  it("writes a tree back in its own member order, or canonically", () => {
    const tree = parseJsonExact('{"z":1.0,"a":{"d":[],"c":"\\u00e9"}}');
    expect(stringifyJsonExact(tree)).toBe('{"z":1,"a":{"d":[],"c":"é"}}');
    expect(canonicalJsonOf(tree)).toBe('{"a":{"c":"é","d":[]},"z":1}');
    // Or with every number as the text spelled it (writeStyle: preserve).
    const spelled = parseJsonExact('{"p":402.00,"q":[1.50,2,-0.0,1E3],"r":7}');
    expect(stringifyJsonExact(spelled, { sourceNumbers: true })).toBe(
      '{"p":402.00,"q":[1.50,2,-0.0,1E3],"r":7}',
    );
    expect(stringifyJsonExact(spelled)).toBe('{"p":402,"q":[1.5,2,0,1000],"r":7}');
    expect(canonicalJsonOf(spelled)).toBe('{"p":402,"q":[1.5,2,0,1000],"r":7}');
  });

  it("the tree's canonical text is the text's canonical text", () => {
    fc.assert(
      fc.property(jsonValueArb.chain(spellingArb), (text) => {
        expect(canonicalJsonOf(parseJsonExact(text))).toBe(canonicalJsonText(text));
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Generators: JSON values with exact decimal numbers, and random spellings of the same value.

/** An exact decimal: (−1)^negative × digits × 10^exponent; digits without leading zeros, or "0". */
interface Decimal {
  readonly negative: boolean;
  readonly digits: string;
  readonly exponent: number;
}

type Value = null | boolean | string | Decimal | Value[] | { readonly members: [string, Value][] };

/** The shortest decimal that round-trips a double (from its ECMAScript text). */
function shortestDecimal(x: number): Decimal {
  const [mantissa = "", exp = "0"] = String(Math.abs(x)).split("e");
  const [int = "", frac = ""] = mantissa.split(".");
  const digits = (int + frac).replace(/^0+(?=\d)/, "");
  return { negative: x < 0 || Object.is(x, -0), digits, exponent: Number(exp) - frac.length };
}

/**
 * One spelling of a decimal: `z` extra trailing zeros, the point `f` digits from the right (leading
 * zeros added past the digits), and an exponent making up the difference (omitted when 0 and f is even).
 */
function spell(d: Decimal, z: number, f: number, upper = false): string {
  const digits = d.digits === "0" ? "0" : d.digits + "0".repeat(z);
  let int: string;
  let frac: string;
  if (f <= digits.length) {
    int = digits.slice(0, digits.length - f) || "0";
    frac = digits.slice(digits.length - f);
  } else {
    int = "0";
    frac = "0".repeat(f - digits.length) + digits;
  }
  if (int.length > 1 && int.startsWith("0")) int = int.replace(/^0+(?=\d)/, "");
  const exponent = d.digits === "0" ? z - f : d.exponent - (d.digits === "0" ? 0 : z) + f;
  const body = frac ? `${int}.${frac}` : int;
  const e =
    exponent === 0 && f % 2 === 0
      ? ""
      : `${upper ? "E" : "e"}${exponent < 0 ? "-" : f % 3 === 0 ? "+" : ""}${Math.abs(exponent)}`;
  return (d.negative ? "-" : "") + body + e;
}

const decimalArb: fc.Arbitrary<Decimal> = fc.record({
  negative: fc.boolean(),
  digits: fc.oneof(fc.constant("0"), fc.stringMatching(/^[1-9][0-9]{0,30}$/)),
  exponent: fc.oneof(fc.integer({ min: -30, max: 30 }), fc.integer({ min: -1000, max: 1000 })),
});

const keyArb = fc.oneof(
  fc.constantFrom("a", "b", "id", "__proto__", "10", "é", "😀"),
  fc.string({ maxLength: 4 }),
);

const jsonValueArb: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.string({ maxLength: 6, unit: "binary" }),
    decimalArb,
    fc.array(tie("value"), { maxLength: 4 }),
    fc
      .uniqueArray(fc.tuple(keyArb, tie("value")), { maxLength: 4, selector: ([k]) => k })
      .map((members) => ({ members })),
  ),
})).value;

/** A random spelling of a value: whitespace, member order, number forms, escapes and overwritten duplicates. */
function spellingArb(v: Value): fc.Arbitrary<string> {
  const ws = fc.constantFrom("", " ", "\n", "\t ", "\r\n");
  if (v === null) return ws.map((w) => `${w}null`);
  if (typeof v === "boolean") return fc.constant(String(v));
  if (typeof v === "string")
    return fc
      .boolean()
      .map((escapeAll) =>
        escapeAll
          ? `"${Array.from({ length: v.length }, (_, i) => `\\u${v.charCodeAt(i).toString(16).padStart(4, "0")}`).join("")}"`
          : JSON.stringify(v),
      );
  if (Array.isArray(v))
    return fc
      .tuple(fc.tuple(...v.map(spellingArb)), ws)
      .map(([items, w]) => `[${w}${items.join(`,${w}`)}${w}]`);
  if ("members" in v) {
    const members = v.members;
    return fc
      .tuple(
        fc.tuple(...members.map(([, m]) => spellingArb(m))),
        fc.shuffledSubarray(
          members.map((_, i) => i),
          { minLength: members.length, maxLength: members.length },
        ),
        fc.array(fc.tuple(fc.nat(), fc.jsonValue({ maxDepth: 1 })), { maxLength: 2 }),
        ws,
      )
      .map(([texts, order, decoys, w]) => {
        const parts: string[] = [];
        // A decoy member before the real one of the same key: the later value wins.
        for (const [i, decoy] of decoys) {
          if (members.length === 0) break;
          const k = members[i % members.length]![0];
          parts.push(`${JSON.stringify(k)}:${JSON.stringify(decoy)}`);
        }
        for (const i of order) parts.push(`${w}${JSON.stringify(members[i]![0])}${w}:${w}${texts[i]}`);
        return `{${parts.join(",")}${w}}`;
      });
  }
  return fc.tuple(fc.nat(3), fc.nat(5), fc.boolean()).map(([z, f, upper]) => spell(v, z, f, upper));
}

function sortJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortJson);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = Object.create(null);
    for (const k of Object.keys(value).sort()) out[k] = sortJson((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

describe("canonicalJsonText with a repeated name's first value (MariaDB, SQLite)", () => {
  it.each([
    ['{"a":1,"b":2,"a":3}', '{"a":1,"b":2}', '{"a":3,"b":2}'],
    ['{"a":{"x":1},"a":{"y":2}}', '{"a":{"x":1}}', '{"a":{"y":2}}'],
    [
      '{"b":{"a":1,"z":0,"a":2},"a":[{"c":1,"c":2}]}',
      '{"a":[{"c":1}],"b":{"a":1,"z":0}}',
      '{"a":[{"c":2}],"b":{"a":2,"z":0}}',
    ],
    ['{"a":1,"a":2,"a":3}', '{"a":1}', '{"a":3}'],
    ['{"10":1,"9":2,"10":3}', '{"9":2,"10":1}', '{"9":2,"10":3}'],
    ['{"a":1,"b":2}', '{"a":1,"b":2}', '{"a":1,"b":2}'],
  ])("%s reads as %s (first) and %s (last)", (text, firstWins, lastWins) => {
    expect(canonicalJsonText(text, "first")).toBe(firstWins);
    expect(canonicalJsonText(text, "last")).toBe(lastWins);
    expect(canonicalJsonText(text)).toBe(lastWins);
  });
});
