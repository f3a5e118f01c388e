/** MariaDB/MySQL SQL expressions for canonical text, binary-safe key order, and literals. Builds text only: no I/O. */
import { escape as escapeValue } from "mysql2/promise";
import type { CanonicalValue, ColumnType } from "../../core/canonical.js";
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
  TIME_TYPES,
} from "./mysql-column-types.js";

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
 * SQL that yields `canonicalValue(type, <column value>)` for `ref`, or null when the store cannot compute it
 * exactly (then the row is fingerprinted in the engine). Null stays NULL.
 * - FLOAT/DOUBLE: MariaDB prints the same shortest digits as JavaScript but its own exponent layout
 *   (1e15, 0.00000015 vs 1000000000000000, 1.5e-7), so floats are left to the engine.
 * - JSON: JSON_NORMALIZE sorts keys but prints numbers as 1.0E0; left to the engine too.
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
    case "time":
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

/** A string literal in the session's utf8mb4 (backslash escapes: the session clears NO_BACKSLASH_ESCAPES). */
export function stringLiteral(v: string): string {
  return escapeValue(v);
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
    case "float":
    case "float32":
      if (NON_FINITE.has(v) && FLOAT_TYPES.has(col.dataType)) {
        throw new ConnectorError(`column ${col.name} (${col.columnType}) cannot store ${v}`);
      }
      return stringLiteral(v);
    case "timestamp":
      if (TIME_TYPES.has(col.dataType)) {
        // Canonical "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC) as the session's UTC literal.
        if (col.dataType === "date" && !v.endsWith("T00:00:00.000000Z")) {
          throw new ConnectorError(`column ${col.name} (date) cannot store ${v}`);
        }
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
