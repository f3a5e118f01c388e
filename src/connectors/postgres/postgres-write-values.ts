/** Canonical values as PostgreSQL is sent them for writes, and the values a column cannot hold exactly. Builds values only: no I/O. */
import {
  type ColumnType,
  canonicalValue,
  TIMESTAMP_INFINITY,
  TIMESTAMP_NEG_INFINITY,
  timestampMicros,
} from "../../core/canonical.js";
import { parseTime } from "../../core/canonical-time.js";
import type { PgColumn } from "./postgres-column-types.js";

const EXPANDED = /^([+-]?\d+)-(\d{2})-(\d{2})T(\d{2}:\d{2}:\d{2}\.\d{6})Z$/;

/**
 * A canonical timestamp as PostgreSQL's input syntax reads it: the same text for years 1–9999, `YYYY-… BC`
 * (PostgreSQL counts no year 0: astronomical 0 is 1 BC) and unsigned years past 9999 otherwise; the
 * infinities as they are. `date` keeps only the date.
 */
export function postgresTimestampLiteral(canonical: string, date: boolean): string {
  const m = EXPANDED.exec(canonical);
  if (!m) return canonical;
  const year = Number(m[1]);
  const era = year <= 0 ? " BC" : "";
  const shown = String(year <= 0 ? 1 - year : year).padStart(4, "0");
  return date ? `${shown}-${m[2]}-${m[3]}${era}` : `${shown}-${m[2]}-${m[3]} ${m[4]}+00${era}`;
}

/** The text a canonical value is sent as for `column` (read as `type`); the SQL around it is `nativeSql`. */
export function postgresWriteValue(column: PgColumn, type: ColumnType, v: string): string {
  // An integer column compared as boolean (beside MariaDB's TINYINT(1) or SQLite's BOOLEAN) keeps 1 and 0.
  if (type === "boolean" && INT_RANGES[column.baseType]) return v === "t" ? "1" : "0";
  if (type !== "timestamp") return v;
  switch (column.baseType) {
    case "timestamptz":
    case "timestamp":
      return postgresTimestampLiteral(v, false);
    case "date":
      return postgresTimestampLiteral(v, true);
    default:
      return v;
  }
}

const INT_RANGES: Readonly<Record<string, readonly [bigint, bigint, string]>> = {
  int2: [-(2n ** 15n), 2n ** 15n - 1n, "smallint"],
  int4: [-(2n ** 31n), 2n ** 31n - 1n, "integer"],
  int8: [-(2n ** 63n), 2n ** 63n - 1n, "bigint"],
};

/**
 * PostgreSQL's timestamp range (Julian day 0, 4714-11-24 BC in the proleptic Gregorian calendar, which its
 * documentation calls 4713 BC, to 294276 AD) and date range (to 5874897 AD).
 */
const MIN_TIMESTAMP = timestampMicros("-004713-11-24T00:00:00Z");
const MAX_TIMESTAMP = timestampMicros("+294276-12-31T23:59:59.999999Z");
const MAX_DATE = timestampMicros("+5874897-12-31T00:00:00Z");
const DAY = 86_400_000_000n;
const TIME_MAX = 24n * 3_600_000_000n;

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A `\u0000` escape in JSON text (an odd run of backslashes before it): jsonb cannot hold U+0000. */
const JSON_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

/** Characters (code points) of a string. */
function length(v: string): number {
  let n = 0;
  for (const _ of v) n++;
  return n;
}

/** The fraction digits a timestamp or time value needs beyond `digits` would be rounded away. */
function finerThan(micros: bigint, digits: number): boolean {
  if (digits >= 6) return false;
  const unit = 10n ** BigInt(6 - digits);
  return ((micros % unit) + unit) % unit !== 0n;
}

/**
 * Why `column` cannot hold canonical value `v` (read as `type`) exactly, or undefined when it can. Catches
 * what PostgreSQL would reject (out of range, too long, U+0000) and, worse, what it would take and change
 * silently: a numeric(p,s) or timestamp(p) rounding its digits, a date dropping a time of day, character(n)
 * dropping trailing spaces, a real rounding a double, a uuid written in another spelling, an inet host with
 * its full mask.
 */
