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
  /**
   * What the latest visits of each segment found (`LiveDrift`): drift being acted on now, before any of it is
   * settled. Makes a range hot the pass its drift is seen in, instead of after its repairs are recorded.
   */
  readonly live?: readonly LiveDrift[] | undefined;
}

/** What the latest visits of one segment found: divergent keys the run acts on (see `FocusTracker`). */
export interface LiveDrift {
  readonly segment: number;
  /** Divergent keys a visit found, half the latest visit and half the visits before (0 or more, fractional). */
  readonly found: number;
}

/** One hot segment of a focused pass, and why it is hot. */
export interface HotSegment {
  readonly segment: number;
  /** Visits in the pass (1 + its extra visits). */
  readonly visits: number;
  /** Divergences first seen in its range inside the window, of which `repaired` needed a repair. */
  readonly divergences: number;
  readonly repaired: number;
  /** Divergent keys its latest visits found (`LiveDrift.found`; 0 without live evidence). */
  readonly found: number;
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
 * Plans a pass over `segments` segments: the segments whose ranges drifted lately are hot, and share
 * `extraShare × segments` extra visits in proportion to their heat (each at least one). Two kinds of evidence
 * make a range hot, each on its own:
 * - settled: the drift first seen inside the window that needed a repair (`repaired`), not every divergence
 *   seen: a transient one (replication in flight, converging by itself) is seen more often the more often its
 *   range is scanned, so counting it would feed focus on itself;
 * - live (`options.live`): the divergent keys the latest visits of the range found and act on (a repair now,
 *   or a wait for the window). A count per visit is a snapshot of what the range holds, so visiting it more
 *   often does not raise it; it makes a range hot the pass its drift appears in, where settled evidence comes
 *   a window later, and it decays as each visit replaces half of it.
 * For each kind, a segment is hot when it exceeds twice the median per segment (background drift spread over
 * every range stays cold, and the hot ranges do not lift the bar they are measured against). Heat is the
 * segment's share of the settled evidence plus its share of the live, so either kind alone plans as before;
 * the hottest first (then repairs, divergences, index), at most `maxHot`. Visits are spread evenly over the
 * pass (a hot segment's k visits fall at (j + ½)/k of it, the cold segments in order at (c + ½)/C), so a hot
 * range is re-checked every few segments instead of once a pass.
 * No drift: the plain order 0…N−1. Same evidence, same plan.
 */
export function planFocus(
  segments: number,
  drift: readonly RangeDrift[],
  options: FocusOptions = {},
): FocusPlan {
  return planRest(segments, [], drift, options);
}

/**
 * Plans the rest of a pass that made the visits `made` (in order), from the evidence as it stands now: what
 * `planFocus` plans for a fresh pass, with the extra visits left to spend and the segments left to cover.
 * Segments not visited yet get one visit each (the pass still covers the whole key space), and the hot ones
 * share the extra visits left: the pass's extras less those made (a visit of a segment already visited is an
 * extra) — or, while it has made none, at most `extraShare` per segment left to cover, so heat found at a
 * pass's last segment or two adds a visit or two. Once an extra is made the pass has its full extras: a plain
 * pass that turns hot midway is a focused pass for its rest (at most (1 + extraShare) × N visits, as any
 * focused pass, and the next pass waits by its stretch). `order` is the rest only; `hot` and `reason` describe
 * the whole pass (visits made and planned).
 * With nothing made, this is `planFocus`.
 */
export function planRest(
  segments: number,
  made: readonly number[],
  drift: readonly RangeDrift[],
  options: FocusOptions = {},
): FocusPlan {
  const maxHot = options.maxHot ?? Math.max(1, Math.floor(segments / 4));
  const visited = new Set(made.filter((s) => s >= 0 && s < segments));
  const unvisited = Array.from({ length: segments }, (_, i) => i).filter((i) => !visited.has(i));
  const ranked = hotRanges(segments, drift, options.live ?? []);
  const extraShare = options.extraShare ?? 1;
  const spent = made.length - visited.size;
  const candidates = ranked.slice(0, maxHot);
  // A pass that made an extra visit keeps the extras it has not spent; one that made none yet earns extras for
  // the segments it has left only (heat found at its very end adds a visit or two, not a whole focused pass).
  const budget =
    spent > 0
      ? Math.round(extraShare * segments) - spent
      : Math.min(Math.round(extraShare * segments), Math.round(extraShare * unvisited.length));
  const quiet = `no drift needed a repair lately${options.live ? " and none is open now" : ""}: every segment once`;
  if (segments < 2 || candidates.length === 0) return { order: unvisited, segments, hot: [], reason: quiet };
  if (budget < 1) {
    // Its extras spent: the pass covers what it has left, and says what it prioritised.
    const hot = passHot(candidates, made, []);
    return { order: unvisited, segments, hot, reason: hot.length ? focusReason(hot, segments) : quiet };
  }
  // At most one hot segment per extra visit left (the hottest).
  const extra = budget;
  const hotNow = candidates.slice(0, extra);
  const heat = hotNow.reduce((n, d) => n + d.heat, 0);
  // Each hot segment gets one extra visit, and the rest in proportion to its heat (largest remainder).
  const rest = extra - hotNow.length;
  const shares = hotNow.map((d) => {
    const exact = heat > 0 ? (rest * d.heat) / heat : rest / hotNow.length;
    return { d, extra: 1 + Math.floor(exact), remainder: exact - Math.floor(exact) };
  });
  let left = extra - shares.reduce((n, s) => n + s.extra, 0);
  for (const s of [...shares].sort((a, b) => b.remainder - a.remainder || a.d.segment - b.d.segment)) {
    if (left <= 0) break;
    s.extra++;
    left--;
  }
  // A hot segment not visited yet owes its first visit too.
  const visits = new Map(shares.map((s) => [s.d.segment, s.extra + (visited.has(s.d.segment) ? 0 : 1)]));
  // The rest is R visits: the cold segments (in index order) as one stream of C visits, and each hot segment
  // as a stream of its k visits. A stream's visits fall one every g = R/k slots, the first at g/2 — or, when
  // the stream was visited `ago` visits back in this pass, g after that visit — and the slots are taken in
  // order of those times. Anchoring on the last visit keeps each stream's rhythm when the rest is planned
  // again after every visit (restarting at g/2 would put the hottest segment first every time).
  const cold = unvisited.filter((seg) => !visits.has(seg));
  const length = cold.length + [...visits.values()].reduce((n, k) => n + k, 0);
  const firstAt = (g: number, last: number) =>
    Math.max(0.5, last < 0 ? g / 2 - made.length : last - made.length + 0.5 + g);
  const lastCold = made.reduce((at, seg, i) => (visits.has(seg) ? at : i), -1);
  const coldFirst = firstAt(length / Math.max(1, cold.length), lastCold);
  const slots = cold.map((segment, c) => ({ at: coldFirst + (c * length) / cold.length, segment }));
  for (const [segment, k] of visits) {
    const g = length / k;
    const first = firstAt(g, made.lastIndexOf(segment));
    for (let j = 0; j < k; j++) slots.push({ at: first + j * g, segment });
  }
  slots.sort((a, b) => a.at - b.at || a.segment - b.segment);
  const order = slots.map((s) => s.segment);
  const hot = passHot(candidates, made, order);
  return { order, segments, hot, reason: hot.length ? focusReason(hot, segments) : quiet };
}

/** The hot segments as the whole pass treats them: visits made and planned (those visited more than once). */
function passHot(
  candidates: readonly Ranked[],
  made: readonly number[],
  rest: readonly number[],
): HotSegment[] {
  const count = (seg: number) => made.filter((s) => s === seg).length + rest.filter((s) => s === seg).length;
  return candidates
    .map((d) => ({
      segment: d.segment,
      visits: count(d.segment),
      divergences: d.divergences,
      repaired: d.repaired,
      found: d.found,
    }))
    .filter((h) => h.visits > 1);
}

interface Ranked {
  readonly segment: number;
  readonly divergences: number;
  readonly repaired: number;
  readonly found: number;
  readonly heat: number;
}

/** The hot segments by both kinds of evidence (see `planFocus`), hottest first. */
function hotRanges(segments: number, drift: readonly RangeDrift[], live: readonly LiveDrift[]): Ranked[] {
  const repairs = Array.from({ length: segments }, () => 0);
  const divergences = Array.from({ length: segments }, () => 0);
  const found = Array.from({ length: segments }, () => 0);
  for (const d of drift)
    if (d.segment >= 0 && d.segment < segments) {
      repairs[d.segment]! += d.repaired;
      divergences[d.segment]! += d.divergences;
    }
  for (const l of live) if (l.segment >= 0 && l.segment < segments) found[l.segment]! += Math.max(0, l.found);
  // Hot: more than twice the median per segment (segments without evidence count as 0). The median, not the
  // mean: a few hot ranges lift the mean (two ranges at 10× make it 2.1× the background, hiding ranges at up
  // to 4×) but not the median, so background drift spread over every range stays cold while a range that drew
  // its first repairs when most drew none is already hot (with a share of the extras to match).
  const score = repairs.map((r, s) => r + found[s]!);
  const bar = 2 * median(score);
  const ranked: Ranked[] = [];
  for (let s = 0; s < segments; s++) {
    if (!(score[s]! > bar)) continue;
    ranked.push({
      segment: s,
      divergences: divergences[s]!,
      repaired: repairs[s]!,
      found: found[s]!,
      heat: score[s]!,
    });
  }
  return ranked.sort(
    (a, b) =>
      b.heat - a.heat || b.repaired - a.repaired || b.divergences - a.divergences || a.segment - b.segment,
  );
}

/**
 * What the latest visits of each segment found, for `planFocus`'s live evidence: a run's observer tells it
 * every visit (`observe`), and a pass asks `live()` when it plans. Each segment keeps half its latest visit's
 * count and half what it kept before, so one visit moves it at once and a range whose drift was repaired
 * cools within a few visits. A change of segment count forgets everything (indexes name other ranges).
 * Memory: one number per segment.
 */
export class FocusTracker {
  private found = new Map<number, number>();
  private segments = 0;

  observe(segment: number, of: number, found: number): void {
    if (of !== this.segments) {
      this.found = new Map();
      this.segments = of;
    }
    const before = this.found.get(segment);
    this.found.set(segment, before === undefined ? found : (before + found) / 2);
  }

  live(segments: number): LiveDrift[] {
    if (segments !== this.segments) return [];
    return [...this.found].sort((a, b) => a[0] - b[0]).map(([segment, found]) => ({ segment, found }));
  }
}

/**
 * The divergent keys a visit acts on, for `FocusTracker`: those its plan repairs or waits on (drift younger
 * than the window); not those ignored (tolerated) or escalated (a person decides: scanning more often does
 * not help). A scan without a plan counts its divergences but tolerated and in-flight ones.
 */
export function foundDrift(work: {
  readonly scan: { readonly divergences: readonly { readonly class: string }[] };
  readonly plan?: { readonly decisions: readonly { readonly action: string }[] } | undefined;
}): number {
  if (work.plan)
    return work.plan.decisions.filter((d) => d.action !== "ignore" && d.action !== "escalate").length;
  return work.scan.divergences.filter((d) => d.class !== "tolerated" && d.class !== "in-flight").length;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function focusReason(hot: readonly HotSegment[], segments: number): string {
  const parts = hot.map((h) => `segment ${h.segment + 1} ${h.visits}× (${evidenceText(h)})`);
  return `hot ranges scanned more often: ${parts.join(", ")}; the other ${segments - hot.length} once per pass`;
}

/** "12 divergences, 4 repaired; 2.5 open now" — the evidence that made a segment hot. */
function evidenceText(h: HotSegment): string {
  const settled = `${h.divergences} divergence${h.divergences === 1 ? "" : "s"}, ${h.repaired} repaired`;
  return h.found > 0 ? `${settled}; ${Math.round(h.found * 10) / 10} open now` : settled;
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
  const parts = hot.map((h) => `segment ${h.segment + 1} (${evidenceText(h)})`);
  return {
    order: [...hot.map((h) => h.segment), ...rest],
    segments: plan.segments,
    hot,
    reason: `hot ranges submitted first: ${parts.join(", ")}; the other ${rest.length} after them, each once per pass (one job per segment)`,
  };
}
