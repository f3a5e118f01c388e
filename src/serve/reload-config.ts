/** What reloading the config would change in a running `serve`, and what it cannot change without a restart. */
import type { ConcordConfig, DatasetConfig } from "../config/load-config.js";

/** Dataset settings a reload applies (from the next pass on); anything else about a dataset needs a restart. */
const APPLIED = [
  "policy",
  "candidate",
  "policyApprovals",
  "scheduleMs",
  "scheduleCron",
  "mode",
  "intensity",
  "checkpointRows",
  "focus",
  "detect",
] as const;

/** What a reload applies: per dataset, the settings that changed; whether the API tokens changed. */
export interface ReloadPlan {
  readonly datasets: Readonly<Record<string, readonly (typeof APPLIED)[number][]>>;
  readonly tokens: boolean;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function without(ds: DatasetConfig): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...ds };
  for (const k of APPLIED) delete rest[k];
  return rest;
}

/**
 * Compares the running config with the one read again. Throws a one-line ReloadError naming the first
 * change a reload cannot apply (state store, audit, alerts, the listen address, the set of datasets, or a
 * dataset's key, columns, types, versions, replicas or probe); otherwise says what it applies.
 */
export function planReload(running: ConcordConfig, next: ConcordConfig): ReloadPlan {
  const refuse = (what: string) => {
    throw new ReloadError(
      `${next.path}: ${what} changed; restart serve to apply it (the running config is kept)`,
    );
  };
  if (running.state !== next.state) refuse("state");
  if (!same(running.audit, next.audit)) refuse("audit");
  if (!same(running.alerts, next.alerts)) refuse("alerts");
  if (running.serve.host !== next.serve.host || running.serve.port !== next.serve.port)
    refuse("serve.listen");
  const names = (c: ConcordConfig) => c.datasets.map((d) => d.name).join(",");
  if (names(running) !== names(next)) refuse(`the datasets (${names(running)} → ${names(next)})`);
  const datasets: Record<string, (typeof APPLIED)[number][]> = {};
  for (const ds of next.datasets) {
    const old = running.datasets.find((d) => d.name === ds.name)!;
    const before = without(old);
    const after = without(ds);
    for (const k of Object.keys({ ...before, ...after }))
      if (!same(before[k], after[k])) refuse(`datasets.${ds.name}.${k}`);
    const changed = APPLIED.filter((k) => !same(old[k], ds[k]));
    if (changed.length) datasets[ds.name] = changed;
  }
  const tokens =
    running.serve.token !== next.serve.token ||
    running.serve.tokenVariable !== next.serve.tokenVariable ||
    !same(running.serve.tokens, next.serve.tokens);
  return { datasets, tokens };
}

/** A reload refused: the file is invalid, or changes what only a restart can. The running config is kept. */
export class ReloadError extends Error {
  override readonly name = "ReloadError";
}
