/** What a run learns once, before any segment: the dataset's resolved shape, its policy, its canary key. */
import { createHash } from "node:crypto";
import { ConfigError, type DatasetConfig } from "../config/load-config.js";
import type { TableDescription } from "../connectors/connector.js";
import { canonicalValue } from "../core/canonical.js";
import type { Key, RecordShape } from "../core/model.js";
import { type CompiledPolicy, compilePolicy, type PolicyDeclaration, PolicyError } from "../core/policy.js";
import { policyText } from "../core/policy-text.js";
import { bucketedReason } from "../detect/bucketed-diff.js";
import { inStorePair, pairNote } from "../detect/paired-diff.js";
import { type ResolvedShape, resolveShape } from "../detect/resolve-shape.js";
import type { OpenReplica } from "./run-context.js";

/**
 * Describes every replica and resolves the dataset's shape from what they hold (schema issues included).
 * With `pushdown`, its notes also say what pushdown the connectors cannot do for that shape, and whether two
 * replicas are compared inside their store (a scan wants them; re-reading a few keys does not). Once per run: segments share it.
 */
export async function describeDataset(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  options: { pushdown?: boolean } = {},
): Promise<ResolvedShape> {
  // Every replica at once: behind a slow link, describing them in turn cost their round trips end to end.
  const described = await Promise.all(replicas.map((r) => r.connector.describe()));
  const descriptions = new Map<string, TableDescription>(replicas.map((r, i) => [r.name, described[i]!]));
  // What a fresh describe would have to find the same for this one to hold: every replica's table as its
  // connector described it (native types included: connectors keep them) and the resolution from them.
  const resolved = { ...resolveShape(ds, descriptions) };
  const fingerprint = describedFingerprint({ ...resolved, descriptions: described } as ResolvedShape);
  if (options.pushdown === false) return { ...resolved, fingerprint };
  const limits: string[] = [];
  for (const { connector } of replicas)
    if (connector.pushdownLimits) limits.push(...(await connector.pushdownLimits(resolved.shape)));
  // Why detection will not compare the replicas inside their store when they look as if it could.
  const pairing = pairNote(await inStorePair(resolved.shape, replicas, ds.detect.inStore !== false));
  if (pairing) limits.push(pairing);
  // Which path detection takes when some replica cannot read the key order from an index, and why.
  const bucketed = await bucketedReason(resolved.shape, replicas);
  if (bucketed) limits.push(bucketed);
  return { ...resolved, notes: [...resolved.notes, ...limits], fingerprint };
}

/**
 * A fingerprint of a resolved description: the one `describeDataset` took of the replicas' tables and their
 * resolution, else one of the resolution alone (shape, rules, schema issues, notes). A coordinator sends it with each job, so a worker can tell that the description it made
 * under the same fingerprint still holds instead of describing the replicas for every job; a schema change the
 * coordinator sees changes it.
 */
export function describedFingerprint(resolved: ResolvedShape): string {
  if (resolved.fingerprint !== undefined) return resolved.fingerprint;
  const text = JSON.stringify(resolved, (_, v: unknown) =>
    v instanceof Map ? [...v.entries()] : typeof v === "bigint" ? `${v}n` : v,
  );
  return createHash("sha256").update(text, "utf8").digest("hex").slice(0, 32);
}

/** The canonical key of a dataset's probe canary (`probe.key` in the key columns' types). */
export function canaryKey(ds: DatasetConfig, shape: RecordShape): Key {
  const given = ds.probe?.key ?? [];
  return shape.key.map((c, i) => {
    try {
      return canonicalValue(c.type, given[i]) ?? "";
    } catch (err) {
      throw new ConfigError(
        `datasets.${ds.name}.probe.key: ${JSON.stringify(given[i])} is not a valid ${c.type} for key column ${c.name} (${err instanceof Error ? err.message : String(err)})`,
      );
    }
  });
}

/** The declaration `compilePolicy` takes, from a dataset's policy (or a candidate's). */
function declaration(policy: DatasetConfig["policy"]): PolicyDeclaration {
  return {
    owner: policy.owner,
    resolve: policy.resolve,
    merge: policy.merge,
    tolerance: policy.tolerance,
    windowMs: policy.windowMs,
    escalateAmbiguity: policy.escalateAmbiguity,
    limits: policy.limits,
  };
}

/**
 * Compiles a dataset's policy (or `policy`, a candidate for it) against a resolved shape; a policy error
 * names its config path (`where`, default `datasets.<name>`).
 */
export function datasetPolicy(
  ds: DatasetConfig,
  resolved: ResolvedShape,
  policy: DatasetConfig["policy"] = ds.policy,
  where = `datasets.${ds.name}`,
): CompiledPolicy {
  try {
    return compilePolicy(
      declaration(policy),
      resolved.shape,
      ds.replicas.map((r) => r.name),
      resolved.versionPositions,
    );
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError(`${where}.${err.message}`);
    throw err;
  }
}

/** The text a dataset's policy (or a candidate's) is kept and diffed as in the policy registry. */
export function datasetPolicyText(
  ds: DatasetConfig,
  resolved: ResolvedShape,
  policy: DatasetConfig["policy"] = ds.policy,
): string {
  return policyText(
    declaration(policy),
    resolved.shape,
    ds.replicas.map((r) => r.name),
    resolved.versionPositions,
  );
}
