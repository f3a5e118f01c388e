/** Split points of a MariaDB/MySQL key range: read in order, from a histogram, or by row numbers. Builds SQL; the caller runs it. */
import type { Key, KeyRange } from "../../core/model.js";
import type { MysqlShapeSql } from "./mysql-shape-sql.js";

/** Histogram buckets per requested part: finer buckets give runs closer to the ideal size. */
const BUCKETS_PER_PART = 4;
/** A run may exceed the ideal size by this factor before the exact (row-numbering) split is used instead. */
const MAX_RUN_FACTOR = 1.5;

/**
 * Split keys for `parts` runs of about equal size, found with two statements that need no temporary table
 * of the whole range: MIN/MAX of the key (two index dives), then row count and first key of each of
 * `parts × 4` equal-width key intervals (one GROUP BY over the index). Cuts fall on interval boundaries,
 * so each run is at least the ideal size and at most the ideal size plus one interval.
 *
 * Returns null when the histogram cannot guarantee runs within 1.5× the ideal size (keys crowded into a
 * few intervals) or when the key span is too wide for BIGINT arithmetic: the caller then splits exactly.
 */
async function splitByHistogram(
  s: MysqlShapeSql,
  range: KeyRange,
  parts: number,
  rows: (sql: string) => Promise<unknown[][]>,
): Promise<Key[] | null> {
  const k = s.keyRefs[0]!;
  const from = s.from(range);
  const [[min, max] = []] = await rows(`SELECT MIN(${k}), MAX(${k}) FROM ${from}`);
  if (min == null || max == null) return [];
  const lo = BigInt(String(min));
  const hi = BigInt(String(max));
  // (k - lo) is computed in BIGINT: keep it far from overflow.
  if (hi - lo >= 2n ** 62n) return null;
  const width = (hi - lo) / BigInt(parts * BUCKETS_PER_PART) + 1n;
  const histogram = (
    await rows(`SELECT (${k} - (${lo})) DIV ${width} AS b, COUNT(*), MIN(${k}) FROM ${from} GROUP BY b`)
  )
    .map((r) => ({ bucket: BigInt(String(r[0])), rows: Number(r[1]), first: String(r[2]) }))
    .sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0));

  const total = histogram.reduce((n, h) => n + h.rows, 0);
  if (total < 2) return [];
  const step = Math.ceil(total / parts);
  const keys: Key[] = [];
  let before = 0;
  let runStart = 0;
  let longest = 0;
  for (const h of histogram) {
    if (before > 0 && before - runStart >= step) {
      keys.push([h.first]);
      longest = Math.max(longest, before - runStart);
      runStart = before;
    }
    before += h.rows;
  }
  longest = Math.max(longest, total - runStart);
  return longest > MAX_RUN_FACTOR * step ? null : keys;
}

/**
 * Up to `parts - 1` split keys of `range`, three ways, cheapest first: a small range (the bisection's
 * sub-ranges) has its keys read in order (up to 64 per part) and every step-th picked; a large range of one
 * integer key uses an equal-width histogram (a temporary table of the whole range, what row numbering needs,
 * costs more than a GROUP BY); anything else numbers its rows, keeping those with `(rn - 1) % step = 0 AND
 * rn > 1`. `rows` runs one statement (on one connection).
 */
export async function mysqlSplitKeys(
  s: MysqlShapeSql,
  range: KeyRange,
  parts: number,
  rows: (sql: string) => Promise<unknown[][]>,
): Promise<Key[]> {
  // The histogram's arithmetic has no bucket for NULL: a key that may hold NULL is split another way.
  const integer =
    s.shape.key.length === 1 && s.shape.key[0]!.type === "integer" && s.sargable && !s.nullableKey;
  if (!(integer && parts >= 64)) {
    const cap = Math.min(parts * 64, 4096);
    const read = await rows(
      `SELECT ${s.keyRefs.join(", ")} FROM ${s.source}${s.forceIndex}${s.where(range)}${s.orderBy()} LIMIT ${cap + 1}`,
    );
    if (read.length <= cap) {
      const step = Math.ceil(read.length / parts);
      const keys: Key[] = [];
      for (let i = step; i < read.length; i += step) keys.push(s.codec.key(read[i]!));
      return keys;
    }
  } else {
    const keys = await splitByHistogram(s, range, parts, rows);
    if (keys) return keys;
  }
  const cols = s.keyRefs.map((k, i) => `${k} AS k${i}`).join(", ");
  const numbered = await rows(
    `SELECT ${s.keyRefs.map((_, i) => `x.k${i}`).join(", ")} FROM (SELECT ${cols}, ` +
      `ROW_NUMBER() OVER (ORDER BY ${s.keyOrder.join(", ")}) AS rn, COUNT(*) OVER () AS n ` +
      `FROM ${s.source}${s.forceIndex}${s.where(range)}) AS x ` +
      `WHERE x.rn > 1 AND (x.rn - 1) % CEIL(x.n / ${parts}) = 0 ORDER BY x.rn`,
  );
  return numbered.map((r) => s.codec.key(r));
}
