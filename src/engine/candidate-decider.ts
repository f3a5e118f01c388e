/** A candidate policy deciding each scan beside the live one (the sandbox, shadow mode); decides only, writes nothing. */
import type { DatasetConfig, PolicyConfig } from "../config/load-config.js";
import { compareDecisions, type Disagreement } from "../core/compare-decisions.js";
import type { DecisionContext } from "../core/inferred-owner.js";
import type { CompiledPolicy } from "../core/policy.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import { datasetPolicy } from "./describe-dataset.js";
import { type DatasetPlan, planDataset } from "./plan-dataset.js";
import type { DatasetScan } from "./scan-dataset.js";

/** A candidate policy for a dataset, and how messages name where it came from. Plain JSON (it rides in jobs). */
export interface CandidatePolicy {
  readonly policy: PolicyConfig;
  /** Prefix of a compile error's path (e.g. "cand.yaml: datasets.items.policy"). */
  readonly where: string;
}

/** Decides each scan of a run under a candidate policy too, and compares the two plans. */
export class CandidateDecider {
  private compiled: CompiledPolicy | undefined;
  /** The evidence snapshot an inferred owner decides by (see `useContext`); empty by default. */
  private context: DecisionContext = {};

  constructor(
    private readonly ds: DatasetConfig,
    private readonly candidate: CandidatePolicy,
  ) {}

  /** The candidate compiled against the run's shape; a policy that does not fit it is a ConfigError. */
  start(resolved: ResolvedShape): CompiledPolicy {
    this.compiled = datasetPolicy(this.ds, resolved, this.candidate.policy, this.candidate.where);
    return this.compiled;
  }

  /** Decide by this context from now on (the run's evidence snapshot, read once). */
  useContext(context: DecisionContext): void {
    this.context = context;
  }

  get policy(): CompiledPolicy | undefined {
    return this.compiled;
  }

  /** The candidate's plan of a scan, and how it compares with the live plan of the same scan. */
  decide(
    scan: DatasetScan,
    live: DatasetPlan,
    context: DecisionContext = this.context,
  ): { plan: DatasetPlan; agree: number; disagreements: readonly Disagreement[] } {
    const plan = planDataset(this.ds, scan, this.compiled ?? this.start(scan.resolved), undefined, context);
    return { plan, ...compareDecisions(live.decisions, plan.decisions) };
  }
}
