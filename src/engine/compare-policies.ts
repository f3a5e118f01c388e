/**
 * The policy sandbox: a read-only run that decides every divergence under the live policy and a candidate,
 * side by side, through the one run pipeline (an observer of a `plan` run). Writes to no replica; the run
 * itself goes to whatever state store it is given (the CLI gives a sandbox one).
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { Disagreement } from "../core/compare-decisions.js";
import type { DecisionContext } from "../core/inferred-owner.js";
import type { Key, RecordShape } from "../core/model.js";
import type { GuardTrip } from "../core/plan-record.js";
import { CandidateDecider, type CandidatePolicy } from "./candidate-decider.js";
import { datasetPolicy } from "./describe-dataset.js";
import type { OpenReplica } from "./run-context.js";
import { type DatasetRunResult, type RunDeps, runDataset, runDecisionContext } from "./run-dataset.js";

/** What the sandbox found over one dataset. */
export interface PolicyComparison {
  readonly run: DatasetRunResult;
  readonly live: { readonly policyVersion: string; readonly guard: GuardTrip | null };
  readonly candidate: { readonly policyVersion: string; readonly guard: GuardTrip | null };
  readonly agree: number;
  readonly disagree: number;
}

export interface ComparePoliciesOptions {
  readonly runId: string;
  readonly command: string;
  /** Only these keys (re-read now), instead of the whole key space. */
  readonly keys?: readonly Key[] | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: (label: string, done: number, total: number, estimate?: boolean) => void;
  /** Told each group's disagreements as they are found (memory stays bounded by the group). */
  readonly onDisagreements?: (shape: RecordShape, list: readonly Disagreement[]) => void;
}

/**
 * Scans the dataset (or re-reads `keys`) once, decides every divergence under its live policy and under
 * `candidate`, and counts where the two agree (same action, source, targets and record) and where not.
 * A `plan` run: no replica is written.
 */
export async function comparePolicies(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  deps: RunDeps,
  candidate: CandidatePolicy,
  options: ComparePoliciesOptions,
): Promise<PolicyComparison> {
  const decider = new CandidateDecider(ds, candidate);
  let agree = 0;
  let disagree = 0;
  let liveVersion: string | undefined;
  let liveGuard: GuardTrip | null = null;
  let candidateGuard: GuardTrip | null = null;
  // A candidate with an inferred owner decides by one evidence snapshot, read when the run starts.
  let context: DecisionContext = {};
  const run = await runDataset(ds, replicas, deps, {
    runId: options.runId,
    command: options.command,
    mode: "plan",
    ...(options.keys ? { keys: options.keys } : {}),
    signal: options.signal,
    observer: {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      onStart: async ({ resolved }) => {
        context = await runDecisionContext(deps, ds.name, decider.start(resolved));
        liveVersion = datasetPolicy(ds, resolved).version;
      },
      onSegment: ({ scan, plan }) => {
        if (!plan) return;
        const compared = decider.decide(scan, plan, context);
        agree += compared.agree;
        disagree += compared.disagreements.length;
        liveGuard ??= plan.guard ?? null;
        candidateGuard ??= compared.plan.guard ?? null;
        if (compared.disagreements.length) options.onDisagreements?.(scan.shape, compared.disagreements);
      },
    },
  });
  return {
    run,
    live: { policyVersion: liveVersion!, guard: liveGuard },
    candidate: { policyVersion: decider.policy!.version, guard: candidateGuard },
    agree,
    disagree,
  };
}
