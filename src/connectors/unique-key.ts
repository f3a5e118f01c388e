/** Whether a table's indexes keep a dataset's key unique: the rule every SQL connector applies, and its messages. Pure. */
import type { Key } from "../core/model.js";

/** A primary key or unique index of a table, as its catalog declares it. */
export interface UniqueIndex {
  /** The index's name, for messages. */
  readonly name: string;
  /** Its key columns, in index order; an index with an expression among them is not listed at all. */
  readonly columns: readonly string[];
  /**
   * True when the index lets rows whose columns hold NULL repeat (standard SQL, and SQLite's primary keys),
   * false when it keeps them unique too (PostgreSQL's NULLS NOT DISTINCT).
   */
  readonly nullsDistinct: boolean;
}

/** The index that keeps the key unique, and the key columns a NULL could still repeat in. */
export interface KeyUniqueness {
  readonly index: UniqueIndex;
  /**
   * Nullable key columns the index exempts when NULL: rows whose key holds NULL in them may repeat a key,
   * which the connector checks (`duplicateNullKeyMessage`) before it reads, and again before it writes one.
   */
  readonly nullable: readonly string[];
}

/**
 * The unique index (primary key included) that keeps `key` unique: one whose columns are all key columns
 * (unique on some of them, the key is unique too). Prefers an index that needs no check for NULLs; undefined
 * when none qualifies. Partial, invalid and expression indexes must not be passed in: they keep nothing
 * unique over the whole table.
 */
export function keyUniqueness(
  key: readonly string[],
  indexes: readonly UniqueIndex[],
  notNull: (column: string) => boolean,
): KeyUniqueness | undefined {
  let best: KeyUniqueness | undefined;
  for (const index of indexes) {
    if (index.columns.length === 0 || !index.columns.every((c) => key.includes(c))) continue;
    const nullable = index.nullsDistinct ? index.columns.filter((c) => !notNull(c)) : [];
    if (!best || nullable.length < best.nullable.length) best = { index, nullable };
  }
  return best;
}

/** `label: ` or nothing. */
function prefix(label: string): string {
  return label ? `${label}: ` : "";
}

/** The refusal of a key no unique index keeps unique. */
export function notUniqueMessage(label: string, table: string, key: readonly string[]): string {
  return (
    `${prefix(label)}table ${table} does not keep key (${key.join(", ")}) unique: no primary key or unique ` +
    "index is made of key columns; add one, or name key columns that have one"
  );
}

/**
 * The refusal of a key with NULL parts that several rows hold: their unique index lets NULLs repeat (NULL ≠
 * NULL), so the key names no single row, and no repair may pick one of them. Names the key and the replica.
 */
export function duplicateNullKeyMessage(label: string, table: string, key: Key, index?: string): string {
  const why = index ? `its unique index ${index} lets` : "a unique index lets";
  return (
    `${prefix(label)}key ${JSON.stringify(key)} names several rows of table ${table} (${why} rows whose key ` +
    "holds NULL repeat); a key must name one row: delete or merge the duplicates, or make the index NULLS NOT " +
    "DISTINCT (PostgreSQL 15+)"
  );
}

/** A duplicate key found where no index keeps the key unique (a view): names the key and the replica. */
export function duplicateKeyMessage(label: string, table: string, key: Key): string {
  return (
    `duplicate key ${JSON.stringify(key)} in replica ${label || table}: ${table} is not kept unique by any ` +
    "index (a view?), and key columns must be unique"
  );
}
