/**
 * Two PostgreSQL replicas one connection reaches (same server, database and user: two schemas or two tables)
 * compared inside PostgreSQL: one keyed FULL OUTER JOIN over the range lists the keys held on one side only
 * or whose rows differ, read through a cursor. Reads only; builds no connection of its own.
 */

import { compareKeys, type Key, type KeyRange } from "../../core/model.js";
import { ConnectorError, type InStorePair, type PairedKey } from "../connector.js";
import { halvesInOrder, pairHalvesOf } from "../pair-halves.js";
import { rawSql } from "./postgres-canonical-sql.js";
import { type PgColumn, postgresLogicalType, TEXT_BASE_TYPES } from "./postgres-column-types.js";
import { NATIVE_HASHABLE } from "./postgres-native-hash.js";
import type { PostgresSession } from "./postgres-session.js";
import { Params, type PostgresShapeSql, T } from "./postgres-shape-sql.js";

/** What one replica's connector tells the other about its table, for comparing the two inside PostgreSQL. */
export interface PostgresPairSide {
  /** The replica's name, for messages. */
  readonly label: string;
  /** Where its connections go, as configured (host or socket directory, port, database, user; no password). */
  readonly target: {
    readonly host: string;
    readonly port: string;
    readonly database: string;
    readonly user: string;
  };
  /** What its server says it is: [database, user, port, postmaster start time]. */
  readonly server: readonly string[];
  /**
   * Its connections' `standard_conforming_strings`: one statement reads both sides' row filters as the
   * connection it runs on does, and a filter was checked against its own side's setting only.
   */
  readonly standardStrings: string;
  /** The table, schema-qualified and quoted as its own connection resolves it. */
  readonly relation: string;
  /** What reads select from: `relation`, or its rows the row filter keeps (`where:`). */
  readonly source: string;
  /** The shape's SQL against this table. */
  readonly s: PostgresShapeSql;
}

/** Key columns the join can match and order exactly as Concord's keys: integers, numerics read as integers, text, uuid. */
function keyJoinable(col: PgColumn, type: string): boolean {
  if (type === "integer") return ["int2", "int4", "int8", "numeric"].includes(col.baseType);
  return type === "text" && (TEXT_BASE_TYPES.has(col.baseType) || col.baseType === "uuid");
}

/** Why the two sides cannot be compared inside PostgreSQL exactly, or undefined when they can. */
export function postgresPairRefusal(here: PostgresPairSide, there: PostgresPairSide): string | undefined {
  const a = here.label || "this replica";
  const b = there.label || "the other replica";
  for (const field of ["host", "port", "database", "user"] as const) {
    if (here.target[field] !== there.target[field])
      return `${a} and ${b} are reached through different connections (another ${field === "host" ? "host or socket" : field}), which one statement cannot join`;
  }
  if (JSON.stringify(here.server) !== JSON.stringify(there.server))
    return `${a} and ${b} are answered by different servers or databases, which one statement cannot join`;
  if (here.standardStrings !== there.standardStrings)
    return `${a} and ${b} read string literals differently (standard_conforming_strings ${here.standardStrings} and ${there.standardStrings}), so one statement would read a row filter other than it was checked`;
  const shape = here.s.shape;
  for (const side of [here, there]) {
    if (side.s.nullableKey)
      return `a key column of ${side.label || "a replica"} may hold NULL, which a join never matches`;
  }
  const all = [...shape.key, ...shape.columns];
  for (const [i, c] of all.entries()) {
    const x = here.s.native[i]!;
    const y = there.s.native[i]!;
    if (x.nativeType !== y.nativeType || x.baseType !== y.baseType)
      return `column ${c.name} is ${x.nativeType} on ${a} and ${y.nativeType} on ${b}`;
    if (i < shape.key.length && !keyJoinable(x, c.type))
      return `key column ${c.name} (${x.nativeType}) is not one the join matches and orders as Concord does`;
  }
  return undefined;
}

/**
 * The expression a column's values are compared by on both sides. A column read as its own logical type whose
 * native equality holds exactly when the canonical texts are equal (the native hash's types: integers,
 * numeric, booleans, text and varchar by their bytes, timestamps, dates, times, bytea, uuid) is compared as
 * it is stored; any other by the text the engine reads and canonicalises (`rawSql`, byte for byte): equal
 * texts read in one session give equal canonical values, so no differing row is ever missed (floats -0 and
 * 0, json numbers 1.0 and 1.00, intervals 1 day and 24:00:00 are listed and the engine drops those equal).
 */
function comparedSql(ref: string, col: PgColumn, type: string): string {
  if (NATIVE_HASHABLE.has(col.baseType) && postgresLogicalType(col.baseType) === type)
    return TEXT_BASE_TYPES.has(col.baseType) ? `${ref} COLLATE "C"` : ref;
  return `(${rawSql(ref, col, type as Parameters<typeof rawSql>[2])}) COLLATE "C"`;
}

