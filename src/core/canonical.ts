/** Canonical value encoding: one text form per logical value, whichever store held it. Pure: no I/O. */
import { describeRaw, ValueError } from "./canonical-errors.js";
import { shortestFloat32 } from "./canonical-float32.js";
import {
  canonicalJsonNumber,
  canonicalJsonText,
  type JsonDuplicates,
  JsonSyntaxError,
} from "./canonical-json-text.js";
import { formatTime, parseTime } from "./canonical-time.js";
import { canonicalTimestamp } from "./canonical-timestamp.js";

/**
 * Logical column types. Every connector maps its native types onto these, and every value is
 * normalised to one canonical text per type, so that equal logical values compare equal across stores.
 */
export type ColumnType =
  | "integer"
  | "decimal"
  | "float"
  | "float32"
  | "boolean"
  | "text"
  | "timestamp"
  | "time"
  | "json"
  | "bytes";

export const COLUMN_TYPES: readonly ColumnType[] = [
  "integer",
  "decimal",
  "float",
  "float32",
  "boolean",
  "text",
  "timestamp",
  "time",
  "json",
  "bytes",
];

/** A canonical value: the canonical text of a non-null value, or null. */
export type CanonicalValue = string | null;

export { ValueError } from "./canonical-errors.js";
export {
  formatMicros,
  TIMESTAMP_INFINITY,
  TIMESTAMP_NEG_INFINITY,
  timestampMicros,
} from "./canonical-timestamp.js";

const INTEGER_RE = /^[+-]?\d+$/;
/** An integer's text already in canonical form: no sign but a minus, no leading zero, no "-0". */
const CANONICAL_INTEGER_RE = /^(?:0|-?[1-9]\d*)$/;
const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
/** Past this exponent a decimal's digits outgrow every store's decimal type (see canonicalDecimal). */
const MAX_DECIMAL_EXPONENT = 1_000_000;

/**
 * Canonical text of `raw` read as `type`.
 * - integer: base-10 digits with a leading '-' when negative ("007" → "7").
 * - decimal: no exponent, no trailing fractional zeros, no '.' without fraction, "-0" → "0"; PostgreSQL's
 *   special numerics are "NaN", "Infinity" and "-Infinity".
 * - float: the shortest text that round-trips a double (ECMAScript Number#toString); -0 → "0". Text whose
 *   value is beyond a double's range is an error, not Infinity ("1e400" is no double).
 * - float32: the value rounded to a 32-bit float, then the shortest text that round-trips that float32
 *   (`shortestFloat32`): "0.33333334", "16777216", "3.4028235e+38". A value beyond float32's range is an
 *   error. Stores keeping 32-bit floats (PostgreSQL `real`, MariaDB `FLOAT`) are read as float32, so their
 *   values compare by float32 whatever digits their clients print.
 * - boolean: "t" or "f".
 * - text: the string itself (UTF-8 in every store).
 * - timestamp: UTC, microsecond precision: "2024-01-01T00:00:00.000000Z", proleptic Gregorian calendar,
 *   years outside 0–9999 expanded with a sign and six digits ("-000043-03-15T…" is 44 BC, year 0 is 1 BC),
 *   "infinity" and "-infinity". Text without an offset is UTC; numbers are Unix epoch seconds (SQLite's
 *   `unixepoch()` convention). See canonical-timestamp.ts.
 * - time (SQL TIME, a time of day or MariaDB's signed duration of up to 838 hours): "[-]HH:MM:SS.ffffff",
 *   hours at least two digits, always six fractional digits ("10:00:00" → "10:00:00.000000").
 * - json: `canonicalJsonText`: exact numbers (never through a double), keys sorted by UTF-16 code units,
 *   a duplicate key's last value (a store reading the first passes `canonicalJsonValue`'s rule through its
 *   RowCodec), no insignificant whitespace. Exact only from text: a value a driver
 *   already parsed has lost what its doubles could not hold.
 * - bytes: lowercase hex.
 * Null stays null: null and the empty string are different values.
 */
export function canonicalValue(type: ColumnType, raw: unknown): CanonicalValue {
  if (raw === null || raw === undefined) return null;
  switch (type) {
    case "integer":
      return canonicalInteger(raw);
    case "decimal":
      return canonicalDecimal(raw);
    case "float":
      return canonicalFloat(raw);
    case "float32":
      return canonicalFloat32(raw);
    case "boolean":
      return canonicalBoolean(raw);
    case "text":
      return canonicalText(raw);
    case "timestamp":
      return canonicalTimestamp(raw);
    case "time":
      return canonicalTime(raw);
    case "json":
      return canonicalJson(raw);
    case "bytes":
      return canonicalBytes(raw);
  }
}

const describe = describeRaw;

