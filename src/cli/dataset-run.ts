/**
 * scan, plan and repair over one dataset, segment by segment: each segment is scanned, decided and (for
 * repair) written before the next, and what the report needs is kept as totals, the first few entries, and
 * JSON spilled to disk. Memory is bounded by the segment, not by the table or the number of divergences.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatasetConfig } from "../config/load-config.js";
import type { Divergence } from "../core/classify.js";
import { type Decision, decisionSummary } from "../core/decide.js";
import { type Key, type KeyRange, keyToJson } from "../core/model.js";
import {
  type DatasetScan,
  describeDataset,
  type GuardTrip,
  isRepairable,
  planDataset,
  recordPlan,
  recoverPending,
  repairDataset,
  repairTasks,
  type ScanStats,
  scanDataset,
  segmentBounds,
  segmentsOf,
} from "../engine.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import type { Progress } from "./progress.js";
import { divergenceJson } from "./render-scan.js";
import type { Session } from "./session.js";

/** scan: detect only; plan: + decide; repair: + write (unless dry-run). */
export type RunMode = "scan" | "plan" | "repair" | "dry-run";

/** How many divergences and decisions a readable report shows; the rest are counted. */
const SHOWN = 25;

/**
 * JSON values appended one per line to a temporary file, read back in order. Without a file (`path`
 * undefined: nobody will read the list) it only counts, and the values are never built.
 */
export class JsonSpill {
  private readonly fd: number | undefined;
  private buffer: string[] = [];
  /** How many values were pushed. */
  count = 0;

  constructor(private readonly path?: string) {
    this.fd = path === undefined ? undefined : openSync(path, "w");
  }

  /** Appends the value `make` builds (called only when the list is kept). */
  push(make: () => unknown): void {
    this.count++;
    if (this.fd === undefined) return;
    this.buffer.push(JSON.stringify(make()));
    if (this.buffer.length >= 1000) this.flush();
  }

  private flush(): void {
    if (this.fd !== undefined && this.buffer.length) writeSync(this.fd, `${this.buffer.join("\n")}\n`);
    this.buffer = [];
  }

  /** Every value pushed, in order, one at a time. */
  *values(): Iterable<unknown> {
    if (this.path === undefined) throw new Error("this list was counted, not kept");
    this.flush();
    // Read back in chunks so a large spill never sits in memory whole.
    const fd = openSync(this.path, "r");
    try {
      const chunk = Buffer.alloc(1 << 20);
      let rest = "";
      let pos = 0;
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, pos);
        if (n === 0) break;
        pos += n;
        const text = rest + chunk.toString("utf8", 0, n);
        const lines = text.split("\n");
        rest = lines.pop()!;
        for (const line of lines) if (line) yield JSON.parse(line);
      }
      if (rest) yield JSON.parse(rest);
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

/** What a run over one dataset found and did: totals, the first entries, and the full lists spilled. */
export interface DatasetRun {
  readonly name: string;
  /** The first segment's scan (shape, schema issues and notes are the same for every segment). */
  readonly first: DatasetScan;
  readonly replicas: Record<string, { rows: number }>;
  readonly counts: Record<string, number>;
  readonly stats: ScanStats;
  /** The first divergences and decisions, for a readable report; the spills count all of them. */
  readonly shownDivergences: Divergence[];
  readonly shownDecisions: Decision[];
  /** Write tasks planned (repair and dry-run). */
  plannedWrites: number;
  guard?: GuardTrip | undefined;
  readonly summary: Record<string, number>;
  readonly recovered: RepairResult[];
  /** True when something remains for a person or a later run (repair), or anything needs a write (scan, plan). */
  remains: boolean;
  /** The JSON of every divergence, decision and repair (or planned write), in order. */
  readonly spill: { divergences: JsonSpill; decisions: JsonSpill; repairs: JsonSpill };
}

function emptySummary(): Record<string, number> {
  return { applied: 0, noop: 0, superseded: 0, failed: 0, escalated: 0, waiting: 0, ignored: 0 };
}

/** A repair (or planned write) as the JSON document lists it. */
function repairJson(
  scan: DatasetScan,
  r: { id: string; key: Key; target: string; outcome: string; error?: string | undefined },
): Record<string, unknown> {
  return {
    id: r.id,
    key: keyToJson(scan.shape.key, r.key),
    target: r.target,
    outcome: r.outcome,
    ...(r.error ? { error: r.error } : {}),
  };
}

function decisionJson(scan: DatasetScan, d: Decision): Record<string, unknown> {
  return { key: keyToJson(scan.shape.key, d.key), class: d.class, ...decisionSummary(d) };
}

/**
 * Temporary files of a whole command's runs, removed by `dispose`. With `keep: false` (no `--json`: only
 * counts and the first entries are shown) the lists are counted and nothing is written.
 */
export class SpillDir {
  private dir: string | undefined;
  private readonly open: JsonSpill[] = [];

