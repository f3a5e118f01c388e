/**
 * `concord diff URL1 TABLE1 URL2 TABLE2 -k id`: an ad-hoc comparison of two tables without a config file,
 * through the same scan as every other command (state kept in memory, nothing written anywhere). Prints
 * the differing rows as `-` (the first side) and `+` (the second) with their values.
 */
import { join, resolve } from "node:path";
import { ConfigError, parseConfig } from "../config/load-config.js";
import { keyText } from "../core/model.js";
import { printable } from "../core/printable.js";
import { collectRun } from "./collect-run.js";
import { DiffFileWriter } from "./diff-file.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { SpillDir } from "./json-spill.js";
import { refuseOwnFile } from "./own-files.js";
import { createProgress } from "./progress.js";
import { stoppedLine } from "./render-scan.js";
import { writeRunsJson } from "./run-json.js";
import { newRunId, sessionOf } from "./session.js";
import { stopSignals } from "./stop-signals.js";
import { clip, plural } from "./text-table.js";
import { wholeNumber } from "./whole-number.js";

export interface DiffOptions {
  readonly key: string;
  readonly columns?: string | undefined;
  readonly names?: string | undefined;
  readonly limit?: string | undefined;
  readonly json?: boolean | undefined;
  /** Compare only the rows this SQL predicate holds, on both sides. */
  readonly where?: string | undefined;
  /** Also write every differing row, full, to this diff file (see scan --output). */
  readonly output?: string | undefined;
  /**
   * The comparison's dataset name (default "diff"): what reports and the diff file name it, so that
   * `repair --from` can apply the file with a config holding a dataset of that name.
   */
  readonly dataset?: string | undefined;
}

/** How many differing rows a readable diff lists unless --limit says otherwise. */
const DEFAULT_ROWS = 100;

const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** One side as a replica: a table (or, for Redis, a key prefix) at a URL. */
function replica(url: string, table: string): Record<string, unknown> {
  return /^rediss?:/i.test(url) ? { url, prefix: table } : { url, table };
}

/** One divergence as the JSON spill holds it (with values). */
interface DiffItem {
  key: unknown[];
  class: string;
  columns: string[];
  replicas: Record<string, { present: boolean; values?: Record<string, string | null> }>;
}

/** A value as a diff row shows it: canonical text, quoted only where it could be misread (NULL, "", a comma). */
function shownValue(v: string | null): string {
  if (v === null) return "NULL";
  const text = clip(v, 60);
  return printable(/^$|^NULL$|[,=]|^\s|\s$/.test(v) ? JSON.stringify(text) : text);
}

/**
 * `parse()`, with an error about the dataset's `where` naming the flag it came from (`--where: …`), not the
 * config path the arguments were laid out in (`datasets.diff.where: …`), which the user never wrote.
 */
function whereNamedByFlag<T>(parse: () => T, dataset: string): T {
  try {
    return parse();
  } catch (err) {
    const path = `datasets.${dataset}.where: `;
    if (err instanceof ConfigError && err.message.includes(path))
      throw new UsageError(`--where: ${err.message.slice(err.message.indexOf(path) + path.length)}`);
    throw err;
  }
}

