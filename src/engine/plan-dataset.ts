/** The decide stage: a decision for every divergence of a scan by the dataset's policy, and the blast-radius guard. */
import type { DatasetConfig } from "../config/load-config.js";
import { inCanary } from "../core/canary.js";
import { BENIGN_CLASSES, type DivergenceClass } from "../core/classify.js";
import { type Decision, decideRepair, WRITE_ACTIONS } from "../core/decide.js";
import type { DecisionContext } from "../core/inferred-owner.js";
import type { GuardTrip } from "../core/plan-record.js";
import type { CompiledPolicy } from "../core/policy.js";
import { datasetPolicy } from "./describe-dataset.js";
import type { DatasetScan } from "./scan-dataset.js";

export type { GuardTrip } from "../core/plan-record.js";

/**
 * A staged rollout's candidate: the keys `inCanary(key, fraction)` picks are decided by `policy` instead of
 * the live one (each decision names the version that made it); limits stay the live policy's.
 */
export interface Canary {
  readonly policy: CompiledPolicy;
  readonly fraction: number;
}

/** A scanned dataset with a decision for every divergence. */
export interface DatasetPlan {
  readonly scan: DatasetScan;
  readonly policy: CompiledPolicy;
  readonly decisions: readonly Decision[];
  readonly guard?: GuardTrip | undefined;
}

/** True when a divergence needs a write (everything except tolerated, in-flight and read-after-write). */
export function isRepairable(d: { class: DivergenceClass }): boolean {
  return !BENIGN_CLASSES.has(d.class);
}

/**
 * Decides every divergence of a scan by the dataset's policy (compiled once per run and passed in, or
 * compiled here), and applies the blast-radius guard: when divergent keys exceed `maxDivergentFraction` of
 * the largest replica, or write decisions exceed `maxRepairs`, the plan is marked so nothing is written.
 * With a `canary`, its share of keys is decided by the candidate policy. `context` carries the run's
 * evidence snapshot (inferred ownership), the same for every decision of the run.
 */
export function planDataset(
  ds: DatasetConfig,
  scan: DatasetScan,
  policy: CompiledPolicy = datasetPolicy(ds, scan.resolved),
  canary?: Canary,
  context: DecisionContext = {},
): DatasetPlan {
  // A loop, not a callback made per call: V8 recompiles such a callback after every full GC (docs/benchmarks.md,
  // "Callbacks recompiled per batch").
  const decisions: Decision[] = [];
  for (const d of scan.divergences)
    decisions.push(
      decideRepair(
        d,
        scan.shape,
        canary && inCanary(d.key, canary.fraction) ? canary.policy : policy,
        context,
      ),
    );
  const rows = Math.max(0, ...Object.values(scan.replicas).map((r) => r.rows));
  const divergent = scan.divergences.filter(isRepairable).length;
  const writes = decisions
    .filter((d) => WRITE_ACTIONS.has(d.action))
    .reduce((n, d) => n + d.targets.length, 0);
  const { maxDivergentFraction, maxRepairs } = policy.limits;
  let guard: GuardTrip | undefined;
  if (maxDivergentFraction !== undefined && rows > 0 && divergent / rows > maxDivergentFraction) {
    guard = {
      reason: `${divergent} of ${rows} keys diverge (${((divergent / rows) * 100).toFixed(1)}%), above limits.maxDivergentFraction ${maxDivergentFraction}`,
      divergent,
      rows,
      writes,
    };
  } else if (maxRepairs !== undefined && writes > maxRepairs) {
    guard = {
      reason: `${writes} repairs planned, above limits.maxRepairs ${maxRepairs}`,
      divergent,
      rows,
      writes,
    };
  }
  return { scan, policy, decisions, guard };
}

/**
 * Whether a plan over a range could trip the blast-radius guard, given at most `listed` differing keys over
 * `rows` (each replica's rows in it) and `replicas` replicas: every listed key divergent and written to every
 * replica. False means the guard cannot trip whatever the plan decides, so the range may be done in pieces
 * without weighing each (a piece's share of differing rows is not the range's).
 */
export function mayTripGuard(
  limits: CompiledPolicy["limits"],
  listed: number,
  rows: Readonly<Record<string, { rows: number }>>,
  replicas: number,
): boolean {
  const most = Math.max(0, ...Object.values(rows).map((r) => r.rows));
  const { maxDivergentFraction, maxRepairs } = limits;
  if (maxDivergentFraction !== undefined && most > 0 && listed / most > maxDivergentFraction) return true;
  return maxRepairs !== undefined && listed * replicas > maxRepairs;
}