function canonicalInteger(raw: unknown): string {
  if (typeof raw === "bigint") return raw.toString();
  if (typeof raw === "number") {
    if (!Number.isInteger(raw)) throw new ValueError(`${describe(raw)} is not an integer`);
    return Number.isSafeInteger(raw) ? String(raw === 0 ? 0 : raw) : BigInt(raw).toString();
  }
  if (typeof raw === "boolean") return raw ? "1" : "0";
  if (typeof raw === "string") {
    // What stores mostly hand over (PostgreSQL's int8 text, a key read back): its own canonical text, without
    // a BigInt made and printed per value.
    if (CANONICAL_INTEGER_RE.test(raw)) return raw;
    const s = raw.trim();
    if (!INTEGER_RE.test(s)) throw new ValueError(`${describe(raw)} is not an integer`);
    return BigInt(s).toString();
  }
  throw new ValueError(`${describe(raw)} is not an integer`);
}

/** PostgreSQL's numeric specials, by their spellings (it reads these case-insensitively). */
const DECIMAL_SPECIALS: Readonly<Record<string, string>> = {
  nan: "NaN",
  infinity: "Infinity",
  "+infinity": "Infinity",
  "-infinity": "-Infinity",
  inf: "Infinity",
  "+inf": "Infinity",
  "-inf": "-Infinity",
};

function canonicalDecimal(raw: unknown): string {
  if (typeof raw === "bigint") return raw.toString();
  let s: string;
  if (typeof raw === "number") {
    if (!Number.isFinite(raw)) return String(raw);
    s = String(raw);
  } else if (typeof raw === "string") {
    s = raw.trim();
    const special = DECIMAL_SPECIALS[s.toLowerCase()];
    if (special) return special;
  } else {
    throw new ValueError(`${describe(raw)} is not a decimal`);
  }
  const m = DECIMAL_RE.exec(s);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) throw new ValueError(`${describe(raw)} is not a decimal`);
  const negative = m[1] === "-";
  let intPart = m[2] ?? "";
  let frac = m[3] ?? "";
  const exp = m[4] ? Number.parseInt(m[4], 10) : 0;
  // Laid out without its exponent, 1e-99999999 is 100 MB of zeros (and 1e999999999 past a string's length):
  // no store's decimal holds such a value (PostgreSQL's numeric: 131,072 integer and 16,383 fraction digits).
  if (Math.abs(exp) > MAX_DECIMAL_EXPONENT)
    throw new ValueError(
      `${describe(raw)} is not a decimal any store holds: its exponent is past ±${MAX_DECIMAL_EXPONENT}`,
    );
  if (exp > 0) {
    const shift = frac.slice(0, exp).padEnd(exp, "0");
    intPart += shift;
    frac = frac.slice(exp);
  } else if (exp < 0) {
    const n = -exp;
    const padded = intPart.padStart(n, "0");
    frac = padded.slice(padded.length - n) + frac;
    intPart = padded.slice(0, padded.length - n);
  }
  intPart = intPart.replace(/^0+/, "") || "0";
  // Not /0+$/: a regex retries at every zero of a run that ends in another digit, quadratic in its length.
  let end = frac.length;
  while (end > 0 && frac.charCodeAt(end - 1) === 48) end--;
  frac = frac.slice(0, end);
  const body = frac ? `${intPart}.${frac}` : intPart;
  return negative && body !== "0" ? `-${body}` : body;
}

const NON_FINITE: ReadonlySet<string> = new Set(["NaN", "Infinity", "-Infinity"]);

/** The double a float's raw value denotes; a finite value beyond a double's range is an error. */
/** A float in decimal notation: sign, digits with an optional point, optional exponent. */
const DECIMAL_FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function floatOf(raw: unknown, what: string): number {
  if (typeof raw === "number") return raw;
  if (typeof raw === "bigint") return Number(raw);
  if (typeof raw !== "string") throw new ValueError(`${describe(raw)} is not a ${what}`);
  const s = raw.trim();
  if (NON_FINITE.has(s)) return Number(s);
  // Decimal notation only: Number() also reads "0x10", "0b11" and "0o7" (16, 3, 7), which no store writes
  // for a float and no reader of that text takes as one (a Redis field "0x10" equalled a double 16).
  if (!DECIMAL_FLOAT.test(s)) throw new ValueError(`${describe(raw)} is not a ${what}`);
  const n = Number(s);
  if (!Number.isFinite(n)) throw new ValueError(`${describe(raw)} is beyond the range of a ${what}`);
  return n;
}

function canonicalFloat(raw: unknown): string {
  const n = floatOf(raw, "float");
  if (Object.is(n, -0)) return "0";
  return String(n);
}

function canonicalFloat32(raw: unknown): string {
  const n = floatOf(raw, "float32");
  if (Number.isNaN(n)) return "NaN";
  const f = Math.fround(n);
  if (!Number.isFinite(f)) {
    if (!Number.isFinite(n)) return String(n);
    throw new ValueError(`${describe(raw)} is beyond the range of a float32`);
  }
  return shortestFloat32(f);
}

function canonicalTime(raw: unknown): string {
  if (typeof raw !== "string") throw new ValueError(`${describe(raw)} is not a time`);
  const micros = parseTime(raw);
  if (micros === undefined) throw new ValueError(`${describe(raw)} is not a time`);
  return formatTime(micros);
}

