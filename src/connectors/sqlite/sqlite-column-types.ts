/** SQLite declared types → Concord's logical types, native values for writes, and timestamp styles. No I/O. */
import { type CanonicalValue, type ColumnType, timestampMicros } from "../../core/canonical.js";
import { float32AsDouble } from "../../core/canonical-float32.js";
import type { ColumnInfo } from "../connector.js";

/**
 * Type names of PostgreSQL and MariaDB a schema copied into SQLite keeps, whose values the words SQLite's rule
 * (and the rules below) find in them do not say: arrays (`INTEGER[]`, `BOOLEAN[]`), intervals, points and
 * ranges (`INT4RANGE`) hold text although "INT" is in them, `TIME WITH TIME ZONE` holds text with an offset,
 * no time of day; `SERIAL`s, `YEAR` and `BIT(n)` (MariaDB's, an unsigned integer; SQLite's NUMERIC affinity
 * makes PostgreSQL's bit strings numbers anyway) hold integers, `BYTEA` bytes.
 */
const COPIED_TYPES: readonly (readonly [RegExp, ColumnType])[] = [
  [/\[\]$/, "text"],
  [/INTERVAL|^POINT$|RANGE$|^TIME\b.*\bWITH TIME ZONE$/, "text"],
  [/^(SMALL|BIG)?SERIAL[248]?$|^YEAR$|^BIT(\(\s*\d+\s*\))?$/, "integer"],
  [/^BYTEA$/, "bytes"],
];

/** The logical type of a declared SQLite column type (declared types are free text in SQLite). */
export function sqliteLogicalType(declared: string): ColumnType {
  const t = declared.toUpperCase();
  const copied = COPIED_TYPES.find(([re]) => re.test(t.trim()));
  if (copied) return copied[1];
  if (t.includes("BOOL")) return "boolean";
  if (t.includes("TIMESTAMP") || t.includes("DATETIME") || t === "DATE") return "timestamp";
  if (/^TIME\b/.test(t)) return "time";
  if (t.includes("JSON")) return "json";
  if (t.includes("DEC") || t.includes("NUMERIC") || t.includes("MONEY")) return "decimal";
  if (t.includes("INT")) return "integer";
  if (t.includes("REAL") || t.includes("FLOA") || t.includes("DOUB")) return "float";
  if (t.includes("BLOB") || t.includes("BINARY")) return "bytes";
  return "text";
}

/** A column's type affinity, by SQLite's rules for its declared type (https://sqlite.org/datatype3.html). */
export type SqliteAffinity = "INTEGER" | "TEXT" | "BLOB" | "REAL" | "NUMERIC";

export function sqliteAffinity(declared: string): SqliteAffinity {
  const t = declared.toUpperCase();
  if (t.includes("INT")) return "INTEGER";
  if (t.includes("CHAR") || t.includes("CLOB") || t.includes("TEXT")) return "TEXT";
  if (t.includes("BLOB") || t === "") return "BLOB";
  if (t.includes("REAL") || t.includes("FLOA") || t.includes("DOUB")) return "REAL";
  return "NUMERIC";
}

/**
 * Why SQLite would store canonical value `v` as another value in a column declared `declared`, one line naming
 * the column, or undefined when it stores it as is: NaN (stored as NULL) and integers past 64 bits. What a
 * column's numeric affinity would make of a text is asked of SQLite (`affinityRefusal`).
 */
export function unstorable(
  column: string,
  declared: string,
  type: ColumnType,
  v: CanonicalValue,
): string | undefined {
  if (v === null) return undefined;
  const cannot = (why: string) => `column ${column} (${declared || "no type"}) cannot store ${v}: ${why}`;
  if ((type === "float" || type === "float32" || type === "decimal") && v === "NaN")
    return cannot("SQLite stores NaN as NULL");
  if (type === "integer" && (BigInt(v) < -(2n ** 63n) || BigInt(v) >= 2n ** 63n))
    return cannot("SQLite integers are 64-bit");
  return undefined;
}

