/** Source reliability: each replica's (and replica × column's) Wilson interval over settled decisions, ranked. Pure. */
import { type Reliability, reliability } from "./evidence.js";
import type { EvidenceRow } from "./evidence-rows.js";

/** One replica's reliability, its per-column scores, and the other counts of its history. */
export interface ReplicaReliability {
  readonly name: string;
  readonly reliability: Reliability;
  /** Per compared column with settled decisions, in config order. */
  readonly columns: readonly { readonly column: string; readonly reliability: Reliability }[];
  /** Of the settled decisions, those a person settled, and how many of them it lost. */
  readonly personSettled: number;
  readonly personLost: number;
  readonly regressions: number;
  /** Repairs written to it that failed, or that it refused (the record changed under the write). */
  readonly failed: number;
  readonly rejected: number;
  /**
   * True when its interval lies wholly below another replica's (high < the other's low): with 95%
   * confidence it is less reliable than that one. The ranking's "inconsistent history".
   */
  readonly flagged: boolean;
}

/**
 * The replicas ranked best first: by the interval's lower bound (a replica with little evidence is not
 * ranked above one with much evidence and the same score), then the score, then config order. Rows are
 * per replica × column × class (EvidenceSnapshot.byReplica); rows of replica "" are ignored. A replica
 * with no settled decisions scores 1 with the interval [0, 1].
 */
export function rankReliability(
  replicas: readonly string[],
  columns: readonly string[],
  rows: readonly EvidenceRow[],
): ReplicaReliability[] {
  const sum = (replica: string, column: string, pick: (r: EvidenceRow) => number) =>
    rows.filter((r) => r.replica === replica && (r.column ?? "") === column).reduce((n, r) => n + pick(r), 0);
  const ranked = replicas.map((name) => {
    const perColumn = columns
      .map((column) => ({
        column,
        reliability: reliability(
          sum(name, column, (r) => r.settled),
          sum(name, column, (r) => r.lost),
        ),
      }))
      .filter((c) => c.reliability.settled > 0);
    return {
      name,
      reliability: reliability(
        sum(name, "", (r) => r.settled),
        sum(name, "", (r) => r.lost),
      ),
      columns: perColumn,
      personSettled: sum(name, "", (r) => r.personSettled),
      personLost: sum(name, "", (r) => r.personLost),
      regressions: sum(name, "", (r) => r.regressions),
      failed: sum(name, "", (r) => r.failed),
      rejected: sum(name, "", (r) => r.rejected),
      flagged: false,
    };
  });
  const order = new Map(replicas.map((r, i) => [r, i]));
  ranked.sort(
    (a, b) =>
      b.reliability.low - a.reliability.low ||
      b.reliability.score - a.reliability.score ||
      order.get(a.name)! - order.get(b.name)!,
  );
  return ranked.map((r) => ({
    ...r,
    flagged: ranked.some((o) => o !== r && r.reliability.high < o.reliability.low),
  }));
}
