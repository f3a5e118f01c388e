/**
 * Adaptive focus as a run uses it: plans each pass's visit order from the range drift of a window and what the
 * latest visits found, re-plans the rest after each visit, and says how much longer the pass reads. Serve and
 * the simulator both wire it into runDataset's `focus`/`refocus`; it reads evidence only through `rangeDrift`.
 */
import type { RangeDrift } from "../learning/evidence.js";
import {
  FocusTracker,
  focusStretch,
  foundDrift,
  type HotSegment,
  hotFirst,
  planFocus,
  planRest,
} from "../learning/focus-order.js";
import type { SegmentOutcome } from "./run-dataset.js";
import type { SegmentReport } from "./segment-report.js";

/** What a pass is focused by: read at every plan, so a reloaded setting applies from the next one. */
export interface AdaptiveFocusSettings {
  /** Extra visits to hot segments per pass, as a share of the segment count (planFocus's default when absent). */
  readonly extraShare?: number | undefined;
  /** Drift first seen within this long before the plan counts; all of it when absent. */
  readonly windowMs?: number | undefined;
}

/** What the latest plan (or re-plan) of a pass came to: shown in serve's dataset status. */
export interface FocusPlanned {
  /** When the pass was planned, and the start of the drift window it read (ms since the epoch). */
  readonly plannedAt: number;
  readonly since: number;
  /** Segments of the pass, and visits it makes (more than segments when a range is hot). */
  readonly segments: number;
  readonly visits: number;
  /** Hot segments (0-based), hottest first. */
  readonly hot: readonly HotSegment[];
  /** One sentence: what was prioritised and why. */
  readonly reason: string;
}

export interface AdaptiveFocusOptions {
  /** The range drift first seen since `since` (the state store's evidence aggregates, or a reader over them). */
  readonly rangeDrift: (since: number) => Promise<readonly RangeDrift[]>;
  readonly now: () => number;
  /** Plan from what the latest visits found too, not only settled repairs (default true). */
  readonly live?: boolean | undefined;
  /**
   * The pass's segments run as jobs on workers (one per segment): its hot ranges go first rather than more
   * often (`hotFirst`). Default false.
   */
  readonly hotFirst?: boolean | undefined;
  /** Told each plan's reason, and a re-plan's when its hot ranges changed (and some are hot). */
  readonly log?: ((reason: string) => void) | undefined;
}

/**
 * One dataset's adaptive focus across its passes. Keeps the live evidence (`FocusTracker`: what each segment's
 * latest visits found, one number per segment) and the stretch of the latest focused pass (visits ÷ segments:
 * the wait before the next pass grows by it, so rows read per unit of time stay a uniform pass's).
 */
export class AdaptiveFocus {
  /** Visits ÷ segments of the latest focused pass (1 after an unfocused one: see `unfocused`). */
  stretch = 1;
  /** The latest plan or re-plan, if any. */
  planned: FocusPlanned | undefined;
  private readonly tracker = new FocusTracker();
  /** Divergent keys the pieces of the segment being visited found so far (a segment cut into pieces). */
  private pieces = 0;

  constructor(private readonly options: AdaptiveFocusOptions) {}

  /** runDataset's `focus`: the visit order of a pass over `segments` segments. */
  async plan(segments: number, settings: AdaptiveFocusSettings): Promise<readonly number[]> {
    const { now, since, drift } = await this.evidence(settings);
    const planned = planFocus(segments, drift, this.planOptions(segments, settings));
    const plan = this.options.hotFirst ? hotFirst(planned) : planned;
    this.stretch = focusStretch(plan);
    this.planned = {
      plannedAt: now,
      since,
      segments,
      visits: plan.order.length,
      hot: plan.hot,
      reason: plan.reason,
    };
    this.options.log?.(plan.reason);
    return plan.order;
  }

  /**
   * runDataset's `refocus`, after each visit of a local pass: the rest of the pass planned again from the
   * evidence as it stands (the visit just made may have found a range drifting).
   */
  async replan(made: readonly number[], segments: number, settings: AdaptiveFocusSettings) {
    const { now, since, drift } = await this.evidence(settings);
    const rest = planRest(segments, made, drift, this.planOptions(segments, settings));
    const visits = made.length + rest.order.length;
    this.stretch = visits / segments;
    const hotBefore = this.planned?.hot.map((h) => h.segment).join(",");
    this.planned = { plannedAt: now, since, segments, visits, hot: rest.hot, reason: rest.reason };
    if (rest.hot.length > 0 && rest.hot.map((h) => h.segment).join(",") !== hotBefore)
      this.options.log?.(rest.reason);
    return rest.order;
  }

  /**
   * A finished group of a pass (runDataset's `onSegmentDone`): a visit of one segment run in this process is
   * live evidence, its pieces added up and counted with the last.
   */
  observe(report: Pick<SegmentReport, "part">, work: SegmentOutcome | undefined): void {
    if (!work || work.to !== work.from + 1) return;
    this.pieces += foundDrift(work);
    if (!report.part || report.part.last) {
      this.tracker.observe(work.from, work.of, this.pieces);
      this.pieces = 0;
    }
  }

  /** A pass that runs without a focus order (a dirty-segment pass, or no plan): the next wait is not stretched. */
  unfocused(): void {
    this.stretch = 1;
  }

  private async evidence(settings: AdaptiveFocusSettings) {
    const now = this.options.now();
    const since = settings.windowMs === undefined ? 0 : now - settings.windowMs;
    return { now, since, drift: await this.options.rangeDrift(since) };
  }

  private planOptions(segments: number, settings: AdaptiveFocusSettings) {
    return {
      extraShare: settings.extraShare,
      ...(this.options.live !== false ? { live: this.tracker.live(segments) } : {}),
    };
  }
}
