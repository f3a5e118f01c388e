/** Hotspots: where drift concentrates (key ranges, columns, a declared field's values, hours of the day), with rate and trend. Pure. */
import { BENIGN_CLASSES, type EvidenceRow, type EvidenceSnapshot } from "./evidence-rows.js";

export type HotspotKind = "range" | "column" | "field" | "hour";

/** Whether the drift needed repairs (genuine) or went away by itself (transient spikes). */
export type HotspotNature = "drift" | "transient";

/** Rising: the recent window holds at least 1.5× the previous one's; falling: at most 1/1.5; new: none before. */
export type HotspotTrend = "rising" | "steady" | "falling" | "new";

export interface Hotspot {
  readonly kind: HotspotKind;
  /** The range's segment index, the column's name, `field=value`, or the UTC hour (`14:00`). */
  readonly where: string;
  /** Divergences in the recent window (for `hour`: every hour bucket retained, by hour of day). */
  readonly divergences: number;
  /** Divergences per day over the window. */
  readonly rate: number;
  readonly trend: HotspotTrend;
  /** Divergences in the window before (for `hour`: 0). */
  readonly previous: number;
  /** Its share of the kind's divergences, and how many times the mean place's count it holds. */
  readonly share: number;
  readonly lift: number;
  /** Divergences here that needed a repair, and those that were transient (converged by themselves, in flight). */
  readonly repaired: number;
  readonly transient: number;
  readonly nature: HotspotNature;
  /** The range's index (kind `range`), for callers that act on it (adaptive focus). */
  readonly segment?: number;
}

/** What makes a place hot: at least `minDivergences`, and at least `minLift` times the mean place's count. */
export interface HotspotOptions {
  readonly minDivergences?: number;
  readonly minLift?: number;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;

interface Place {
  divergences: number;
  repaired: number;
  transient: number;
  segment?: number;
}

function gather(rows: readonly EvidenceRow[], placeOf: (r: EvidenceRow) => string | undefined) {
  const places = new Map<string, Place>();
  for (const r of rows) {
    const where = placeOf(r);
    if (where === undefined) continue;
    const p = places.get(where) ?? { divergences: 0, repaired: 0, transient: 0 };
    const benign = BENIGN_CLASSES.has(r.class ?? "");
    // Tolerated differences and probe anomalies are not drift; in-flight ones are transient until they stay.
    if (r.class !== "tolerated" && r.class !== "read-after-write") p.divergences += r.divergences;
    p.repaired += r.repaired;
    p.transient += r.selfConverged + (benign && r.class === "in-flight" ? r.divergences : 0);
    if (r.segment !== undefined) p.segment = r.segment;
    places.set(where, p);
  }
  return places;
}

function trendOf(recent: number, previous: number): HotspotTrend {
  if (previous === 0) return recent > 0 ? "new" : "steady";
  if (recent >= previous * 1.5) return "rising";
  if (recent * 1.5 <= previous) return "falling";
  return "steady";
}

function hot(
  kind: HotspotKind,
  recent: Map<string, Place>,
  both: Map<string, Place>,
  placesCount: number,
  windowMs: number,
  options: Required<HotspotOptions>,
): Hotspot[] {
  const total = [...recent.values()].reduce((n, p) => n + p.divergences, 0);
  const count = Math.max(placesCount, recent.size);
  if (total === 0 || count < 2) return [];
  const mean = total / count;
  const out: Hotspot[] = [];
  for (const [where, p] of recent) {
    const lift = p.divergences / mean;
    if (p.divergences < options.minDivergences || lift < options.minLift) continue;
    const previous = Math.max(0, (both.get(where)?.divergences ?? p.divergences) - p.divergences);
    out.push({
      kind,
      where,
      divergences: p.divergences,
      rate: p.divergences / (windowMs / DAY),
      trend: trendOf(p.divergences, previous),
      previous,
      share: p.divergences / total,
      lift,
      repaired: p.repaired,
      transient: p.transient,
      nature: p.transient > p.repaired ? "transient" : "drift",
      ...(p.segment !== undefined ? { segment: p.segment } : {}),
    });
  }
  return out;
}

/**
 * The dataset's hotspots, hottest first (most divergences, then kind order range, column, field, hour).
 * A place is hot when it holds at least `minDivergences` (default 3) divergences in the recent window and
 * at least `minLift` (default 2) times the mean place's count — the mean over every range the last pass
 * cut, every compared column, every field value seen, or the 24 hours of the day. Tolerated differences and
 * probe anomalies are not counted. A hotspot's `nature` is `transient` when more of its divergences went
 * away by themselves (or were in flight) than needed a repair. Hours of the day need at least two days of
 * hour buckets (before that an hour only says when the runs ran).
 */
export function findHotspots(snapshot: EvidenceSnapshot, options: HotspotOptions = {}): Hotspot[] {
  const o = { minDivergences: options.minDivergences ?? 3, minLift: options.minLift ?? 2 };
  const segment = (r: EvidenceRow) =>
    r.segment !== undefined && r.segment >= 0 ? String(r.segment) : undefined;
  const column = (r: EvidenceRow) => (r.column ? r.column : undefined);
  const facet = (r: EvidenceRow) => (r.facet ? r.facet : undefined);
  const w = snapshot.windowMs;
  const ranges = hot(
    "range",
    gather(snapshot.recentBySegment, segment),
    gather(snapshot.twoWindowsBySegment, segment),
    snapshot.segments ?? 0,
    w,
    o,
  );
  const columns = hot(
    "column",
    gather(snapshot.recentByColumn, column),
    gather(snapshot.twoWindowsByColumn, column),
    snapshot.columns.length,
    w,
    o,
  );
  const fields = hot(
    "field",
    gather(snapshot.recentByFacet, facet),
    gather(snapshot.twoWindowsByFacet, facet),
    0,
    w,
    o,
  );
  // Hours of the day from the hour buckets retained (days rolled up no longer say which hour).
  const hourly = snapshot.byBucket.filter((r) => r.spanHours === 1 && r.bucket !== undefined);
  const span = hourly.length ? Math.max(DAY, snapshot.now - Math.min(...hourly.map((r) => r.bucket!))) : DAY;
  const hourOf = (r: EvidenceRow) => `${String(Math.floor((r.bucket! % DAY) / HOUR)).padStart(2, "0")}:00`;
  // Under two days of hours, an hour of the day is only when the runs happened: no profile yet.
  const hours =
    span < 2 * DAY
      ? []
      : hot("hour", gather(hourly, hourOf), new Map(), 24, span, o).map((h) => ({
          ...h,
          trend: "steady" as const,
        }));
  const kinds: HotspotKind[] = ["range", "column", "field", "hour"];
  return [...ranges, ...columns, ...fields, ...hours].sort(
    (a, b) =>
      b.divergences - a.divergences ||
      kinds.indexOf(a.kind) - kinds.indexOf(b.kind) ||
      (a.where < b.where ? -1 : a.where > b.where ? 1 : 0),
  );
}
