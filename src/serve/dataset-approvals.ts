/**
 * One dataset's policy approvals under `serve`: a reloaded policy held for its approvers
 * (`policyApprovals`), a shadow candidate promoted to live by its approvers, both kept in the state store
 * (RolloutStore kinds `approval`, `promoted`) and audited. Decides which policy runs; never runs a pass.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { StateStore } from "../state/state-store.js";
import { candidateSubject } from "./canary-rollout.js";
import {
  ApprovalError,
  type ApprovalSnapshot,
  type ApprovalView,
  PolicyApproval,
  policySubject,
} from "./policy-approval.js";

export interface DatasetApprovalsDeps {
  readonly dataset: string;
  readonly state: StateStore;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** The config file the datasets' policies come from (named as a reload's source). */
  readonly configFile?: string | undefined;
  /** Signs the audit log's head after an approval's entry (when anchoring is configured). */
  readonly anchor?: (() => Promise<void>) | undefined;
  /** Told after each approval's audit entry (alert evaluation). */
  readonly onChange?: (() => void) | undefined;
  /**
   * An approved change is live from now: the runner takes `effective(file)` as the dataset it runs, and names
   * `actor` as who changed its policy in the next pass. `promoted`: it was the shadow candidate (its figures
   * start afresh). Called before the change's audit entry.
   */
  readonly adopted: (change: { readonly actor: string; readonly promoted: boolean }) => void;
}

type ApprovalEntry =
  | "policy-approval-requested"
  | "policy-approval"
  | "policy-approved"
  | "candidate-promoted";

/**
 * What waits for approvers and what was promoted, for one dataset. Invariant: at most one change waits (a
 * reload's or a promotion's); `effective(file)` is the dataset as it runs given the file's version of it.
 */
export class DatasetApprovals {
  /** A policy change waiting for its approvers (kept in the state store, kind `approval`). */
  private approval: PolicyApproval | undefined;
  /** The shadow candidate promoted to live, by its subject and approvers (kept, kind `promoted`). */
  private promoted: { readonly subject: string; readonly approvers: readonly string[] } | undefined;

  constructor(private readonly deps: DatasetApprovalsDeps) {}

  /** The policy change waiting for approvers, if any. */
  view(): ApprovalView | undefined {
    return this.approval?.view();
  }

  /** The dataset as it runs: the file's, with a promoted candidate as its policy or a held reload's old one. */
  effective(file: DatasetConfig): DatasetConfig {
    const c = file.candidate;
    if (c && this.promoted?.subject === candidateSubject(c))
      return { ...file, policy: c.policy, candidate: undefined };
    const a = this.approval?.snapshot;
    if (a?.kind === "reload" && a.from && JSON.stringify(file.policy) === JSON.stringify(a.policy))
      return { ...file, policy: a.from };
    return file;
  }

  /**
   * Reads what a restart must not forget: a promotion made, and a change waiting for approvers; what no longer
   * fits the file (another candidate, another policy) is dropped from the store.
   */
  async restore(file: DatasetConfig): Promise<void> {
    const { state } = this.deps;
    const [promoted, waiting] = await Promise.all([
      state.getRollout(file.name, "promoted"),
      state.getRollout(file.name, "approval"),
    ]);
    if (promoted && file.candidate && promoted.subject === candidateSubject(file.candidate))
      this.promoted = {
        subject: promoted.subject,
        approvers: (promoted.state as { approvers: string[] }).approvers,
      };
    else if (promoted) await state.deleteRollout(file.name, "promoted");
    const a = waiting?.state as ApprovalSnapshot | undefined;
    const stillAsked =
      a &&
      (a.kind === "promotion"
        ? file.candidate?.mode === "shadow" && waiting!.subject === candidateSubject(file.candidate)
        : waiting!.subject === policySubject(file.policy));
    if (stillAsked) this.approval = new PolicyApproval(a);
    else if (waiting) await state.deleteRollout(file.name, "approval");
  }

  /** A reload changed the candidate: a promotion waiting for approvers, or one made of the old candidate, is dropped. */
  async candidateChanged(file: DatasetConfig): Promise<void> {
    if (this.approval?.snapshot.kind === "promotion") await this.drop();
    if (this.promoted && this.promoted.subject !== (file.candidate && candidateSubject(file.candidate))) {
      this.promoted = undefined;
      await this.deps.state.deleteRollout(this.deps.dataset, "promoted");
    }
  }

