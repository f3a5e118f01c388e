/**
 * Reads the evidence snapshot a run decides inferred ownership by: once per run, before any decision, so
 * every decision of the run sees the same scores. Reads the EvidenceReader port only; never writes.
 */
import type { InferredBasis, OwnerEvidence, SourceScore } from "../core/inferred-owner.js";
import type { CompiledPolicy } from "../core/policy.js";
import { type EvidenceReader, reliability } from "../learning/evidence.js";

/** The basis an inferred owner of any of these policies needs (undefined: none is inferred). */
export function inferredBasis(
  ...policies: readonly (CompiledPolicy | undefined)[]
): InferredBasis | undefined {
  for (const p of policies) if (p?.owner?.kind === "inferred") return p.owner.basis;
  return undefined;
}

/**
 * The scores of every replica (and replica × column) of `dataset` by `basis`, from the evidence aggregates.
 * `reliability`: the Wilson 95% interval of the settled decisions each replica did not lose.
 */
export async function readOwnerEvidence(
  reader: EvidenceReader,
  dataset: string,
  basis: InferredBasis,
): Promise<OwnerEvidence> {
  const replicas: Record<string, SourceScore> = {};
  const columns: Record<string, Record<string, SourceScore>> = {};
  if (basis === "reliability") {
    for (const e of await reader.replicaEvidence(dataset)) {
      const score = reliability(e.settled, e.lost);
      if (e.column === undefined) replicas[e.replica] = score;
      else columns[e.replica] = { ...columns[e.replica], [e.column]: score };
    }
  }
  return { basis, replicas, columns };
}
