/** `concord insights`: what the evidence says about each dataset (reliability, hotspots, patterns, recommendations). Read-only. */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { stringify } from "yaml";
import { printable } from "../core/printable.js";
import { INSIGHTS_WINDOW_MS, readInsights } from "../engine/read-insights.js";
import type { DatasetInsights, OwnerInsight } from "../learning/dataset-insights.js";
import type { Reliability } from "../learning/evidence.js";
import type { Recommendation } from "../learning/recommend.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { refuseOwnFile } from "./own-files.js";
import { openSession, type Session } from "./session.js";
import { textTable } from "./text-table.js";

export interface InsightsOptions {
  readonly config: string;
  readonly dataset?: readonly string[] | undefined;
  readonly json?: boolean | undefined;
  /** A recommendation's id: print (or write to `output`) its candidate policy instead of the insights. */
  readonly export?: string | undefined;
  readonly output?: string | undefined;
}

/**
 * Prints each dataset's insights (`--json`: `{ schemaVersion, datasets: [ … ] }`), or with `--export ID` one
 * recommendation's candidate policy as YAML, the file `plan --candidate` reads. Reads the state store only;
 * one not created yet (an SQLite file, a PostgreSQL schema) reads as no evidence and is not created.
 */
export async function runInsights(options: InsightsOptions, io: CliIo = processIo()): Promise<number> {
  if (options.output !== undefined && options.export === undefined)
    throw new UsageError("--output: only with --export ID");
  const session = await openSession(
    { config: options.config, dataset: options.dataset },
    { readonly: true, state: "if-exists" },
    io,
  );
  try {
    const now = Date.now();
    const fresh = (await session.stateAbsent()) !== undefined;
    const insights: DatasetInsights[] = [];
    for (const ds of session.datasets)
      insights.push(
        fresh
          ? {
              name: ds.name,
              replicas: [],
              hotspots: [],
              patterns: [],
              recommendations: [],
              heatmap: { segments: 0, columns: ds.columns ?? [], windowMs: INSIGHTS_WINDOW_MS, cells: [] },
            }
          : await readInsights(session.state, ds, now),
      );
    if (options.export !== undefined) return exportCandidate(insights, options, io, session);
    if (options.json) {
      io.stdout.write(`${JSON.stringify(jsonDoc({ datasets: insights }), null, 2)}\n`);
      return EXIT.ok;
    }
    io.stdout.write(`${insights.map(render).join("\n\n")}\n`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

function exportCandidate(
  insights: readonly DatasetInsights[],
  options: InsightsOptions,
  io: CliIo,
  session: Pick<Session, "config" | "configFile">,
): number {
  const found = insights.flatMap((d) =>
    d.recommendations.filter((r) => r.id === options.export).map((r) => ({ d, r })),
  );
  const hit = found[0];
  if (!hit) throw new UsageError(`--export ${options.export}: no recommendation with this id now`);
  if (!hit.r.candidatePolicy)
    throw new UsageError(
      `--export ${options.export}: a ${hit.r.kind} recommendation changes no policy (${hit.r.summary})`,
    );
  const text = candidateText(hit.d.name, hit.r);
  if (options.output !== undefined) {
    const target = resolve(io.cwd, options.output);
    refuseOwnFile(target, session.config, session.configFile, `-o ${options.output}`);
    writeWhole(target, text, `-o ${options.output}`);
    io.stderr.write(
      `wrote ${options.output}: try it with concord plan -d ${hit.d.name} --candidate ${options.output}\n`,
    );
  } else io.stdout.write(text);
  return EXIT.ok;
}

/**
 * Writes `text` to `path` through a temporary file renamed into place, so the file is whole or absent (a
 * process killed mid-write leaves no half a policy); a path that cannot be written is one line naming it.
 */
function writeWhole(path: string, text: string, what: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { flag: "w" });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new UsageError(`${what}: cannot write (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** A recommendation's candidate policy as a `plan --candidate` file: the policy block, its changes as comments. */
export function candidateText(dataset: string, r: Recommendation): string {
  const head = [
    `# Candidate policy for dataset ${dataset}: ${r.summary}`,
    `# Recommendation ${r.id} (${r.kind}). Try it: concord plan -d ${dataset} --candidate FILE`,
    ...r.changes.map((c) => `# ${c.path}: ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}`),
  ];
  return `${head.map((l) => printable(l)).join("\n")}\n${stringify(r.candidatePolicy)}`;
}

/** The figures an inferred owner decides by, in its basis's terms. */
function renderOwner(o: OwnerInsight): string[] {
  const window = o.windowMs !== undefined ? `, last ${Math.round(o.windowMs / 3_600_000)} h` : "";
  const head = `  inferred owner by ${o.basis} (minConfidence ${o.minConfidence}${window}), best first:`;
  const counts: Record<OwnerInsight["basis"], [string, string]> = {
    reliability: ["settled", "lost"],
    "recent-activity": ["changes seen", "held first elsewhere"],
    latency: ["observations", "behind"],
  };
  const [trials, lost] = counts[o.basis];
  const rows = o.replicas.map((r) => [
    printable(r.name),
    r.settled ? pct(r.score) : "-",
    interval(r),
    String(r.settled),
    String(r.lost),
    ...(o.basis === "latency" ? [r.meanLagMs !== undefined ? `${Math.round(r.meanLagMs)} ms` : "-"] : []),
    r.low >= o.minConfidence ? "confident" : "",
  ]);
  const header = [
    "replica",
    "score",
    "95% interval",
    trials,
    lost,
    ...(o.basis === "latency" ? ["mean probe lag"] : []),
    "",
  ];
  return [head, textTable([header, ...rows], "    ")];
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const interval = (r: Reliability) => (r.settled ? `${pct(r.low)}–${pct(r.high)}` : "no evidence");

function render(d: DatasetInsights): string {
  const lines = [`${printable(d.name)}`];
  lines.push("  replicas, most reliable first:");
  if (!d.replicas.length) lines.push("    no evidence yet (repair runs and resolved escalations record it)");
  else
    lines.push(
      textTable(
        [
          ["replica", "score", "95% interval", "settled", "lost", "regressions", "failed", "rejected", ""],
          ...d.replicas.map((r) => [
            printable(r.name),
            r.reliability.settled ? pct(r.reliability.score) : "-",
            interval(r.reliability),
            String(r.reliability.settled),
            String(r.reliability.lost),
            String(r.regressions),
            String(r.failed),
            String(r.rejected),
            r.flagged ? "below another replica's interval" : "",
          ]),
        ],
        "    ",
      ),
    );
  if (d.owner) lines.push(...renderOwner(d.owner));
  lines.push("  hotspots:");
  if (!d.hotspots.length) lines.push("    none");
  else
    lines.push(
      textTable(
        [
          ["kind", "where", "divergences", "per day", "trend", "nature"],
          ...d.hotspots.map((h) => [
            h.kind,
            printable(h.where),
            String(h.divergences),
            h.rate.toFixed(1),
            h.trend,
            h.nature,
          ]),
        ],
        "    ",
      ),
    );
  lines.push("  patterns:");
  if (!d.patterns.length) lines.push("    none");
  for (const p of d.patterns) lines.push(`    ${printable(p.summary)}`);
  lines.push("  recommendations (never applied; try one with plan --candidate):");
  if (!d.recommendations.length) lines.push("    none");
  for (const r of d.recommendations) {
    lines.push(`    ${r.id}  ${r.kind}  ${printable(r.summary)}`);
    const e = r.evidence;
    const counts = Object.entries(e.counts).map(([k, n]) => `${k} ${n}`);
    const parts = [counts.join(", ")];
    if (e.interval) parts.push(`interval ${interval(e.interval)}`);
    if (e.exampleKeys.length) parts.push(`keys ${e.exampleKeys.map((k) => JSON.stringify(k)).join(" ")}`);
    if (e.auditIds.length) parts.push(`audit ${e.auditIds.join(", ")}`);
    lines.push(`      evidence: ${printable(parts.join("; "))}`);
    if (r.candidatePolicy)
      lines.push(
        `      export:   concord insights -d ${printable(d.name)} --export ${r.id} -o candidate.yaml`,
      );
  }
  return lines.join("\n");
}
