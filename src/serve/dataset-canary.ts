/**
 * One dataset's staged rollout under `serve` (`candidate: { mode: canary }`): the CanaryRollout read from the
 * state store once (where a restart left it), fed by the repair passes, saved after every change, its events
 * audited and logged. Never decides a key: the run decides with the `fraction` it is handed.
 */
import type { CandidateConfig } from "../config/load-config.js";
import type { CanaryFigures } from "../engine/segment-report.js";
import type { StateStore } from "../state/state-store.js";
import {
  CanaryError,
  type CanaryEvent,
  CanaryRollout,
  type CanarySnapshot,
  type CanaryView,
  candidateSubject,
} from "./canary-rollout.js";

export interface DatasetCanaryDeps {
  readonly dataset: string;
  readonly state: StateStore;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** Told after a rollout's events are recorded (alert evaluation). */
  readonly onChange?: (() => void) | undefined;
  /**
   * The candidate the dataset runs with now: a rollout read for one a reload replaced meanwhile is not kept.
   */
  readonly candidate: () => CandidateConfig | undefined;
}

/** What a repair pass reports to the rollout: its start, each group's figures, its end. */
export interface CanaryPass {
  /** The share of keys the candidate decides in this pass (0: not applied). */
  readonly fraction: number;
  /** The pass started under `version` of the candidate (run `runId`: a resumed pass keeps its tallies). */
  started(version: string | undefined, runId: string): Promise<void>;
  /** A group of the pass is done: how each side's keys fared, when the candidate took part. */
  segmentDone(figures: CanaryFigures | undefined): Promise<void>;
  /** The pass finished: the rollout steps on or rolls back (audited under `runId`, logged). */
  finished(runId: string): Promise<void>;
}

/**
 * The rollout of the dataset's canary candidate. Invariant: what is saved is the rollout of the candidate the
 * dataset runs with; a changed candidate (`reset`) starts afresh, its stored progress dropped before it is read.
 */
export class DatasetCanary {
  private rollout: CanaryRollout | undefined;
  private loading: Promise<CanaryRollout> | undefined;
  private resetting: Promise<void> = Promise.resolve();

  constructor(private readonly deps: DatasetCanaryDeps) {}

  /**
   * The candidate changed (a reload): the old rollout is forgotten and its stored progress dropped; a canary
   * candidate's rollout is read again (at its first step).
   */
  reset(candidate: CandidateConfig | undefined): void {
    const { dataset, log } = this.deps;
    this.rollout = undefined;
    this.loading = undefined;
    this.resetting = this.deps.state
      .deleteRollout(dataset, "canary")
      .catch((err) => log(`${dataset}: cannot reset the canary rollout: ${message(err)}`));
    if (candidate?.mode === "canary")
      this.load(candidate).catch((err) => log(`${dataset}: cannot read the canary rollout: ${message(err)}`));
  }

  /** The rollout of candidate `c`: where the state store says it stands, or at its first step. */
  load(c: CandidateConfig): Promise<CanaryRollout> {
    this.loading ??= this.resetting
      .then(() => this.deps.state.getRollout(this.deps.dataset, "canary"))
      .then(
        (saved) => {
          const resumed = saved?.subject === candidateSubject(c);
          const rollout = new CanaryRollout(c, resumed ? (saved.state as CanarySnapshot) : undefined);
          // A reload may have replaced the candidate while the store answered.
          if (this.deps.candidate() === c) this.rollout = rollout;
          return rollout;
        },
        (err: unknown) => {
          this.loading = undefined;
          throw err;
        },
      );
    return this.loading;
  }

  /** True while the rollout stands rolled back (the `canary-rolled-back` alert). */
  rolledBack(): boolean {
    return this.rollout?.view().status === "rolled-back";
  }

  /** An approver approves promoting the rollout of `c` to its next step; audited. Throws CanaryError. */
  async approve(c: CandidateConfig | undefined, by: string): Promise<CanaryView> {
    if (c?.mode !== "canary") throw new CanaryError(`dataset ${this.deps.dataset} has no canary rollout`);
    const rollout = await this.load(c);
    const events = rollout.approve(by);
    await this.save(rollout);
    await this.record(events, undefined);
    return rollout.view();
  }

  /** A repair pass under candidate `c`: the rollout read first, then told the pass's progress. */
  async pass(c: CandidateConfig): Promise<CanaryPass> {
    const rollout = await this.load(c);
    // Set once the run says it applied the candidate (its version is known).
    let used = false;
    return {
      fraction: rollout.fraction,
      started: async (version, runId) => {
        if (!version) return;
        rollout.startPass(version, runId);
        used = true;
        await this.save(rollout);
      },
      segmentDone: async (figures) => {
        if (!used || !figures) return;
        rollout.add(figures);
        await this.save(rollout);
      },
      finished: async (runId) => {
        if (!used) return;
        const events = rollout.finishPass();
        await this.save(rollout);
        await this.record(events, runId);
      },
    };
  }

  /** Keeps the rollout's progress in the state store (a restart resumes it there). */
  private async save(rollout: CanaryRollout): Promise<void> {
    if (this.rollout !== rollout) return;
    await this.deps.state.putRollout({
      dataset: this.deps.dataset,
      kind: "canary",
      subject: candidateSubject(rollout.config),
      state: rollout.snapshot(),
      updatedAt: this.deps.now(),
    });
  }

  private async record(events: readonly CanaryEvent[], runId: string | undefined): Promise<void> {
    if (!events.length) return;
    const { state, now, dataset } = this.deps;
    await state.appendAudit(
      events.map((e) => ({
        ts: now(),
        runId: runId ?? null,
        type: e.type,
        dataset,
        key: null,
        data: e.data,
      })),
    );
    for (const e of events)
      this.deps.log(
        e.type === "canary-rolled-back"
          ? `ALERT ${dataset}: canary rolled back: ${String(e.data.reason)}`
          : `${dataset}: canary promoted from ${String(e.data.from)} to ${String(e.data.to)} by ${(e.data.approvers as string[]).join(", ")}`,
      );
    this.deps.onChange?.();
  }
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}
