/** `concord escalations list|show`: the queue of divergences the policy would not decide alone, read-only. */
import { DIVERGENCE_CLASSES } from "../core/classify.js";
import { keyText } from "../core/model.js";
import { printable } from "../core/printable.js";
import {
  describePattern,
  type EscalationGroupView,
  type EscalationValues,
  type EscalationView,
  escalationView,
  groupFilter,
  groupView,
  observeEscalations,
} from "../engine/escalation-view.js";
import type { Escalation, EscalationFilter, StateStore } from "../state/state-store.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { type HeldRecord, shownColumns, sideBySide } from "./render-values.js";
import { writeJson } from "./run-json.js";
import { openSession, type Session } from "./session.js";
import { clip, plural, textTable } from "./text-table.js";
import { wholeNumber } from "./whole-number.js";

/** The filters every escalations command takes. */
export interface EscalationFilterOptions {
  readonly config: string;
  readonly json?: boolean | undefined;
  readonly dataset?: string | undefined;
  readonly class?: string | undefined;
  readonly column?: string | undefined;
  readonly replica?: string | undefined;
  /** A group id (list: `--group` alone folds the list into groups instead). */
  readonly group?: string | boolean | undefined;
}

export interface EscalationOptions extends EscalationFilterOptions {
  readonly all?: boolean | undefined;
  readonly status?: string | undefined;
  readonly limit?: string | undefined;
  readonly page?: string | undefined;
  readonly values?: boolean | undefined;
}

/** How many escalations a readable list shows per page unless --limit says otherwise. */
export const DEFAULT_PAGE = 50;
/** How many escalations a page may hold (a page's values are read in one observation per replica). */
const MAX_PAGE = 10_000;

const CLASSES: readonly string[] = [...DIVERGENCE_CLASSES, "guard"];
const STATUSES = ["open", "resolved", "rejected"] as const;

/** A positive whole number from a flag, or a usage error naming the flag. */
export function positive(
  text: string | undefined,
  flag: string,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  return text === undefined ? undefined : wholeNumber(text, flag, 1, max);
}

/**
 * The store filter the flags describe (status aside), or null when `--group` names no group (nothing
 * matches). Unknown class names are usage errors.
 */
export async function filterOf(
  options: EscalationFilterOptions,
  state: Pick<StateStore, "groupEscalations" | "countEscalations">,
  status: EscalationFilter["status"],
  datasets: readonly string[],
  replicas: readonly string[] = [],
): Promise<EscalationFilter | null> {
  if (options.class !== undefined && !CLASSES.includes(options.class))
    throw new UsageError(`--class ${options.class}: expected one of ${CLASSES.join(", ")}`);
  // A misspelt -d would read as "nothing open"; a dataset since removed from the config still has its queue.
  const d = options.dataset;
  if (d !== undefined && !datasets.includes(d) && (await state.countEscalations({ dataset: d })) === 0)
    throw new UsageError(
      `-d ${printable(d)}: no dataset named "${printable(d)}" in the config, nor escalations of one (have: ${datasets.map(printable).join(", ")})`,
    );
  const r = options.replica;
  if (r !== undefined && !replicas.includes(r) && (await state.countEscalations({ replica: r })) === 0)
    throw new UsageError(
      `--replica ${printable(r)}: no replica named "${printable(r)}" in the config, nor escalations concerning one (have: ${replicas.map(printable).join(", ")})`,
    );
  const filter: EscalationFilter = {
    status,
    dataset: options.dataset,
    class: options.class,
    column: options.column,
    replica: options.replica,
  };
  if (typeof options.group !== "string") return filter;
  if (!/^[0-9a-f]{12}$/.test(options.group))
    throw new UsageError(`--group ${options.group}: expected a group id (12 hex digits, from list --group)`);
  const found = await groupFilter(state, options.group, status);
  if (!found || (options.dataset !== undefined && options.dataset !== found.dataset)) return null;
  return { ...filter, ...found };
}

function statusOf(options: EscalationOptions): EscalationFilter["status"] {
  if (options.status !== undefined) {
    if (!(STATUSES as readonly string[]).includes(options.status))
      throw new UsageError(`--status ${options.status}: expected one of ${STATUSES.join(", ")}`);
    if (options.all) throw new UsageError("give --all or --status, not both");
    return options.status as EscalationFilter["status"];
  }
  return options.all ? undefined : "open";
}

const what = (status: EscalationFilter["status"]) => (status ? `${status} escalation` : "escalation");

