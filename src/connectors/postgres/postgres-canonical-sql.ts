/** SQL expressions that build Concord's canonical encoding of PostgreSQL values inside a query. Builds text only: no I/O. */
import type { ColumnType } from "../../core/canonical.js";
import { numberArrayElement, numericArraySql } from "./postgres-array-text.js";
import type { PgColumn } from "./postgres-column-types.js";
import { postgresCanonicalJsonSql } from "./postgres-json-sql.js";

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
 * The canonical year text (see `formatYear` in core/canonical-time.ts) of PostgreSQL's year `pgYear` (an
 * integer expression without a year 0: -1 is 1 BC): astronomical (1 BC is 0, 44 BC is -43), four digits for
 * 0–9999, otherwise a sign and six digits.
 */
function canonicalYearSql(pgYear: string): string {
  const y = `(CASE WHEN ${pgYear} < 0 THEN ${pgYear} + 1 ELSE ${pgYear} END)`;
  // lpad cuts text longer than its width: a seven-digit year (dates reach 5874897) keeps its digits.
  const six = (v: string) => `lpad(${v}::text, greatest(6, length(${v}::text)), '0')`;
  return (
    `(CASE WHEN ${y} < 0 THEN '-' || ${six(`(-${y})`)} ` +
    `WHEN ${y} > 9999 THEN '+' || ${six(y)} ELSE lpad(${y}::text, 4, '0') END)`
  );
}

/**
 * The canonical timestamp text of a timestamp-without-time-zone expression read as UTC: to_char for years
 * 1–9999 (the common case, one range test), the text `infinity` / `-infinity` for the infinities, and the
 * expanded astronomical year otherwise (1 BC and earlier, 10000 AD and later).
 */
function canonicalTimestampSql(ts: string): string {
  return (
    `CASE WHEN ${ts} >= '0001-01-01' AND ${ts} < '10000-01-01' THEN to_char(${ts}, ${UTC_MICROS}) ` +
    `WHEN NOT isfinite(${ts}) THEN (${ts})::text ` +
    `ELSE ${canonicalYearSql(`extract(year FROM ${ts})::int8`)} || to_char(${ts}, '-MM-DD"T"HH24:MI:SS.US"Z"') END`
  );
}

/**
 * The canonical timestamp text of a date (midnight UTC). Dates past the timestamp range (PostgreSQL's dates
 * reach 5874897 AD) are built from their fields, never through a timestamp.
 */
function canonicalDateSql(d: string): string {
  const field = (f: string) => `lpad(extract(${f} FROM ${d})::int8::text, 2, '0')`;
  return (
    `CASE WHEN ${d} >= '0001-01-01' AND ${d} < '10000-01-01' THEN to_char(${d}, 'YYYY-MM-DD"T00:00:00.000000Z"') ` +
    `WHEN NOT isfinite(${d}) THEN (${d})::text ` +
    `ELSE ${canonicalYearSql(`extract(year FROM ${d})::int8`)} || '-' || ${field("month")} || '-' || ${field("day")} || 'T00:00:00.000000Z' END`
  );
}

/** The canonical time text ("HH:MM:SS.ffffff", 24:00:00 included) of a `time` expression. */
function canonicalTimeSql(t: string): string {
  return `to_char((${t})::interval, 'HH24:MI:SS.US')`;
}

/**
 * A text expression whose value the engine canonicalises (RowCodec) after reading it: chosen so that
 * no session setting (TimeZone, DateStyle, bytea_output) changes it. Floats depend on
 * `extra_float_digits`, which the connector sets to 1 (shortest round-trip) for shapes that read them.
 * Timestamps, dates and times are read in their canonical form. A `real` compared as a double (`type` float:
 * beside a double precision column elsewhere) is read as the double it holds exactly (`0.3333333432674408`,
 * not its shortest single text `0.33333334`, which is another double); so is one compared as a decimal.
 */
