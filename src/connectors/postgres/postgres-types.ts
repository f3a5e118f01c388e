/** PostgreSQL native types → Concord's logical types, and the catalog query that describes a table. Builds text only: no I/O. */
import type { ColumnType } from "../../core/canonical.js";

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
}

const LOGICAL: Readonly<Record<string, ColumnType>> = {
  int2: "integer",
  int4: "integer",
  int8: "integer",
  numeric: "decimal",
  money: "decimal",
  float4: "float",
  float8: "float",
  bool: "boolean",
  timestamptz: "timestamp",
  timestamp: "timestamp",
  date: "timestamp",
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

/**
 * One row per column of the relation named by $1 (a quoted, possibly schema-qualified name), in column
 * order; no rows when it does not exist. A domain is described by its base type.
 */
export const DESCRIBE_SQL = `SELECT a.attname AS name,
  format_type(a.atttypid, a.atttypmod) AS native,
  coalesce(bt.typname, t.typname)::text AS base,
  coalesce(co.collname, '')::text AS collation,
  (SELECT datcollate FROM pg_catalog.pg_database WHERE datname = current_database())::text AS db_collation
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`;

/**
 * One row per valid, non-partial btree index of the relation named by $1: the names and collation
 * names ("" when none) of its leading plain columns, in index order (an expression column ends the list).
 */
export const INDEXES_SQL = `SELECT array_agg(a.attname::text ORDER BY k.ord) AS names,
  array_agg(coalesce(co.collname::text, '') ORDER BY k.ord) AS collations
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indcollation::oid[]) WITH ORDINALITY AS k(attnum, coll, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
LEFT JOIN pg_catalog.pg_collation co ON co.oid = k.coll
WHERE i.indrelid = to_regclass($1) AND i.indisvalid AND i.indpred IS NULL
  AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS e(attnum, ord) WHERE e.attnum = 0 AND e.ord <= k.ord)
GROUP BY i.indexrelid`;

/** The leading plain columns of a btree index and their collations. */
export interface PgIndex {
  readonly columns: readonly { readonly name: string; readonly collation: string }[];
}

const BINARY = new Set(["C", "POSIX", "ucs_basic"]);

/** A PgColumn from one row of DESCRIBE_SQL: [name, native, base, collation, database collation]. */
export function pgColumnOf(row: readonly string[]): PgColumn {
  const [name, nativeType, baseType, collation, dbCollation] = row as [
    string,
    string,
    string,
    string,
    string,
  ];
  const effective = collation === "default" ? dbCollation : collation;
  return {
    name,
    type: postgresLogicalType(baseType),
    nativeType,
    baseType,
    collation,
    binaryCollation: BINARY.has(effective),
  };
}
