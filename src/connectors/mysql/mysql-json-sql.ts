/** Canonical JSON text (core/canonical-json-text.ts) of a MariaDB JSON document, built in one SQL expression. Builds text only: no I/O. */

/** An ASCII string literal (the session keeps backslash escapes on). */
function literal(text: string): string {
  return `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/**
 * Patterns run by MariaDB's PCRE2, case-sensitive whatever the subject's collation (`(?-i)`). A string
 * token, and what `JSON_NORMALIZE` leaves of a document: no whitespace, members sorted, every number as
 * `[-]D.DDDE<exponent>` with its exact digits (it rewrites the token's text, no double in between), strings
 * and keys exactly as the document spelled them.
 */
const STRING = String.raw`"(?:[^"\\]++|\\.)*+"`;

/** Zeros put before every normalized number's `E`: room for the plain layouts up to 10^21 and down to 10^-6. */
const PAD = "0".repeat(20);

/**
 * Number tokens MariaDB's `json_valid` accepts but strict JSON does not (`1.`, `-`, `1e`, `1.e5`): a document
 * with one is left to the engine, which refuses it, as before. Anchored, it reads the document token by
 * token (strings whole, strict numbers whole, any other character alone) and matches where a `-` or digit
 * starts something that is not a strict number. A document that is a bare number with an exponent goes to the
 * engine too: `JSON_NORMALIZE` reads the exponent with strtol, which reads on past the end of the value.
 */
const LAX_NUMBER = String.raw`(?-i)\A(?:[ \t\n\r]*+-?+[0-9.]++[eE]|(?:${STRING}|-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+(?![-0-9.eE+])|[^"0-9-])*+[-0-9])`;

/**
 * What makes a normalized document one SQL cannot canonicalise exactly (any match, even a needless one,
 * only sends the row to the engine):
 * - an escape JSON.stringify would not write (`\/`, `\u00e9`, `\u001F`, `\ud83d`, an unknown `\x`): strings
 *   are copied as written, and the canonical string is JSON.stringify's;
 * - a key holding an escape: `JSON_NORMALIZE` orders keys by their text as written, not by their value;
 * - an array-index key (`"0"` … `"4294967294"`): Concord puts those first, by value;
 * - a key repeated in one object: Concord keeps the last value, `JSON_NORMALIZE` keeps both in no set order;
 * - an exponent of 16 digits or more (`JSON_NORMALIZE` reads exponents into a 64-bit long);
 * - a key with a character from U+E000 to U+FFFF beside a key with one past U+FFFF: `JSON_NORMALIZE` orders
 *   by code point, Concord by UTF-16 code units, and only those two ranges compare differently.
 */
const GUARDS = [
  String.raw`(?<!\\)(?:\\\\)*+\\(?!["\\bfnrt]|u00(?:0[0-7bef]|1[0-9a-f]))`,
  String.raw`[{,]"[^"\\]*+\\.(?:[^"\\]++|\\.)*+":`,
  `[{,]"(?:0|[1-9][0-9]{0,9})":`,
  "E-?[0-9]{16}",
  String.raw`[{,](?<k>${STRING}):(?&v),\k<k>:`,
];
/** UTF-8 lead bytes: 0xEE–0xEF start U+E000–U+FFFF, 0xF0–0xF4 start U+10000–U+10FFFF. */
const HIGH_KEY = String.raw`[{,]"[^"\\]*?[\xEE\xEF][^"\\]*+":`;
const ASTRAL_KEY = String.raw`[{,]"[^"\\]*?[\xF0-\xF4][^"\\]*+":`;
/** A normalized value, for the repeated-key guard. */
const DEFINE = String.raw`(?(DEFINE)(?<s>${STRING})(?<v>(?&s)|[^,:\[\]{}"]++|\[(?:(?&v)(?:,(?&v))*+)?+\]|\{(?:(?&s):(?&v)(?:,(?&s):(?&v))*+)?+\}))`;

/**
 * Step one, over the normalized text (a branch reset: group 1 in both alternatives): a document a guard
 * rejects is matched whole and gets SENTINEL appended (step two then leaves it alone: its numbers are not
 * padded); otherwise every number gets PAD and `e+` before its `E` (the `\G` chain skips whole strings, so
 * no `E` inside one is touched).
 */
/**
 * A lazy scan that tries what follows only before the characters `stops` lists: runs of other characters are
 * skipped whole, and atomically, so a failed scan never backtracks into them (linear in the document).
 */
const scanTo = (stops: string) => String.raw`(?>[^${stops}]++|[\s\S])*?`;
const GUARDED = `(?=${scanTo("\\\\{,E")}(?:${GUARDS.join("|")})|(?=${scanTo("{,")}${HIGH_KEY})${scanTo("{,")}${ASTRAL_KEY})`;
const STEP_ONE = String.raw`(?-i)(?|\A(?=([\s\S]*+))${GUARDED}[\s\S]*+|\G((?:${STRING}|[^"E]++)*+)E)${DEFINE}`;
const STEP_ONE_TEMPLATE = String.raw`\1${PAD}e+E`;
/** Appended to a document SQL leaves to the engine. No canonical JSON text ends with it. */
const SENTINEL = `${PAD}e+E`;

