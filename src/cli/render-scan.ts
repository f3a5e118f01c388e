/** Renders scan results as a readable report for people (the JSON document is run-json.ts). */
import { BENIGN_CLASSES, DIVERGENCE_CLASSES, type Divergence } from "../core/classify.js";
import { formatDuration } from "../core/duration.js";
import { keyText, keyToJson, type RecordShape } from "../core/model.js";
import { printable } from "../core/printable.js";
import type { SchemaIssue } from "../detect/resolve-shape.js";
import type { ScanStats } from "../engine/scan-dataset.js";
import type { RunReport } from "./collect-run.js";
import { type HeldRecord, shownColumns, sideBySide } from "./render-values.js";

/** What a readable scan report shows: a scan of one dataset, or a whole run's totals and first divergences. */
export interface ScanView {
  readonly name: string;
  readonly shape: RecordShape;
  readonly replicas: Readonly<Record<string, { rows: number }>>;
  readonly divergences: readonly Divergence[];
  readonly schema: readonly SchemaIssue[];
  readonly counts: Readonly<Partial<Record<string, number>>>;
  readonly stats: ScanStats;
  readonly notes: readonly string[];
  /** Show each listed divergence's differing values side by side (`--values`). */
  readonly values?: boolean | undefined;
  /**
   * False when Ctrl-C stopped the run: what it found is then a part, never "replicas agree", and a line
   * says how far it got.
   */
  readonly finished?: boolean | undefined;
  /** With `finished: false`: the run's segments, and how many were done before it stopped. */
  readonly segments?: number | undefined;
  readonly segmentsDone?: number | undefined;
}

/** How far a run Ctrl-C stopped got, and what it left undone (`rest`: "not scanned"). */
export function stoppedLine(run: Pick<RunReport, "segments" | "segmentsDone">, rest: string): string {
  const of = `${run.segmentsDone} of ${run.segments} segment${run.segments === 1 ? "" : "s"}`;
  return `  interrupted after ${of}: the rest was ${rest} (run again to finish)`;
}

/** A readable report of a whole run over a dataset: its totals, and the first divergences it found. */
export function renderRun(
  run: RunReport,
  limit = 20,
  options: { values?: boolean | undefined } = {},
): string {
  const view: ScanView = {
    name: run.name,
    shape: run.resolved.shape,
    replicas: run.totals.replicas,
    divergences: run.shownDivergences,
    schema: run.resolved.issues,
    counts: run.totals.counts,
    stats: run.totals.stats,
    notes: run.resolved.notes,
    values: options.values,
    finished: run.finished,
    segments: run.segments,
    segmentsDone: run.segmentsDone,
  };
  return renderScan(view, limit, run.spill.divergences.count);
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

/** A divergence's values side by side: the differing columns (every column when a replica lacks it). */
function valuesOf(d: Divergence, shape: RecordShape): string {
  const columns = shape.columns.map((c) => c.name);
  const held: Record<string, HeldRecord> = {};
  for (const [r, o] of Object.entries(d.replicas)) {
    const values = o.values;
    held[r] = o.present ? { present: true, values: (c) => values?.[columns.indexOf(c)] } : { present: false };
  }
  return sideBySide(shownColumns(columns, held, d.columns), held, d.columns, "      ");
}

/** A readable report of one dataset's scan, listing at most `limit` divergences. */
export function renderScan(scan: ScanView, limit = 20, divergenceCount = scan.divergences.length): string {
  const lines: string[] = [];
  const replicaNames = Object.keys(scan.replicas);
  const total = divergenceCount + scan.schema.length;
  const rows = replicaNames
    .map((r) => `${r} ${scan.replicas[r]!.rows.toLocaleString("en-US")} rows`)
    .join(", ");
  const found = `${total.toLocaleString("en-US")} divergence${total === 1 ? "" : "s"}`;
  lines.push(
    scan.finished === false
      ? `${scan.name}: interrupted, ${found} found before it stopped  (${rows || "no rows read"})`
      : `${scan.name}: ${total === 0 ? "replicas agree" : found}  (${rows})`,
  );
  for (const n of scan.notes) lines.push(`  note: ${printable(n)}`);
  for (const s of scan.schema) lines.push(`  schema: ${printable(s.detail)}`);
  const counts = DIVERGENCE_CLASSES.filter((c) => c !== "schema" && (scan.counts[c] ?? 0) > 0);
  if (counts.length) {
    lines.push(
      `  ${counts.map((c) => `${c} ${(scan.counts[c] ?? 0).toLocaleString("en-US")}${BENIGN_CLASSES.has(c) ? " (no action)" : ""}`).join(" · ")}`,
    );
  }
  if (scan.divergences.length && limit > 0) {
    const header = ["KEY", "CLASS", ...replicaNames, "DIFFERS IN"];
    const body = scan.divergences
      .slice(0, limit)
      .map((d) => [
        printable(keyText(keyToJson(scan.shape.key, d.key))),
        d.class,
        ...replicaNames.map((r) => printable(cell(d, r))),
        printable(d.columns.join(", ")),
      ]);
    const rendered = table([header, ...body]).split("\n");
    lines.push(rendered[0]!);
    scan.divergences.slice(0, limit).forEach((d, i) => {
      lines.push(rendered[i + 1]!);
      if (scan.values) lines.push(valuesOf(d, scan.shape));
    });
    if (divergenceCount > limit)
      lines.push(`  … ${(divergenceCount - limit).toLocaleString("en-US")} more (use --json for all)`);
  }
  const s = scan.stats;
  lines.push(
    `  scanned in ${formatDuration(s.durationMs)}: ${s.rowsScanned.toLocaleString("en-US")} rows checksummed in the stores, ` +
      `${s.rowsRead.toLocaleString("en-US")} rows / ${s.bytesRead.toLocaleString("en-US")} bytes read, ${s.queries.toLocaleString("en-US")} queries`,
  );
  return lines.join("\n");
}