/**
 * The statement listing the keys of `range` held on one side only or whose rows differ, in key order:
 * canonical key texts, then 1 (here only), 2 (there only) or 3 (both, rows differ), then each side's row as
 * `fetchRecords` reads it (`rawList`'s texts; NULLs where the side lacks the key), so the engine fetches neither. Text keys are matched by
 * their bytes (the columns' own equality where both are deterministic and share a collation, so the key
 * indexes serve the join) and ordered by them (COLLATE "C"), as Concord orders keys.
 */
export function pairDiffSql(
  here: PostgresPairSide,
  there: PostgresPairSide,
  range: KeyRange,
  counted = false,
): { text: string; values: unknown[] } | null {
  const r = here.s.normalize(range);
  const rThere = there.s.normalize(range);
  if (!r || !rThere) return null;
  // Literals, not parameters: the cursor over it opens in the same message as its transaction and first
  // fetch (one round trip, see PostgresSession.cursor), which a statement with parameters cannot.
  const params = new Params(true);
  // Each side's own predicates: the sides' key columns may order text under different collations.
  const wheres = new Map([
    [here, here.s.rangeWhere(r, params)],
    [there, there.s.rangeWhere(rThere, params)],
  ]);
  const shape = here.s.shape;
  const all = [...shape.key, ...shape.columns];
  const width = shape.key.length;
  const bytewise = shape.key.map((_, i) => {
    const x = here.s.native[i]!;
    const y = there.s.native[i]!;
    return (
      TEXT_BASE_TYPES.has(x.baseType) && !(x.deterministic && y.deterministic && x.collation === y.collation)
    );
  });
  const side = (p: PostgresPairSide) => {
    const ref = (name: string) => `${T}."${name.replaceAll('"', '""')}"`;
    const keys = shape.key.map((c, i) => {
      const join = bytewise[i] ? `${ref(c.name)} COLLATE "C"` : ref(c.name);
      return `${join} AS k${i}, ${p.s.keys[i]!.out} AS o${i}`;
    });
    const cols = all
      .slice(width)
      .map((c, j) => `${comparedSql(ref(c.name), p.s.native[width + j]!, c.type)} AS c${j}`);
    const plain = all.map((c, j) => `${ref(c.name)} AS p${j}`);
    const where = wheres.get(p);
    return `(SELECT ${[...keys, ...cols, ...plain].join(", ")} FROM ${p.source} AS ${T}${where ? ` WHERE ${where}` : ""})`;
  };
  const on = shape.key.map((_, i) => `a.k${i} = b.k${i}`).join(" AND ");
  const outs = shape.key.map((_, i) => `coalesce(a.o${i}, b.o${i})`).join(", ");
  const order = shape.key
    .map(
      (_, i) =>
        `coalesce(a.k${i}, b.k${i})${TEXT_BASE_TYPES.has(here.s.native[i]!.baseType) ? ' COLLATE "C"' : ""}`,
    )
    .join(", ");
  const n = all.length - width;
  const rows = (x: string) => `ROW(${Array.from({ length: n }, (_, j) => `${x}.c${j}`).join(", ")})`;
  const differs = n > 0 ? ` OR ${rows("a")} IS DISTINCT FROM ${rows("b")}` : "";
  // Read as fetchRecords reads them, from the joined columns: only the listed rows' texts are built (the
  // expressions in a side's own select list are computed for every row the join reads).
  const raws = (x: string, p: PostgresPairSide) =>
    all.map((c, j) => rawSql(`${x}.p${j}`, p.s.native[j]!, c.type)).join(", ");
  // Then each side's exact texts its raw texts leave out (`nativeExtra`), as `fetchList` reads them.
  const extras = (x: string, p: PostgresPairSide) =>
    p.s.nativeExtra.map((j) => `, (${x}.p${width + j})::text`);
  const exact = [...extras("a", here), ...extras("b", there)].join("");
  const join =
    `SELECT ${outs}, CASE WHEN b.k0 IS NULL THEN 1 WHEN a.k0 IS NULL THEN 2 ELSE 3 END, ${raws("a", here)}, ${raws("b", there)}${exact} ` +
    `FROM ${side(here)} a FULL JOIN ${side(there)} b ON ${on} ` +
    `WHERE a.k0 IS NULL OR b.k0 IS NULL${differs} ORDER BY ${order}`;
  if (!counted) return { text: join, values: params.values };
  // This replica's rows in the range, counted in the same statement: one more row after the listed keys,
  // whose NULL keys no listed key has, and -1 - the count where a listed key says where it is held.
  const where = wheres.get(here);
  const nulls = (k: number) => Array.from({ length: k }, () => "NULL").join(", ");
  return {
    text:
      `(${join}) UNION ALL (SELECT ${nulls(width)}, -1 - count(*), ${nulls(2 * all.length + here.s.nativeExtra.length + there.s.nativeExtra.length)} ` +
      `FROM ${here.source} AS ${T}${where ? ` WHERE ${where}` : ""})`,
    values: params.values,
  };
}