/** Lists escalations (open ones unless --all or --status), filtered, paged, or folded into groups. */
export async function runEscalationsList(
  options: EscalationOptions,
  io: CliIo = processIo(),
): Promise<number> {
  const { stdout } = io;
  const status = statusOf(options);
  const limit = positive(options.limit, "--limit", MAX_PAGE);
  const page = positive(options.page, "--page");
  if (options.group === true && (limit !== undefined || page !== undefined || options.values))
    throw new UsageError("--group lists groups: --limit, --page and --values apply to escalations");
  const session = await openSession({ config: options.config }, { readonly: true, state: "if-exists" }, io);
  try {
    const filter = await filterOf(
      options,
      session.state,
      status,
      session.config.datasets.map((x) => x.name),
      [...new Set(session.config.datasets.flatMap((x) => x.replicas.map((y) => y.name)))],
    );
    // No state store yet: nothing to list (JSON: the same document, empty), and none is created.
    const absent = await session.stateAbsent();
    if (absent !== undefined && !options.json) {
      stdout.write(`No ${what(status)}s yet: nothing has run with this config (${printable(absent)}).\n`);
      return EXIT.ok;
    }
    if (options.group === true) {
      const groups = filter ? (await session.state.groupEscalations(filter)).map(groupView) : [];
      if (options.json) stdout.write(`${JSON.stringify(jsonDoc({ groups }), null, 2)}\n`);
      else stdout.write(renderGroups(groups, status));
      return EXIT.ok;
    }
    const total = filter ? await session.state.countEscalations(filter) : 0;
    // JSON lists every match unless paged; a readable list shows a page (DEFAULT_PAGE unless --limit).
    const paged = !options.json || limit !== undefined || page !== undefined;
    const size = limit ?? DEFAULT_PAGE;
    const offset = paged ? ((page ?? 1) - 1) * size : 0;
    // Past any list a store can hold (and past what its OFFSET takes: SQLite refused it as a datatype mismatch).
    if (!Number.isSafeInteger(offset))
      throw new UsageError(
        `--page ${page}: past any list (at most ${Math.floor(Number.MAX_SAFE_INTEGER / size) + 1} pages of ${size})`,
      );
    const pages = filter
      ? pagesOf(session.state, filter, paged ? { offset, limit: size } : {})
      : emptyPages();
    if (options.json) {
      const values = options.values ? valuesReader(session) : undefined;
      const items = (async function* () {
        for await (const list of pages) {
          const current = values ? await values(list) : undefined;
          for (const e of list)
            yield { ...escalationView(e), ...(current ? { current: current.get(e.id) ?? null } : {}) };
        }
      })();
      const doc = jsonDoc({
        escalations: "@@spill:0@@",
        total,
        ...(paged ? { page: page ?? 1, limit: size } : {}),
      });
      await writeJson(stdout, doc, new Map([["@@spill:0@@", items]]));
      return EXIT.ok;
    }
    const list: Escalation[] = [];
    for await (const p of pages) list.push(...p);
    const current = options.values && list.length ? await valuesReader(session)(list) : undefined;
    stdout.write(renderList(list.map(escalationView), { total, offset, size, status, current }));
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

/** Shows one escalation whole: reason, what each replica held, who closed it, and the values now. */
export async function runEscalationsShow(
  id: string,
  options: { readonly config: string; readonly json?: boolean | undefined },
  io: CliIo = processIo(),
): Promise<number> {
  const { stdout } = io;
  const session = await openSession({ config: options.config }, { readonly: true, state: "if-exists" }, io);
  try {
    const e = await session.state.getEscalation(id);
    if (!e) throw new UsageError(`escalations show: no escalation with id ${id}`);
    const view = escalationView(e);
    const known = session.config.datasets.some((d) => d.name === e.dataset);
    const current = e.key.length && known ? (await valuesReader(session)([e])).get(id) : undefined;
    if (options.json) {
      stdout.write(`${JSON.stringify(jsonDoc({ escalation: view, current: current ?? null }), null, 2)}\n`);
      return EXIT.ok;
    }
    const lines = [
      `${view.id}  ${printable(view.dataset)}${view.key.length ? ` key ${printable(keyText(view.key))}` : ""}  ${view.class}  (${view.status})`,
      `  reason:  ${printable(view.reason)}`,
      `  opened:  ${view.createdAt} by run ${view.runId}`,
    ];
    if (view.columns.length) lines.push(`  differs: ${printable(view.columns.join(", "))}`);
    const held = Object.entries(view.replicas).map(
      ([r, o]) => `${printable(r)} ${o.present ? (o.fingerprint ?? "").slice(0, 8) : "(absent)"}`,
    );
    if (held.length) lines.push(`  held:    ${held.join(" · ")}  (fingerprints when escalated)`);
    if (view.status !== "open")
      lines.push(
        `  closed:  ${view.resolvedAt ?? "?"} by ${printable(view.resolvedBy ?? "?")}${view.pick ? `, pick ${printable(view.pick)}` : ""}${view.note ? ` (${printable(view.note)})` : ""}`,
      );
    if (current) lines.push(...renderValues(current, "  "));
    else if (e.key.length && !known)
      lines.push(`  values:  the config no longer declares ${printable(e.dataset)}`);
    if (view.status === "open" && view.options.length)
      lines.push(
        `  resolve: concord escalations resolve ${view.id} --pick ${view.options.map(printable).join("|")}  (or --reject)`,
      );
    stdout.write(`${lines.join("\n")}\n`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

/** The matching escalations a page at a time (one page when `window` is given). */
async function* pagesOf(
  state: StateStore,
  filter: EscalationFilter,
  window: { offset?: number; limit?: number },
): AsyncIterable<Escalation[]> {
  if (window.limit !== undefined) {
    yield await state.listEscalations({ ...filter, ...window });
    return;
  }
  let after: string | undefined;
  for (;;) {
    const page = await state.listEscalations({ ...filter, after, limit: 500 });
    if (page.length) yield page;
    if (page.length < 500) return;
    after = page.at(-1)!.id;
  }
}

async function* emptyPages(): AsyncIterable<Escalation[]> {}

/** Reads the current values of a page of escalations through the session's read-only replicas. */
function valuesReader(
  session: Session,
): (list: readonly Escalation[]) => Promise<Map<string, EscalationValues>> {
  return (list) =>
    observeEscalations(list, {
      datasets: session.config.datasets,
      replicas: (ds) => session.replicas(ds),
      now: Date.now,
    });
}

function renderList(
  list: readonly EscalationView[],
  page: {
    total: number;
    offset: number;
    size: number;
    status: EscalationFilter["status"];
    current?: Map<string, EscalationValues> | undefined;
  },
): string {
  const { total, offset, size, status } = page;
  if (total === 0) return `No ${what(status)}s match.\n`;
  if (list.length === 0)
    return `${plural(total, what(status))} match; page ${offset / size + 1} is past the last (${Math.ceil(total / size)}).\n`;
  const closed = list.some((e) => e.status !== "open");
  const header = ["ID", "DATASET", "KEY", "CLASS", "PATTERN", "OPENED", ...(closed ? ["CLOSED"] : [])];
  const lines: string[] = [];
  const rows = list.map((e) => [
    e.id,
    printable(e.dataset),
    printable(clip(keyText(e.key), 40)),
    e.class,
    printable(clip(describePattern(e), 40)),
    e.createdAt,
    ...(closed
      ? [
          e.status === "open"
            ? "open"
            : printable(
                `${e.status} ${e.resolvedAt ?? ""} by ${e.resolvedBy ?? "?"}${e.pick ? ` (pick ${e.pick})` : ""}`,
              ),
        ]
      : []),
  ]);
  const table = textTable([header, ...rows]).split("\n");
  lines.push(table[0]!);
  list.forEach((e, i) => {
    lines.push(table[i + 1]!);
    lines.push(`    ${printable(e.reason)}`);
    const current = page.current?.get(e.id);
    if (current) lines.push(...renderValues(current, "    "));
  });
  const last = offset + list.length;
  const pages = Math.ceil(total / size);
  lines.push(
    `Showing ${offset + 1}–${last} of ${plural(total, what(status))}${pages > 1 ? ` (page ${offset / size + 1} of ${pages}, ${size} per page; --page N for more)` : ""}.`,
  );
  const example = list.find((e) => e.status === "open" && e.options.length);
  if (example)
    lines.push(
      `Resolve one: concord escalations resolve ID --pick ${example.options.map(printable).join("|")} (or --reject); alike ones at once: list --group`,
    );
  return `${lines.join("\n")}\n`;
}

function renderGroups(groups: readonly EscalationGroupView[], status: EscalationFilter["status"]): string {
  if (groups.length === 0) return `No ${what(status)}s match.\n`;
  const total = groups.reduce((n, g) => n + g.count, 0);
  const rows = groups.map((g) => [
    g.id,
    g.count.toLocaleString("en-US"),
    printable(g.dataset),
    g.class,
    printable(g.description),
    g.oldestAt,
  ]);
  return `${plural(total, what(status))} in ${plural(groups.length, "group")}:
${textTable([["GROUP", "COUNT", "DATASET", "CLASS", "PATTERN", "OLDEST"], ...rows])}
List a group: concord escalations list --group GROUP
Resolve a group: concord escalations resolve --all-matching --group GROUP --pick REPLICA (asks to confirm)
`;
}

/**
 * The values now, side by side, one column per replica: the differing columns (all columns when a replica
 * lacks the record), printable and clipped (see `sideBySide`).
 */
export function renderValues(v: EscalationValues, indent: string): string[] {
  if (v.state === "agree") return [`${indent}now: the replicas agree (nothing left to resolve)`];
  const held: Record<string, HeldRecord> = {};
  for (const [r, o] of Object.entries(v.replicas))
    held[r] = o.present ? { present: true, values: (c) => o.values?.[c] } : { present: false };
  const head = `${indent}now${v.changed ? " (changed since it was escalated: a pick writes nothing)" : ""}:`;
  return [head, sideBySide(shownColumns(v.columns, held, v.differing), held, v.differing, `${indent}  `)];
}
