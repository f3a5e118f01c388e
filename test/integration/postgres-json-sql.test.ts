/**
 * PostgreSQL builds canonical JSON (`postgresCanonicalJsonSql`) byte for byte as the engine does from the
 * jsonb's text: random nested documents with tricky numbers, strings and keys, on the real server.
 */
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresCanonicalJsonSql } from "../../src/connectors/postgres/postgres-json-sql.js";
import { canonicalJsonText } from "../../src/core/canonical-json-text.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);
let pool: pg.Pool;

beforeAll(() => {
  if (available) pool = new pg.Pool({ connectionString: POSTGRES.url, max: 1 });
});
afterAll(async () => {
  await pool?.end();
});

/** [jsonb::text, canonical text built by PostgreSQL] of each JSON text. */
async function canonicalInPostgres(texts: readonly string[]): Promise<[string | null, string | null][]> {
  const sql =
    `SELECT x.j::text, ${postgresCanonicalJsonSql("x.j")} FROM unnest($1::text[]) WITH ORDINALITY u(t, i), ` +
    `LATERAL (SELECT u.t::jsonb AS j) x ORDER BY u.i`;
  const res = await pool.query({ text: sql, values: [texts], rowMode: "array" });
  return res.rows as [string | null, string | null][];
}

async function expectAgreement(texts: readonly string[]): Promise<void> {
  const rows = await canonicalInPostgres(texts);
  rows.forEach(([raw, inSql], i) => {
    expect(inSql, texts[i]).toBe(canonicalJsonText(raw!));
    // jsonb keeps every JSON value exactly, so the canonical text of what was written is the same.
    expect(inSql, texts[i]).toBe(canonicalJsonText(texts[i]!));
  });
}

// Numbers spelled every way JSON allows: signs, leading-zero fractions, exponents of both signs and any
// case, trailing zeros, values around the plain/exponent layout boundaries (1e-7, 1e21) and far beyond.
const digitRun = fc.stringMatching(/^[0-9]{1,25}$/);
const number = fc.oneof(
  fc
    .tuple(
      fc.boolean(),
      fc.stringMatching(/^(0|[1-9][0-9]{0,24})$/),
      fc.option(digitRun),
      fc.option(fc.integer({ min: -330, max: 330 })),
      fc.constantFrom("e", "E", "e+", "E-"),
    )
    .map(([neg, int, frac, exp, mark]) => {
      let s = (neg ? "-" : "") + int + (frac === null ? "" : `.${frac}`);
      if (exp !== null) s += mark.endsWith("-") ? `${mark}${Math.abs(exp)}` : `${mark}${exp}`;
      return s.replace("e+-", "e-").replace("E+-", "E-");
    }),
  fc.constantFrom(
    "0",
    "-0",
    "0.0",
    "-0.0e5",
    "1e21",
    "1e20",
    "123456789012345678901",
    "1e-7",
    "0.000001",
    "1e400",
    "-1e-400",
    "9007199254740993",
    "0.30000000000000001",
    "5e-324",
    "1.7976931348623157e308",
    "100",
    "1.50",
    "10E-1",
  ),
);
// Strings and keys with quotes, backslashes, control characters, escapes, U+2028, characters around
// U+E000–U+FFFF and past U+FFFF (UTF-16 order differs from code point order there), and array indexes.
const char = fc.oneof(
  fc.constantFrom(
    '"',
    "\\",
    "\n",
    "\t",
    "\b",
    "\f",
    "\r",
    "\u0001",
    "\u001f",
    "\u007f",
    "\u2028",
    "é",
    "\uE000",
    "\uFFFF",
    "\uFFFD",
    "😀",
    "𝄞",
    "|",
    "/",
    " ",
  ),
  fc
    .integer({ min: 0, max: 0x10ffff })
    .filter((c) => c < 0xd800 || c > 0xdfff)
    .map((c) => String.fromCodePoint(c)),
);
const str = fc
  .array(char, { maxLength: 6 })
  .map((cs) => cs.join(""))
  .filter((s) => !s.includes("\u0000"));
const key = fc.oneof(
  str,
  fc.constantFrom(
    "0",
    "1",
    "2",
    "10",
    "9",
    "01",
    "-1",
    "4294967294",
    "4294967295",
    "99999999999",
    "a",
    "A",
    "",
    "\uE000",
    "😀",
    "\uFFFF",
    "𝄞a",
    "\uD7FF",
  ),
);
const { json } = fc.letrec<{ json: string }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    number,
    str.map((s) => JSON.stringify(s)),
    fc.constantFrom("true", "false", "null"),
    fc.array(tie("json"), { maxLength: 5 }).map((items) => `[${items.join(" , ")}]`),
    fc
      .array(fc.tuple(key, tie("json")), { maxLength: 6 })
      .map((members) => `{${members.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(",")}}`),
  ),
}));

describe.skipIf(!available)("canonical JSON in PostgreSQL", () => {
  it("agrees with the engine on edge values", async () => {
    await expectAgreement([
      "1",
      "1.0",
      "-0",
      "1e2",
      "1E-7",
      "0.000001",
      "1e21",
      "1e20",
      "-123.4500e-30",
      "1e400",
      "1e-400",
      "123456789012345678901234567890",
      '"a\\u0001\\u001f\\u007f\\b\\f\\n\\r\\t\\"\\\\/\\u00e9\\ud83d\\ude00"',
      '{"b": 1, "a": 2, "10": 3, "9": 4, "01": 5, "4294967295": 6, "4294967294": 7, "": 8}',
      '{"\uE000": 1, "😀": 2, "\uFFFF": 3, "z": 4}',
      '{"a": 1, "a": 2}',
      "[]",
      "{}",
      "[[], {}, [[{}]]]",
      '{"x": [1, {"y": [2.50, {"z": null}]}], "w": true}',
      "null",
    ]);
  });

  it("agrees with the engine on random documents", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(json, { minLength: 1, maxLength: 20 }), async (texts) => {
        await expectAgreement(texts);
      }),
      { numRuns: 20 },
    );
  });

  it("is NULL for NULL", async () => {
    const res = await pool.query({
      text: `SELECT ${postgresCanonicalJsonSql("NULL::jsonb")}`,
      rowMode: "array",
    });
    expect(res.rows[0]?.[0]).toBeNull();
  });
});
