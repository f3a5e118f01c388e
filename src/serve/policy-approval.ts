/**
 * A policy change waiting for distinct approvers before serve makes it live: promoting a shadow candidate
 * (`candidate: { mode: shadow, approvals: N }`), or adopting the policy a reload brought
 * (`policyApprovals: N`). Pure bookkeeping: the runner keeps it in the state store, applies it and records
 * its events.
 */
import { createHash } from "node:crypto";
import type { PolicyConfig } from "../config/load-config.js";

/** What is waiting, as the API shows it. */
export interface ApprovalView {
  /** `promotion`: the shadow candidate becomes the live policy; `reload`: the reloaded policy is adopted. */
  readonly kind: "promotion" | "reload";
  /** The file the policy comes from (the candidate's, or the config file). */
  readonly source: string;
  /** Who asked: the first approver of a promotion, who reloaded for a reload. */
  readonly requestedBy: string;
  readonly requestedAt: number;
  readonly approvals: readonly string[];
  readonly approvalsNeeded: number;
}

/** What is kept in the state store (RolloutStore, kind `approval`) and read back after a restart. */
export interface ApprovalSnapshot extends ApprovalView {
  /** What is approved: the candidate's subject (promotion), or the reloaded policy's (policySubject). */
  readonly subject: string;
  /** The policy that goes live once approved. */
  readonly policy: PolicyConfig;
  /** A reload's: the policy that stays live until then. */
  readonly from?: PolicyConfig | undefined;
}

/** Refused approvals (HTTP 409), and approving where nothing waits (404 for no dataset, 409 otherwise). */
export class ApprovalError extends Error {
  override readonly name = "ApprovalError";
}

/** A policy's identity for the store: a stored approval of another policy is not resumed. */
export function policySubject(policy: PolicyConfig): string {
  return `sha256:${createHash("sha256").update(JSON.stringify(policy)).digest("hex")}`;
}

/** What an approval did, for the audit: always `policy-approval`; `done` when it was the last one needed. */
export interface ApprovalOutcome {
  readonly done: boolean;
  readonly data: Record<string, unknown>;
}

export class PolicyApproval {
  private readonly approvers: string[];

  constructor(readonly snapshot: ApprovalSnapshot) {
    this.approvers = [...snapshot.approvals];
  }

  /** True once as many distinct approvers as needed approved. */
  get done(): boolean {
    return this.approvers.length >= this.snapshot.approvalsNeeded;
  }

  /** `by` approves; throws ApprovalError when they already did. */
  approve(by: string): ApprovalOutcome {
    if (this.approvers.includes(by))
      throw new ApprovalError(
        `${by} already approved this ${this.snapshot.kind}; another approver is needed`,
      );
    this.approvers.push(by);
    return {
      done: this.done,
      data: {
        kind: this.snapshot.kind,
        source: this.snapshot.source,
        by,
        approvals: [...this.approvers],
        needed: this.snapshot.approvalsNeeded,
      },
    };
  }

  view(): ApprovalView {
    const { policy: _p, from: _f, subject: _s, ...view } = this.snapshot;
    return { ...view, approvals: [...this.approvers] };
  }

  /** The state to keep (approvals so far). */
  state(): ApprovalSnapshot {
    return { ...this.snapshot, approvals: [...this.approvers] };
  }
}
