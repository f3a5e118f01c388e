/** MariaDB/MySQL native column types: their logical types, and what `describe` says of each column. No I/O. */
import type { ColumnType } from "../../core/canonical.js";
import type { ColumnInfo } from "../connector.js";

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
  /** An ENUM's or SET's members, in their declared case and order (COLUMN_TYPE above is lower case). */
  readonly members?: readonly string[];
  /**
   * A generated column (`AS (…) VIRTUAL|STORED`, EXTRA `… GENERATED`): the server computes it and refuses any
   * value written to it, so writes leave it out and check what it computed (`mysql-conditional-writes.ts`).
   */
  readonly generated?: boolean;
}

const DECLARED_RE = /\bconcord:(integer|decimal|float32|float|boolean|text|timestamp|time|json|bytes)\b/;

/**
 * The logical type a column COMMENT declares, if any. For values the native type cannot hold, e.g.
 * ±Infinity, which DOUBLE rejects: keep such a column as VARCHAR with COMMENT 'concord:float'.
 */
export function declaredType(comment: string | null): ColumnType | null {
  const m = comment ? DECLARED_RE.exec(comment) : null;
  return m ? (m[1] as ColumnType) : null;
}

export const INTEGER_TYPES: ReadonlySet<string> = new Set([
  "tinyint",
  "smallint",
  "mediumint",
  "int",
  "integer",
  "bigint",
  "year",
]);
export const TEXT_TYPES: ReadonlySet<string> = new Set([
  "char",
  "varchar",
  "tinytext",
  "text",
  "mediumtext",
  "longtext",
  "enum",
  "set",
]);
export const BINARY_TYPES: ReadonlySet<string> = new Set([
  "binary",
  "varbinary",
  "tinyblob",
  "blob",
  "mediumblob",
  "longblob",
]);
/**
 * Spatial types. Read as bytes: the value as the server stores it (a 4-byte SRID, then WKB), which the
 * server also accepts back as a literal, so a record reads and writes exactly.
 */
export const GEOMETRY_TYPES: ReadonlySet<string> = new Set([
  "geometry",
  "point",
  "linestring",
  "polygon",
  "multipoint",
  "multilinestring",
  "multipolygon",
  "geometrycollection",
  "geomcollection",
]);
export const TIME_TYPES: ReadonlySet<string> = new Set(["datetime", "timestamp", "date"]);
export const FLOAT_TYPES: ReadonlySet<string> = new Set(["float", "double", "real"]);
/** Server types whose text form (CAST AS CHAR) is what the client reads, read as text. */
export const CAST_TEXT_TYPES: ReadonlySet<string> = new Set(["time", "uuid", "inet4", "inet6"]);
/** MariaDB/MySQL TIME: a signed duration of at most 838:59:59.999999 hours. */
export const TIME_LIMIT_MICROS = ((838n * 60n + 59n) * 60n + 59n) * 1_000_000n + 999_999n;

/**
 * The logical type a native column is read as: the COMMENT's declaration if any, else by native type.
 * TINYINT(1) and BIT(1) are booleans, as BOOLEAN declares them; FLOAT (4 bytes, whatever its declared
 * precision or digits) is float32, DOUBLE float; TIME is time.
 */
export function mysqlLogicalType(col: MysqlColumn): ColumnType {
  if (col.declared) return col.declared;
  const t = col.dataType;
  if (col.json || t === "json") return "json";
  if (t === "tinyint" && col.columnType.startsWith("tinyint(1)")) return "boolean";
  if (t === "bit") return col.columnType === "bit(1)" ? "boolean" : "integer";
  if (INTEGER_TYPES.has(t)) return "integer";
  if (t === "decimal" || t === "numeric") return "decimal";
  if (t === "float") return "float32";
  if (FLOAT_TYPES.has(t)) return "float";
  if (TIME_TYPES.has(t)) return "timestamp";
  if (t === "time") return "time";
  if (BINARY_TYPES.has(t) || GEOMETRY_TYPES.has(t)) return "bytes";
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

export function isUtf8(col: MysqlColumn): boolean {
  return col.charset === "utf8mb4" || col.charset === "utf8mb3" || col.charset === "utf8";
}

export function isBinaryString(col: MysqlColumn): boolean {
  return BINARY_TYPES.has(col.dataType);
}

/**
 * What `describe` reports of a column: FLOAT/DOUBLE keep numbers as floating point whatever they are read as,
 * and so does MySQL 8's JSON type for the numbers in a document; text in any collation but a NO PAD binary one
 * equates some distinct texts (utf8mb4_general_ci: 'a' = 'A'; utf8mb4_bin: 'a' = 'a ');
 * DATETIME and TIMESTAMP keep their declared fractional digits (none when bare); dates keep no time of day.
 */
export function mysqlColumnInfo(col: MysqlColumn): ColumnInfo {
  const type = mysqlLogicalType(col);
  const moment = type === "timestamp" && (col.dataType === "datetime" || col.dataType === "timestamp");
  return {
    name: col.name,
    type,
    nativeType: col.json ? "json" : col.columnType,
    ...(FLOAT_TYPES.has(col.dataType) && (type === "integer" || type === "decimal")
      ? { exactNumber: false }
      : {}),
    // MySQL 8's JSON type keeps numbers as 64-bit integers and doubles; MariaDB's JSON is text.
    ...(type === "json" && col.dataType === "json" ? { exactNumber: false } : {}),
    ...(moment ? { fractionalDigits: col.fsp ?? 0 } : {}),
    ...(TEXT_TYPES.has(col.dataType) && col.collation && !exactTextOrder(col)
      ? { lenientCollation: col.collation }
      : {}),
    ...(GEOMETRY_TYPES.has(col.dataType) ? { spatial: "wkb" as const } : {}),
  };
}
