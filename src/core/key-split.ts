/** Cutting key ranges: pure arithmetic on keys, shared by detection, segments and the stores' in-store joins. */
import type { Key, KeyRange, RecordShape } from "./model.js";

/** The ranges `splits` (ascending, inside `range`) cut `range` into. */
export function rangesBetween(range: KeyRange, splits: readonly Key[]): KeyRange[] {
  const out: KeyRange[] = [];
  let lo = range.lo;
  for (const s of splits) {
    out.push({ lo, hi: s });
    lo = s;
  }
  out.push({ lo, hi: range.hi });
  return out;
}

/**
 * Split points cutting a bounded range of a single integer key into at most `parts` ranges of equal width
 * (the last one may be narrower; fewer ranges when the range is narrow), or undefined when the key is not
 * one integer or the range is open. Evenly spaced, so a store can bucket rows by arithmetic.
 */
export function integerSplit(shape: RecordShape, range: KeyRange, parts: number): Key[] | undefined {
  if (shape.key.length !== 1 || shape.key[0]!.type !== "integer" || !range.lo || !range.hi) return undefined;
  // NULL (a nullable key's) has no place on the number line.
  if (range.lo[0] === null || range.hi[0] === null) return undefined;
  let lo: bigint;
  let hi: bigint;
  try {
    lo = BigInt(range.lo[0]!);
    hi = BigInt(range.hi[0]!);
  } catch {
    return undefined;
  }
  const out: Key[] = [];
  if (hi <= lo || parts < 2) return out;
  const n = BigInt(parts);
  const step = (hi - lo + n - 1n) / n;
  for (let k = lo + step; k < hi; k += step) out.push([k.toString()]);
  return out;
}
