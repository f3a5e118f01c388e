/**
 * Where an in-store pair cuts a range to compare it as two halves at once: a server runs one join on one core,
 * so a range in halves uses two. No I/O.
 */
import { integerSplit, rangesBetween } from "../core/key-split.js";
import type { Key, KeyRange, RecordShape } from "../core/model.js";

/**
 * The halves a bounded range of one integer key is compared in, two joins at once (the server runs each join
 * on one core, so a range in halves uses two), or undefined: a key of another type or an open range
 * (the first and last segments) is compared whole.
 */
export function pairHalves(shape: RecordShape, range: KeyRange): KeyRange[] | undefined {
  const mid = integerSplit(shape, range, 2);
  return mid?.length === 1 ? rangesBetween(range, mid) : undefined;
}

/**
 * The halves of `range` as `pairHalves` cuts them, an open end closed for the cut at the first or last key
 * `bounds` gives (this replica's in the range, or at or outside it: the first and last segments of a run, or
 * a table scanned as one segment): the halves keep the range's open ends, so keys beyond those bounds (rows
 * only the other holds, or added since) are still in one of them. Undefined when the key is not one integer,
 * `bounds` gives none, or they leave nothing to cut.
 */
export async function pairHalvesOf(
  shape: RecordShape,
  range: KeyRange,
  bounds: (range: KeyRange) => Promise<{ first: Key; last: Key } | null>,
): Promise<KeyRange[] | undefined> {
  if (range.lo && range.hi) return pairHalves(shape, range);
  if (shape.key.length !== 1 || shape.key[0]!.type !== "integer") return undefined;
  const b = await bounds(range);
  const first = b?.first[0];
  const last = b?.last[0];
  if (first === null || first === undefined || last === null || last === undefined) return undefined;
  let hi: Key;
  try {
    hi = range.hi ?? [(BigInt(last) + 1n).toString()];
  } catch {
    return undefined;
  }
  const mid = integerSplit(shape, { lo: range.lo ?? [first], hi }, 2);
  return mid?.length === 1 ? rangesBetween(range, mid) : undefined;
}

/**
 * The batches of a range's two halves in key order: the first half's, then the second's. The second half's
 * listing is started at once, so its statement runs beside the first half's, and each of its batches is read
 * one ahead of the caller: memory holds one batch beyond the caller's. Stopping early waits for the batch in
 * flight and closes the second listing.
 */
export async function* halvesInOrder<T>(
  first: AsyncIterable<T> | undefined,
  second: AsyncIterable<T> | undefined,
): AsyncIterable<T> {
  const ahead = second?.[Symbol.asyncIterator]();
  let next = ahead?.next();
  // Handled here so a rejection while the first half is listed is not reported as unhandled; awaited below.
  next?.catch(() => undefined);
  let finished = !ahead;
  try {
    if (first) for await (const batch of first) yield batch;
    while (ahead && next) {
      const r = await next;
      if (r.done) {
        finished = true;
        break;
      }
      next = ahead.next();
      next.catch(() => undefined);
      yield r.value;
    }
  } finally {
    if (!finished && ahead && next) {
      const live = await next.then(
        (r) => !r.done,
        () => false,
      );
      if (live) await ahead.return?.(undefined);
    }
  }
}
