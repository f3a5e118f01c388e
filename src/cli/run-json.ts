/** The `--json` document of scan, plan and repair, streamed from the spills (DESIGN.md's shape). */
import { keyToJson } from "../core/model.js";
import type { RunMode } from "../engine/run-dataset.js";
import type { RunReport } from "./collect-run.js";
import { jsonDoc } from "./json-doc.js";
import { repairJson } from "./json-items.js";
import { JsonItems, JsonText } from "./json-spill.js";

/** Writes text to a stream, waiting for it to drain when its buffer is full. */
export async function put(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once("drain", () => resolve()));
}

/** What `writeJson` holds before writing: a document this small reaches the stream whole or not at all. */
const HOLD = 1 << 16;

/**
 * Writes `doc` as `JSON.stringify(doc, null, 2)` would, except that every member whose value is an
 * iterable (or async iterable) in `arrays`, keyed by a marker string standing in `doc`, is streamed element
 * by element (a JsonText element is copied as it is, indented; a JsonItems element stands for all of its
 * spill's values, copied in chunks). Text is held until 64 KiB gather, so a list whose reading fails (a state
 * store query refused, a replica gone) leaves nothing on the stream of a document smaller than that, rather
 * than its head: one error line on stderr, no half a JSON document on stdout.
 */
export async function writeJson(
  stream: NodeJS.WritableStream,
  doc: unknown,
  arrays: ReadonlyMap<string, Iterable<unknown> | AsyncIterable<unknown>>,
): Promise<void> {
  const text = JSON.stringify(doc, null, 2);
  // Text gathers in `held`; only a gathering past HOLD is awaited (`flush`), so an element costs no promise.
  let held = "";
  const flush = async () => {
    await put(stream, held);
    held = "";
  };
  let from = 0;
  for (const m of text.matchAll(/^( *)(.*)"(@@spill:\d+@@)"(,?)$/gm)) {
    const [line, indent, head, marker, comma] = m as unknown as [string, string, string, string, string];
    held += `${text.slice(from, m.index)}${indent}${head}[`;
    from = m.index + line.length;
    const items = arrays.get(marker) ?? [];
    let first = true;
    for await (const item of items) {
      if (item instanceof JsonItems) {
        if (item.empty) continue;
        if (!first) held += ",";
        first = false;
        for (const text of item.indented(`${indent}  `)) {
          held += text;
          if (held.length > HOLD) await flush();
        }
        continue;
      }
      const json = item instanceof JsonText ? item.text : JSON.stringify(item, null, 2);
      held += `${first ? "" : ","}\n${indent}  ${json.replaceAll("\n", `\n${indent}  `)}`;
      first = false;
      if (held.length > HOLD) await flush();
    }
    held += first ? `]${comma}` : `\n${indent}]${comma}`;
  }
  held += `${text.slice(from)}\n`;
  await flush();
}

/**
 * The `--json` document of scan, plan or repair over several runs (one per dataset), streamed: the lists
 * come from the spills. Same shape as DESIGN.md's: `plan` adds decisions, actions (counted by action) and
 * guard (null unless tripped), `repair` adds repairs, summary, recovered (the repairs an interrupted run
 * left pending that it settled) and warnings (DatasetRunResult.warnings). Every list member is present, [] when empty; see README "JSON output".
 */
export async function writeRunsJson(
  stream: NodeJS.WritableStream,
  runId: string,
  runs: readonly RunReport[],
  mode: RunMode,
  /** From a diff file (`repair --from`): each dataset lists the file's entries it left alone (`stale`). */
  fromFile = false,
): Promise<void> {
  const arrays = new Map<string, Iterable<unknown>>();
  const marker = (items: Iterable<unknown>) => {
    const m = `@@spill:${arrays.size}@@`;
    arrays.set(m, items);
    return m;
  };
  const datasets = runs.map((run) => {
    const { resolved } = run;
    const schema = resolved.issues.map((s) => ({
      key: [],
      class: "schema",
      column: s.column,
      detail: s.detail,
    }));
    const doc: Record<string, unknown> = {
      name: run.name,
      replicas: run.totals.replicas,
      divergences: marker(chain<unknown>(schema, [run.spill.divergences.items()])),
      counts: run.totals.counts,
      stats: run.totals.stats,
      notes: resolved.notes,
    };
    if (mode === "scan") return doc;
    doc.decisions = marker([run.spill.decisions.items()]);
    doc.actions = run.actions;
    doc.guard = run.guard ?? null;
    if (mode === "plan") return doc;
    doc.repairs = marker([run.spill.repairs.items()]);
    doc.summary = run.summary;
    doc.recovered = run.recovered.map((r) => repairJson(resolved.shape.key, r));
    doc.warnings = run.warnings;
    if (fromFile)
      doc.stale = run.stale.map((s) => ({
        key: keyToJson(resolved.shape.key, s.key),
        changed: s.changed,
        converged: s.converged,
      }));
    return doc;
  });
  const interrupted = runs.some((r) => !r.finished);
  await writeJson(stream, jsonDoc({ runId, interrupted, datasets }), arrays);
}

function* chain<T>(...parts: Iterable<T>[]): Iterable<T> {
  for (const p of parts) yield* p;
}