export function rawSql(ref: string, column: PgColumn, type?: ColumnType): string {
  switch (column.baseType) {
    case "float4":
      // Beside a double or an exact number, the single as the double it is: its shortest single text (0.1)
      // would equal a decimal the single does not hold (it is 0.10000000149011612).
      return type === "float" || type === "decimal" || type === "integer"
        ? `(${ref})::float8::text`
        : `(${ref})::text`;
    case "timestamptz":
      return canonicalTimestampSql(`(${ref} AT TIME ZONE 'UTC')`);
    case "timestamp":
      return canonicalTimestampSql(ref);
    case "date":
      return canonicalDateSql(ref);
    case "time":
      return canonicalTimeSql(ref);
    case "bytea":
      return `encode(${ref}, 'hex')`;
    case "money":
      return `(${ref})::numeric::text`;
    case "_numeric":
      return numericArraySql(ref);
    case "_float4":
      return `(${ref})::float8[]::text`;
    case "inet":
      // inet's output, as its clients read it: `::text` adds the mask even to a host (`10.0.0.1/32`). format()
      // turns NULL into '', which no inet prints: nullif gives NULL back (a NULL inet read as '' equalled '').
      return `nullif(format('%s', ${ref}), '')`;
    default:
      return `(${ref})::text`;
  }
}

/**
 * A text expression equal to `canonicalValue(type, raw)` for every value of the column, computed by
 * PostgreSQL; undefined when PostgreSQL cannot build exactly that text for every value:
 * - float: PostgreSQL's shortest output differs from ECMAScript's `String(number)` for some doubles of
 *   magnitude ≥ 2^53 (it prints all digits of the integer), not only in exponent notation; float32 alike
 *   (16777216 prints as 1.6777216e+07);
 * - json (the text type, not jsonb): its text may hold what jsonb cannot (`\u0000`, lone surrogates,
 *   exponents past numeric's range), so it cannot be cast to jsonb for `postgresCanonicalJsonSql` without
 *   failing the whole query on such a row; jsonb is canonicalised in SQL;
 * - conversions the engine performs by parsing (text read as timestamp, json or bytes; integers read as
 *   booleans; numerics read as integers).
 * Such columns are fingerprinted in the engine instead.
 */
export function postgresCanonicalSql(ref: string, column: PgColumn, type: ColumnType): string | undefined {
  const base = column.baseType;
  // canonicalText of the raw text is the text itself, whatever the native type; a float array's elements are
  // laid out by the engine (`canonicalFloatArray`).
  if (type === "text") return numberArrayElement(base) === "float" ? undefined : rawSql(ref, column);
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
    case "timestamp":
    case "date":
      return type === "timestamp" ? rawSql(ref, column) : undefined;
    case "time":
      return type === "time" ? rawSql(ref, column) : undefined;
    case "bytea":
      return type === "bytes" ? `encode(${ref}, 'hex')` : undefined;
    case "jsonb":
      return type === "json" ? postgresCanonicalJsonSql(ref) : undefined;
    default:
      return undefined;
  }
}

/** Why `postgresCanonicalSql` has no expression for a column read as `type` (for pushdown notes). */
export function clientSideReason(column: PgColumn, type: ColumnType): string {
  if (type === "float" || type === "float32")
    return `${type}: PostgreSQL's shortest float text differs from ECMAScript's for some values`;
  if (numberArrayElement(column.baseType) === "float")
    return `${column.nativeType}: PostgreSQL's shortest float text differs from ECMAScript's for some elements`;
  if (type === "json" && column.baseType === "json")
    return "json: its text may hold what jsonb cannot (\\u0000, lone surrogates), so the engine canonicalises it (jsonb is canonicalised in SQL)";
  return `${column.nativeType} read as ${type} is converted by the engine`;
}

/**
 * The canonical row encoding (`encodeRow`) in SQL: each value escaped (`\` → `\\`, `|` → `\|`), null
 * as `\N`, joined with `|`. Values that cannot contain either character (digits, timestamps, hex) skip
 * the escaping; keys are never null. Text is escaped under COLLATE "C": replace() refuses to run under a
 * nondeterministic collation, and the encoding is of bytes anyway.
 */
export function encodeRowSql(
  parts: readonly { readonly expr: string; readonly type: ColumnType; readonly key: boolean }[],
): string {
  return parts
    .map((p) => {
      const escaped =
        p.type === "text" || p.type === "json"
          ? `replace(replace((${p.expr}) COLLATE "C", E'\\\\', E'\\\\\\\\'), '|', E'\\\\|')`
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
      return `CAST(${value} AS date)`;
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