/** The native SQLite value for a canonical value of a logical type. */
export function toSqlite(type: ColumnType, v: CanonicalValue): unknown {
  if (v === null) return null;
  switch (type) {
    case "integer":
      return BigInt(v);
    case "float":
      return Number(v);
    case "float32":
      // The double that is exactly the float32: a REAL column then holds the float32's value.
      return Number(float32AsDouble(v));
    case "boolean":
      return v === "t" ? 1n : 0n;
    case "decimal": {
      const n = Number(v);
      return String(n) === v ? n : v;
    }
    case "bytes":
      return Buffer.from(v, "hex");
    default:
      return v;
  }
}

/**
 * How a table stores timestamps, learned from a value already in the column, so that repairs write the
 * same format applications use (SQLite has no timestamp type: text in some layout, or epoch numbers).
 */
export type TimestampStyle =
  | { readonly kind: "epoch" }
  | {
      readonly kind: "text";
      readonly sep: " " | "T";
      readonly fraction: number;
      readonly zone: "" | "Z" | "+00:00";
    }
  | { readonly kind: "date" };

const CANONICAL_STYLE: TimestampStyle = { kind: "text", sep: "T", fraction: 6, zone: "Z" };

/** The style of a sample value (canonical when nothing tells). */
export function timestampStyleOf(sample: unknown): TimestampStyle {
  if (typeof sample === "number" || typeof sample === "bigint") return { kind: "epoch" };
  if (typeof sample !== "string") return CANONICAL_STYLE;
  if (/^\d{4}-\d{2}-\d{2}$/.test(sample)) return { kind: "date" };
  const m = /^\d{4}-\d{2}-\d{2}([ T])\d{2}:\d{2}:\d{2}(?:\.(\d+))?(Z|[+-]00:?00)?$/.exec(sample);
  if (!m) return CANONICAL_STYLE;
  return {
    kind: "text",
    sep: m[1] as " " | "T",
    fraction: m[2]?.length ?? 0,
    zone: m[3] === "Z" ? "Z" : m[3] ? "+00:00" : "",
  };
}

/** A canonical timestamp of a four-digit year, the form the styles lay out. */
const PLAIN_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * A canonical timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) in a style, without losing precision. What a style
 * cannot lay out exactly (years outside 0000–9999, the infinities, an epoch number a double would round) is
 * written as the canonical text itself, which SQLite keeps and Concord reads back as the same instant.
 */
export function formatTimestamp(canonical: string, style: TimestampStyle): unknown {
  if (!PLAIN_TIMESTAMP.test(canonical)) return canonical;
  const date = canonical.slice(0, 10);
  const time = canonical.slice(11, 19);
  const micros = canonical.slice(20, 26);
  const needed = micros.replace(/0+$/, "").length;
  if (style.kind === "epoch") {
    const exact = timestampMicros(canonical);
    const n = needed === 0 ? Number(exact / 1_000_000n) : Number(exact) / 1e6;
    return timestampMicros(n) === exact ? n : canonical;
  }
  if (style.kind === "date" && time === "00:00:00" && needed === 0) return date;
  const s = style.kind === "text" ? style : { sep: " " as const, fraction: 0, zone: "" as const };
  const digits = Math.max(s.fraction, needed);
  return `${date}${s.sep}${time}${digits > 0 ? `.${micros.slice(0, digits).padEnd(digits, "0")}` : ""}${s.zone}`;
}

/**
 * What `describe` reports of a column declared `declared`: SQLite's DECIMAL and NUMERIC (NUMERIC affinity)
 * keep fractions as 64-bit floats, so they are not exact; timestamps are text or epoch numbers of no fixed
 * precision.
 */
export function sqliteColumnInfo(name: string, declared: string): ColumnInfo {
  const type = sqliteLogicalType(declared);
  return {
    name,
    type,
    nativeType: declared || "ANY",
    ...(type === "decimal" ? { exactNumber: false } : {}),
    // PostgreSQL's point, whose text a copied schema's POINT column holds (COPIED_TYPES).
    ...(/^POINT$/i.test(declared.trim()) ? { spatial: "text" as const } : {}),
  };
}
