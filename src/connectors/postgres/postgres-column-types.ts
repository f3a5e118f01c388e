/** PostgreSQL native types → Concord's logical types, and what `describe` says of each column. Builds values only: no I/O. */
import type { ColumnType } from "../../core/canonical.js";
import type { ColumnInfo } from "../connector.js";

/** A column as the PostgreSQL catalog declares it, with what the connector needs to build SQL for it. */
export interface PgColumn {
  readonly name: string;
  /** The logical type `describe()` reports. */
  readonly type: ColumnType;
  /** `format_type()` of the declared type ("numeric(10,2)", "timestamp with time zone"): for messages and casts. */
  readonly nativeType: string;
  /** `typname` of the type, or of a domain's base type ("int8", "timestamptz", "varchar"). */
  readonly baseType: string;
  /** True when the column sorts text in binary (code point) order: collation C, POSIX or ucs_basic. */
  readonly binaryCollation: boolean;
  /** The column's collation name ("default", "C", "en_US"), or "" for types without one. */
  readonly collation: string;
  /**
   * False for a nondeterministic collation (ICU `deterministic = false`: case- or accent-insensitive), under
   * which `=` is not byte equality and substring functions such as replace() refuse to run.
   */
  readonly deterministic: boolean;
  /** NOT NULL is declared (a primary key's columns always are). */
  readonly notNull: boolean;
  /** The type modifier (`timestamp(3)`: 3), or -1 for none. */
  readonly typmod: number;
  /**
   * A generated column (`GENERATED ALWAYS AS (…) STORED`): PostgreSQL computes it and refuses any other
   * value, so writes leave it out and check what it computed (`postgres-conditional-writes.ts`).
   */
  readonly generated: boolean;
  /** `GENERATED ALWAYS AS IDENTITY`: an insert names its value only with `OVERRIDING SYSTEM VALUE`. */
  readonly identityAlways: boolean;
}

const LOGICAL: Readonly<Record<string, ColumnType>> = {
  int2: "integer",
  int4: "integer",
  int8: "integer",
  numeric: "decimal",
  money: "decimal",
  float4: "float32",
  float8: "float",
  bool: "boolean",
  timestamptz: "timestamp",
  timestamp: "timestamp",
  date: "timestamp",
  time: "time",
  json: "json",
  jsonb: "json",
  bytea: "bytes",
};

/** The logical type of a PostgreSQL base type name (`typname`). Anything not listed is read as text. */
export function postgresLogicalType(baseType: string): ColumnType {
  return LOGICAL[baseType] ?? "text";
}

/** Types whose values sort like their text in code point order under a binary collation. */
export const TEXT_BASE_TYPES: ReadonlySet<string> = new Set(["text", "varchar", "name"]);

const BINARY = new Set(["C", "POSIX", "ucs_basic"]);

/**
 * A PgColumn from one row of the describe query: [name, native, base, collation, database collation,
 * not null ("t"/"f"), type modifier, deterministic collation ("true"/"false"; absent: true)].
 */
export function pgColumnOf(row: readonly (string | null)[]): PgColumn {
  const [
    name,
    nativeType,
    baseType,
    collation,
    dbCollation,
    notNull,
    typmod,
    deterministic,
    generated,
    identity,
  ] = row as string[];
  const effective = collation === "default" ? dbCollation : collation;
  return {
    name: name!,
    type: postgresLogicalType(baseType!),
    nativeType: nativeType!,
    baseType: baseType!,
    collation: collation ?? "",
    binaryCollation: BINARY.has(effective ?? ""),
    deterministic: deterministic !== "false",
    notNull: notNull === "t" || notNull === "true",
    typmod: typmod === undefined || typmod === null ? -1 : Number(typmod),
    generated: generated === "s",
    identityAlways: identity === "a",
  };
}

/**
 * What `describe` reports of a column. Every number type PostgreSQL has but real and double precision is
 * exact (numeric, money and the integers); timestamps and times keep the digits their modifier says, six
 * without one; dates keep no time of day.
 */
export function postgresColumnInfo(col: PgColumn): ColumnInfo {
  const timestamp = col.baseType === "timestamptz" || col.baseType === "timestamp" || col.baseType === "time";
  return {
    name: col.name,
    type: col.type,
    nativeType: col.nativeType,
    ...(timestamp ? { fractionalDigits: col.typmod >= 0 ? col.typmod : 6 } : {}),
    ...(GEOMETRIC_TYPES.has(col.baseType) ? { spatial: "text" as const } : {}),
  };
}

/** PostgreSQL's geometric types (`typname`), compared by their text: `(1,2)`, `<(0,0),1>`. */
const GEOMETRIC_TYPES: ReadonlySet<string> = new Set([
  "point",
  "line",
  "lseg",
  "box",
  "path",
  "polygon",
  "circle",
]);
