/** The list items of the `--json` documents: one divergence, decision or repair, keys typed by column. */
import type { Divergence } from "../core/classify.js";
import { type Decision, decisionSummary } from "../core/decide.js";
import { type ColumnSpec, type Key, keyToJson } from "../core/model.js";

/**
 * One divergence as JSON: key values in key-column order, class, per-replica presence/fingerprint/version
 * (and, given the compared columns' names, `values` by column: `--values`), the differing columns and the
 * replicas whose version went backwards (both [] when none).
 */
export function divergenceJson(
  keyColumns: readonly ColumnSpec[],
  d: Divergence,
  valueColumns?: readonly string[],
): Record<string, unknown> {
  const replicas: Record<string, unknown> = {};
  for (const [name, r] of Object.entries(d.replicas)) {
    replicas[name] = r.present
      ? {
          present: true,
          fingerprint: r.fingerprint,
          ...(r.version && Object.keys(r.version).length ? { version: r.version } : {}),
          ...(valueColumns && r.values
            ? { values: Object.fromEntries(valueColumns.map((c, i) => [c, r.values![i] ?? null])) }
            : {}),
        }
      : { present: false };
  }
  return {
    key: keyToJson(keyColumns, d.key),
    class: d.class,
    replicas,
    columns: d.columns,
    regressed: d.regressed,
  };
}

/** One decision as JSON: key, class, and the decision's summary (action, source, targets, rule, reason, …). */
export function decisionJson(keyColumns: readonly ColumnSpec[], d: Decision): Record<string, unknown> {
  return { key: keyToJson(keyColumns, d.key), class: d.class, ...decisionSummary(d) };
}

/** A repair (or planned write) as JSON. */
export function repairJson(
  keyColumns: readonly ColumnSpec[],
  r: { id: string; key: Key; target: string; outcome: string; error?: string | undefined },
): Record<string, unknown> {
  return {
    id: r.id,
    key: keyToJson(keyColumns, r.key),
    target: r.target,
    outcome: r.outcome,
    ...(r.error ? { error: r.error } : {}),
  };
}
