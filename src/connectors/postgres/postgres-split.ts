/** Builds the statement that finds the keys splitting a range into runs of equal size. Builds text only: no I/O. */
import { Params, type PgRange, type PostgresShapeSql, T } from "./postgres-shape-sql.js";

/** A statement whose rows are the canonical key texts of the split points, ascending. */
export interface SplitQuery {
  readonly text: string;
  readonly values: unknown[];
}

/** `concord_step AS (…)`: the run length, ceil(rows in range / parts), at least 1. */
function stepCte(table: string, where: string, p: string): string {
  return `concord_step AS (SELECT greatest(1, ceil(count(*)::numeric / ${p}))::int8 AS step FROM ${table} AS ${T}${where ? ` WHERE ${where}` : ""})`;
}

/**
 * For a key an index orders: hop from split to split, each hop an index scan that skips `step` rows
 * (`WHERE key > previous ORDER BY key OFFSET step - 1 LIMIT 1`), in a recursive CTE. It touches the
 * index entries of the range once and computes nothing per skipped row, where numbering every row with
 * row_number() costs about three times as much on a large range. Not for a key that may hold NULL (its
 * previous split key could be NULL, and a row comparison with NULL is no row): those number their rows.
 */
export function hopSplitSql(s: PostgresShapeSql, table: string, range: PgRange, parts: number): SplitQuery {
  const params = new Params();
  const where = s.rangeWhere(range, params);
  const p = params.add(parts, "int8");
  const upper = s.rangeWhere({ lo: null, hi: range.hi }, params);
  const cols = s.keys.map((k, i) => `${k.eq} AS k${i}, ${k.out} AS o${i}`).join(", ");
  const prev = s.keys.map((_, i) => `h.k${i}`);
  const after = `${s.tuple()} > ${prev.length === 1 ? prev[0] : `(${prev.join(", ")})`}`;
  const text =
    `WITH RECURSIVE ${stepCte(table, where, p)}, concord_hop AS (` +
    `(SELECT ${cols}, 1 AS n FROM ${table} AS ${T}${where ? ` WHERE ${where}` : ""} ` +
    `ORDER BY ${s.orderBy} OFFSET (SELECT step FROM concord_step) LIMIT 1) UNION ALL ` +
    `SELECT x.* FROM concord_hop AS h CROSS JOIN LATERAL (SELECT ${cols}, h.n + 1 AS n FROM ${table} AS ${T} ` +
    `WHERE ${after}${upper ? ` AND ${upper}` : ""} ORDER BY ${s.orderBy} OFFSET (SELECT step FROM concord_step) - 1 LIMIT 1) AS x ` +
    `WHERE h.n < ${p} - 1) SELECT ${s.keys.map((_, i) => `o${i}`).join(", ")} FROM concord_hop ORDER BY n`;
  return { text, values: params.values };
}

/**
 * For a key no index orders: number the range's rows once (one sort) and keep every step-th after the
 * first: `(rn - 1) % step = 0 AND rn > 1`.
 */
export function windowSplitSql(
  s: PostgresShapeSql,
  table: string,
  range: PgRange,
  parts: number,
): SplitQuery {
  const params = new Params();
  const where = s.rangeWhere(range, params);
  const p = params.add(parts, "int8");
  const text =
    `WITH ${stepCte(table, where, p)} SELECT ${s.keys.map((_, i) => `q.o${i}`).join(", ")} FROM ` +
    `(SELECT ${s.keys.map((k, i) => `${k.out} AS o${i}`).join(", ")}, row_number() OVER (ORDER BY ${s.orderBy}) AS rn ` +
    `FROM ${table} AS ${T}${where ? ` WHERE ${where}` : ""}) AS q, concord_step AS c ` +
    `WHERE q.rn > 1 AND (q.rn - 1) % c.step = 0 ORDER BY q.rn`;
  return { text, values: params.values };
}
