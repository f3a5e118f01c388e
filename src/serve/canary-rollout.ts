/**
 * A staged rollout's state in serve: the step (share of keys the candidate decides), passes that held, the
 * approvals a promotion collects, and the automatic rollback when the candidate's keys fare worse than the
 * live policy's by more than the declared margin. Pure bookkeeping: the runner feeds it and records its events.
 */
import { createHash } from "node:crypto";
import type { CandidateConfig } from "../config/load-config.js";
import type { CanaryFigures, SideFigures } from "../engine/segment-report.js";

export type { SideFigures } from "../engine/segment-report.js";

/** The rollout as the API shows it. */
export interface CanaryView {
  readonly mode: "canary";
  readonly file: string;
  readonly status: "running" | "awaiting-approval" | "rolled-back" | "complete";
  readonly step: number;
  readonly steps: readonly number[];
  /** The share of keys the candidate decides now (0 once rolled back). */
  readonly fraction: number;
  readonly goodPasses: number;
  readonly passesNeeded: number;
  readonly approvals: readonly string[];
  readonly approvalsNeeded: number;
  readonly margin: number;
  readonly candidatePolicyVersion: string | null;
  /** The last pass's figures per side, and why it rolled back (when it did). */
  readonly last: { readonly live: SideFigures; readonly candidate: SideFigures } | null;
  readonly rollback: string | null;
}

/** What a pass or an approval did to the rollout, for the audit. */
export type CanaryEvent =
  | { readonly type: "canary-step"; readonly data: Record<string, unknown> }
  | { readonly type: "canary-rolled-back"; readonly data: Record<string, unknown> };

/** Refused approvals: `kind` picks the HTTP status (409). */
export class CanaryError extends Error {
  override readonly name = "CanaryError";
}

/**
 * What a rollout's progress is kept as in the state store (RolloutStore, kind `canary`): everything but the
 * candidate's settings, which come from the config; the pass in flight's tallies with the pass's run id, so
 * a resumed pass goes on counting where it stopped.
 */
export interface CanarySnapshot {
  readonly status: CanaryView["status"];
  readonly step: number;
  readonly goodPasses: number;
  readonly approvers: readonly string[];
  readonly candidateVersion: string | null;
  readonly last: CanaryView["last"];
  readonly rollback: string | null;
  readonly pass: { readonly live: SideFigures; readonly candidate: SideFigures };
  readonly passRun: string | null;
}

/**
 * The identity of a candidate as a rollout: its file, settings and policy, hashed. A stored rollout whose
 * subject differs belongs to another candidate (the config changed while serve was down) and is not resumed.
 */
export function candidateSubject(c: CandidateConfig): string {
  const { file, mode, steps, passes, approvals, margin, policy } = c;
  const text = JSON.stringify({ file, mode, steps, passes, approvals, margin, policy });
  return `sha256:${createHash("sha256").update(text).digest("hex")}`;
}

export class CanaryRollout {
  private status: CanaryView["status"] = "running";
  private step = 0;
  private goodPasses = 0;
  private approvers = new Set<string>();
  private candidateVersion: string | null = null;
  private last: CanaryView["last"] = null;
  private rollback: string | null = null;
  private pass = { live: { decided: 0, bad: 0 }, candidate: { decided: 0, bad: 0 } };
  private passRun: string | null = null;

  /** A rollout at its first step, or where `saved` left it (a snapshot of the same candidate). */
  constructor(
    readonly config: CandidateConfig,
    saved?: CanarySnapshot,
  ) {
    if (!saved) return;
    this.status = saved.status;
    // A step past the declared ones (steps shortened without changing the subject cannot happen, but a
    // snapshot is read from outside): the last step.
    this.step = Math.min(Math.max(0, Math.floor(saved.step)), config.steps.length - 1);
    this.goodPasses = saved.goodPasses;
    this.approvers = new Set(saved.approvers);
    this.candidateVersion = saved.candidateVersion;
    this.last = saved.last;
    this.rollback = saved.rollback;
    this.pass = { live: { ...saved.pass.live }, candidate: { ...saved.pass.candidate } };
    this.passRun = saved.passRun;
  }