export function postgresRefusal(column: PgColumn, type: ColumnType, v: string): string | undefined {
  const base = column.baseType;
  if (base !== "bytea" && v.includes("\u0000")) return "PostgreSQL text holds no U+0000 (NUL) character";
  const ints = INT_RANGES[base];
  if (ints && type === "boolean") return undefined;
  if (ints) {
    if (!/^-?\d+$/.test(v)) return "not an integer";
    const n = BigInt(v);
    return n < ints[0] || n > ints[1] ? `out of range for ${ints[2]}` : undefined;
  }
  switch (base) {
    case "numeric":
      return numericRefusal(column, v);
    case "float4": {
      const n = Number(v);
      const f = Math.fround(n);
      if (Number.isNaN(n)) return undefined;
      if (!Number.isFinite(f) && Number.isFinite(n)) return "beyond the range of real (single precision)";
      if (f === 0 && n !== 0) return "too small for real (single precision)";
      if (type !== "float32" && f !== n) return "real (single precision) would round it";
      return exactNumberRefusal(type, n, v, "real");
    }
    case "float8":
      return exactNumberRefusal(type, Number(v), v, "double precision");
    case "timestamp":
    case "timestamptz":
    case "date":
      return type === "timestamp" ? timestampRefusal(column, v) : undefined;
    case "time":
      return type === "time" ? timeRefusal(column, v) : undefined;
    case "bpchar": {
      if (v.endsWith(" ")) return "character(n) does not keep trailing spaces";
      const n = column.typmod - 4;
      return n > 0 && length(v) > n ? `longer than ${n} characters` : undefined;
    }
    case "varchar": {
      const n = column.typmod - 4;
      return n > 0 && length(v) > n ? `longer than ${n} characters` : undefined;
    }
    case "uuid":
      return UUID_TEXT.test(v) ? undefined : "not a uuid in its canonical spelling (lowercase, hyphenated)";
    case "inet":
      return /^[^:]*\/32$|:.*\/128$/.test(v)
        ? "inet drops a host's full mask (/32, /128) when read"
        : undefined;
    case "jsonb":
      return JSON_NUL.test(v) ? "jsonb holds no \\u0000 in strings" : undefined;
    default:
      return undefined;
  }
}

/**
 * An exact number (`type` decimal or integer: the column beside an exact one) that float column `native`
 * would not give back as itself: the double `n` it parses to reads back as its shortest text, which must be
 * `v` (9007199254740993 would be 9007199254740992; 0.1000000000000000000001 would be 0.1).
 */
function exactNumberRefusal(type: ColumnType, n: number, v: string, native: string): string | undefined {
  if (type !== "decimal" && type !== "integer") return undefined;
  if (!Number.isFinite(n) && /\d/.test(v)) return `beyond the range of ${native}`;
  return canonicalValue("decimal", n) === canonicalValue("decimal", v)
    ? undefined
    : `${native} would hold it as ${String(n)}`;
}

function numericRefusal(column: PgColumn, v: string): string | undefined {
  if (column.typmod < 4) return undefined;
  if (v === "NaN") return undefined;
  const mod = column.typmod - 4;
  const precision = (mod >> 16) & 0xffff;
  // The scale is an 11-bit signed field (PostgreSQL 15 allows negative scales and scales above precision).
  const raw = mod & 0x7ff;
  const scale = raw & 0x400 ? raw - 0x800 : raw;
  if (v === "Infinity" || v === "-Infinity") return `${column.nativeType} holds no infinity`;
  // A float's text may have an exponent (1e+21, 5e-324): its exact decimal digits are what is stored.
  let plain: string;
  try {
    plain = canonicalValue("decimal", v) ?? v;
  } catch {
    return "not a decimal";
  }
  const m = /^-?(\d+)(?:\.(\d+))?$/.exec(plain);
  if (!m) return "not a decimal";
  const frac = m[2] ?? "";
  if (frac.length > Math.max(scale, 0))
    return `${column.nativeType} would round it to ${Math.max(scale, 0)} decimal places`;
  if (scale < 0 && !/^0*$/.test(m[1]!.slice(m[1]!.length + scale)))
    return `${column.nativeType} would round it to a multiple of 1e${-scale}`;
  const digits = m[1]!.replace(/^0+/, "").length;
  if (digits > precision - scale) return `too large for ${column.nativeType}`;
  return undefined;
}

function timestampRefusal(column: PgColumn, v: string): string | undefined {
  const micros = timestampMicros(v);
  if (micros === TIMESTAMP_INFINITY || micros === TIMESTAMP_NEG_INFINITY) return undefined;
  const date = column.baseType === "date";
  if (micros < MIN_TIMESTAMP || micros > (date ? MAX_DATE : MAX_TIMESTAMP))
    return `outside the range of ${column.nativeType} (4714-11-24 BC to ${date ? "5874897-12-31" : "294276-12-31"} AD)`;
  if (date) return ((micros % DAY) + DAY) % DAY === 0n ? undefined : "a date holds no time of day";
  const digits = column.typmod >= 0 ? column.typmod : 6;
  return finerThan(micros, digits)
    ? `${column.nativeType} would round it to ${digits} fractional digits`
    : undefined;
}

function timeRefusal(column: PgColumn, v: string): string | undefined {
  const micros = parseTime(v);
  if (micros === undefined) return "not a time";
  if (micros < 0n || micros > TIME_MAX) return "a time of day is between 00:00:00 and 24:00:00";
  const digits = column.typmod >= 0 ? column.typmod : 6;
  return finerThan(micros, digits)
    ? `${column.nativeType} would round it to ${digits} fractional digits`
    : undefined;
}
