/** Renders scan results: the JSON document of DESIGN.md, and a readable report for people. */
import { BENIGN_CLASSES, DIVERGENCE_CLASSES, type Divergence } from "../core/classify.js";
import { formatDuration } from "../core/duration.js";
import { keyToJson } from "../core/model.js";
import type { DatasetScan } from "../engine.js";
import type { DatasetRun } from "./dataset-run.js";

/** A readable report of a whole run over a dataset: its totals, and the first divergences it found. */
export function renderRun(run: DatasetRun, limit = 20): string {
  const view: DatasetScan = {
    ...run.first,
    replicas: run.replicas,
    counts: run.counts,
    stats: run.stats,
    divergences: run.shownDivergences,
  };
  return renderScan(view, limit, run.spill.divergences.count);
}

/** One divergence as JSON: key values in key-column order, class, and per-replica presence/fingerprint/version. */
export function divergenceJson(scan: DatasetScan, d: Divergence): Record<string, unknown> {
  const replicas: Record<string, unknown> = {};
  for (const [name, r] of Object.entries(d.replicas)) {
    replicas[name] = r.present
      ? {
          present: true,
          fingerprint: r.fingerprint,
          ...(r.version && Object.keys(r.version).length ? { version: r.version } : {}),
        }
      : { present: false };
  }
  return {
    key: keyToJson(scan.shape.key, d.key),
    class: d.class,
    replicas,
    ...(d.columns.length ? { columns: d.columns } : {}),
    ...(d.regressed.length ? { regressed: d.regressed } : {}),
  };
}

/** The dataset part of `scan --json`. */
export function datasetScanJson(scan: DatasetScan): Record<string, unknown> {
  return {
    name: scan.name,
    replicas: scan.replicas,
    divergences: [
      ...scan.schema.map((s) => ({ key: [], class: "schema", column: s.column, detail: s.detail })),
      ...scan.divergences.map((d) => divergenceJson(scan, d)),
    ],
    counts: scan.counts,
    stats: scan.stats,
    ...(scan.notes.length ? { notes: scan.notes } : {}),
  };
}

function short(fp: string | undefined): string {
  return fp ? fp.slice(0, 8) : "";
}

function cell(d: Divergence, replica: string): string {
  const r = d.replicas[replica];
  if (!r?.present) return "(absent)";
  const v = r.version;
  const ver = v?.counter !== undefined ? `v${v.counter}` : v?.timestamp ? v.timestamp.slice(0, 19) : "";
  return [ver, short(r.fingerprint)].filter(Boolean).join(" ");
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`.trimEnd()).join("\n");
}

/** A readable report of one dataset's scan, listing at most `limit` divergences. */
export function renderScan(scan: DatasetScan, limit = 20, divergenceCount = scan.divergences.length): string {
  const lines: string[] = [];
  const replicaNames = Object.keys(scan.replicas);
  const total = divergenceCount + scan.schema.length;
  const rows = replicaNames
    .map((r) => `${r} ${scan.replicas[r]!.rows.toLocaleString("en-US")} rows`)
    .join(", ");
  lines.push(
    `${scan.name}: ${total === 0 ? "replicas agree" : `${total} divergence${total === 1 ? "" : "s"}`}  (${rows})`,
  );
  for (const n of scan.notes) lines.push(`  note: ${n}`);
  for (const s of scan.schema) lines.push(`  schema: ${s.detail}`);
  const counts = DIVERGENCE_CLASSES.filter((c) => c !== "schema" && (scan.counts[c] ?? 0) > 0);
  if (counts.length) {
    lines.push(
      `  ${counts.map((c) => `${c} ${scan.counts[c]}${BENIGN_CLASSES.has(c) ? " (no action)" : ""}`).join(" · ")}`,
    );
  }
  if (scan.divergences.length && limit > 0) {
    const header = ["KEY", "CLASS", ...replicaNames, "DIFFERS IN"];
    const body = scan.divergences
      .slice(0, limit)
      .map((d) => [
        keyToJson(scan.shape.key, d.key).join(","),
        d.class,
        ...replicaNames.map((r) => cell(d, r)),
        d.columns.join(", "),
      ]);
    lines.push(table([header, ...body]));
    if (divergenceCount > limit) lines.push(`  … ${divergenceCount - limit} more (use --json for all)`);
  }
  const s = scan.stats;
  lines.push(
    `  scanned in ${formatDuration(s.durationMs)}: ${s.rowsScanned.toLocaleString("en-US")} rows checksummed in the stores, ` +
      `${s.rowsRead.toLocaleString("en-US")} rows / ${s.bytesRead.toLocaleString("en-US")} bytes read, ${s.queries.toLocaleString("en-US")} queries`,
  );
  return lines.join("\n");
}
