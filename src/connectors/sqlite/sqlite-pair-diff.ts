/**
 * Two SQLite replicas compared inside SQLite: the other replica's file is ATTACHed to this connection and the
 * two tables are compared row by row with EXCEPT (SQLite merges both tables in key order: rows one way, keys
 * the other), so only the rows that differ reach the engine. Reads only.
 */
import type Database from "better-sqlite3";
import { compareKeys, type KeyRange } from "../../core/model.js";
import { ConnectorError, type InStorePair, type PairedKey } from "../connector.js";
import { errorMessage } from "../connector-errors.js";
import { type SqliteAffinity, sqliteAffinity } from "./sqlite-column-types.js";
import { onePass } from "./sqlite-page-cache.js";
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
 * Logical types that read an integer and a real of equal value as different values (the real's shortest
 * text): -9223372036854776000 against -9223372036854775808. Integers and floats read both alike; booleans,
 * timestamps, times and bytes cannot read -2^63 at all.
 */
const READ_AS_WRITTEN: ReadonlySet<string> = new Set(["decimal", "json", "text"]);

/**
 * How a column is compared, read from `ref` (a column reference): its value by its bytes (COLLATE BINARY),
 * and for columns that keep values as given (BLOB affinity) also its kind of value, since SQLite compares
 * the integer 1 and the real 1.0 as equal. REAL affinity stores every number as a real; INTEGER and NUMERIC
 * store an integral real as an integer, except -2^63, which they keep as a real equal to the integer -2^63:
 * where the column is not read as an integer (a decimal reads the real as -9223372036854776000), that value's
 * kind is compared too. Text and blobs never compare equal to numbers.
 * SQLite's equality also holds between 0.0 and -0.0, which every logical type reads as the same value.
 */
function compared(ref: string, stored: SqliteAffinity, type: string): { value: string; kind?: string } {
  const value = `${ref} COLLATE BINARY`;
  if (stored === "BLOB") return { value, kind: `typeof(${ref})` };
  if ((stored === "INTEGER" || stored === "NUMERIC") && READ_AS_WRITTEN.has(type))
    return { value, kind: `CASE ${ref} WHEN -9223372036854775808 THEN typeof(${ref}) END` };
  return { value };
}

/** The compared list of `columns` (the shape's first ones: key first), aliased c0, t0, c1, … by position. */
function comparedList(s: SqliteShapeSql, declared: ReadonlyMap<string, string>, columns: number): string {
  return [...s.shape.key, ...s.shape.columns]
    .slice(0, columns)
    .flatMap((c, i) => {
      const t = compared(quoteIdent(c.name), storage(declared.get(c.name) ?? ""), c.type);
      return t.kind ? [`${t.value} AS c${i}`, `${t.kind} AS t${i}`] : [`${t.value} AS c${i}`];
    })
    .join(", ");
}

/**
 * The statement listing, in key order, the keys of `range` whose rows differ: `here, there, key…`, where
 * `here` is 1 for a row of `here` that `there` does not hold identically (`there` then says whether `there`
 * holds its key), and 0 for a key only `there` holds. Each table is read twice, in key order (merged with
 * `EXCEPT`, no temporary b-tree over the table's rows): once whole, once for its keys alone; only the listed
 * rows are sorted.
 */
