/**
 * The diff file of full rows (`scan --output FILE`) and its reading back (`repair --from FILE`), as JSON
 * lines: per dataset a header line, then one line per divergence with each replica's presence,
 * fingerprint and values by column. Written to a temporary file renamed into place when complete, so a
 * failed or interrupted scan leaves no half-written diff file.
 */
import { closeSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { DatasetConfig } from "../config/load-config.js";
import type { Divergence } from "../core/classify.js";
import { type ColumnSpec, type Key, keyId } from "../core/model.js";
import type { ExpectedState } from "../engine/run-segment.js";
import { processGone } from "../runtime/process-gone.js";
import { UsageError } from "./errors.js";
import { divergenceJson } from "./json-items.js";

/** The first member of every header line: what the file is, and its format's version. */
export const DIFF_FILE_KIND = "concord-diff";
export const DIFF_FILE_VERSION = 1;

/**
 * Removes the temporary files of `path` that scans killed outright (SIGKILL, a crash, power loss) left behind:
 * `<path>.<pid>.tmp` whose process no longer runs. A scan still writing one (another process) keeps it.
 */
function removeOrphans(path: string): void {
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return; // the folder is missing or unreadable: opening the file says so
  }
  for (const name of names) {
    const pid = name.startsWith(prefix) && name.endsWith(".tmp") ? name.slice(prefix.length, -4) : "";
    if (!/^[1-9]\d*$/.test(pid) || Number(pid) === process.pid || !processGone(Number(pid))) continue;
    rmSync(join(dirname(path), name), { force: true });
  }
}

/** Writes a diff file: `section` per dataset, `add` per divergence, then `commit` (or `abort`). */
export class DiffFileWriter {
  private readonly tmp: string;
  private fd: number | undefined;

  constructor(private readonly path: string) {
    this.tmp = `${path}.${process.pid}.tmp`;
    removeOrphans(path);
    try {
      this.fd = openSync(this.tmp, "w");
    } catch (err) {
      throw new UsageError(`--output ${path}: cannot write (${(err as NodeJS.ErrnoException).code})`);
    }
  }

  private line(value: unknown): void {
    writeSync(this.fd!, `${JSON.stringify(value)}\n`);
  }

  /** Starts a dataset's section: its name, the run, key and compared columns, and replicas. */
  section(
    dataset: string,
    runId: string,
    shape: { key: readonly ColumnSpec[]; columns: readonly ColumnSpec[] },
    replicas: readonly string[],
  ): void {
    this.line({
      kind: DIFF_FILE_KIND,
      schemaVersion: DIFF_FILE_VERSION,
      dataset,
      runId,
      key: shape.key.map((c) => c.name),
      columns: shape.columns.map((c) => c.name),
      replicas,
    });
  }

  /** One divergence with its full rows (values by column on every replica holding the record). */
  add(keyColumns: readonly ColumnSpec[], d: Divergence, columns: readonly string[]): void {
    this.line(divergenceJson(keyColumns, d, columns));
  }

  /** Puts the complete file in place. */
  commit(): void {
    closeSync(this.fd!);
    this.fd = undefined;
    try {
      renameSync(this.tmp, this.path);
    } catch (err) {
      // A directory (or an unwritable one) at the path: the complete file goes too, nothing is left.
      rmSync(this.tmp, { force: true });
      throw new UsageError(`--output ${this.path}: cannot write (${(err as NodeJS.ErrnoException).code})`);
    }
  }

  /** Drops the temporary file (an error or Ctrl-C stopped the scan): nothing half-written is left. */
  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.tmp, { force: true });
  }
}

/** What a diff file asks of one dataset: the keys to re-read, and what each replica held. */
export interface DiffFileTarget {
  readonly keys: Key[];
  readonly expected: ExpectedState;
}

interface Header {
  kind: string;
  schemaVersion: number;
  dataset: string;
  key: string[];
  replicas: string[];
}

interface Entry {
  key: (string | number)[];
  replicas: Record<string, { present: boolean; fingerprint?: string }>;
}

/**
 * Reads a diff file against the config: every dataset it names must exist with the same key columns and
 * replicas. A problem is a UsageError naming the file and line. Keys are held in memory (one per entry).
 */
export function readDiffFile(path: string, datasets: readonly DatasetConfig[]): Map<string, DiffFileTarget> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`--from ${path}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  const out = new Map<string, DiffFileTarget>();
  let current:
    | { ds: DatasetConfig; target: { keys: Key[]; expected: Map<string, Record<string, string | null>> } }
    | undefined;
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    if (raw.trim() === "") return;
    const where = `--from ${path}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new UsageError(`${where}: not a JSON line`);
    }
    const v = value as Partial<Header>;
    const e = value as Partial<Entry>;
    if (v.kind !== undefined) {
      if (v.kind !== DIFF_FILE_KIND || v.schemaVersion !== DIFF_FILE_VERSION)
        throw new UsageError(`${where}: not a concord diff file of schemaVersion ${DIFF_FILE_VERSION}`);
      const ds = datasets.find((d) => d.name === v.dataset);
      if (!ds)
        throw new UsageError(
          `${where}: dataset ${String(v.dataset)} is not in the config (or not picked with -d)`,
        );
      if (JSON.stringify(v.key) !== JSON.stringify(ds.key))
        throw new UsageError(
          `${where}: dataset ${ds.name}'s key is ${ds.key.join(",")} in the config, ${String(v.key)} in the file`,
        );
      const names = ds.replicas.map((r) => r.name);
      const unknown = (v.replicas ?? []).filter((r) => !names.includes(r));
      if (unknown.length)
        throw new UsageError(`${where}: replica ${unknown[0]} is not a replica of ${ds.name}`);
      const target = out.get(ds.name) ?? { keys: [], expected: new Map() };
      out.set(ds.name, target as DiffFileTarget);
      current = {
        ds,
        target: target as { keys: Key[]; expected: Map<string, Record<string, string | null>> },
      };
      return;
    }
    if (!current) throw new UsageError(`${where}: an entry before any dataset header`);
    if (
      !Array.isArray(e.key) ||
      e.key.length !== current.ds.key.length ||
      typeof e.replicas !== "object" ||
      e.replicas === null
    )
      throw new UsageError(`${where}: expected { key: [${current.ds.key.join(", ")}], replicas: {…} }`);
    const key: Key = e.key.map((part) => String(part));
    const held: Record<string, string | null> = {};
    for (const [name, r] of Object.entries(e.replicas)) {
      if (!current.ds.replicas.some((x) => x.name === name))
        throw new UsageError(`${where}: replica ${name} is not a replica of ${current.ds.name}`);
      if (r.present && typeof r.fingerprint !== "string")
        throw new UsageError(`${where}: replica ${name} is present without a fingerprint`);
      held[name] = r.present ? r.fingerprint! : null;
    }
    const id = keyId(key);
    if (!current.target.expected.has(id)) current.target.keys.push(key);
    current.target.expected.set(id, held);
  });
  if (out.size === 0) throw new UsageError(`--from ${path}: no dataset header (is it a concord diff file?)`);
  return out;
}
