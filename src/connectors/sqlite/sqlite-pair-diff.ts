/**
 * Two SQLite replicas compared inside SQLite: the other replica's file is ATTACHed to this connection and the
 * two tables are compared row by row with EXCEPT both ways (SQLite merges both tables in key order), so only
 * the rows that differ reach the engine. Reads only.
 */
import type Database from "better-sqlite3";
import { compareKeys, type KeyRange } from "../../core/model.js";
import { ConnectorError, type InStorePair, type PairedKey } from "../connector.js";
import { type SqliteAffinity, sqliteAffinity } from "./sqlite-column-types.js";
import type { SqliteShapeSql } from "./sqlite-shape-sql.js";
import { quoteIdent } from "./sqlite-table-meta.js";

type Db = Database.Database;

/** What one replica's connector tells the other about its table, for comparing the two inside SQLite. */
export interface SqlitePairSide {
  /** The replica's name, for messages. */
  readonly label: string;
  /** Absolute path of the database file; "" for an in-memory or temporary database. */
  readonly file: string;
  /** The table, quoted, without a schema (undefined when the configured name carries one). */
  readonly table: string | undefined;
  /** `PRAGMA encoding`: ATTACH needs the same text encoding on both sides. */
  readonly encoding: string;
  /** Declared type of each of the shape's columns (key columns included). */
  readonly declared: ReadonlyMap<string, string>;
  /** The stored layout of each timestamp column that holds a value (as sampled for writes), as text. */
  readonly styles: ReadonlyMap<string, string>;
  /** Whether an index (or the rowid) serves the key order. */
  readonly indexed: boolean;
  /** Whether a row's key holds NULL (such tables are compared in the engine, whose NULL-key path is tested). */
  readonly nullableKey: boolean;
  /** Whether the replica reads through a row filter (`where:`), which the comparison does not apply. */
  readonly filtered: boolean;
}

/**
 * How a declared type stores values: its affinity, except that a STRICT table's ANY (and no declared type)
 * keeps every value as given, like BLOB affinity.
 */
function storage(declared: string): SqliteAffinity {
  return /^\s*ANY\s*$/i.test(declared) ? "BLOB" : sqliteAffinity(declared);
}

/** Why the two sides cannot be compared inside SQLite exactly and cheaply, or undefined when they can. */
export function pairRefusal(
  s: SqliteShapeSql,
  here: SqlitePairSide,
  there: SqlitePairSide,
): string | undefined {
  const both = `${here.label || "this replica"} and ${there.label || "the other replica"}`;
  for (const side of [here, there]) {
    if (!side.file) return `${side.label} is an in-memory database, which another connection cannot attach`;
    if (!side.table) return `${side.label}'s table is named with its schema`;
    if (!side.indexed) return `no index serves ${side.label}'s key order`;
    if (side.nullableKey) return `a key of ${side.label} holds NULL`;
    if (side.filtered) return `${side.label} reads through a row filter (where:)`;
  }
  if (here.encoding !== there.encoding)
    return `${both} keep text in different encodings (${here.encoding}, ${there.encoding})`;
  for (const c of [...s.shape.key, ...s.shape.columns]) {
    const a = here.declared.get(c.name) ?? "";
    const b = there.declared.get(c.name) ?? "";
    if (storage(a) !== storage(b))
      return `column ${c.name} is declared ${a || "without a type"} on ${here.label} and ${b || "without a type"} on ${there.label} (another type affinity: values are stored differently)`;
    const styles = [here.styles.get(c.name), there.styles.get(c.name)];
    if (styles[0] !== undefined && styles[1] !== undefined && styles[0] !== styles[1])
      return `column ${c.name} holds timestamps laid out differently on ${here.label} and ${there.label}`;
  }
  for (const c of s.shape.key) {
    if (storage(here.declared.get(c.name) ?? "") === "BLOB")
      return `key column ${c.name} has no type affinity, so equal keys may be stored as different kinds of values`;
  }
  return undefined;
}

/**
 * The compared list of one table: every column of the shape (key first, aliased c0, c1, …) compared by its
 * bytes (COLLATE BINARY), and for columns that keep values as given (BLOB affinity) also by kind of value,
 * since SQLite compares the integer 1 and the real 1.0 as equal. REAL affinity stores every number as a real;
 * INTEGER and NUMERIC store an integral real as an integer, except -2^63, which they keep as a real equal to
 * the integer -2^63: where the column is not read as an integer (a decimal reads the real as
 * -9223372036854776000), that value's kind is compared too. Text and blobs never compare equal to numbers.
 * SQLite's equality also holds between 0.0 and -0.0, which every logical type reads as the same value.
 */
/**
 * Logical types that read an integer and a real of equal value as different values (the real's shortest
 * text): -9223372036854776000 against -9223372036854775808. Integers and floats read both alike; booleans,
 * timestamps, times and bytes cannot read -2^63 at all.
 */
const READ_AS_WRITTEN: ReadonlySet<string> = new Set(["decimal", "json", "text"]);

function comparedList(s: SqliteShapeSql, declared: ReadonlyMap<string, string>): string {
  return [...s.shape.key, ...s.shape.columns]
    .flatMap((c, i) => {
      const q = quoteIdent(c.name);
      const col = `${q} COLLATE BINARY AS c${i}`;
      const stored = storage(declared.get(c.name) ?? "");
      if (stored === "BLOB") return [col, `typeof(${q}) AS t${i}`];
      if ((stored === "INTEGER" || stored === "NUMERIC") && READ_AS_WRITTEN.has(c.type))
        return [col, `CASE ${q} WHEN -9223372036854775808 THEN typeof(${q}) END AS t${i}`];
      return [col];
    })
    .join(", ");
}

