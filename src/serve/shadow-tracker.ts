/** What a candidate policy in shadow would have done, pass by pass: agreement, disagreements by rule, its writes. */
import type { ShadowDisagreement, ShadowFigures } from "../engine/segment-report.js";

/** Disagreements kept for the API (the latest), and per pass in its audit entry. */
const KEPT = 100;

export type { ShadowDecision, ShadowDisagreement } from "../engine/segment-report.js";

/** The shadow's figures: since the service started (or the candidate changed), and the last finished pass. */
export interface ShadowView {
  readonly mode: "shadow";
  readonly file: string;
  readonly livePolicyVersion: string | null;
  readonly candidatePolicyVersion: string | null;
  readonly passes: number;
  readonly agree: number;
  readonly disagree: number;
  /** agree / (agree + disagree); null before any divergence was decided. */
  readonly agreementRate: number | null;
  /** Disagreements counted by the pair of rules that decided them, most first. */
  readonly byRule: readonly { readonly live: string; readonly candidate: string; readonly count: number }[];
  /** The latest disagreements (at most 100), newest last. */
  readonly disagreements: readonly ShadowDisagreement[];
  /** Writes the candidate would have made that the live policy did not make (or made otherwise), since it started. */
  readonly wouldWrite: number;
}

/** Accumulates a shadow candidate's comparisons; one per dataset runner. */
export class ShadowTracker {
  private versions = { live: null as string | null, candidate: null as string | null };
  private passes = 0;
  private agree = 0;
  private disagree = 0;
  private wouldWrite = 0;
  private readonly byRule = new Map<string, { live: string; candidate: string; count: number }>();
  private latest: ShadowDisagreement[] = [];
  private pass = { agree: 0, disagree: 0, disagreements: [] as ShadowDisagreement[] };

  constructor(readonly file: string) {}

  /** The two policies a pass decides by. */
  start(live: string, candidate: string): void {
    this.versions = { live, candidate };
    this.pass = { agree: 0, disagree: 0, disagreements: [] };
  }

  /** One group of segments compared (in this process or on a worker). */
  add(figures: ShadowFigures): void {
    this.agree += figures.agree;
    this.pass.agree += figures.agree;
    this.disagree += figures.disagree;
    this.pass.disagree += figures.disagree;
    this.wouldWrite += figures.wouldWrite;
    for (const { live, candidate, count } of figures.byRule) {
      const id = `${live}\u0000${candidate}`;
      const r = this.byRule.get(id) ?? { live, candidate, count: 0 };
      r.count += count;
      this.byRule.set(id, r);
    }
    for (const view of figures.disagreements) {
      if (this.pass.disagreements.length < KEPT) this.pass.disagreements.push(view);
      this.latest.push(view);
    }
    if (this.latest.length > KEPT) this.latest = this.latest.slice(-KEPT);
  }

  /** A pass finished: its summary, for its audit entry. */
  finishPass(): Record<string, unknown> {
    this.passes++;
    return {
      file: this.file,
      livePolicyVersion: this.versions.live,
      candidatePolicyVersion: this.versions.candidate,
      agree: this.pass.agree,
      disagree: this.pass.disagree,
      disagreements: this.pass.disagreements,
    };
  }

  view(): ShadowView {
    const decided = this.agree + this.disagree;
    return {
      mode: "shadow",
      file: this.file,
      livePolicyVersion: this.versions.live,
      candidatePolicyVersion: this.versions.candidate,
      passes: this.passes,
      agree: this.agree,
      disagree: this.disagree,
      agreementRate: decided ? this.agree / decided : null,
      byRule: [...this.byRule.values()].sort((a, b) => b.count - a.count),
      disagreements: this.latest,
      wouldWrite: this.wouldWrite,
    };
  }
}
