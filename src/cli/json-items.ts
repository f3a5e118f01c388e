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

/**
 * `JSON.stringify(divergenceJson(keyColumns, d, valueColumns), null, 2)`, byte for byte, built as text: a
 * report of 100k divergences spent most of its time building those objects and indenting them. Divergences
 * with values or versions to show take the general path.
 */
export function divergenceText(
  keyColumns: readonly ColumnSpec[],
  d: Divergence,
  valueColumns?: readonly string[],
): string {
  if (valueColumns) return JSON.stringify(divergenceJson(keyColumns, d, valueColumns), null, 2);
  let replicas = "";
  for (const name in d.replicas) {
    const r = d.replicas[name]!;
    let member: string;
    if (!r.present) member = '{\n      "present": false\n    }';
    else if (typeof r.fingerprint === "string" && (r.version === undefined || isEmpty(r.version)))
      member = `{\n      "present": true,\n      "fingerprint": ${JSON.stringify(r.fingerprint)}\n    }`;
    else return JSON.stringify(divergenceJson(keyColumns, d), null, 2);
    replicas += `${replicas ? "," : ""}\n    ${JSON.stringify(name)}: ${member}`;
  }
  return (
    `{\n  "key": ${list(keyToJson(keyColumns, d.key))},\n  "class": ${JSON.stringify(d.class)},\n` +
    `  "replicas": ${replicas ? `{${replicas}\n  }` : "{}"},\n  "columns": ${list(d.columns)},\n` +
    `  "regressed": ${list(d.regressed)}\n}`
  );
}

/** An array of scalars as a member of a top-level object, indented as JSON.stringify(…, null, 2) does. */
function list(items: readonly (string | number | null)[]): string {
  if (items.length === 0) return "[]";
  let out = "[";
  for (let i = 0; i < items.length; i++) out += `${i ? "," : ""}\n    ${JSON.stringify(items[i])}`;
  return `${out}\n  ]`;
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
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
