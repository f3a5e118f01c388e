/** MariaDB/MySQL SQL expressions for canonical text, binary-safe key order, and literals. Builds text only: no I/O. */
import type { ColumnType } from "../../core/canonical.js";
import { ConnectorError } from "../connector.js";
import {
  BINARY_TYPES,
  CAST_TEXT_TYPES,
  exactTextOrder,
  GEOMETRY_TYPES,
  INTEGER_TYPES,
  isBinaryString,
  isUtf8,
  type MysqlColumn,
  TEXT_TYPES,
} from "./mysql-column-types.js";
import { mariadbInet6CanonicalSql } from "./mysql-inet-text.js";
import { mariadbCanonicalJsonSql } from "./mysql-json-sql.js";

/** Text of a column as UTF-8 bytes: binary strings keep MD5 and CONCAT free of charset and collation rules. */
function utf8Bytes(col: MysqlColumn, ref: string): string {
  if (isBinaryString(col)) return ref;
  return isUtf8(col) ? `CAST(${ref} AS BINARY)` : `CAST(CONVERT(${ref} USING utf8mb4) AS BINARY)`;
}

/** A key column's expression for comparisons and ORDER BY: binary-safe, and the bare column when its index already is. */
export function keyOrderSql(type: ColumnType, col: MysqlColumn, ref: string): string {
  // An INET6 key in the order (and with the text) of its canonical address, as its values are read.
  if (type === "text" && col.dataType === "inet6") return `CAST(${mariadbInet6CanonicalSql(ref)} AS BINARY)`;
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
 * - JSON: MariaDB's JSON (LONGTEXT with a json_valid check) by `mariadbCanonicalJsonSql` when `jsonInSql`
 *   (MariaDB ≥ 10.7, which has JSON_NORMALIZE): its UTF-8 bytes, or for a document SQL cannot canonicalise
 *   exactly a text no canonical text equals. MySQL 8's JSON type is left to the engine.
 * - TIME: its text with the fraction padded to six digits ("-838:59:59" → "-838:59:59.000000").
 * - INET6: its canonical address text (`mariadbInet6CanonicalSql`), as the engine reads it.
 */
export function mysqlCanonicalSql(
  type: ColumnType,
  col: MysqlColumn,
  ref: string,
  jsonInSql = false,
): string | null {
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
      if (t === "inet6") return mariadbInet6CanonicalSql(ref);
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
    case "json":
      return jsonInSql && col.json && TEXT_TYPES.has(t) && isUtf8(col) ? mariadbCanonicalJsonSql(ref) : null;
    case "float":
    case "float32":
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
  // A bytes key part is its lowercase hex; a binary string compares as its bytes (memcmp), as the hex does.
  if (type === "bytes") return `X'${v}'`;
  if (exactTextOrder(col) && !isBinaryString(col)) {
    return `${stringLiteral(v)} COLLATE ${col.collation}`;
  }
  return `CAST(${stringLiteral(v)} AS BINARY)`;
}