export async function runDiff(
  [url1, table1, url2, table2]: readonly [string, string, string, string],
  options: DiffOptions,
  io: CliIo = processIo(),
): Promise<number> {
  const { stdout } = io;
  const key = list(options.key);
  if (!key.length) throw new UsageError("-k: name the key column(s), e.g. -k id or -k region,id");
  const names = options.names === undefined ? ["left", "right"] : list(options.names);
  if (names.length !== 2 || names[0] === names[1])
    throw new UsageError(`--names ${options.names}: expected two different names, e.g. --names pg,cache`);
  const limit = options.limit === undefined ? DEFAULT_ROWS : wholeNumber(options.limit, "--limit");
  const [left, right] = names as [string, string];
  const doc = {
    state: "sqlite::memory:",
    datasets: {
      [options.dataset ?? "diff"]: {
        key: key.length === 1 ? key[0] : key,
        ...(options.columns ? { columns: list(options.columns) } : {}),
        ...(options.where !== undefined ? { where: options.where } : {}),
        replicas: { [left]: replica(url1, table1), [right]: replica(url2, table2) },
      },
    },
  };
  // The arguments are validated as a config file would be; an error names them, not a file.
  const config = whereNamedByFlag(
    () => parseConfig(JSON.stringify(doc), join(io.cwd, "(arguments)"), io.env, io.cwd),
    options.dataset ?? "diff",
  );
  const session = sessionOf(config, config.datasets, { readonly: true });
  const spills = new SpillDir({ keep: true });
  const progress = createProgress(io.stderr);
  // Ctrl-C or SIGTERM stops after the step in flight, as scan does, so that the spills and an unfinished
  // --output file are removed instead of left behind by a killed process.
  const abort = stopSignals(io.stderr, "step");
  abort.listen();
  let output: DiffFileWriter | undefined;
  try {
    if (options.output !== undefined) {
      const target = resolve(io.cwd, options.output);
      refuseOwnFile(target, config, undefined, `--output ${options.output}`);
      output = new DiffFileWriter(target);
    }
    const runId = newRunId();
    const run = await collectRun(session, config.datasets[0]!, runId, "diff", "scan", spills, {
      progress,
      signal: abort.signal,
      values: true,
      output,
    });
    const interrupted = !run.finished;
    if (!interrupted) output?.commit();
    progress.clear();
    const stopped = () => {
      const file =
        options.output !== undefined ? `; ${options.output} not written (the diff did not finish)` : "";
      io.stderr.write(`concord: interrupted; the differences listed are only those found so far${file}\n`);
      return abort.exitCode();
    };
    if (options.json) {
      await writeRunsJson(stdout, runId, [run], "scan");
      if (interrupted) return stopped();
      return run.totals.remaining > 0 || run.spill.divergences.count > 0 ? EXIT.diverged : EXIT.ok;
    }
    const lines: string[] = [];
    for (const s of run.resolved.issues) lines.push(`! schema: ${printable(s.detail)}`);
    for (const n of run.resolved.notes) lines.push(`note: ${printable(n)}`);
    let shown = 0;
    let onlyLeft = 0;
    let onlyRight = 0;
    let changed = 0;
    for (const raw of run.spill.divergences.values()) {
      const d = raw as DiffItem;
      const l = d.replicas[left];
      const r = d.replicas[right];
      if (l?.present && !r?.present) onlyLeft++;
      else if (!l?.present && r?.present) onlyRight++;
      else changed++;
      if (shown >= limit) continue;
      shown++;
      const keyShown = printable(keyText(d.key));
      const row = (values: Record<string, string | null> | undefined) =>
        Object.entries(values ?? {})
          .map(([c, v]) => `${printable(c)}=${shownValue(v)}`)
          .join(", ");
      if (l?.present) lines.push(`- ${keyShown}  ${row(l.values)}`);
      if (r?.present) lines.push(`+ ${keyShown}  ${row(r.values)}`);
    }
    const total = onlyLeft + onlyRight + changed;
    const rows = Object.entries(run.totals.replicas)
      .map(([name, n]) => `${printable(name)} ${n.rows.toLocaleString("en-US")} rows`)
      .join(", ");
    const n = (count: number) => count.toLocaleString("en-US");
    if (total > shown) lines.push(`… ${n(total - shown)} more (--limit N, or --json for all)`);
    if (interrupted) lines.push(stoppedLine(run, "not compared").trimStart());
    lines.push(
      interrupted
        ? `${plural(total, "row")} differ so far (${rows}).`
        : total === 0
          ? `No differences (${rows}).`
          : `${plural(total, "row")} differ: ${n(onlyLeft)} only in ${printable(left)} (-), ${n(onlyRight)} only in ${printable(right)} (+), ${n(changed)} with other values (${rows}).`,
    );
    stdout.write(`${lines.join("\n")}\n`);
    if (interrupted) return stopped();
    return total > 0 || run.resolved.issues.length > 0 ? EXIT.diverged : EXIT.ok;
  } finally {
    abort.dispose();
    output?.abort();
    progress.clear();
    spills.dispose();
    await session.close();
  }
}