  /** The progress to keep (see CanarySnapshot). */
  snapshot(): CanarySnapshot {
    return {
      status: this.status,
      step: this.step,
      goodPasses: this.goodPasses,
      approvers: [...this.approvers],
      candidateVersion: this.candidateVersion,
      last: this.last,
      rollback: this.rollback,
      pass: { live: { ...this.pass.live }, candidate: { ...this.pass.candidate } },
      passRun: this.passRun,
    };
  }

  /** The share of keys the candidate decides in the next pass (0: not applied). */
  get fraction(): number {
    return this.status === "rolled-back" ? 0 : (this.config.steps[this.step] ?? 1);
  }

  /**
   * A pass starts, under `version` of the candidate. A pass resumed after a restart (`runId` the pass whose
   * tallies are kept) goes on counting; any other starts its tallies afresh.
   */
  startPass(version: string, runId?: string): void {
    const resumed = runId !== undefined && runId === this.passRun && version === this.candidateVersion;
    this.candidateVersion = version;
    this.passRun = runId ?? null;
    if (!resumed) this.pass = { live: { decided: 0, bad: 0 }, candidate: { decided: 0, bad: 0 } };
  }

  /** A group of segments (in this process or on a worker): how each side's keys fared. */
  add(figures: CanaryFigures): void {
    for (const side of ["live", "candidate"] as const) {
      this.pass[side].decided += figures[side].decided;
      this.pass[side].bad += figures[side].bad;
    }
  }

  /** A repair pass finished: rolls back past the margin, else counts a good pass. Returns what to audit. */
  finishPass(): CanaryEvent[] {
    this.passRun = null;
    if (this.status === "rolled-back" || this.status === "complete") return [];
    const { live, candidate } = this.pass;
    this.last = { live: { ...live }, candidate: { ...candidate } };
    const rate = (s: SideFigures) => (s.decided ? s.bad / s.decided : 0);
    if (candidate.decided > 0 && rate(candidate) - rate(live) > this.config.margin) {
      const fraction = this.fraction;
      this.status = "rolled-back";
      this.rollback = `the candidate's keys fared worse: ${candidate.bad} of ${candidate.decided} escalated, failed or superseded (${(rate(candidate) * 100).toFixed(1)}%) against ${live.bad} of ${live.decided} (${(rate(live) * 100).toFixed(1)}%) under the live policy, past the margin ${this.config.margin}`;
      return [
        {
          type: "canary-rolled-back",
          data: {
            step: this.step,
            fraction,
            live,
            candidate,
            margin: this.config.margin,
            reason: this.rollback,
          },
        },
      ];
    }
    this.goodPasses++;
    if (this.goodPasses >= this.config.passes && this.status === "running") this.status = "awaiting-approval";
    return [];
  }

  /**
   * An approver approves promotion to the next step: only once the step held for its passes, once per
   * approver. With enough distinct approvers the rollout moves on (or completes after the last step).
   */
  approve(by: string): CanaryEvent[] {
    if (this.status !== "awaiting-approval")
      throw new CanaryError(
        this.status === "running"
          ? `the step has held for ${this.goodPasses} of ${this.config.passes} passes; approve once it has held for all`
          : `the rollout is ${this.status}`,
      );
    if (this.approvers.has(by))
      throw new CanaryError(`${by} already approved this step; another approver is needed`);
    this.approvers.add(by);
    if (this.approvers.size < this.config.approvals) return [];
    const from = this.fraction;
    const approvers = [...this.approvers];
    this.step++;
    this.goodPasses = 0;
    this.approvers = new Set();
    this.status = this.step >= this.config.steps.length ? "complete" : "running";
    if (this.status === "complete") this.step = this.config.steps.length - 1;
    return [
      {
        type: "canary-step",
        data: { from, to: this.status === "complete" ? "complete" : this.fraction, approvers },
      },
    ];
  }

  view(): CanaryView {
    return {
      mode: "canary",
      file: this.config.file,
      status: this.status,
      step: this.step,
      steps: this.config.steps,
      fraction: this.fraction,
      goodPasses: this.goodPasses,
      passesNeeded: this.config.passes,
      approvals: [...this.approvers],
      approvalsNeeded: this.config.approvals,
      margin: this.config.margin,
      candidatePolicyVersion: this.candidateVersion,
      last: this.last,
      rollback: this.rollback,
    };
  }
}
