/** Recurring patterns: the same replica losing the same column or range in the same class, and people's repeated choices. Pure. */
import type { EvidenceRow, EvidenceSnapshot } from "./evidence-rows.js";

/**
 * - `loses`: a replica held the losing value of `column` (or, with `segment`, anywhere in that key range)
 *   in `count` of the `of` decisions of `class` it took part in.
 * - `person-choice`: on escalated divergences of `class` on `column`, people picked `replica` in `count` of
 *   the `of` decisions they settled.
 */
export interface Pattern {
  readonly kind: "loses" | "person-choice";
  readonly summary: string;
  readonly class: string;
  readonly column?: string;
  readonly segment?: number;
  readonly replica: string;
  readonly count: number;
  readonly of: number;
}

/** What makes a pattern: at least `minCount` occurrences in at least `minShare` of its decisions. */
export interface PatternOptions {
  readonly minCount?: number;
  readonly minShare?: number;
}

const CLASS_WORDS: Readonly<Record<string, string>> = {
  conflict: "conflicts",
  stale: "stale records",
  missing: "missing records",
  "lww-tie": "timestamp ties",
  regression: "regressions",
  unversioned: "unversioned differences",
};

const classWords = (c: string) => CLASS_WORDS[c] ?? `${c} divergences`;

/**
 * Patterns, most frequent first: (class, column, replica) and (class, range, replica) combinations in which
 * a replica keeps losing, and (class, column) combinations where people keep picking the same replica.
 * Defaults: at least 3 occurrences making at least 80% of the decisions concerned.
 */
export function findPatterns(snapshot: EvidenceSnapshot, options: PatternOptions = {}): Pattern[] {
  const minCount = options.minCount ?? 3;
  const minShare = options.minShare ?? 0.8;
  const out: Pattern[] = [];
  const keep = (count: number, of: number) => count >= minCount && of > 0 && count / of >= minShare;
  for (const r of snapshot.byReplica) {
    if (!r.replica || !r.column || !r.class) continue;
    if (keep(r.lost, r.settled))
      out.push({
        kind: "loses",
        summary: `${classWords(r.class)} on ${r.column}: ${r.replica} held the losing value in ${r.lost} of ${r.settled}`,
        class: r.class,
        column: r.column,
        replica: r.replica,
        count: r.lost,
        of: r.settled,
      });
    const picked = r.personSettled - r.personLost;
    if (keep(picked, r.personSettled))
      out.push({
        kind: "person-choice",
        summary: `${classWords(r.class)} on ${r.column}: people picked replica ${r.replica} in ${picked} of ${r.personSettled}`,
        class: r.class,
        column: r.column,
        replica: r.replica,
        count: picked,
        of: r.personSettled,
      });
  }
  for (const r of snapshot.lostBySegment as readonly EvidenceRow[]) {
    if (!r.replica || !r.class || r.segment === undefined || r.segment < 0) continue;
    if (keep(r.lost, r.settled))
      out.push({
        kind: "loses",
        summary: `${classWords(r.class)} in range ${r.segment}: ${r.replica} held the losing value in ${r.lost} of ${r.settled}`,
        class: r.class,
        segment: r.segment,
        replica: r.replica,
        count: r.lost,
        of: r.settled,
      });
  }
  return out.sort(
    (a, b) => b.count - a.count || (a.summary < b.summary ? -1 : a.summary > b.summary ? 1 : 0),
  );
}
