/** Compiles a dataset's declared policy into the form `decideRepair` evaluates, with its version hash. Pure. */
import { hash } from "node:crypto";
import type { InferredBasis, InferredOwnership } from "./inferred-owner.js";
import type { RecordShape } from "./model.js";
import type { VersionOrdering } from "./version.js";

export type ResolveStrategy = "owner" | "lww" | "highest-version" | "version-vector" | "merge" | "replay";
export type MergeRule = "max" | "min" | "lww" | "union" | "owner";

/**
 * Who owns a record: one replica, the replica a field's value maps to (site-based ownership), or the replica
 * the evidence scores best (inferred ownership, decided per divergence from the run's evidence snapshot).
 */
export type Ownership =
  | { readonly kind: "replica"; readonly replica: string }
  | InferredOwnership
  | {
      readonly kind: "field";
      readonly field: string;
      readonly column: number;
      readonly map: Readonly<Record<string, string>>;
    };

/** The version column each ordering strategy needs (`datasets.X.policy.resolve: lww needs versions.timestamp`). */
export const STRATEGY_ORDERING: Readonly<Partial<Record<ResolveStrategy, VersionOrdering>>> = {
  lww: "timestamp",
  "highest-version": "counter",
  "version-vector": "vector",
};

/**
 * The ordering a dataset's classification and decisions use. An ordering strategy gets exactly the
 * metadata it names, or undefined when that column is not compared (then nothing orders the records: a
 * timestamp never stands in for a missing counter). `owner`, `merge` and no strategy order by the
 * strongest metadata declared, vector, then counter, then timestamp: they do not pick a winner by
 * version, but classification still tells a stale copy from a conflict by it.
 */
export function versionOrdering(
  resolve: ResolveStrategy | undefined,
  declared: { readonly counter?: unknown; readonly timestamp?: unknown; readonly vector?: unknown },
): VersionOrdering | undefined {
  const named = resolve === undefined ? undefined : STRATEGY_ORDERING[resolve];
  if (named !== undefined) return declared[named] !== undefined ? named : undefined;
  if (declared.vector !== undefined) return "vector";
  if (declared.counter !== undefined) return "counter";
  if (declared.timestamp !== undefined) return "timestamp";
  return undefined;
}

/** The strategy a dataset without `resolve` or owner gets: the one that orders by its strongest version. */
export function defaultStrategy(declared: {
  readonly counter?: unknown;
  readonly timestamp?: unknown;
  readonly vector?: unknown;
}): ResolveStrategy | undefined {
  switch (versionOrdering(undefined, declared)) {
    case "vector":
      return "version-vector";
    case "counter":
      return "highest-version";
    case "timestamp":
      return "lww";
    default:
      return undefined;
  }
}

/** A policy ready for evaluation. */
export interface CompiledPolicy {
  readonly owner?: Ownership | undefined;
  /** Undefined when nothing orders writes and no owner is declared: every write decision escalates. */
  readonly resolve?: ResolveStrategy | undefined;
  /**
   * What orders versions for this policy (`versionOrdering`): the metadata its strategy names, or the
   * strongest declared for owner and merge. Undefined: nothing orders the records.
   */
  readonly ordering?: VersionOrdering | undefined;
  /** Merge rule per column position; version columns default to `max`. */
  readonly merge: ReadonlyMap<number, MergeRule>;
  /** Decisions more ambiguous than this are escalated instead (undefined: never on ambiguity alone). */
  readonly escalateAbove?: number | undefined;
  readonly limits: {
    readonly maxRepairs?: number | undefined;
    readonly maxDivergentFraction?: number | undefined;
    readonly writesPerSecond?: number | undefined;
  };
  /** Replica names in dataset order (tie-breaks are by this order). */
  readonly replicas: readonly string[];
  /** Positions of version columns (merge keeps them monotonic). */
  readonly versionColumns: {
    readonly counter?: number;
    readonly timestamp?: number;
    readonly vector?: number;
  };
  /** Hash of the canonical policy: every decision names it. */
  readonly version: string;
}

/** The declared policy, as config gives it (already validated against the replicas). */
export interface PolicyDeclaration {
  readonly owner?:
    | string
    | { readonly field: string; readonly map: Readonly<Record<string, string>> }
    | {
        readonly inferred: InferredBasis;
        readonly minConfidence: number;
        readonly fallback?: string | undefined;
      }
    | undefined;
  readonly resolve?: ResolveStrategy | undefined;
  readonly merge?: Readonly<Record<string, MergeRule>> | undefined;
  readonly tolerance?: unknown;
  readonly windowMs?: number | undefined;
  readonly escalateAmbiguity?: number | undefined;
  readonly limits?: CompiledPolicy["limits"] | undefined;
}

/** Raised when a policy refers to a column the dataset does not compare. */
export class PolicyError extends Error {
  override readonly name = "PolicyError";
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Compiles a declaration against the record shape. The default strategy is `owner` when an owner is
 * declared, else the one ordering by the strongest version declared (`defaultStrategy`: version-vector,
 * highest-version, lww), else none (escalate). The version is the first 12
 * hex digits of SHA-256 over the canonical declaration plus the compared columns and version columns.
 */
export function compilePolicy(
  decl: PolicyDeclaration,
  shape: RecordShape,
  replicas: readonly string[],
  versionColumns: CompiledPolicy["versionColumns"],
): CompiledPolicy {
  const column = (name: string, where: string): number => {
    const i = shape.columns.findIndex((c) => c.name === name);
    if (i < 0) throw new PolicyError(`${where}: "${name}" is not a compared column`);
    return i;
  };
  let owner: Ownership | undefined;
  if (typeof decl.owner === "string") owner = { kind: "replica", replica: decl.owner };
  else if (decl.owner && "inferred" in decl.owner) {
    owner = {
      kind: "inferred",
      basis: decl.owner.inferred,
      minConfidence: decl.owner.minConfidence,
      fallback: decl.owner.fallback,
    };
  } else if (decl.owner) {
    owner = {
      kind: "field",
      field: decl.owner.field,
      column: column(decl.owner.field, "policy.owner.field"),
      map: decl.owner.map,
    };
  }
  const merge = new Map<number, MergeRule>();
  for (const [name, rule] of Object.entries(decl.merge ?? {})) {
    if (rule === "owner" && !owner)
      throw new PolicyError(`policy.merge.${name}: rule "owner" needs policy.owner`);
    if (rule === "lww" && versionColumns.timestamp === undefined) {
      throw new PolicyError(`policy.merge.${name}: rule "lww" needs versions.timestamp`);
    }
    merge.set(column(name, `policy.merge.${name}`), rule);
  }
  const resolve = decl.resolve ?? (owner ? "owner" : defaultStrategy(versionColumns));
  const version = hash(
    "sha256",
    canonicalJson({
      decl,
      columns: shape.columns.map((c) => `${c.name}:${c.type}`),
      key: shape.key.map((c) => c.name),
      replicas,
      // Version columns pick the default strategy, merge defaults and ambiguity: the same declaration over
      // other version columns decides differently, so it is another policy.
      versionColumns,
    }),
    "hex",
  ).slice(0, 12);
  return {
    owner,
    resolve,
    ordering: versionOrdering(resolve, versionColumns),
    merge,
    escalateAbove: decl.escalateAmbiguity,
    limits: { ...decl.limits },
    replicas,
    versionColumns,
    version,
  };
}
