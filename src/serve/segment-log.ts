/** The segment groups of a dataset's recent serve passes, kept in memory for the run drill-down. No I/O. */
import type { SegmentOutcome } from "../engine/run-dataset.js";
import type { SegmentView } from "./service-api.js";

/** Passes per dataset whose segment groups are kept. */
const PASSES = 20;

/** Segment groups by run id, for the last PASSES passes (oldest dropped first): memory stays bounded. */
export class SegmentLog {
  private readonly runs = new Map<string, SegmentView[]>();
  private startedAt = 0;

  constructor(
    private readonly dataset: string,
    private readonly now: () => number,
  ) {}

  /** A pass (new or resumed) starts: its list begins afresh, and the first group's clock starts. */
  begin(runId: string): void {
    this.runs.delete(runId);
    this.runs.set(runId, []);
    while (this.runs.size > PASSES) this.runs.delete(this.runs.keys().next().value!);
    this.startedAt = this.now();
  }

  /** The next group's clock starts now (after a pause between groups). */
  restart(): void {
    this.startedAt = this.now();
  }

  /** A group of `runId` finished: its figures, timed from when it started. */
  add(runId: string, segment: SegmentOutcome): void {
    const at = this.now();
    const { scan, results } = segment;
    const repairs: Record<string, number> = {};
    for (const r of results) repairs[r.outcome] = (repairs[r.outcome] ?? 0) + 1;
    const { schema: _schema, ...counts } = scan.counts;
    this.runs.get(runId)?.push({
      dataset: this.dataset,
      runId,
      from: segment.from,
      to: segment.to,
      of: segment.of,
      startedAt: this.startedAt,
      durationMs: at - this.startedAt,
      scanMs: scan.stats.durationMs,
      rows: Object.fromEntries(Object.entries(scan.replicas).map(([r, { rows }]) => [r, rows])),
      counts: counts as Record<string, number>,
      repairs,
      escalated: segment.plan?.decisions.filter((d) => d.action === "escalate").length ?? 0,
    });
    this.startedAt = at;
  }

  /** The groups of `runId` seen so far (empty when unknown). */
  of(runId: string): SegmentView[] {
    return [...(this.runs.get(runId) ?? [])];
  }
}
