/** MariaDB/MySQL SQL expressions for canonical text, binary-safe key order, and literals. Builds text only: no I/O. */
import type { CanonicalValue, ColumnType } from "../../core/canonical.js";
import { float32AsDouble } from "../../core/canonical-float32.js";
import { parseTime } from "../../core/canonical-time.js";
import { ConnectorError } from "../connector.js";
import {
  BINARY_TYPES,
  CAST_TEXT_TYPES,
  exactTextOrder,
  FLOAT_TYPES,
  GEOMETRY_TYPES,
  INTEGER_TYPES,
  isBinaryString,
  isUtf8,
  type MysqlColumn,
  TEXT_TYPES,
  TIME_LIMIT_MICROS,
  TIME_TYPES,
} from "./mysql-column-types.js";
import { UnstorableValueError } from "./mysql-errors.js";
import { numberMysqlJsonChanges } from "./mysql-json.js";

/** Text of a column as UTF-8 bytes: binary strings keep MD5 and CONCAT free of charset and collation rules. */
function utf8Bytes(col: MysqlColumn, ref: string): string {
  if (isBinaryString(col)) return ref;
  return isUtf8(col) ? `CAST(${ref} AS BINARY)` : `CAST(CONVERT(${ref} USING utf8mb4) AS BINARY)`;
}

/** A key column's expression for comparisons and ORDER BY: binary-safe, and the bare column when its index already is. */
export function keyOrderSql(type: ColumnType, col: MysqlColumn, ref: string): string {
  if (type !== "text" || exactTextOrder(col)) return ref;
  return utf8Bytes(col, ref);
}

/**
 * What the client reads of a column: the column itself, but a FLOAT widened to DOUBLE, which is exact; the
 * server prints a FLOAT's value with 6 significant digits ("0.333333" for 0.33333334, "16777200" for
 * 16777216 and 16777218 alike).
 */
export function mysqlReadSql(col: MysqlColumn, ref: string): string {
  return col.dataType === "float" ? `CAST(${ref} AS DOUBLE)` : ref;
}

/**
 * SQL that yields `canonicalValue(type, <column value>)` for `ref`, or null when the store cannot compute it
 * exactly (then the row is fingerprinted in the engine). Null stays NULL.
 * - FLOAT/DOUBLE: MariaDB prints the same shortest digits as JavaScript but its own exponent layout
 *   (1e15, 0.00000015 vs 1000000000000000, 1.5e-7), so floats are left to the engine.
 * - JSON: JSON_NORMALIZE sorts keys but prints numbers as 1.0E0; left to the engine too.
 * - TIME: its text with the fraction padded to six digits ("-838:59:59" → "-838:59:59.000000").
 */
export function mysqlCanonicalSql(type: ColumnType, col: MysqlColumn, ref: string): string | null {
  const t = col.dataType;
  switch (type) {
    case "integer":
      // An integer in CONCAT prints exactly as CAST(… AS CHAR) does, one call cheaper per row.
      if (INTEGER_TYPES.has(t)) return ref;
      if (t === "bit") return `CAST(${ref} + 0 AS CHAR)`;
      return null;
    case "decimal":
      if (INTEGER_TYPES.has(t)) return `CAST(${ref} AS CHAR)`;
      if (t === "decimal" || t === "numeric") {
        if (/,0\)/.test(col.columnType) || !col.columnType.includes(",")) return `CAST(${ref} AS CHAR)`;
        // Strip trailing fractional zeros, then a bare '.'; the '.' stops the zero strip at the integer part.
        // "-0.000" cannot arise (DECIMAL keeps no negative zero) but is mapped to "0" by the = 0 test anyway.
        return `IF(${ref} = 0, '0', TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST(${ref} AS CHAR))))`;
      }
      return null;
    case "boolean":
      if (INTEGER_TYPES.has(t) || t === "bit") {
        // Anything but 0/1 is not a boolean: the engine rejects it on fetch; here it just differs.
        return `CASE ${ref} + 0 WHEN 0 THEN 'f' WHEN 1 THEN 't' ELSE CONCAT('?', ${ref} + 0) END`;
      }
      return null;
    case "time": {
      if (t !== "time") return null;
      const fsp = col.fsp ?? 0;
      return `CONCAT(CAST(${ref} AS CHAR), '${fsp === 0 ? ".000000" : "0".repeat(6 - fsp)}')`;
    }
    case "text":
      if (TEXT_TYPES.has(t)) return utf8Bytes(col, ref);
      if (CAST_TEXT_TYPES.has(t) || INTEGER_TYPES.has(t)) return `CAST(${ref} AS CHAR)`;
      return null;
    case "timestamp":
      // The session runs in UTC ('+00:00'): TIMESTAMP reads as UTC, DATETIME is taken as UTC.
      if (t === "date") return `CONCAT(${ref}, 'T00:00:00.000000Z')`;
      if (t === "datetime" || t === "timestamp") {
        // CAST prints exactly fsp fraction digits; cheaper than DATE_FORMAT(…, '%Y-%m-%dT%H:%i:%s.%fZ').
        const fsp = col.fsp ?? 0;
        const tail = fsp === 0 ? ".000000Z" : `${"0".repeat(6 - fsp)}Z`;
        return `CONCAT(REPLACE(CAST(${ref} AS CHAR), ' ', 'T'), '${tail}')`;
      }
      return null;
    case "bytes":
      if (BINARY_TYPES.has(t) || GEOMETRY_TYPES.has(t)) return `LOWER(HEX(${ref}))`;
      return null;
    case "float":
    case "float32":
    case "json":
      return null;
  }
}

