/**
 * Adaptive focus: the order a pass visits its segments in, from the drift each key range showed lately, so hot
 * ranges are scanned several times per pass and cold ones once. Pure: the drift comes in as an argument.
 */
import type { RangeDrift } from "./evidence.js";

/** How a focused pass spends its extra visits. */
export interface FocusOptions {
  /**
   * Extra visits a pass gives its hot segments, as a share of its segment count (default 1: a pass of N
   * segments makes 2N visits, N of them to hot segments). The runner spaces passes so the rows read per unit
   * of time stay what a uniform pass reads (see `focusStretch`).
   */
  readonly extraShare?: number;
  /** At most this many segments are hot (default: a quarter of the segments, at least 1). */
  readonly maxHot?: number;
}

/** One hot segment of a focused pass, and why it is hot. */
export interface HotSegment {
  readonly segment: number;
  /** Visits in the pass (1 + its extra visits). */
  readonly visits: number;
  /** Divergences first seen in its range inside the window, of which `repaired` needed a repair. */
  readonly divergences: number;
  readonly repaired: number;
}

/** A focused pass: the visit order, what it prioritised and why. */
export interface FocusPlan {
  /** Segment indexes in visit order; every segment at least once. */
  readonly order: readonly number[];
  readonly segments: number;
  /** Hottest first. */
  readonly hot: readonly HotSegment[];
  /** One sentence for people: "segments 3, 7 scanned 9× per pass (12, 4 divergences since …); 14 others once". */
  readonly reason: string;
}

/**
 * Plans a pass over `segments` segments: the segments whose ranges drifted inside the window are hot, and
 * share `extraShare × segments` extra visits in proportion to their heat (each at least one). Heat is the
 * drift that needed a repair (`repaired`), not every divergence seen: a transient one (replication in
 * flight, converging by itself) is seen more often the more often its range is scanned, so counting it
 * would feed focus on itself. A segment is hot when its repairs exceed twice the median per segment (background
 * drift spread over every range stays cold, and the hot ranges do not lift the bar they are measured against);
 * the most repairs first (then divergences, then index), at most
 * `maxHot`. Visits are spread evenly over the pass (a hot segment's
 * k visits fall at (j + ½)/k of it, the cold segments in order at (c + ½)/C), so a hot range is re-checked
 * every few segments instead of once a pass.
 * No drift: the plain order 0…N−1. Same drift, same plan.
 */
export function planFocus(
  segments: number,
  drift: readonly RangeDrift[],
  options: FocusOptions = {},
): FocusPlan {
  const plain = Array.from({ length: segments }, (_, i) => i);
  const maxHot = options.maxHot ?? Math.max(1, Math.floor(segments / 4));
  const inRange = drift.filter((d) => d.segment >= 0 && d.segment < segments);
  // Hot: more than twice the median repairs per segment (segments without drift count as 0). The median, not
  // the mean: a few hot ranges lift the mean (two ranges at 10× make it 2.1× the background, hiding ranges at
  // up to 4×) but not the median, so background drift spread over every range stays cold while a range that
  // drew its first repairs when most drew none is already hot (with a share of the extras to match).
  const repairs = Array.from({ length: segments }, () => 0);
  for (const d of inRange) repairs[d.segment]! += d.repaired;
  const background = median(repairs);
  const candidates = inRange
    .filter((d) => d.repaired > 2 * background)
    .sort((a, b) => b.repaired - a.repaired || b.divergences - a.divergences || a.segment - b.segment)
    .slice(0, maxHot);
  if (segments < 2 || candidates.length === 0)
    return { order: plain, segments, hot: [], reason: "no drift needed a repair lately: every segment once" };
  const extra = Math.max(candidates.length, Math.round((options.extraShare ?? 1) * segments));
  const heat = candidates.reduce((n, d) => n + d.repaired, 0);
  // Each hot segment gets one extra visit, and the rest in proportion to its repairs (largest remainder).
  const rest = extra - candidates.length;
  const shares = candidates.map((d) => {
    const exact = (rest * d.repaired) / heat;
    return { d, extra: 1 + Math.floor(exact), remainder: exact - Math.floor(exact) };
  });
  let left = extra - shares.reduce((n, s) => n + s.extra, 0);
  for (const s of [...shares].sort((a, b) => b.remainder - a.remainder || a.d.segment - b.d.segment)) {
    if (left <= 0) break;
    s.extra++;
    left--;
  }
  const visits = new Map(shares.map((s) => [s.d.segment, 1 + s.extra]));
  // Cold segments keep their order, spread over the pass like each hot segment's visits.
  const cold = plain.filter((seg) => !visits.has(seg));
  const slots = cold.map((segment, c) => ({ at: (c + 0.5) / cold.length, segment }));
  for (const [segment, k] of visits) for (let j = 0; j < k; j++) slots.push({ at: (j + 0.5) / k, segment });
  slots.sort((a, b) => a.at - b.at || a.segment - b.segment);
  const hot = shares.map((s) => ({
    segment: s.d.segment,
    visits: 1 + s.extra,
    divergences: s.d.divergences,
    repaired: s.d.repaired,
  }));
  return { order: slots.map((s) => s.segment), segments, hot, reason: focusReason(hot, segments) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function focusReason(hot: readonly HotSegment[], segments: number): string {
  const parts = hot.map(
    (h) =>
      `segment ${h.segment + 1} ${h.visits}× (${h.divergences} divergence${h.divergences === 1 ? "" : "s"}, ${h.repaired} repaired)`,
  );
  return `hot ranges scanned more often: ${parts.join(", ")}; the other ${segments - hot.length} once per pass`;
}

/**
 * How much longer a focused pass reads than a plain one (visits ÷ segments): the runner waits that much longer
 * between passes, so the rows read per unit of time stay a plain pass's.
 */
export function focusStretch(plan: Pick<FocusPlan, "order" | "segments">): number {
  return plan.segments > 0 ? plan.order.length / plan.segments : 1;
}

/**
 * A focus plan for a pass whose segments run as jobs on workers: one job per run and segment (the
 * SegmentDispatch contract, job id `<run>.<segment>`), so a segment cannot be visited twice in a pass. The hot
 * segments are submitted first, hottest first, and the others after them in index order: a hot range is
 * checked at the start of every pass instead of wherever its index falls, at a uniform pass's reads.
 */
export function hotFirst(plan: FocusPlan): FocusPlan {
  if (plan.hot.length === 0) return { ...plan, order: Array.from({ length: plan.segments }, (_, i) => i) };
  const hot = plan.hot.map((h) => ({ ...h, visits: 1 }));
  const first = new Set(hot.map((h) => h.segment));
  const rest = Array.from({ length: plan.segments }, (_, i) => i).filter((i) => !first.has(i));
  const parts = hot.map(
    (h) =>
      `segment ${h.segment + 1} (${h.divergences} divergence${h.divergences === 1 ? "" : "s"}, ${h.repaired} repaired)`,
  );
  return {
    order: [...hot.map((h) => h.segment), ...rest],
    segments: plan.segments,
    hot,
    reason: `hot ranges submitted first: ${parts.join(", ")}; the other ${rest.length} after them, each once per pass (one job per segment)`,
  };
}