/** What the pair needs from the connector that made it. */
export interface PostgresPairHost {
  readonly session: PostgresSession;
  /**
   * The other replica's session, when it lends the second half's cursor a connection of its pool (its
   * errors then name that replica); without it the cursor runs on `session`'s spare.
   */
  readonly lender?: { readonly session: PostgresSession; readonly label: string };
  readonly label: string;
  readonly stats: { queries: number; rowsRead: number; bytesRead: number; rowsScanned: number };
  /**
   * Keys to close a range's open ends at for its cut into halves: this replica's first and last in the range,
   * or its whole table's as last read (at or outside the range's), or null.
   */
  keyBounds(range: KeyRange): Promise<{ first: Key; last: Key } | null>;
}

/** The pair of `here` (on `host`'s connections) and `there`, compared by `pairDiffSql`. */
export function postgresPair(
  host: PostgresPairHost,
  here: PostgresPairSide,
  there: PostgresPairSide,
): InStorePair {
  const what = `in-PostgreSQL comparison with ${there.label || "the other replica"} failed`;
  // The second half's cursor: on the lender's pool (told as that replica's, with this one named), or the spare.
  const besideFirst = host.lender
    ? {
        session: host.lender.session,
        what: `in-PostgreSQL comparison with ${here.label || "the other replica"} failed`,
        spare: false,
      }
    : { session: host.session, what, spare: true };
  const shape = here.s.shape;
  const width = shape.key.length;
  const columns = width + shape.columns.length;
  /**
   * The listed keys of one range, checked to come in key order (`order` is the range's own: the halves are
   * listed at once, and their ranges keep them apart).
   */
  async function* listing(
    q: { text: string; values: unknown[] },
    batchSize: number,
    order: { last: PairedKey["key"] | undefined },
    tally: { onlyHere: number; onlyThere: number; rows: number; counted: number },
    on: { readonly session: PostgresSession; readonly what: string; readonly spare: boolean },
  ): AsyncIterable<readonly PairedKey[]> {
    const pages = on.session.cursor(on.what, q.text, q.values, Math.max(1, batchSize), { spare: on.spare });
    for await (const page of pages) {
      const batch: PairedKey[] = [];
      for (const row of page) {
        const where = Number(row[width]);
        if (where < 0) {
          // The statement's count of this replica's rows in the range (pairDiffSql).
          tally.rows += -1 - where;
          tally.counted++;
          continue;
        }
        // The row's parts are read in place (no copy of each out of the row).
        const key = here.s.codec.key(row);
        if (order.last && compareKeys(shape.key, order.last, key) >= 0)
          throw new ConnectorError(
            `${host.label ? `${host.label}: ` : ""}PostgreSQL listed key ${JSON.stringify(key)} after ${JSON.stringify(order.last)}: keys are not in binary order`,
          );
        order.last = key;
        if (where === 1) tally.onlyHere++;
        if (where === 2) tally.onlyThere++;
        const extra = width + 1 + 2 * columns;
        const records = {
          here: where !== 2 ? here.s.record(row, width + 1, extra) : undefined,
          there:
            where !== 1
              ? there.s.record(row, width + 1 + columns, extra + here.s.nativeExtra.length)
              : undefined,
        };
        batch.push({ key, here: where !== 2, there: where !== 1, records });
      }
      host.stats.rowsRead += page.length;
      host.stats.bytesRead += page.reduce((b, row) => b + row.reduce((n, v) => n + (v?.length ?? 1), 0), 0);
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
      // Each statement counts this replica's rows in its range after its listed keys (one statement a half,
      // no count of its own): told once both halves are listed.
      const queries = parts.map((r) => pairDiffSql(here, there, r, true));
      const tally = { onlyHere: 0, onlyThere: 0, rows: 0, counted: 0 };
      const lists = queries.map((q, i) =>
        q
          ? listing(
              q,
              batchSize,
              { last: undefined },
              tally,
              i === 1 ? besideFirst : { session: host.session, what, spare: false },
            )
          : undefined,
      );
      const [first, second] = lists;
      // The second half's join starts now, on the other replica's connection (or the spare), while the first
      // half is listed; each of its batches is read one ahead of the caller, so memory holds one batch beyond
      // the caller's, and this replica's pool stays free for the first half and its other statements.
      yield* halvesInOrder(first, second);
      const statements = queries.filter((q) => q).length;
      if (tally.counted !== statements)
        throw new ConnectorError(
          `${host.label ? `${host.label}: ` : ""}PostgreSQL returned ${tally.counted} counts for ${statements} listings`,
        );
      const rows = tally.rows;
      onRows(rows);
      // Both tables were read whole (within the range): the other's rows follow from what differed.
      host.stats.rowsScanned += 2 * rows - tally.onlyHere + tally.onlyThere;
    },
  };
}
