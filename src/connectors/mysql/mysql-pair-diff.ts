/**
 * Two MariaDB replicas one server holds (two databases or two tables, one connection reaching both) compared
 * inside MariaDB: a keyed LEFT JOIN lists the keys of this replica the other lacks or holds differently, an
 * anti-join the keys only the other holds, both in one statement in key order, read as a stream. Reads only;
 * builds no connection of its own.
 */

import { escapeId } from "mysql2/promise";
import { compareKeys, type Key, type KeyRange } from "../../core/model.js";
import { ConnectorError, type InStorePair, type PairedKey } from "../connector.js";
import { halvesInOrder, pairHalvesOf } from "../pair-halves.js";
import { mysqlReadSql } from "./mysql-canonical-sql.js";
import { exactTextOrder } from "./mysql-column-types.js";
import type { MysqlSession } from "./mysql-session.js";
import type { MysqlShapeSql } from "./mysql-shape-sql.js";

/** What one replica's connector tells the other about its table, for comparing the two inside MariaDB. */
export interface MysqlPairSide {
  /** The replica's name, for messages. */
  readonly label: string;
  /** The shape's SQL against this table, its name qualified with its database (the other's connection reads it). */
  readonly s: MysqlShapeSql;
  /** The server's flavour: the comparison is MariaDB's (its NO PAD binary collations). */
  readonly flavor: string | undefined;
}

/** Why the two sides cannot be compared inside MariaDB exactly, or undefined when they can. */
export function mysqlPairRefusal(here: MysqlPairSide, there: MysqlPairSide): string | undefined {
  const a = here.label || "this replica";
  const b = there.label || "the other replica";
  if (here.flavor !== "mariadb" || there.flavor !== "mariadb")
    return `${a} and ${b} are not both on MariaDB, whose binary collations the in-store comparison uses`;
  for (const side of [here, there]) {
    const who = side.label || "a replica";
    if (side.s.nullableKey) return `a key column of ${who} may hold NULL, which a join never matches`;
    if (!side.s.sargable)
      return `a key column of ${who} has a collation that does not order keys as Concord does (a NO PAD binary one does)`;
    // Equal native texts are equal values exactly for the native row hash's types; floats, BIT, TIME, ENUM,
    // text in other character sets and types read as another logical type are compared in the engine.
    if (!side.s.native) return `a column of ${who} has a type the in-store comparison cannot compare exactly`;
  }
  const all = [...here.s.shape.key, ...here.s.shape.columns];
  for (const [i, c] of all.entries()) {
    const x = here.s.nativeColumn(i);
    const y = there.s.nativeColumn(i);
    if (x.columnType !== y.columnType || x.charset !== y.charset)
      return `column ${c.name} is ${x.columnType}${x.charset ? ` ${x.charset}` : ""} on ${a} and ${y.columnType}${y.charset ? ` ${y.charset}` : ""} on ${b}`;
    if (i < here.s.keyWidth) {
      if (c.type !== "integer" && c.type !== "text")
        return `key column ${c.name} (${x.columnType}) is not one the join matches and orders as Concord does`;
      if (c.type === "text" && (x.collation !== y.collation || !exactTextOrder(x)))
        return `key column ${c.name} is in collation ${x.collation} on ${a} and ${y.collation} on ${b}`;
    }
  }
  return undefined;
}

/** The expression a value column is compared by on both sides: text by its bytes (NO PAD), the rest as stored. */
function comparedSql(side: MysqlPairSide, i: number, ref: string): string {
  const col = side.s.nativeColumn(i);
  const type = [...side.s.shape.key, ...side.s.shape.columns][i]!.type;
  // Not CAST(… AS BINARY): a cast longer than max_allowed_packet is NULL, and two such values would match.
  // A NO PAD binary collation compares the stored bytes as they are ('a' <> 'a ', 'a' <> 'A').
  if ((type === "text" || type === "json") && col.charset)
    return `${ref} COLLATE ${col.charset === "utf8" ? "utf8mb3" : col.charset}_nopad_bin`;
  // Integers, DECIMAL(p,s), dates and times of one precision, binary strings: equal exactly when their
  // values (and so their canonical texts) are, given the same column type on both sides.
  return ref;
}

/**
 * The statement listing the keys of `range` held on one side only or whose rows differ, in key order: the key
 * columns, then 1 (here only), 2 (there only) or 3 (both, rows differ), then each side's row as
 * `fetchRecords` reads it (NULLs where the side lacks the key), then, first of all rows (its keys are NULL),
 * one row counting this replica's rows in the range as -1 - the count. MariaDB has no FULL JOIN: the keys
 * only the other holds come from an anti-join in the same statement.
 */