const INTEGER_RE = /^-?\d+$/;

/** A validated integer literal (never quoted: a quoted number compares to an integer column as a double). */
export function integerLiteral(v: string): string {
  if (!INTEGER_RE.test(v)) throw new ConnectorError(`"${v}" is not a canonical integer`);
  return v;
}

/** The byte after the backslash for each byte mysql2's escape escapes (all ASCII, so UTF-8 bytes can be scanned). */
const ESCAPE_BYTE: ReadonlyMap<number, number> = new Map(
  [
    [0, "0"],
    [8, "b"],
    [9, "t"],
    [10, "n"],
    [13, "r"],
    [26, "Z"],
    [34, '"'],
    [39, "'"],
    [92, "\\"],
  ].map(([byte, after]) => [byte as number, (after as string).charCodeAt(0)]),
);
/** ESCAPE_BYTE as a table by byte (0: not escaped). */
const ESCAPE_TABLE = new Uint8Array(256);
for (const [byte, after] of ESCAPE_BYTE) ESCAPE_TABLE[byte] = after;

/** A string literal in the session's utf8mb4 (backslash escapes: the session clears NO_BACKSLASH_ESCAPES). */
export function stringLiteral(v: string): string {
  // As mysql2's escape writes it, over the UTF-8 bytes: a regex replace (mysql2's own escape included) takes
  // seconds on a 12 MB value full of quotes.
  const src = Buffer.from(v, "utf8");
  const out = Buffer.allocUnsafe(src.length * 2 + 2);
  let n = 0;
  out[n++] = 39;
  for (let i = 0; i < src.length; i++) {
    const byte = src[i]!;
    const after = ESCAPE_TABLE[byte]!;
    if (after !== 0) {
      out[n++] = 92;
      out[n++] = after;
    } else out[n++] = byte;
  }
  out[n++] = 39;
  return out.toString("utf8", 0, n);
}

/** The literal a canonical key part is compared as, matching `keyOrderSql`. */
export function keyLiteral(type: ColumnType, col: MysqlColumn, v: string): string {
  if (type === "integer") return integerLiteral(v);
  if (exactTextOrder(col) && !isBinaryString(col)) {
    return `${stringLiteral(v)} COLLATE ${col.collation}`;
  }
  return `CAST(${stringLiteral(v)} AS BINARY)`;
}

/** MariaDB/MySQL DOUBLE holds no NaN or ±Infinity. */
const NON_FINITE = new Set(["NaN", "Infinity", "-Infinity"]);

/** A refusal to write `v` into `col`, one line. */
function cannotStore(col: MysqlColumn, v: string, why: string): UnstorableValueError {
  return new UnstorableValueError(`column ${col.name} (${col.columnType}) cannot store ${v}: ${why}`);
}

