/** SQL expressions that build Concord's canonical encoding of PostgreSQL values inside a query. Builds text only: no I/O. */
import type { ColumnType } from "../../core/canonical.js";
import type { PgColumn } from "./postgres-column-types.js";

/** Quotes one SQL identifier (a column name may contain dots). */
export function quoteName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a table name, allowing `schema.table`. */
export function quotePostgresTable(name: string): string {
  return name.split(".").map(quoteName).join(".");
}

const UTC_MICROS = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/**
 * A text expression whose value the engine canonicalises (RowCodec) after reading it: chosen so that
 * no session setting (TimeZone, DateStyle, bytea_output) changes it. Floats depend on
 * `extra_float_digits`, which the connector sets to 1 (shortest round-trip) for shapes that read them.
 */
export function rawSql(ref: string, column: PgColumn): string {
  switch (column.baseType) {
    case "timestamptz":
      return `to_char(${ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`;
    case "timestamp":
      return `to_char(${ref}, 'YYYY-MM-DD HH24:MI:SS.US')`;
    case "date":
      return `to_char((${ref})::timestamp, 'YYYY-MM-DD')`;
    case "bytea":
      return `encode(${ref}, 'hex')`;
    case "money":
      return `(${ref})::numeric::text`;
    default:
      return `(${ref})::text`;
  }
}

/**
 * A text expression equal to `canonicalValue(type, raw)` for every value of the column, computed by
 * PostgreSQL; undefined when PostgreSQL cannot build exactly that text for every value:
 * - float: PostgreSQL's shortest output differs from ECMAScript's `String(number)` for some doubles of
 *   magnitude ≥ 2^53 (it prints all digits of the integer), not only in exponent notation;
 * - json: canonical JSON (keys sorted by UTF-16 code units, ECMAScript number formatting) has no SQL form;
 * - conversions the engine performs by parsing (text read as timestamp, json or bytes; integers read as
 *   booleans; numerics read as integers).
 * Such columns are fingerprinted in the engine instead.
 */
export function postgresCanonicalSql(ref: string, column: PgColumn, type: ColumnType): string | undefined {
  const base = column.baseType;
  // canonicalText of the raw text is the text itself, whatever the native type.
  if (type === "text") return rawSql(ref, column);
  switch (base) {
    case "int2":
    case "int4":
    case "int8":
      return type === "integer" || type === "decimal" ? `(${ref})::text` : undefined;
    case "numeric":
      return type === "decimal" ? `trim_scale(${ref})::text` : undefined;
    case "money":
      return type === "decimal" ? `trim_scale((${ref})::numeric)::text` : undefined;
    case "bool":
      return type === "boolean" ? `CASE ${ref} WHEN true THEN 't' WHEN false THEN 'f' END` : undefined;
    case "timestamptz":
      return type === "timestamp" ? `to_char(${ref} AT TIME ZONE 'UTC', ${UTC_MICROS})` : undefined;
    case "timestamp":
      return type === "timestamp" ? `to_char(${ref}, ${UTC_MICROS})` : undefined;
    case "date":
      return type === "timestamp"
        ? `to_char((${ref})::timestamp, 'YYYY-MM-DD"T00:00:00.000000Z"')`
        : undefined;
    case "bytea":
      return type === "bytes" ? `encode(${ref}, 'hex')` : undefined;
    default:
      return undefined;
  }
}

/** Why `postgresCanonicalSql` has no expression for a column read as `type` (for pushdown notes). */
export function clientSideReason(column: PgColumn, type: ColumnType): string {
  if (type === "float")
    return "float: PostgreSQL's shortest float text differs from ECMAScript's for some values";
  if (type === "json")
    return "json: canonical JSON (sorted keys, ECMAScript numbers) is not expressible in SQL";
  return `${column.nativeType} read as ${type} is converted by the engine`;
}

/**
 * The canonical row encoding (`encodeRow`) in SQL: each value escaped (`\` → `\\`, `|` → `\|`), null
 * as `\N`, joined with `|`. Values that cannot contain either character (digits, timestamps, hex) skip
 * the escaping; keys are never null.
 */
export function encodeRowSql(
  parts: readonly { readonly expr: string; readonly type: ColumnType; readonly key: boolean }[],
): string {
  return parts
    .map((p) => {
      const escaped =
        p.type === "text" || p.type === "json"
          ? `replace(replace(${p.expr}, E'\\\\', E'\\\\\\\\'), '|', E'\\\\|')`
          : p.expr;
      return p.key ? escaped : `coalesce(${escaped}, E'\\\\N')`;
    })
    .join(` || '|' || `);
}

/** An expression converting canonical text `value` into the column's native type, for writes. */
export function nativeSql(value: string, column: PgColumn): string {
  switch (column.baseType) {
    case "bytea":
      return `decode(${value}, 'hex')`;
    case "timestamp":
      return `(${value}::timestamptz AT TIME ZONE 'UTC')`;
    case "date":
      return `(${value}::timestamptz AT TIME ZONE 'UTC')::date`;
    case "money":
      return `${value}::numeric::money`;
    case "varchar":
    case "bpchar":
      // Text assigned to a length-limited column: an explicit CAST would silently cut a value that does not
      // fit, the assignment refuses it ("value too long"), so the row fails instead of being damaged.
      return `CAST(${value} AS text)`;
    case "bit":
    case "varbit":
      return `CAST(${value} AS varbit)`;
    default:
      return `CAST(${value} AS ${column.nativeType})`;
  }
}
