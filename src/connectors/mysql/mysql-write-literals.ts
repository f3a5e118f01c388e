/** The SQL literal that stores a canonical value in a MariaDB/MySQL column, or a one-line refusal. Builds text only: no I/O. */
import { type CanonicalValue, type ColumnType, canonicalValue } from "../../core/canonical.js";
import { describeRaw } from "../../core/canonical-errors.js";
import { float32AsDouble } from "../../core/canonical-float32.js";
import { canonicalInetText } from "../../core/canonical-inet.js";
import { parseTime } from "../../core/canonical-time.js";
import { integerLiteral, stringLiteral } from "./mysql-canonical-sql.js";
import {
  BINARY_TYPES,
  FLOAT_TYPES,
  GEOMETRY_TYPES,
  INTEGER_TYPES,
  type MysqlColumn,
  TIME_LIMIT_MICROS,
  TIME_TYPES,
} from "./mysql-column-types.js";
import { UnstorableValueError } from "./mysql-errors.js";
import { inet4Text, inet6Text } from "./mysql-inet-text.js";
import { numberMysqlJsonChanges } from "./mysql-json.js";

/**
 * The SQL literal that stores canonical value `v` of logical `type` in `col`, so that reading it back gives
 * `v` again. A value the column would store as another value (round, clip, pad, fold, convert) or refuse is
 * refused here, before anything is sent, with an UnstorableValueError naming the column, its type, the value
 * and why: the server in strict mode would refuse some of them too, but without the type, and it silently
 * changes the others.
 */
export function writeLiteral(
  type: ColumnType,
  col: MysqlColumn,
  v: CanonicalValue,
  key?: readonly (string | null)[],
): string {
  if (v === null) return "NULL";
  const outside = col.charset === null ? undefined : outsideCharset(col.charset, v);
  if (outside !== undefined)
    throw new UnstorableValueError(
      cannotStoreLine(
        col.name,
        col.columnType,
        visible(v),
        key,
        `its character set ${col.charset} has no ${visible(outside)} (U+${outside.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}); ` +
          `MariaDB would refuse it or store "?"`,
      ),
    );
  switch (type) {
    case "integer":
      return INTEGER_TYPES.has(col.dataType) || col.dataType === "bit"
        ? integerIn(col, v)
        : textLiteral(col, v, type);
    case "boolean":
      return v === "t" ? "1" : "0";
    case "decimal":
      if (col.dataType === "decimal") return decimalLiteral(col, v);
      if (INTEGER_TYPES.has(col.dataType) || col.dataType === "bit") {
        if (!/^-?\d+$/.test(v)) throw cannotStore(col, v, "it keeps integers only");
        return integerIn(col, v);
      }
      return textLiteral(col, v, type);
    case "json": {
      // MySQL 8's JSON type (MariaDB's JSON is LONGTEXT) keeps numbers as 64-bit integers and doubles.
      const changed = col.dataType === "json" ? numberMysqlJsonChanges(v) : null;
      if (changed !== null)
        throw cannotStore(col, v, `MySQL's JSON keeps numbers as 64-bit integers or doubles, not ${changed}`);
      return textLiteral(col, v, type);
    }
    case "float":
    case "float32":
      return floatLiteral(col, v, type === "float32");
    case "time":
      return col.dataType === "time" ? timeLiteral(col, v) : textLiteral(col, v, type);
    case "timestamp":
      return TIME_TYPES.has(col.dataType) ? timestampLiteral(col, v) : textLiteral(col, v, type);
    case "bytes":
      return BINARY_TYPES.has(col.dataType) || GEOMETRY_TYPES.has(col.dataType)
        ? bytesLiteral(col, v)
        : textLiteral(col, v, type);
    case "text":
      return textLiteral(col, v, "text");
  }
}

