/** Reads a PostgreSQL relation's columns, indexes and unique keys from the catalog. Reads only. */
import type { TableDescription } from "../connector.js";
import type { UniqueIndex } from "../unique-key.js";
import { type PgColumn, pgColumnOf, postgresColumnInfo } from "./postgres-column-types.js";
import type { RunQuery } from "./postgres-session.js";

/**
 * One row per column of the relation named by $1 (a quoted, possibly schema-qualified name), in column
 * order; no rows when it does not exist. A domain is described by its base type (and its modifier).
 * `generated` is 's' for a stored generated column; `identity` is 'a' for GENERATED ALWAYS AS IDENTITY.
 */
const DESCRIBE_SQL = `SELECT a.attname AS name,
  format_type(a.atttypid, a.atttypmod) AS native,
  coalesce(bt.typname, t.typname)::text AS base,
  coalesce(co.collname, '')::text AS collation,
  (SELECT datcollate FROM pg_catalog.pg_database WHERE datname = current_database())::text AS db_collation,
  a.attnotnull::text AS not_null,
  (CASE WHEN a.atttypmod >= 0 THEN a.atttypmod ELSE t.typtypmod END)::text AS typmod,
  coalesce(co.collisdeterministic, true)::text AS deterministic,
  a.attgenerated::text AS generated,
  a.attidentity::text AS identity
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`;

/**
 * One row per valid, non-partial btree index of the relation named by $1: the names, collation names ("" when
 * none) and whether NULLs come first ascending (`indoption`: bit 0 DESC, bit 1 NULLS FIRST) of its leading
 * plain columns, in index order (an expression column ends the list).
 */
const INDEXES_SQL = `SELECT array_agg(a.attname::text ORDER BY k.ord) AS names,
  array_agg(coalesce(co.collname::text, '') ORDER BY k.ord) AS collations,
  array_agg(((i.indoption::int2[])[k.ord - 1] & 3) IN (1, 2) ORDER BY k.ord)::text[] AS nulls_first
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indcollation::oid[]) WITH ORDINALITY AS k(attnum, coll, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
LEFT JOIN pg_catalog.pg_collation co ON co.oid = k.coll
WHERE i.indrelid = to_regclass($1) AND i.indisvalid AND i.indpred IS NULL
  AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS e(attnum, ord) WHERE e.attnum = 0 AND e.ord <= k.ord)
GROUP BY i.indexrelid`;

/**
 * One row per valid, non-partial unique index (primary key included) of the relation named by $1 whose key
 * columns are all plain columns: its name, those columns (INCLUDE columns are not part of uniqueness), and
 * whether it lets NULLs repeat (`indnullsnotdistinct` exists from PostgreSQL 15; read through jsonb so the
 * statement runs on older servers).
 */
const UNIQUE_SQL = `SELECT ic.relname::text AS name,
  array_agg(a.attname::text ORDER BY k.ord) AS names,
  (coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) = false)::text AS nulls_distinct
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
  AND k.ord <= i.indnkeyatts
GROUP BY i.indexrelid, ic.relname, i.indisprimary
HAVING bool_and(k.attnum <> 0)
ORDER BY i.indisprimary DESC, ic.relname`;

/**
 * The relation named by $1: its `relkind` (r table, p partitioned, m materialized view, v, f, …), its catalog
 * stamp and the planner's row estimate (`reltuples`: -1 or 0 when never analyzed). The stamp names the
 * versions of the catalog rows a description is read from: the relation's `pg_class` row, its columns'
 * `pg_attribute` rows and its indexes' `pg_index` rows, by their `xmin`. Any DDL that changes what `describe`
 * reports (a column added, dropped, renamed, retyped, made (not) nullable; an index created or dropped; the
 * table dropped and created again) writes a new version of one of them, so the stamp changes; ANALYZE and
 * VACUUM update `pg_class` in place and leave it as it is.
 */
