/** The one statement that checksums (or lists) a whole round of key ranges on MariaDB/MySQL. Builds text only: no I/O. */
import { compareKeys, type Key, type KeyRange, keyHasNull } from "../../core/model.js";
import type { RowHash } from "../row-hash.js";
import { type MysqlShapeSql, tupleCompare } from "./mysql-shape-sql.js";

/** What a checksum or fingerprint query returns per row when the store cannot hash: the raw columns. */
export type BucketMode = "aggregate" | "rows";

/**
 * Aggregate columns of a bucket: row count and XOR of row hashes as 16 hex digits (0 for no rows), then, when
 * the shape has `oversize` rows, how many of them the XOR leaves out (the engine hashes those).
 */
function aggregate(s: MysqlShapeSql, hash: RowHash): string {
  const xor = `COUNT(*), LPAD(LOWER(HEX(BIT_XOR(CAST(CONV(${s.rowHash(hash)}, 16, 10) AS UNSIGNED)))), 16, '0')`;
  return s.oversize && hash === "fingerprint" ? `${xor}, SUM(${s.oversize})` : xor;
}

/**
 * One statement that checksums (mode "aggregate": rows of bucket, count, xor of `hash`) or lists (mode
 * "rows": rows of bucket, raw columns…) every range at once; a row in several ranges counts in each.
 * Buckets with no rows may be missing from an aggregate result: they are (0, zeros).
 *
 * - Sargable keys: the bounded ranges become a derived table joined to the table (STRAIGHT_JOIN and
 *   FORCE INDEX make each bucket an index range scan, "Range checked for each record", where MariaDB
 *   would otherwise pick a block nested loop and MySQL 8 a hash join, both bucket × table comparisons);
 *   each range open at one end is a UNION ALL branch of its own.
 *   A key column that may hold NULL (or a bound holding NULL) makes every range a branch of its own.
 * - Otherwise, when the ranges are ascending and disjoint (as detection asks): one scan that assigns each
 *   row its bucket with a binary search tree of IF()s over the bounds.
 * - Otherwise: one UNION ALL branch per range.
 */
export function bucketSql(
  s: MysqlShapeSql,
  ranges: readonly KeyRange[],
  mode: BucketMode,
  hash: RowHash = "fingerprint",
): string {
  const select = mode === "aggregate" ? aggregate(s, hash) : s.rawList;
  const live = ranges
    .map((range, i) => ({ range, i }))
    .filter(({ range }) => !(range.lo && range.hi && compareKeys(s.shape.key, range.lo, range.hi) >= 0));
  if (live.length === 0) return "";
  const branch = (range: KeyRange, i: number) => `SELECT ${i}, ${select} FROM ${s.from(range)}`;
  // The join compares keys with its derived table's columns, whose NULLs are only known when it runs: a
  // key that may hold NULL has each range as a branch of its own (an index range scan each) instead.
  const nullBound = live.some(({ range }) => [range.lo, range.hi].some((b) => b !== null && keyHasNull(b)));
  if (s.sargable && (s.nullableKey || nullBound))
    return live.map((b) => branch(b.range, b.i)).join(" UNION ALL ");
  if (s.sargable) {
    const bounded = live.filter(({ range }) => range.lo && range.hi);
    const statements = live.filter(({ range }) => !(range.lo && range.hi)).map((b) => branch(b.range, b.i));
    if (bounded.length > 0) statements.unshift(joinSql(s, bounded, mode, select));
    return statements.join(" UNION ALL ");
  }
  if (s.ascendingDisjoint(live.map((b) => b.range))) return treeSql(s, live, mode, select);
  return live.map((b) => branch(b.range, b.i)).join(" UNION ALL ");
}

function joinSql(
  s: MysqlShapeSql,
  bounded: readonly { range: KeyRange; i: number }[],
  mode: BucketMode,
  select: string,
): string {
  const w = s.keyWidth;
  const lo = Array.from({ length: w }, (_, j) => `b.l${j}`);
  const hi = Array.from({ length: w }, (_, j) => `b.h${j}`);
  const rows = bounded.map(({ range, i }, n) => {
    const values = [...s.keyLiterals(range.lo!), ...s.keyLiterals(range.hi!)];
    if (n > 0) return `SELECT ${i}, ${values.join(", ")}`;
    const named = values.map((v, j) => `${v} AS ${j < w ? `l${j}` : `h${j - w}`}`);
    return `SELECT ${i} AS i, ${named.join(", ")}`;
  });
  const on = `${tupleCompare(s.keyOrder, lo, ">=")} AND ${tupleCompare(s.keyOrder, hi, "<")}`;
  return (
    `SELECT STRAIGHT_JOIN b.i, ${select} FROM (${rows.join(" UNION ALL ")}) AS b ` +
    `JOIN ${s.source}${s.forceIndex} ON ${on}${mode === "aggregate" ? " GROUP BY b.i" : ""}`
  );
}

function treeSql(
  s: MysqlShapeSql,
  live: readonly { range: KeyRange; i: number }[],
  mode: BucketMode,
  select: string,
): string {
  // Cut points in ascending order; labels[j] is the bucket of keys with exactly j cuts at or below them.
  const cuts: Key[] = [];
  const labels: number[] = [live[0]!.range.lo ? -1 : live[0]!.i];
  for (const { range, i } of live) {
    if (range.lo) {
      const last = cuts.at(-1);
      if (last && compareKeys(s.shape.key, last, range.lo) === 0) labels[labels.length - 1] = i;
      else {
        cuts.push(range.lo);
        labels.push(i);
      }
    }
    if (range.hi) {
      cuts.push(range.hi);
      labels.push(-1);
    }
  }
  const tree = (a: number, b: number): string => {
    if (labels.slice(a, b + 1).every((l) => l === labels[a])) return String(labels[a]);
    const mid = Math.ceil((a + b) / 2);
    return `IF(${s.compareKey(cuts[mid - 1]!, "<")}, ${tree(a, mid - 1)}, ${tree(mid, b)})`;
  };
  const where = s.where({ lo: live[0]!.range.lo, hi: live.at(-1)!.range.hi });
  const group = mode === "aggregate" ? " GROUP BY i" : "";
  return `SELECT ${tree(0, cuts.length)} AS i, ${select} FROM ${s.source}${where}${group} HAVING i >= 0`;
}