/** Text quoted as JSON, with the C1 control characters JSON leaves as they are escaped too (`"\u0080"`). */
function visible(v: string): string {
  return describeRaw(v).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A value as a refusal shows it (long values shortened). */
function shownValue(v: string): string {
  return v.length > 60 ? `${JSON.stringify(v.slice(0, 40))}… (${v.length} characters)` : v;
}

/** A refusal to write `v` into `col`, one line (long values shortened). */
function cannotStore(col: MysqlColumn, v: string, why: string): UnstorableValueError {
  return new UnstorableValueError(cannotStoreLine(col.name, col.columnType, shownValue(v), undefined, why));
}

/**
 * The one line every MariaDB/MySQL write refusal reads as: `column c (type) cannot store v at key [..]: why`
 * (`shown` the value as the caller renders it; no `at key` without a key).
 */
export function cannotStoreLine(
  column: string,
  columnType: string,
  shown: string,
  key: readonly (string | null)[] | undefined,
  why: string,
): string {
  return `column ${column} (${columnType}) cannot store ${shown}${key ? ` at key ${JSON.stringify(key)}` : ""}: ${why}`;
}

/**
 * MariaDB's latin1 is Windows-1252 (cp1252): ASCII, U+00A0–U+00FF, the 27 characters cp1252 puts at
 * 0x80–0x9F, and the five bytes it leaves unassigned there (0x81, 0x8D, 0x8F, 0x90, 0x9D) as U+0081… (checked
 * against the server: `CONVERT(CONVERT(c USING latin1) USING utf8mb4) = c` for every code point).
 */
const CP1252_EXTRA: ReadonlySet<number> = new Set([
  0x81, 0x8d, 0x8f, 0x90, 0x9d, 0x152, 0x153, 0x160, 0x161, 0x178, 0x17d, 0x17e, 0x192, 0x2c6, 0x2dc, 0x2013,
  0x2014, 0x2018, 0x2019, 0x201a, 0x201c, 0x201d, 0x201e, 0x2020, 0x2021, 0x2022, 0x2026, 0x2030, 0x2039,
  0x203a, 0x20ac, 0x2122,
]);

/** Which code points each non-Unicode character set the connector knows holds (utf8mb3 is checked apart). */
const HOLDS: Readonly<Record<string, (cp: number) => boolean>> = {
  ascii: (cp) => cp <= 0x7f,
  latin1: (cp) => cp <= 0x7f || (cp >= 0xa0 && cp <= 0xff) || CP1252_EXTRA.has(cp),
  // UCS-2 holds the Basic Multilingual Plane only.
  ucs2: (cp) => cp <= 0xffff,
};

/**
 * The first character of `v` that a column in `charset` cannot hold (in strict mode MariaDB refuses the row
 * with "Incorrect string value", otherwise it stores `?` in its place), or undefined. Character sets it does
 * not list (the Unicode ones hold everything) are left to the server.
 */
/** True when a column in `charset` can hold every character of `v` (`outsideCharset`; utf8mb3's limit too). */
export function charsetHolds(charset: string, v: string): boolean {
  if ((charset === "utf8mb3" || charset === "utf8") && /[\u{10000}-\u{10FFFF}]/u.test(v)) return false;
  return outsideCharset(charset, v) === undefined;
}

export function outsideCharset(charset: string, v: string): string | undefined {
  const holds = HOLDS[charset];
  if (!holds) return undefined;
  for (const c of v) if (!holds(c.codePointAt(0)!)) return c;
  return undefined;
}

/** The number in parentheses of a type ("varchar(20)" → 20, "bit(64)" → 64), if any. */
function length(col: MysqlColumn): number | undefined {
  const m = /^\w+\((\d+)\)/.exec(col.columnType);
  return m ? Number(m[1]) : undefined;
}

/** The (precision, scale) a type declares, "decimal(10,2)" → [10, 2]; FLOAT(M,D) and DOUBLE(M,D) too. */
function precisionScale(col: MysqlColumn): [number, number] | null {
  const m = /^\w+\((\d+),(\d+)\)/.exec(col.columnType);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

// -----------------------------------------------------------------------------------------------------------
// Numbers

const INTEGER_BITS: Readonly<Record<string, bigint>> = {
  tinyint: 8n,
  smallint: 16n,
  mediumint: 24n,
  int: 32n,
  integer: 32n,
  bigint: 64n,
};

/** An integer literal for an integer, YEAR or BIT column, refused outside the column's range. */
function integerIn(col: MysqlColumn, v: string): string {
  if (!INTEGER_TYPES.has(col.dataType) && col.dataType !== "bit") return stringLiteral(v);
  const n = BigInt(integerLiteral(v));
  if (col.dataType === "year") {
    // YEAR reads 1 to 69 as 2001 to 2069 and 70 to 99 as 1970 to 1999.
    if (n !== 0n && (n < 1901n || n > 2155n)) throw cannotStore(col, v, "YEAR holds 0 and 1901 to 2155");
    return v;
  }
  const bits = col.dataType === "bit" ? BigInt(length(col) ?? 1) : INTEGER_BITS[col.dataType]!;
  const unsigned = col.dataType === "bit" || /\bunsigned\b/.test(col.columnType);
  const [lo, hi] = unsigned ? [0n, 2n ** bits - 1n] : [-(2n ** (bits - 1n)), 2n ** (bits - 1n) - 1n];
  if (n < lo || n > hi) throw cannotStore(col, v, `it holds ${lo} to ${hi}`);
  return v;
}

/** Canonical decimal `v` for a DECIMAL(p,s) column, refused where the column would round or reject it. */
function decimalLiteral(col: MysqlColumn, v: string): string {
  if (!/^-?\d+(\.\d+)?$/.test(v)) throw cannotStore(col, v, "DECIMAL holds finite numbers only");
  const [p, s] = precisionScale(col) ?? [length(col) ?? 10, 0];
  const [whole = "", fraction = ""] = v.replace(/^-/, "").split(".");
  if (fraction.length > s) throw cannotStore(col, v, `it keeps ${s} decimal${s === 1 ? "" : "s"}`);
  if (whole !== "0" && whole.length > p - s)
    throw cannotStore(col, v, `it keeps ${p - s} digit${p - s === 1 ? "" : "s"} before the point`);
  negativeRefused(col, v);
  return stringLiteral(v);
}

/** An UNSIGNED DECIMAL, FLOAT or DOUBLE holds no negative number (strict mode refuses it as out of range). */
function negativeRefused(col: MysqlColumn, v: string): void {
  if (v.startsWith("-") && /[1-9]/.test(v) && /\bunsigned\b/.test(col.columnType))
    throw cannotStore(col, v, `${col.columnType} holds no negative numbers`);
}

/** MariaDB/MySQL FLOAT and DOUBLE hold no NaN or ±Infinity. */
const NON_FINITE = new Set(["NaN", "Infinity", "-Infinity"]);

/** Canonical float `v` as a literal for a FLOAT or DOUBLE column, refused where the column would change it. */
function floatLiteral(col: MysqlColumn, v: string, float32: boolean): string {
  if (!FLOAT_TYPES.has(col.dataType)) return textLiteral(col, v, float32 ? "float32" : "float");
  if (NON_FINITE.has(v)) throw cannotStore(col, v, "MariaDB and MySQL keep finite numbers only");
  // A float32's shortest text may lie past FLT_MAX (3.4028235e+38), which a FLOAT refuses: write the double
  // that is exactly the float32.
  negativeRefused(col, v);
  const text = float32 ? float32AsDouble(v) : v;
  const n = Number(text);
  const declared = precisionScale(col);
  if (declared) {
    // FLOAT(M,D) and DOUBLE(M,D) round what they are given to D decimals before storing it, and hold
    // M − D digits before the point (FLOAT(7,3) ends at 9999.999; the server refuses more).
    const [precision, scale] = declared;
    const stored = Number(n.toFixed(scale));
    if (col.dataType === "float" ? Math.fround(stored) !== Math.fround(n) : stored !== n)
      throw cannotStore(col, v, `it keeps ${scale} decimal${scale === 1 ? "" : "s"}`);
    if (Math.abs(stored) >= 10 ** (precision - scale))
      throw cannotStore(
        col,
        v,
        `it keeps ${precision - scale} digit${precision - scale === 1 ? "" : "s"} before the point`,
      );
  }
  if (col.dataType === "float") {
    if (!Number.isFinite(Math.fround(n)))
      throw cannotStore(col, v, "it is beyond the range of a 32-bit FLOAT");
    if (Math.fround(n) !== n)
      throw cannotStore(
        col,
        v,
        `a FLOAT keeps 32-bit floats and would hold ${Math.fround(n)} (declare the dataset's column float32 to compare at that precision)`,
      );
  }
  return text;
}

// -----------------------------------------------------------------------------------------------------------
// Times

/** Refuses a fraction the column would round away (it keeps `fsp` digits). */
function checkFraction(col: MysqlColumn, v: string, micros: string): void {
  const fsp = col.fsp ?? 0;
  if (/[1-9]/.test(micros.slice(fsp)))
    throw cannotStore(col, v, `it keeps ${fsp} fractional digit${fsp === 1 ? "" : "s"} of a second`);
}

/** Canonical time `v` as a literal for a TIME column, refused outside TIME's range or past its digits. */
function timeLiteral(col: MysqlColumn, v: string): string {
  const micros = parseTime(v);
  if (micros === undefined) throw cannotStore(col, v, "it is not a time");
  if (micros > TIME_LIMIT_MICROS || micros < -TIME_LIMIT_MICROS)
    throw cannotStore(col, v, "TIME holds -838:59:59.999999 to 838:59:59.999999");
  checkFraction(col, v, v.slice(v.indexOf(".") + 1));
  return stringLiteral(v);
}

/** A canonical timestamp with a four-digit year (DATETIME and DATE hold years 0000 to 9999). */
const FOUR_DIGIT_YEAR = /^\d{4}-\d{2}-\d{2}T/;
/** MariaDB/MySQL TIMESTAMP: seconds since 1970 in 32 bits, UTC (0 is the zero date). */
const TIMESTAMP_MIN = "1970-01-01T00:00:01.000000Z";
const TIMESTAMP_MAX = "2038-01-19T03:14:07.999999Z";

/** Canonical "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC) as the session's UTC literal for a DATE, DATETIME or TIMESTAMP. */
function timestampLiteral(col: MysqlColumn, v: string): string {
  if (!FOUR_DIGIT_YEAR.test(v))
    throw cannotStore(col, v, `${col.dataType.toUpperCase()} holds years 0000 to 9999`);
  // The proleptic Gregorian year 0 (1 BC) is a leap year, as PostgreSQL keeps it; MariaDB and MySQL count it
  // as a common year, and strict mode would refuse the row with only the server's message.
  if (v.startsWith("0000-02-29"))
    throw cannotStore(
      col,
      v,
      `${col.dataType.toUpperCase()} counts year 0000 as a common year, without February 29`,
    );
  if (col.dataType === "date") {
    if (!v.endsWith("T00:00:00.000000Z")) throw cannotStore(col, v, "a DATE keeps no time of day");
    return stringLiteral(v.slice(0, 10));
  }
  checkFraction(col, v, v.slice(20, 26));
  if (col.dataType === "timestamp" && (v < TIMESTAMP_MIN || v > TIMESTAMP_MAX))
    throw cannotStore(col, v, "TIMESTAMP holds 1970-01-01 00:00:01 to 2038-01-19 03:14:07 UTC");
  return stringLiteral(v.slice(0, 26).replace("T", " "));
}

// -----------------------------------------------------------------------------------------------------------
// Text and bytes

/** Bytes the TEXT and BLOB types hold. */
const BYTE_LIMITS: Readonly<Record<string, number>> = {
  tinytext: 255,
  text: 65_535,
  mediumtext: 16_777_215,
  tinyblob: 255,
  blob: 65_535,
  mediumblob: 16_777_215,
};

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The bytes `v` takes in `charset` (UTF-8's for character sets not listed). */
function charsetBytes(charset: string | null, v: string): number {
  switch (charset) {
    case "ascii":
    case "latin1":
      return v.length;
    case "ucs2":
    case "utf16":
    case "utf16le":
      return v.length * 2;
    case "utf32":
      return [...v].length * 4;
    default:
      return Buffer.byteLength(v, "utf8");
  }
}

/**
 * The text the server gives back for text `v` written into a numeric or temporal column (which converts it:
 * '007' into an INT is 7, '5.5' into a DECIMAL(10,2) is 5.50), or undefined for a column that keeps text as
 * it is. Refused where the column cannot hold the value at all. A FLOAT or DOUBLE is taken to print the
 * canonical float (the server writes some with an exponent: such a text is refused, never damaged).
 */
function heldText(col: MysqlColumn, v: string): string | undefined {
  const t = col.dataType;
  const as = (type: ColumnType, what: string): string => {
    try {
      const c = canonicalValue(type, v);
      if (c !== null) return c;
    } catch {
      // Not a value of the column's type: refused below.
    }
    throw cannotStore(col, v, `${col.columnType} holds ${what} only`);
  };
  if (INTEGER_TYPES.has(t) || t === "bit") return integerIn(col, as("integer", "integers"));
  if (t === "decimal") {
    const c = as("decimal", "finite numbers");
    decimalLiteral(col, c);
    const scale = precisionScale(col)?.[1] ?? 0;
    if (scale === 0) return c;
    const [whole, fraction = ""] = c.split(".");
    return `${whole}.${fraction.padEnd(scale, "0")}`;
  }
  if (FLOAT_TYPES.has(t)) {
    const c = as("float", "numbers");
    floatLiteral(col, c, false);
    return c;
  }
  const fraction = (micros: string) => (col.fsp ? `.${micros.slice(0, col.fsp)}` : "");
  if (t === "date") {
    const c = as("timestamp", "dates");
    timestampLiteral(col, c);
    return c.slice(0, 10);
  }
  if (TIME_TYPES.has(t)) {
    const c = as("timestamp", "timestamps");
    timestampLiteral(col, c);
    return `${c.slice(0, 10)} ${c.slice(11, 19)}${fraction(c.slice(20, 26))}`;
  }
  if (t === "time") {
    const c = as("time", "times");
    timeLiteral(col, c);
    const [whole = "", micros = ""] = c.split(".");
    return `${whole}${fraction(micros)}`;
  }
  return undefined;
}

/**
 * Text `v` (the canonical text of `type`, written as text) for a text-like column, refused where the column
 * would cut, pad, fold or refuse it; for a numeric or temporal column, refused unless the server holds it as a
 * text that reads as `v` again (`heldText`).
 */
function textLiteral(col: MysqlColumn, v: string, type: ColumnType): string {
  const held = heldText(col, v);
  if (held !== undefined) {
    let same = false;
    try {
      same = canonicalValue(type, held) === v;
    } catch {
      // The held text is no value of the compared type: not the same.
    }
    if (!same) {
      // Text quoted, so that what the column would drop (' 5', '007') shows.
      const shown = type === "text" && v.length <= 60 ? visible(v) : shownValue(v);
      throw new UnstorableValueError(
        cannotStoreLine(
          col.name,
          col.columnType,
          shown,
          undefined,
          `${col.columnType} would hold it as ${held}`,
        ),
      );
    }
    return stringLiteral(v);
  }
  const t = col.dataType;
  if ((t === "char" || t === "varchar") && [...v].length > (length(col) ?? 1))
    throw cannotStore(col, v, `it holds at most ${length(col) ?? 1} characters`);
  if (t === "char" && v.endsWith(" ")) throw cannotStore(col, v, "CHAR drops trailing spaces when read");
  const limit = BYTE_LIMITS[t];
  if (limit !== undefined && charsetBytes(col.charset, v) > limit)
    throw cannotStore(col, v, `${t.toUpperCase()} holds at most ${limit} bytes`);
  if ((col.charset === "utf8mb3" || col.charset === "utf8") && /[\u{10000}-\u{10FFFF}]/u.test(v))
    throw cannotStore(col, v, `${col.charset} holds no 4-byte characters (use utf8mb4)`);
  if (t === "enum" && !(col.members ?? []).includes(v))
    throw cannotStore(col, v, "it is none of the ENUM's members");
  if (t === "set") {
    const declared = col.members ?? [];
    const parts = v === "" ? [] : v.split(",");
    const ordered = declared.filter((m) => parts.includes(m));
    if (parts.length !== ordered.length || parts.some((p, i) => p !== ordered[i]))
      throw cannotStore(col, v, "it is not a list of the SET's members in their declared order");
  }
  if (t === "uuid" && !UUID_TEXT.test(v))
    throw cannotStore(col, v, "UUID reads back as lowercase 8-4-4-4-12 hex");
  if (t === "inet4" || t === "inet6") {
    // The server keeps an address, not its text: `FE80::0001` would be stored and read back as `fe80::1`.
    const held = t === "inet4" ? inet4Text(v) : inet6Text(v);
    if (held === undefined) throw cannotStore(col, v, `it is no IPv${t === "inet4" ? "4" : "6"} address`);
    // Read back as its canonical address (an INET6's single zero group written out): that must be `v`.
    const read = t === "inet6" ? canonicalInetText(held) : held;
    if (read !== v) throw cannotStore(col, v, `${t.toUpperCase()} would hold it as ${read}`);
  }
  return stringLiteral(v);
}

/** Hex `v` for a binary column, refused where the column would pad or cut it. */
function bytesLiteral(col: MysqlColumn, v: string): string {
  const size = v.length / 2;
  const n = length(col);
  if (col.dataType === "binary" && size !== (n ?? 1))
    throw cannotStore(
      col,
      v,
      size < (n ?? 1)
        ? `BINARY(${n ?? 1}) pads shorter values with zero bytes`
        : `it holds exactly ${n ?? 1} bytes`,
    );
  if (col.dataType === "varbinary" && n !== undefined && size > n)
    throw cannotStore(col, v, `it holds at most ${n} bytes`);
  const limit = BYTE_LIMITS[col.dataType];
  if (limit !== undefined && size > limit)
    throw cannotStore(col, v, `${col.dataType.toUpperCase()} holds at most ${limit} bytes`);
  return `X'${v}'`;
}