/** The statement listing the rows of `range` each side holds and the other does not hold identically. */
function diffSql(
  s: SqliteShapeSql,
  here: string,
  there: string,
  declared: ReadonlyMap<string, string>,
  range: KeyRange,
): string {
  const list = comparedList(s, declared);
  const where = s.where(range);
  const keys = s.shape.key.map((_, i) => `c${i}`).join(", ");
  const onlyIn = (a: string, b: string) =>
    `SELECT ${list} FROM ${a} ${where} EXCEPT SELECT ${list} FROM ${b} ${where} ORDER BY ${keys}`;
  return (
    `SELECT side, ${keys} FROM (SELECT 1 AS side, * FROM (${onlyIn(here, there)}) ` +
    `UNION ALL SELECT 2 AS side, * FROM (${onlyIn(there, here)})) ORDER BY ${keys}, side`
  );
}

/** Attached peers per connection: file → schema name. */
const attached = new WeakMap<Db, Map<string, string>>();

/** The peer's file ATTACHed to `db` (once per connection), as a schema name. */
export function attachPeer(db: Db, file: string): string {
  let peers = attached.get(db);
  if (!peers) {
    peers = new Map();
    attached.set(db, peers);
  }
  let schema = peers.get(file);
  if (!schema) {
    schema = `concord_peer_${peers.size}`;
    db.prepare(`ATTACH DATABASE ? AS ${schema}`).run(file);
    peers.set(file, schema);
  }
  return schema;
}

/** What the pair needs from the connector that made it. */
export interface SqlitePairHost {
  readonly db: Db;
  readonly label: string;
  readonly stats: { queries: number; rowsRead: number; bytesRead: number; rowsScanned: number };
}

/**
 * The pair of `here` (on `host`'s connection) and `there`, whose table is in schema `peer` of that connection
 * (see `attachPeer`; "main" when both tables are in one file), compared inside SQLite.
 */
export function sqlitePair(
  host: SqlitePairHost,
  s: SqliteShapeSql,
  here: SqlitePairSide,
  there: SqlitePairSide,
  peer: string,
): InStorePair {
  return {
    async *diff(
      range: KeyRange,
      batchSize: number,
      onRows: (rows: number) => void,
    ): AsyncIterable<readonly PairedKey[]> {
      let iterator: IterableIterator<unknown[]>;
      let rows = 0;
      let onlyHere = 0;
      let onlyThere = 0;
      try {
        const sql = diffSql(s, `main.${here.table}`, `${peer}.${there.table}`, here.declared, range);
        const params = s.rangeParams(range);
        // Counted here, just before the comparison reads the same pages.
        rows = Number(
          host.db
            .prepare(`SELECT count(*) FROM main.${here.table} ${s.where(range)}`)
            .pluck()
            .get(...params),
        );
        onRows(rows);
        host.stats.queries++;
        iterator = host.db
          .prepare(sql)
          .raw(true)
          .safeIntegers(true)
          // The range's condition appears four times: positional parameters are bound for each, named ones
          // (NULL-aware ranges) once for all.
          .iterate(
            ...(isNamed(params) ? params : [...params, ...params, ...params, ...params]),
          ) as IterableIterator<unknown[]>;
        host.stats.queries++;
      } catch (err) {
        throw new ConnectorError(
          `${host.label ? `${host.label}: ` : ""}in-SQLite comparison with ${there.label} failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      let batch: PairedKey[] = [];
      let last: { key: PairedKey["key"]; here: boolean; there: boolean } | undefined;
      try {
        for (const row of iterator) {
          const key = s.codec.key(row.slice(1));
          host.stats.rowsRead++;
          host.stats.bytesRead += key.reduce((n, k) => n + (k?.length ?? 1), 1);
          const order = last ? compareKeys(s.shape.key, last.key, key) : -1;
          if (order === 0 && last) {
            if (row[0] === 1n) last.here = true;
            else last.there = true;
            continue;
          }
          if (order > 0)
            throw new ConnectorError(
              `${host.label ? `${host.label}: ` : ""}SQLite listed key ${JSON.stringify(key)} after ${JSON.stringify(last!.key)}: keys are not in binary order`,
            );
          if (last) {
            batch.push(last);
            if (last.here) onlyHere++;
            if (last.there) onlyThere++;
          }
          if (batch.length >= batchSize) {
            yield batch;
            batch = [];
          }
          last = { key, here: row[0] === 1n, there: row[0] !== 1n };
        }
      } finally {
        iterator.return?.();
      }
      if (last) {
        batch.push(last);
        if (last.here) onlyHere++;
        if (last.there) onlyThere++;
      }
      if (batch.length) yield batch;
      // Both tables were read whole (within the range): the other's rows follow from what differed.
      host.stats.rowsScanned += 2 * rows - onlyHere + onlyThere;
    },
  };
}

/** True when `params` is one object of named parameters (see SqliteShapeSql.rangeParams). */
function isNamed(params: readonly unknown[]): boolean {
  return (
    params.length === 1 && typeof params[0] === "object" && params[0] !== null && !Array.isArray(params[0])
  );
}
