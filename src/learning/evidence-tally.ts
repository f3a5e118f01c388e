/** A step's evidence added up per cell as it is counted: pure, no I/O; the store adds the cells it yields. */
import type { EvidenceCounts, EvidenceIncrement } from "./evidence-increment.js";

/** Counters kept as a maximum, not a sum (the stores' EVIDENCE_MAXIMA). */
const MAXIMA: ReadonlySet<string> = new Set<keyof EvidenceCounts>(["noiseMax"]);

type Draft = { -readonly [K in keyof EvidenceCounts]?: number };

interface TallyCell {
  readonly segment: number;
  readonly facet: string;
  readonly replica: string;
  readonly column: string;
  readonly class: string;
  readonly counts: Draft;
}

/**
 * The increments of one step (one dataset, one time), added together per cell as they are counted: a plan
 * or a repair batch of 2,000 divergences counts ~16 events each but touches a few dozen cells, so it hands
 * the store one increment per cell instead of one object per event. Sums add, maxima keep the larger, as the
 * store adds them (`addEvidence` is commutative), so the store's totals are the same either way.
 */
export class EvidenceTally {
  private readonly cells = new Map<string, TallyCell>();

  constructor(
    readonly dataset: string,
    readonly at: number,
  ) {}

  /** Adds `counts` to the cell (segment, facet, replica, column, class). */
  add(
    segment: number,
    facet: string,
    replica: string,
    column: string,
    cls: string,
    counts: Partial<EvidenceCounts>,
  ): void {
    // NUL occurs in no name (replicas, columns, classes), so it separates them safely.
    const id = `${segment}\0${facet}\0${replica}\0${column}\0${cls}`;
    let cell = this.cells.get(id);
    if (!cell) {
      cell = { segment, facet, replica, column, class: cls, counts: {} };
      this.cells.set(id, cell);
    }
    const into = cell.counts;
    for (const c in counts) {
      const name = c as keyof EvidenceCounts;
      const v = counts[name];
      if (v === undefined) continue;
      const was = into[name];
      into[name] = was === undefined ? v : MAXIMA.has(name) ? Math.max(was, v) : was + v;
    }
  }

  /** One increment per cell, in the order each cell was first counted. */
  increments(): EvidenceIncrement[] {
    const out: EvidenceIncrement[] = [];
    for (const c of this.cells.values())
      out.push({
        dataset: this.dataset,
        at: this.at,
        segment: c.segment,
        facet: c.facet,
        replica: c.replica,
        column: c.column,
        class: c.class,
        counts: c.counts,
      });
    return out;
  }
}