function canonicalBoolean(raw: unknown): string {
  if (typeof raw === "boolean") return raw ? "t" : "f";
  if (typeof raw === "number" || typeof raw === "bigint") {
    if (raw === 1 || raw === 1n) return "t";
    if (raw === 0 || raw === 0n) return "f";
  }
  if (typeof raw === "string") {
    const s = raw.trim().toLowerCase();
    if (s === "t" || s === "true" || s === "1" || s === "yes" || s === "on") return "t";
    if (s === "f" || s === "false" || s === "0" || s === "no" || s === "off") return "f";
  }
  throw new ValueError(`${describe(raw)} is not a boolean`);
}

function canonicalText(raw: unknown): string {
  if (typeof raw === "string") return raw;
  if (typeof raw === "number" || typeof raw === "bigint" || typeof raw === "boolean") return String(raw);
  if (raw instanceof Uint8Array) return utf8Text(raw);
  throw new ValueError(`${describe(raw)} is not text`);
}

/** Strict: a BOM is kept as U+FEFF, and invalid UTF-8 is an error, not U+FFFD. */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Bytes read as text (SQLite keeps a blob in a column of any type): only UTF-8 is text. Decoding other
 * bytes with replacement characters would make different blobs (`X'FF'`, `X'FE'`) one value.
 */
function utf8Text(raw: Uint8Array): string {
  try {
    return UTF8.decode(raw);
  } catch {
    const hex = Buffer.from(raw.subarray(0, 24)).toString("hex");
    throw new ValueError(`bytes ${hex}${raw.length > 24 ? "..." : ""} are not UTF-8 text`);
  }
}

function sortJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortJson);
  if (value !== null && typeof value === "object") {
    // No prototype: a "__proto__" key in the JSON must stay an own key, not set the prototype.
    const out: Record<string, unknown> = Object.create(null);
    for (const k of Object.keys(value).sort()) out[k] = sortJson((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/**
 * `canonicalValue("json", raw)` of a document as a store whose JSON functions read a repeated member name's
 * `duplicates` value ("first": MariaDB, SQLite) means it: `{"a":1,"a":2}` is `{"a":1}` there.
 */
export function canonicalJsonValue(raw: unknown, duplicates: JsonDuplicates): CanonicalValue {
  return raw === null || raw === undefined ? null : canonicalJson(raw, duplicates);
}

function canonicalJson(raw: unknown, duplicates: JsonDuplicates = "last"): string {
  if (typeof raw === "string" || raw instanceof Uint8Array) {
    const text = typeof raw === "string" ? raw : utf8Text(raw);
    try {
      return canonicalJsonText(text, duplicates);
    } catch (err) {
      if (err instanceof JsonSyntaxError)
        throw new ValueError(
          `${describe(text)} is not valid JSON (${err.message.replace(/^invalid JSON /, "")})`,
        );
      throw err;
    }
  }
  // A store with numeric affinity (SQLite) hands a JSON integer back as a bigint: its exact digits.
  if (typeof raw === "bigint") return canonicalJsonNumber(raw.toString());
  if (typeof raw === "number") {
    if (!Number.isFinite(raw)) throw new ValueError(`${describe(raw)} is not a JSON number`);
    return canonicalJsonNumber(String(raw));
  }
  // A value a driver already parsed: its numbers went through doubles, and print as JSON.stringify prints
  // them, which is their canonical form. Exactness needs the text (see canonical-json-text.ts).
  return JSON.stringify(sortJson(raw));
}

function canonicalBytes(raw: unknown): string {
  if (raw instanceof Uint8Array) return Buffer.from(raw).toString("hex");
  if (typeof raw === "string") {
    if (/^(\\x)?[0-9a-fA-F]*$/.test(raw) && raw.length % 2 === 0)
      return raw.replace(/^\\x/, "").toLowerCase();
    return Buffer.from(raw, "utf8").toString("hex");
  }
  throw new ValueError(`${describe(raw)} is not bytes`);
}

/**
 * The canonical encoding of a row: each value escaped (`\` → `\\`, `|` → `\|`), null as `\N`,
 * joined with `|`. Unambiguous, and simple enough for a SQL store to build in a query.
 */
export function encodeRow(values: readonly CanonicalValue[]): string {
  let out = "";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += "|";
    const v = values[i];
    if (v === null || v === undefined) out += "\\N";
    else if (!v.includes("\\") && !v.includes("|")) out += v;
    else if (v.length > 65536) out += escapeLong(v);
    else out += v.replaceAll("\\", "\\\\").replaceAll("|", "\\|");
  }
  return out;
}

/**
 * `encodeRow`'s escaping of a long value, over its UTF-8 bytes (both characters are ASCII): replaceAll
 * takes seconds on a 12 MB text with millions of them, this a fraction of one.
 */
function escapeLong(v: string): string {
  const src = Buffer.from(v, "utf8");
  const out = Buffer.allocUnsafe(src.length * 2);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const byte = src[i]!;
    if (byte === 92 || byte === 124) out[n++] = 92;
    out[n++] = byte;
  }
  return out.toString("utf8", 0, n);
}