/** The (precision, scale) a type declares, "decimal(10,2)" → [10, 2]; FLOAT(M,D) and DOUBLE(M,D) too. */
function precisionScale(col: MysqlColumn): [number, number] | null {
  const m = /^\w+\((\d+),(\d+)\)/.exec(col.columnType);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Canonical decimal `v` for a DECIMAL(p,s) column, refused where the column would round or reject it. */
function decimalLiteral(col: MysqlColumn, v: string): string {
  const [p, s] = precisionScale(col) ?? [10, 0];
  const [whole = "", fraction = ""] = v.replace(/^-/, "").split(".");
  if (fraction.length > s) throw cannotStore(col, v, `it keeps ${s} decimal${s === 1 ? "" : "s"}`);
  if (whole !== "0" && whole.length > p - s)
    throw cannotStore(col, v, `it keeps ${p - s} digit${p - s === 1 ? "" : "s"} before the point`);
  return stringLiteral(v);
}

/** Canonical float `v` as a literal for a FLOAT or DOUBLE column, refused where the column would change it. */
function floatLiteral(col: MysqlColumn, v: string, float32: boolean): string {
  if (NON_FINITE.has(v)) {
    if (FLOAT_TYPES.has(col.dataType))
      throw cannotStore(col, v, "MariaDB and MySQL keep finite numbers only");
    return stringLiteral(v);
  }
  // A float32's shortest text may lie past FLT_MAX (3.4028235e+38), which a FLOAT refuses: write the double
  // that is exactly the float32.
  const text = float32 && FLOAT_TYPES.has(col.dataType) ? float32AsDouble(v) : v;
  const scale = FLOAT_TYPES.has(col.dataType) ? precisionScale(col)?.[1] : undefined;
  if (scale !== undefined) {
    // FLOAT(M,D) and DOUBLE(M,D) round what they are given to D decimals before storing it.
    const n = Number(text);
    const stored = Number(n.toFixed(scale));
    if (col.dataType === "float" ? Math.fround(stored) !== Math.fround(n) : stored !== n)
      throw cannotStore(col, v, `it keeps ${scale} decimal${scale === 1 ? "" : "s"}`);
  }
  if (col.dataType === "float") {
    const n = Number(text);
    if (!Number.isFinite(Math.fround(n)))
      throw cannotStore(col, v, "it is beyond the range of a 32-bit FLOAT");
    if (Math.fround(n) !== n)
      throw cannotStore(
        col,
        v,
        `a FLOAT keeps 32-bit floats and would hold ${Math.fround(n)} (declare the dataset's column float32 to compare at that precision)`,
      );
  }
  return FLOAT_TYPES.has(col.dataType) ? text : stringLiteral(text);
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

/** Refuses a fraction the column would round away (it keeps `fsp` digits). */
function checkFraction(col: MysqlColumn, v: string, micros: string): void {
  const fsp = col.fsp ?? 0;
  if (/[1-9]/.test(micros.slice(fsp)))
    throw cannotStore(col, v, `it keeps ${fsp} fractional digit${fsp === 1 ? "" : "s"} of a second`);
}

/** MariaDB/MySQL TIMESTAMP: seconds since 1970 in 32 bits, UTC. */
const TIMESTAMP_MIN = "1970-01-01T00:00:01.000000Z";
const TIMESTAMP_MAX = "2038-01-19T03:14:07.999999Z";

/**
 * The SQL literal that stores canonical value `v` of logical `type` in `col`, so that reading it back gives
 * `v` again. Throws ConnectorError when the column cannot hold the value (Infinity in a DOUBLE).
 */
export function writeLiteral(type: ColumnType, col: MysqlColumn, v: CanonicalValue): string {
  if (v === null) return "NULL";
  switch (type) {
    case "integer":
      return INTEGER_TYPES.has(col.dataType) || col.dataType === "bit" ? integerLiteral(v) : stringLiteral(v);
    case "boolean":
      return v === "t" ? "1" : "0";
    case "decimal":
      return col.dataType === "decimal" ? decimalLiteral(col, v) : stringLiteral(v);
    case "json": {
      // MySQL 8's JSON type (MariaDB's JSON is LONGTEXT) keeps numbers as 64-bit integers and doubles.
      const changed = col.dataType === "json" ? numberMysqlJsonChanges(v) : null;
      if (changed !== null)
        throw cannotStore(col, v, `MySQL's JSON keeps numbers as 64-bit integers or doubles, not ${changed}`);
      return stringLiteral(v);
    }
    case "float":
    case "float32":
      return floatLiteral(col, v, type === "float32");
    case "time":
      return col.dataType === "time" ? timeLiteral(col, v) : stringLiteral(v);
    case "timestamp":
      if (TIME_TYPES.has(col.dataType)) {
        // Canonical "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC) as the session's UTC literal.
        if (col.dataType === "date" && !v.endsWith("T00:00:00.000000Z")) {
          throw cannotStore(col, v, "a DATE keeps no time of day");
        }
        if (col.dataType !== "date") checkFraction(col, v, v.slice(20, 26));
        if (col.dataType === "timestamp" && (v < TIMESTAMP_MIN || v > TIMESTAMP_MAX))
          throw cannotStore(col, v, "TIMESTAMP holds 1970-01-01 00:00:01 to 2038-01-19 03:14:07 UTC");
        return stringLiteral(col.dataType === "date" ? v.slice(0, 10) : v.slice(0, 26).replace("T", " "));
      }
      return stringLiteral(v);
    case "bytes":
      return BINARY_TYPES.has(col.dataType) || GEOMETRY_TYPES.has(col.dataType)
        ? `X'${v}'`
        : stringLiteral(v);
    default:
      return stringLiteral(v);
  }
}
