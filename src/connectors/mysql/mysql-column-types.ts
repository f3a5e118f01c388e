/** MariaDB/MySQL native column types: their logical types, canonical SQL text, and write literals. No I/O. */
import { escape as escapeValue } from "mysql2/promise";
import type { CanonicalValue, ColumnType } from "../../core/canonical.js";
import { ConnectorError } from "../connector.js";

/** One column as information_schema.COLUMNS describes it (plus MariaDB's JSON check). */
export interface MysqlColumn {
  readonly name: string;
  /** DATA_TYPE, lower case ("bigint", "varchar", "longtext"). */
  readonly dataType: string;
  /** COLUMN_TYPE, lower case ("tinyint(1)", "bigint(20) unsigned", "decimal(18,6)"). */
  readonly columnType: string;
  readonly charset: string | null;
  readonly collation: string | null;
  /** DATETIME_PRECISION (fractional second digits) for temporal columns. */
  readonly fsp: number | null;
  /** IS_NULLABLE: a NOT NULL column needs no COALESCE in the fingerprint. */
  readonly nullable: boolean;
  /** MariaDB stores JSON as LONGTEXT with a json_valid() check; MySQL 8 has a real JSON type. */
  readonly json: boolean;
  /** A logical type declared in the column's COMMENT (`concord:float`), overriding the native type's. */
  readonly declared: ColumnType | null;
}

const DECLARED_RE = /\bconcord:(integer|decimal|float|boolean|text|timestamp|json|bytes)\b/;

/**
 * The logical type a column COMMENT declares, if any. For values the native type cannot hold, e.g.
 * ±Infinity, which DOUBLE rejects: keep such a column as VARCHAR with COMMENT 'concord:float'.
 */
export function declaredType(comment: string | null): ColumnType | null {
  const m = comment ? DECLARED_RE.exec(comment) : null;
  return m ? (m[1] as ColumnType) : null;
}

const INTEGER_TYPES = new Set(["tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"]);
const TEXT_TYPES = new Set(["char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"]);
const BINARY_TYPES = new Set(["binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"]);
const TIME_TYPES = new Set(["datetime", "timestamp", "date"]);
/** Server types whose text form (CAST AS CHAR) is what the client reads, read as text. */
const CAST_TEXT_TYPES = new Set(["time", "uuid", "inet4", "inet6"]);

/**
 * The logical type a native column is read as: the COMMENT's declaration if any, else by native type.
 * TINYINT(1) and BIT(1) are booleans, as BOOLEAN declares them.
 */
export function mysqlLogicalType(col: MysqlColumn): ColumnType {
  if (col.declared) return col.declared;
  const t = col.dataType;
  if (col.json || t === "json") return "json";
  if (t === "tinyint" && col.columnType.startsWith("tinyint(1)")) return "boolean";
  if (t === "bit") return col.columnType === "bit(1)" ? "boolean" : "integer";
  if (INTEGER_TYPES.has(t)) return "integer";
  if (t === "decimal" || t === "numeric") return "decimal";
  if (t === "float" || t === "double" || t === "real") return "float";
  if (TIME_TYPES.has(t)) return "timestamp";
  if (BINARY_TYPES.has(t)) return "bytes";
  return "text";
}

/** True when text in the column compares and sorts exactly by code point (NO PAD binary), so its index serves key order. */
export function exactTextOrder(col: MysqlColumn): boolean {
  if (isBinaryString(col)) return true;
  const c = col.collation ?? "";
  // utf8mb4_bin is PAD SPACE ('a' = 'a ', and 'a\t' < 'a'): not code-point order. MariaDB's *_nopad_bin and
  // MySQL 8's utf8mb4_0900_bin are.
  return isUtf8(col) && (c.endsWith("_nopad_bin") || c.endsWith("_0900_bin"));
}

function isUtf8(col: MysqlColumn): boolean {
  return col.charset === "utf8mb4" || col.charset === "utf8mb3" || col.charset === "utf8";
}

function isBinaryString(col: MysqlColumn): boolean {
  return BINARY_TYPES.has(col.dataType);
}

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
export function canonicalSql(type: ColumnType, col: MysqlColumn, ref: string): string | null {
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
      if (BINARY_TYPES.has(t)) return `LOWER(HEX(${ref}))`;
      return null;
    case "float":
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
      if (NON_FINITE.has(v) && ["float", "double", "real"].includes(col.dataType)) {
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
      return BINARY_TYPES.has(col.dataType) ? `X'${v}'` : stringLiteral(v);
    default:
      return stringLiteral(v);
  }
}