export function mysqlPairDiffSql(here: MysqlPairSide, there: MysqlPairSide, range: KeyRange): string {
  const shape = here.s.shape;
  const width = here.s.keyWidth;
  const n = width + shape.columns.length;
  const side = (p: MysqlPairSide) => {
    const refs = [...shape.key, ...shape.columns].map((c) => `t.${escapeId(c.name)}`);
    // What fetchRecords reads (the shape's rawList), column by column.
    const raw = refs.map((ref, j) => mysqlReadSql(p.s.nativeColumn(j), ref));
    const keys = refs.slice(0, width).map((ref, i) => `${ref} AS k${i}`);
    const cols = refs.slice(width).map((ref, j) => `${comparedSql(p, width + j, ref)} AS c${j}`);
    const plain = raw.map((r, j) => `${r} AS p${j}`);
    const where = p.s.rangeCondition(range);
    return `(SELECT ${[...keys, ...cols, ...plain].join(", ")} FROM ${p.s.source}${p.s.forceIndex}${where ? ` WHERE ${where}` : ""})`;
  };
  const on = Array.from({ length: width }, (_, i) => `a.k${i} = b.k${i}`).join(" AND ");
  const ps = (x: string) => Array.from({ length: n }, (_, j) => `${x}.p${j}`).join(", ");
  const nulls = (k: number) => Array.from({ length: k }, () => "NULL").join(", ");
  const m = shape.columns.length;
  const same = Array.from({ length: m }, (_, j) => `a.c${j} <=> b.c${j}`).join(" AND ");
  const differs = m > 0 ? ` OR NOT (${same})` : "";
  const keysOf = (x: string) => Array.from({ length: width }, (_, i) => `${x}.k${i} AS k${i}`).join(", ");
  const hereOnly =
    `SELECT ${keysOf("a")}, IF(b.k0 IS NULL, 1, 3) AS w, ${ps("a")}, ${ps("b")} ` +
    `FROM ${side(here)} AS a LEFT JOIN ${side(there)} AS b ON ${on} WHERE b.k0 IS NULL${differs}`;
  const thereOnly =
    `SELECT ${keysOf("b")}, 2, ${nulls(n)}, ${ps("b")} ` +
    `FROM ${side(there)} AS b LEFT JOIN ${side(here)} AS a ON ${on} WHERE a.k0 IS NULL`;
  const where = here.s.rangeCondition(range);
  const counted = `SELECT ${nulls(width)}, -1 - COUNT(*), ${nulls(2 * n)} FROM ${here.s.source}${where ? ` WHERE ${where}` : ""}`;
  const order = Array.from({ length: width }, (_, i) => `k${i}`).join(", ");
  return `(${hereOnly}) UNION ALL (${thereOnly}) UNION ALL (${counted}) ORDER BY ${order}`;
}

/** What the pair needs from the connector that made it. */
export interface MysqlPairHost {
  readonly session: MysqlSession;
  readonly label: string;
  readonly stats: { queries: number; rowsRead: number; bytesRead: number; rowsScanned: number };
  /** This replica's first and last key in a range, or null: where a range open at one end is cut in halves. */
  keyBounds(range: KeyRange): Promise<{ first: Key; last: Key } | null>;
}

/** What the listings of one range's parts add up to. */
interface Tally {
  onlyHere: number;
  onlyThere: number;
  rows: number;
  counted: number;
}

/**
 * The pair of `here` (on `host`'s connections) and `there`, compared by `mysqlPairDiffSql`. A range of one
 * integer key is compared as two halves at once (`pairHalvesOf`), each its own statement on its own connection
 * of this replica's pool: MariaDB runs a statement on one thread, so the halves use two cores.
 */
export function mysqlPair(host: MysqlPairHost, here: MysqlPairSide, there: MysqlPairSide): InStorePair {
  const what = `in-MariaDB comparison with ${there.label || "the other replica"} failed`;
  const shape = here.s.shape;
  const width = here.s.keyWidth;
  const n = width + shape.columns.length;
  const prefix = host.label ? `${host.label}: ` : "";
  /** The listed keys of one part, checked to come in key order (each part's own: the parts are listed at once). */
  async function* listing(sql: string, batchSize: number, tally: Tally): AsyncIterable<readonly PairedKey[]> {
    let last: PairedKey["key"] | undefined;
    for await (const page of host.session.stream(what, sql, batchSize)) {
      const batch: PairedKey[] = [];
      for (const row of page) {
        const where = Number(row[width]);
        if (where < 0) {
          tally.rows += -1 - where;
          tally.counted++;
          continue;
        }
        let paired: PairedKey;
        try {
          const key = (where === 2 ? there : here).s.codec.key(row);
          const records = {
            here: where !== 2 ? here.s.record(row, width + 1) : undefined,
            there: where !== 1 ? there.s.record(row, width + 1 + n) : undefined,
          };
          paired = { key, here: where !== 2, there: where !== 1, records };
        } catch (err) {
          throw host.session.error(what, err);
        }
        if (last && compareKeys(shape.key, last, paired.key) >= 0)
          throw new ConnectorError(
            `${prefix}MariaDB listed key ${JSON.stringify(paired.key)} after ${JSON.stringify(last)}: keys are not in binary order`,
          );
        last = paired.key;
        if (where === 1) tally.onlyHere++;
        if (where === 2) tally.onlyThere++;
        batch.push(paired);
      }
      host.stats.rowsRead += page.length;
      if (batch.length) yield batch;
    }
  }
  return {
    async *diff(
      range: KeyRange,
      batchSize: number,
      onRows: (rows: number) => void,
    ): AsyncIterable<readonly PairedKey[]> {
      const parts = (await pairHalvesOf(shape, range, (r) => host.keyBounds(r))) ?? [range];
      const tally: Tally = { onlyHere: 0, onlyThere: 0, rows: 0, counted: 0 };
      const size = Math.max(1, batchSize);
      const [first, second] = parts.map((r) => listing(mysqlPairDiffSql(here, there, r), size, tally));
      // The second half's statement starts now, on another connection, while the first half is listed.
      yield* halvesInOrder(first, second);
      if (tally.counted !== parts.length)
        throw new ConnectorError(
          `${prefix}MariaDB returned ${tally.counted} counts for ${parts.length} listings`,
        );
      onRows(tally.rows);
      // Both tables were read whole (within the range): the other's rows follow from what differed.
      host.stats.rowsScanned += 2 * tally.rows - tally.onlyHere + tally.onlyThere;
    },
  };
}