  constructor(private readonly options: { keep: boolean } = { keep: true }) {}

  spill(): JsonSpill {
    if (!this.options.keep) return new JsonSpill();
    this.dir ??= mkdtempSync(join(tmpdir(), "concord-run-"));
    const s = new JsonSpill(join(this.dir, `${this.open.length}.jsonl`));
    this.open.push(s);
    return s;
  }

  dispose(): void {
    for (const s of this.open.splice(0)) s.close();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

/** At most this many segments are scanned as one while differences are sparse. */
const MAX_GROUP = 8;

/**
 * The segments of a run taken a group at a time: one at first, then as many adjacent segments (up to 8) as
 * the last group's rate of divergences per segment fits into `budget` divergences. A mostly equal table
 * then costs a few passes instead of one per segment, which matters where a key range is not stored
 * together (random keys such as UUIDs: each segment's rows are spread over the whole table). Memory stays
 * bounded by the configuration: a group never spans more than 8 segments, and one that found many
 * divergences drops the next back to a single segment. `found` tells how many divergences the group just
 * scanned held.
 */
export function* segmentGroups(
  segments: readonly KeyRange[],
  budget: number,
  found: () => number,
): Iterable<{ range: KeyRange; from: number; to: number }> {
  let take = 1;
  for (let from = 0; from < segments.length; ) {
    const to = Math.min(segments.length, from + take);
    const range = to - from === 1 ? segments[from]! : { lo: segments[from]!.lo, hi: segments[to - 1]!.hi };
    yield { range, from, to };
    const perSegment = found() / (to - from);
    take = Math.max(1, Math.min(MAX_GROUP, perSegment === 0 ? MAX_GROUP : Math.floor(budget / perSegment)));
    from = to;
  }
}

/**
 * Runs `mode` over one dataset of an open session as one run (`runId`), segment by segment
 * (`checkpointRows` rows each). A tripped blast-radius guard stops all writing for the rest of the run.
 * Repair settles what an interrupted run left pending first, and stops between write batches once
 * `signal` aborts.
 */
export async function runDataset(
  session: Session,
  ds: DatasetConfig,
  runId: string,
  command: string,
  mode: RunMode,
  spills: SpillDir,
  options: { progress?: Progress; signal?: AbortSignal } = {},
): Promise<DatasetRun> {
  const replicas = await session.replicas(ds);
  const ctx = { runId, state: session.state, now: Date.now, command };
  const spill = { divergences: spills.spill(), decisions: spills.spill(), repairs: spills.spill() };
  await session.state.beginRun({ id: runId, dataset: ds.name, command, startedAt: Date.now() });
  try {
    const writes = mode === "repair";
    const resolved = await describeDataset(ds, replicas);
    const { shape } = resolved;
    const ranges = segmentsOf(await segmentBounds(replicas, shape, ds.checkpointRows));
    const recovered = writes ? await recoverPending(ds.name, replicas, shape, ctx) : [];

    let run: DatasetRun | undefined;
    let lastFound = 0;
    for (const { range, from, to } of segmentGroups(ranges, ds.checkpointRows / 10, () => lastFound)) {
      const label =
        ranges.length === 1
          ? ds.name
          : `${ds.name} ${from + 1}${to > from + 1 ? `–${to}` : ""}/${ranges.length}`;
      const scan = await scanDataset(
        ds,
        replicas,
        {
          ...ctx,
          ...(options.progress
            ? {
                onProgress: (_: string, done: number, total: number) =>
                  options.progress!.update(label, done, total),
              }
            : {}),
        },
        ranges.length > 1 ? { range, resolved, expectedRows: (to - from) * ds.checkpointRows } : { resolved },
      );
      lastFound = scan.divergences.length;
      run ??= {
        name: ds.name,
        first: scan,
        replicas: Object.fromEntries(Object.keys(scan.replicas).map((r) => [r, { rows: 0 }])),
        counts: scan.counts.schema ? { schema: scan.counts.schema } : {},
        stats: { durationMs: 0, rowsRead: 0, rowsScanned: 0, bytesRead: 0, queries: 0 },
        shownDivergences: [],
        shownDecisions: [],
        plannedWrites: 0,
        summary: emptySummary(),
        recovered,
        remains: scan.schema.length > 0,
        spill,
      };
      for (const [r, { rows }] of Object.entries(scan.replicas)) run.replicas[r]!.rows += rows;
      for (const [cls, n] of Object.entries(scan.counts))
        if (cls !== "schema") run.counts[cls] = (run.counts[cls] ?? 0) + (n ?? 0);
      for (const k of Object.keys(run.stats) as (keyof ScanStats)[]) run.stats[k] += scan.stats[k];
      for (const d of scan.divergences) {
        spill.divergences.push(() => divergenceJson(scan, d));
        if (run.shownDivergences.length < SHOWN) run.shownDivergences.push(d);
      }
      // What scan, plan and a dry run leave to do: anything that needs a write.
      const needsWrite = scan.divergences.some(isRepairable);
      if (mode === "scan") {
        run.remains ||= needsWrite;
        continue;
      }

      const plan = planDataset(ds, scan);
      for (const d of plan.decisions) {
        spill.decisions.push(() => decisionJson(scan, d));
        if (run.shownDecisions.length < SHOWN) run.shownDecisions.push(d);
        if (d.action === "escalate") run.summary.escalated!++;
        else if (d.action === "wait") run.summary.waiting!++;
        else if (d.action === "ignore") run.summary.ignored!++;
      }
      if (plan.guard && !run.guard) {
        run.guard = plan.guard;
        run.summary.escalated!++;
      }
      if (mode === "plan") {
        run.remains ||= needsWrite;
        continue;
      }
      const tasks = run.guard ? [] : repairTasks(plan);
      run.plannedWrites += tasks.length;
      if (!writes) {
        for (const t of tasks) spill.repairs.push(() => repairJson(scan, { ...t, outcome: "planned" }));
        run.remains ||= needsWrite;
        continue;
      }
      // After a guard trip nothing more is written or recorded: the escalation says why.
      if (run.guard && plan.guard !== run.guard) {
        run.remains = true;
        continue;
      }
      // Ctrl-C: the segments not reached are neither recorded nor written; the next run takes them.
      if (options.signal?.aborted) {
        run.remains ||= needsWrite;
        continue;
      }
      await recordPlan(plan, ctx);
      const results = await repairDataset(plan, replicas, ctx, { signal: options.signal });
      for (const r of results) {
        run.summary[r.outcome] = (run.summary[r.outcome] ?? 0) + 1;
        spill.repairs.push(() => repairJson(scan, r));
      }
      run.remains ||=
        !!plan.guard ||
        scan.schema.length > 0 ||
        plan.decisions.some((d) => d.action === "escalate") ||
        results.some((r) => r.outcome === "superseded" || r.outcome === "failed") ||
        !!options.signal?.aborted;
    }
    if (run!.first.schema.length) run!.summary.escalated! += run!.first.schema.length;
    options.progress?.clear();
    await session.state.finishRun(runId, ds.name, {
      finishedAt: Date.now(),
      status: run!.remains ? "diverged" : "ok",
      counts: run!.counts,
      stats: { ...run!.stats },
    });
    return run!;
  } catch (err) {
    options.progress?.clear();
    await session.state.finishRun(runId, ds.name, {
      finishedAt: Date.now(),
      status: "failed",
      counts: {},
      stats: {},
    });
    throw err;
  }
}

/** Writes text to a stream, waiting for it to drain when its buffer is full. */
async function put(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once("drain", () => resolve()));
}

/**
 * Writes `doc` as `JSON.stringify(doc, null, 2)` would, except that every member whose value is an
 * iterable in `arrays` (keyed by a marker string standing in `doc`) is streamed element by element.
 */
export async function writeJson(
  stream: NodeJS.WritableStream,
  doc: unknown,
  arrays: ReadonlyMap<string, Iterable<unknown>>,
): Promise<void> {
  const text = JSON.stringify(doc, null, 2);
  let from = 0;
  for (const m of text.matchAll(/^( *)(.*)"(@@spill:\d+@@)"(,?)$/gm)) {
    const [line, indent, head, marker, comma] = m as unknown as [string, string, string, string, string];
    await put(stream, text.slice(from, m.index));
    from = m.index + line.length;
    const items = arrays.get(marker) ?? [];
    let first = true;
    let out = `${indent}${head}[`;
    for (const item of items) {
      out += `${first ? "" : ","}\n${JSON.stringify(item, null, 2).replace(/^/gm, `${indent}  `)}`;
      first = false;
      if (out.length > 1 << 16) {
        await put(stream, out);
        out = "";
      }
    }
    out += first ? `]${comma}` : `\n${indent}]${comma}`;
    await put(stream, out);
  }
  await put(stream, `${text.slice(from)}\n`);
}

/**
 * The `--json` document of scan, plan or repair over several runs (one per dataset), streamed: the lists
 * come from the spills. Same shape as DESIGN.md's: `plan` adds decisions (and guard), `repair` adds
 * repairs, summary and, when it settled an interrupted run's repairs, recovered.
 */
export async function writeRunsJson(
  stream: NodeJS.WritableStream,
  runId: string,
  runs: readonly DatasetRun[],
  mode: RunMode,
): Promise<void> {
  const arrays = new Map<string, Iterable<unknown>>();
  const marker = (items: Iterable<unknown>) => {
    const m = `@@spill:${arrays.size}@@`;
    arrays.set(m, items);
    return m;
  };
  const datasets = runs.map((run) => {
    const scan = run.first;
    const schema = scan.schema.map((s) => ({ key: [], class: "schema", column: s.column, detail: s.detail }));
    const doc: Record<string, unknown> = {
      name: run.name,
      replicas: run.replicas,
      divergences: marker(chain(schema, run.spill.divergences.values())),
      counts: run.counts,
      stats: run.stats,
      ...(scan.notes.length ? { notes: scan.notes } : {}),
    };
    if (mode === "scan") return doc;
    doc.decisions = marker(run.spill.decisions.values());
    if (run.guard) doc.guard = run.guard;
    if (mode === "plan") return doc;
    doc.repairs = marker(run.spill.repairs.values());
    doc.summary = run.summary;
    if (run.recovered.length) doc.recovered = run.recovered.map((r) => repairJson(scan, r));
    return doc;
  });
  await writeJson(stream, { runId, datasets }, arrays);
}

function* chain<T>(...parts: Iterable<T>[]): Iterable<T> {
  for (const p of parts) yield* p;
}
