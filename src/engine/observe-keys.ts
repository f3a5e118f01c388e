/** A fresh look at a few keys, for acting on a person's choice (escalation resolution, rollback). */
import type { DatasetConfig } from "../config/load-config.js";
import { classifyDivergence, type Divergence } from "../core/classify.js";
import { type Key, keyId } from "../core/model.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import { describeDataset } from "./describe-dataset.js";
import { fetchObservations, stillDiffers } from "./fetch-observations.js";
import type { OpenReplica } from "./run-context.js";

/**
 * Re-reads the given keys on every replica now and classifies them (without remembering versions or
 * recording anything): the fresh view escalation resolution and rollback act on. Keys where the replicas
 * agree are omitted.
 */
export async function observeKeys(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  keys: readonly Key[],
  now: number,
): Promise<{ resolved: ResolvedShape; divergences: Map<string, Divergence> }> {
  const resolved = await describeDataset(ds, replicas, { pushdown: false });
  const everywhere = Object.fromEntries(replicas.map((r) => [r.name, { present: true }]));
  const observed = await fetchObservations(
    ds.name,
    resolved,
    replicas,
    keys.map((key) => ({ key, replicas: everywhere })),
  );
  const divergences = new Map<string, Divergence>();
  for (const o of observed) {
    if (!stillDiffers(o)) continue;
    divergences.set(
      keyId(o.key),
      classifyDivergence(o, { shape: resolved.shape, rules: resolved.rules, nowMs: now }),
    );
  }
  return { resolved, divergences };
}