/**
 * Step two: each padded number `[-]D.F<zeros>e+E<x>` laid out as `canonicalJsonNumber` lays out the value
 * D.F × 10^x, by one alternative per layout (branch reset: every alternative's groups are 2…7, in output
 * order, so one template serves all; lookaheads capture the `0` and `.` a layout needs from the token):
 * zero; x = 0…20, the digits with a point after x + 1 of them (padded with zeros, no point when nothing
 * follows it); x = −1…−6, `0.`, −x − 1 zeros and the digits; any other x, `D[.F]e±x`. Each alternative
 * first checks its exponent with a possessive lookahead, so the ones that do not apply cost one pass over
 * the token, and the significant digits end at the last non-zero digit by one backtrack from the `e`.
 */
function stepTwo(): string {
  const exponent = (x: string) => String.raw`(?=-?[0-9]\.[0-9]++e\+E${x}(?![0-9]))`;
  const digits = `((?:[0-9]*[1-9])?)0*+`;
  const alternatives = [String.raw`(0)\.0++e\+E0(?![0-9])`];
  for (let x = 0; x <= 20; x++) {
    alternatives.push(
      String.raw`${exponent(String(x))}(-?[1-9])(?=\.([0-9]{${x}}))(?:(?=\.[0-9]{${x}}[0-9]*?[1-9])(\.)|\.)[0-9]{${x}}${digits}e\+E${x}`,
    );
  }
  for (let m = 1; m <= 6; m++) {
    alternatives.push(
      String.raw`${exponent(`-${m}`)}(-?)(?=[1-9]\.[0-9]*?(0))(?=[1-9](\.)[0-9]*?(0{${m - 1}}))([1-9])\.${digits}e\+E-${m}`,
    );
  }
  alternatives.push(
    String.raw`(-?[1-9])(?:(?=\.[0-9]*?[1-9])(\.)|\.)${digits}(e)(?:(\+)E(?=[0-9])|\+E)(-?[0-9]++)`,
  );
  return String.raw`(?-i)\G((?:${STRING}|[^"0-9-]++)*+)(?|${alternatives.join("|")})`;
}
const STEP_TWO = stepTwo();
const STEP_TWO_TEMPLATE = String.raw`\1\2\3\4\5\6\7`;

/**
 * An expression whose UTF-8 bytes are `canonicalJsonText(<doc>)` for a MariaDB JSON document `doc` (a
 * LONGTEXT column reference: it appears several times) wherever SQL can build that exactly, and NULL for
 * NULL. `JSON_NORMALIZE` (MariaDB ≥ 10.7) removes whitespace, orders members by code point and writes
 * numbers exactly as `D.DDDE<x>`; two regular expression passes lay the numbers out. Where a guard above (or
 * LAX_NUMBER on the document itself, or `JSON_NORMALIZE` refusing the document) says SQL could differ from
 * the engine, the value is instead the normalized (or stored) text followed by SENTINEL: never a canonical
 * text, and equal for two documents only when their texts are, so such a row's fingerprint matches no
 * other store's, and two MariaDB rows' only when their documents are equal. The engine then fetches the row
 * and fingerprints it itself (detection drops keys whose fetched records agree): exact, at the cost of
 * listing and fetching it. Every expression is evaluated once per row (no NULLIF, which evaluates its first
 * argument twice).
 */
export function mariadbCanonicalJsonSql(doc: string): string {
  const stored = `CONCAT(CAST(${doc} AS BINARY), ${literal(SENTINEL)})`;
  const padded = `REGEXP_REPLACE(CAST(JSON_NORMALIZE(${doc}) AS BINARY), ${literal(STEP_ONE)}, ${literal(STEP_ONE_TEMPLATE)})`;
  const laid = `REGEXP_REPLACE(${padded}, ${literal(STEP_TWO)}, ${literal(STEP_TWO_TEMPLATE)})`;
  return `IF(CAST(${doc} AS BINARY) REGEXP ${literal(LAX_NUMBER)}, ${stored}, IFNULL(${laid}, ${stored}))`;
}

/** True when `bytes` (what `mariadbCanonicalJsonSql` gave) is a document SQL left to the engine. */
export function leftToEngine(bytes: string | Buffer): boolean {
  return bytes.toString().endsWith(SENTINEL);
}

/** The expression's parts, for bench/mariadb-json-cost.mjs (the cost of each stage). */
export const MARIADB_JSON_PARTS = {
  laxNumber: literal(LAX_NUMBER),
  stepOne: literal(STEP_ONE),
  stepOneTemplate: literal(STEP_ONE_TEMPLATE),
  stepTwo: literal(STEP_TWO),
  stepTwoTemplate: literal(STEP_TWO_TEMPLATE),
} as const;