const stampSql = (extra: readonly string[]) => `SELECT c.relkind::text,
  concat_ws(';', c.oid::text, c.xmin::text,
    (SELECT string_agg(a.attnum::text || '.' || a.xmin::text, ',' ORDER BY a.attnum)
       FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0),
    (SELECT string_agg(i.indexrelid::text || '.' || i.xmin::text, ',' ORDER BY i.indexrelid)
       FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid)),
  c.reltuples::bigint::text${extra.map((e) => `,\n  ${e}`).join("")}
FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)`;

/** What `readPostgresTableStamp` reads: the relation's kind, catalog stamp and row estimate (see stampSql). */
export interface PgTableStamp {
  readonly kind: string;
  readonly stamp: string;
  /** `pg_class.reltuples`: negative (or 0) when the table was never analyzed. */
  readonly estimate: number;
  /** The values of the `extra` expressions asked for with the stamp, in their order. */
  readonly extra: readonly (string | null)[];
}

/**
 * Reads the catalog stamp of `table` (quoted) in one statement, with `extra` scalar expressions (without
 * parameters) the caller wants read in the same round trip; undefined when the relation does not exist.
 */
export async function readPostgresTableStamp(
  run: RunQuery,
  table: string,
  extra: readonly string[] = [],
): Promise<PgTableStamp | undefined> {
  const row = (await run(stampSql(extra), [table], true))[0];
  return row
    ? { kind: String(row[0]), stamp: String(row[1]), estimate: Number(row[2]), extra: row.slice(3) }
    : undefined;
}

/** Relation kinds whose unique indexes the catalog lists; views and foreign tables have none. */
const INDEXED_KINDS = new Set(["r", "p", "m"]);

/**
 * The leading plain columns of a btree index, their collations, and whether a forward or backward scan of
 * the column gives NULLs first in ascending order (`ASC NULLS FIRST` or `DESC NULLS LAST`).
 */
export interface PgIndex {
  readonly columns: readonly {
    readonly name: string;
    readonly collation: string;
    readonly nullsFirst?: boolean;
  }[];
}

/** What the catalog says of one relation. */
export interface PgTableMeta {
  readonly columns: ReadonlyMap<string, PgColumn>;
  /** Btree indexes, for which key orders they serve. */
  readonly indexes: readonly PgIndex[];
  /**
   * Its unique indexes (primary key first), or null when the relation can have none (a view, a foreign
   * table): then only its rows can tell whether a key is unique.
   */
  readonly unique: readonly UniqueIndex[] | null;
  readonly description: TableDescription;
  /** The catalog stamp read before the description (see stampSql): a describe under another one is stale. */
  readonly stamp: string;
}

/** Reads the relation `table` (quoted). Throws when it does not exist. */
export async function readPostgresTableMeta(run: RunQuery, table: string): Promise<PgTableMeta> {
  // The stamp first: a change made while the rest is read changes the stamp the next check reads.
  const stamped = await readPostgresTableStamp(run, table);
  const rows = await run(DESCRIBE_SQL, [table]);
  if (rows.length === 0) throw new Error(`table ${table} does not exist`);
  const cols = rows.map((r) => pgColumnOf(r));
  const indexes = (await run(INDEXES_SQL, [table])).map((r) => {
    const [names, collations, nullsFirst] = r as unknown as [string[], string[], string[]];
    return {
      columns: names.map((name, i) => ({
        name,
        collation: collations[i] ?? "",
        nullsFirst: nullsFirst[i] === "true",
      })),
    };
  });
  const kind = stamped?.kind ?? "";
  const unique = INDEXED_KINDS.has(kind)
    ? (await run(UNIQUE_SQL, [table])).map((r) => {
        const [name, names, nullsDistinct] = r as unknown as [string, string[], string];
        return { name, columns: names, nullsDistinct: nullsDistinct === "true" };
      })
    : null;
  return {
    columns: new Map(cols.map((c) => [c.name, c])),
    indexes,
    unique,
    description: { columns: cols.map(postgresColumnInfo), store: "PostgreSQL" },
    stamp: stamped?.stamp ?? "",
  };
}