function diffSql(
  s: SqliteShapeSql,
  here: string,
  there: string,
  declared: ReadonlyMap<string, string>,
  range: KeyRange,
  sides: readonly [here: SqlitePairSide, there: SqlitePairSide],
): string {
  const width = s.shape.key.length;
  const rows = comparedList(s, declared, width + s.shape.columns.length);
  const keys = comparedList(s, declared, width);
  const where = s.where(range);
  // Every row of both tables passes its key columns' guards (SqliteShapeSql.keyGuard) once, on the whole-row
  // pass: a key SQLite cannot find by its text (a blob in a text key) held alike by both sides is no row that
  // differs, and would otherwise pass unseen.
  const guarded = (side: SqlitePairSide) => {
    const named = { replica: side.label, table: side.table ?? "" };
    const guards = s.shape.key
      .map((c, i) => s.keyGuard(quoteIdent(c.name), i, named))
      .filter((g) => g !== "")
      .map((g) => `(CASE ${g}ELSE 1 END)`);
    if (guards.length === 0) return where;
    return where ? `${where} AND ${guards.join(" AND ")}` : `WHERE ${guards.join(" AND ")}`;
  };
  const order = s.shape.key.map((_, i) => `c${i}`).join(", ");
  // The key of a listed row looked up in `there` as the EXCEPT compared it: bytes, and kind where it counts
  // (qualified: the table may have a column named like an alias).
  const held = s.shape.key
    .flatMap((c, i) => {
      const t = compared(`p.${quoteIdent(c.name)}`, storage(declared.get(c.name) ?? ""), c.type);
      return t.kind ? [`${t.value} = d.c${i}`, `${t.kind} IS d.t${i}`] : [`${t.value} = d.c${i}`];
    })
    .join(" AND ");
  // Only listed rows pass the outer SELECT: a text key is read exactly there (see SqliteShapeSql.keyExact).
  const listed = s.shape.key.map((_, i) => s.keyExact(`c${i}`, i)).join(", ");
  return (
    `SELECT here, there, ${listed} FROM (` +
    `SELECT 1 AS here, EXISTS (SELECT 1 FROM ${there} AS p WHERE ${held}) AS there, ${order} FROM (` +
    `SELECT ${rows} FROM ${here} ${guarded(sides[0])} EXCEPT SELECT ${rows} FROM ${there} ${guarded(sides[1])} ORDER BY ${order}) AS d ` +
    `UNION ALL SELECT 0, 1, ${order} FROM (` +
    `SELECT ${keys} FROM ${there} ${where} EXCEPT SELECT ${keys} FROM ${here} ${where} ORDER BY ${order})` +
    `) ORDER BY ${order}`
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
      // Both tables are read in one pass each way: the peer's schema keeps SQLite's default cache.
      const restore = onePass(host.db);
      try {
        const sql = diffSql(s, `main.${here.table}`, `${peer}.${there.table}`, here.declared, range, [
          here,
          there,
        ]);
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
        restore();
        throw new ConnectorError(
          `${host.label ? `${host.label}: ` : ""}in-SQLite comparison with ${there.label} failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      const peerLabel = there.label;
      let batch: PairedKey[] = [];
      let last: { key: PairedKey["key"]; here: boolean; there: boolean } | undefined;
      const done = (k: NonNullable<typeof last>) => {
        batch.push(k);
        if (k.here) onlyHere++;
        if (k.there) onlyThere++;
      };
      try {
        for (const row of iterator) {
          let key: PairedKey["key"];
          try {
            key = s.codec.key(row.slice(2));
          } catch (err) {
            throw new ConnectorError(
              `${host.label ? `${host.label}: ` : ""}in-SQLite comparison with ${peerLabel}: ${errorMessage(err)}`,
            );
          }
          host.stats.rowsRead++;
          host.stats.bytesRead += key.reduce((n, k) => n + (k?.length ?? 1), 1);
          const here = row[0] === 1n;
          const there = row[1] === 1n;
          const order = last ? compareKeys(s.shape.key, last.key, key) : -1;
          if (order === 0 && last) {
            last.here ||= here;
            last.there ||= there;
            continue;
          }
          if (order > 0)
            throw new ConnectorError(
              `${host.label ? `${host.label}: ` : ""}SQLite listed key ${JSON.stringify(key)} after ${JSON.stringify(last!.key)}: keys are not in binary order`,
            );
          if (last) done(last);
          if (batch.length >= batchSize) {
            yield batch;
            batch = [];
          }
          last = { key, here, there };
        }
      } catch (err) {
        if (err instanceof ConnectorError) throw err;
        throw new ConnectorError(
          `${host.label ? `${host.label}: ` : ""}in-SQLite comparison with ${peerLabel}: ${errorMessage(err)}`,
        );
      } finally {
        iterator.return?.();
        restore();
      }
      if (last) done(last);
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