  /**
   * A reload changed the file's policy: with approvers required, the running policy stays live and the new
   * one waits (a `policy-approval-requested` entry); back to the running policy, what waited is dropped.
   */
  async policyChanged(file: DatasetConfig, running: DatasetConfig, by: string | undefined): Promise<void> {
    const needed = file.policyApprovals ?? 0;
    const live = this.approval?.snapshot.kind === "reload" ? this.approval.snapshot.from! : running.policy;
    if (this.approval?.snapshot.kind === "reload") await this.drop();
    if (needed === 0 || JSON.stringify(file.policy) === JSON.stringify(live)) return;
    this.approval = new PolicyApproval({
      kind: "reload",
      subject: policySubject(file.policy),
      source: this.deps.configFile ?? "config",
      requestedBy: by ?? "serve",
      requestedAt: this.deps.now(),
      approvals: [],
      approvalsNeeded: needed,
      policy: file.policy,
      from: live,
    });
    await this.save();
    await this.audit("policy-approval-requested", {
      kind: "reload",
      by: by ?? "serve",
      source: this.approval.snapshot.source,
      needed,
    });
    this.deps.log(`${file.name}: the reloaded policy waits for ${needed} approver${needed === 1 ? "" : "s"}`);
  }

  /**
   * An approver approves promoting the shadow candidate of `file` to the live policy; with the candidate's
   * `approvals` distinct approvers it is live from the next pass (`candidate-promoted`). Throws ApprovalError.
   */
  async promote(file: DatasetConfig, by: string): Promise<ApprovalView> {
    const dataset = this.deps.dataset;
    const c = file.candidate;
    if (this.promoted && c && this.promoted.subject === candidateSubject(c))
      throw new ApprovalError(`dataset ${dataset}: its candidate was already promoted`);
    if (c?.mode !== "shadow")
      throw new ApprovalError(`dataset ${dataset} has no shadow candidate to promote`);
    const subject = candidateSubject(c);
    if (this.approval?.snapshot.kind !== "promotion" || this.approval.snapshot.subject !== subject)
      this.approval = new PolicyApproval({
        kind: "promotion",
        subject,
        source: c.file,
        requestedBy: by,
        requestedAt: this.deps.now(),
        approvals: [],
        approvalsNeeded: c.approvals,
        policy: c.policy,
      });
    const approval = this.approval;
    const outcome = approval.approve(by);
    await this.save();
    await this.audit("policy-approval", outcome.data);
    if (outcome.done) {
      const approvers = approval.view().approvals;
      this.promoted = { subject, approvers };
      await this.deps.state.putRollout({
        dataset,
        kind: "promoted",
        subject,
        state: { approvers },
        updatedAt: this.deps.now(),
      });
      await this.drop();
      this.deps.adopted({ actor: approvers.join(", "), promoted: true });
      await this.audit("candidate-promoted", { file: c.file, approvers });
      this.deps.log(`${dataset}: candidate ${c.file} promoted to live by ${approvers.join(", ")}`);
    }
    return approval.view();
  }

  /**
   * An approver approves the policy a reload brought; with `policyApprovals` distinct approvers it is live
   * from the next pass (`policy-approved`). Throws ApprovalError when none waits or `by` already approved.
   */
  async approvePolicy(by: string): Promise<ApprovalView> {
    const dataset = this.deps.dataset;
    const approval = this.approval;
    if (approval?.snapshot.kind !== "reload")
      throw new ApprovalError(`dataset ${dataset} has no reloaded policy waiting for approval`);
    const outcome = approval.approve(by);
    await this.save();
    await this.audit("policy-approval", outcome.data);
    if (outcome.done) {
      const approvers = approval.view().approvals;
      await this.drop();
      this.deps.adopted({
        actor: `${approval.snapshot.requestedBy} (approved by ${approvers.join(", ")})`,
        promoted: false,
      });
      await this.audit("policy-approved", { requestedBy: approval.snapshot.requestedBy, approvers });
      this.deps.log(`${dataset}: the reloaded policy approved by ${approvers.join(", ")}`);
    }
    return approval.view();
  }

  private async save(): Promise<void> {
    const a = this.approval;
    if (!a) return;
    const s = a.state();
    await this.deps.state.putRollout({
      dataset: this.deps.dataset,
      kind: "approval",
      subject: s.subject,
      state: s,
      updatedAt: this.deps.now(),
    });
  }

  private async drop(): Promise<void> {
    this.approval = undefined;
    await this.deps.state.deleteRollout(this.deps.dataset, "approval");
  }

  private async audit(type: ApprovalEntry, data: Record<string, unknown>): Promise<void> {
    await this.deps.state.appendAudit([
      { ts: this.deps.now(), runId: null, type, dataset: this.deps.dataset, key: null, data },
    ]);
    await this.deps.anchor?.();
    this.deps.onChange?.();
  }
}
