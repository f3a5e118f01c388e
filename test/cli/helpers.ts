/**
 * Shared helpers for the CLI tests: temp dirs, running the CLI (in-process through `main()`, or the real
 * binary as a child process where a test needs a process), and SQLite replicas.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { type ExpectStatic, expect, onTestFinished } from "vitest";
import { main } from "../../src/cli/main.js";
import { reapOnWorkerExit } from "../support/reap-children.js";

/** The repository root (where bin/concord.js lives). */
export const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const BIN = join(REPO, "bin", "concord.js");

/**
 * A fresh directory under the OS temp dir, removed when the current test finishes. Concurrent tests pass
 * their context's `onTestFinished`.
 */
export function tempDir(onFinished: (fn: () => void) => void = onTestFinished): string {
  const dir = mkdtempSync(join(tmpdir(), "concord-cli-"));
  onFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Working directory (default: the repository root). */
  readonly cwd?: string;
  /** Extra environment variables; `undefined` removes one. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** In-process runs: stdin is a terminal on which a person types this (answers to confirmations). */
  readonly typed?: string;
}

/** How long one run of the binary may take (CONCORD_TEST_RUN_TIMEOUT_MS raises it on a crowded machine). */
const RUN_TIMEOUT_MS = Number(process.env.CONCORD_TEST_RUN_TIMEOUT_MS) || 60_000;

/** The environment a run sees: this process's, without CONCORD_DEBUG, with `options.env` applied. */
function runEnv(options: RunOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, CONCORD_DEBUG: undefined, ...options.env })) {
    if (v !== undefined) env[k] = v;
  }
  return env;
}

/** A stream that keeps what is written to it, as text. */
class TextSink extends Writable {
  text = "";
  constructor() {
    super({ decodeStrings: false });
  }
  override _write(chunk: string | Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += String(chunk);
    done();
  }
}

/** In-process runs under way, by the directory of their files (see `filesDir`). */
const running = new Map<string, number>();

/**
 * Runs `concord ...args` in this process through the CLI's `main()`, with its own stdout, stderr,
 * environment and working directory, and resolves with the same result as `execConcord`. When the last
 * run on a directory (of its config, or demo) ends, it checks that nothing is left open there: every
 * command must close its replicas and state store on every path.
 */
export async function runConcord(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const stdout = new TextSink();
  const stderr = new TextSink();
  const cwd = options.cwd ?? REPO;
  const dir = filesDir(args, cwd);
  if (dir) running.set(dir, (running.get(dir) ?? 0) + 1);
  let code: number;
  try {
    const typed = options.typed;
    const stdin =
      typed === undefined ? undefined : () => Object.assign(Readable.from([typed]), { isTTY: true as const });
    code = await main(["node", "concord", ...args], { stdout, stderr, env: runEnv(options), cwd, stdin });
  } finally {
    if (dir) running.set(dir, running.get(dir)! - 1);
  }
  const result = { code, stdout: stdout.text, stderr: stderr.text };
  if (dir && running.get(dir) === 0) {
    running.delete(dir);
    const open = openFilesUnder(dir);
    if (open.length)
      throw new Error(`concord ${args.join(" ")} left files open: ${open.join(", ")}\n${result.stderr}`);
  }
  return result;
}

/**
 * The temporary directory a run's files live in (the folder of `-c`/`--config`, or the demo's), if it has
 * one; a run in the repository (the default config there) is not checked.
 */
function filesDir(args: readonly string[], cwd: string): string | undefined {
  const flag = args.findIndex((a) => a === "-c" || a === "--config" || a === "--dir");
  const dir =
    flag >= 0 && args[flag + 1] !== undefined
      ? resolve(cwd, args[flag + 1]!, args[flag] === "--dir" ? "." : "..")
      : args[0] === "demo"
        ? resolve(cwd, ".concord/demo")
        : undefined;
  const temp = [tmpdir(), realpathSync(tmpdir())].map((t) => `${t}${sep}`);
  return dir && temp.some((t) => dir.startsWith(t)) ? dir : undefined;
}

/** Files under `dir` this process holds open (from /proc/self/fd; none where that does not exist). */
export function openFilesUnder(dir: string): string[] {
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return [];
  }
  const roots = [dir, realpathOr(dir)].map((d) => `${d}${sep}`);
  const open: string[] = [];
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile (the readdir's own descriptor, for one)
    }
    if (roots.some((r) => target.startsWith(r))) open.push(target);
  }
  return open;
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Runs `node bin/concord.js ...args` as a child process and resolves with its exit code and output. For
 * what needs a process of its own: the bin entry itself, signals, several processes at once.
 */
export function execConcord(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const env = runEnv(options);
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd ?? REPO, env, timeout: RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") {
          fail(err);
          return;
        }
        done({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** Parses the stdout of a `--json` run. */
export function parseJson<T = ScanJson>(result: RunResult): T {
  return JSON.parse(result.stdout) as T;
}

/** The subset of the `scan --json` document the tests look at. */
export interface ScanJson {
  runId: string;
  datasets: {
    name: string;
    replicas: Record<string, { rows: number }>;
    divergences: {
      key: (string | number)[];
      class: string;
      replicas?: Record<string, { present: boolean; fingerprint?: string; version?: unknown }>;
      columns?: string[];
      regressed?: string[];
      column?: string;
      detail?: string;
    }[];
    counts: Record<string, number>;
    stats: Record<string, unknown>;
  }[];
}

type Row = readonly unknown[];

/** Creates (or extends) a SQLite file with one table and its rows; `sql` runs after the inserts. */
export function makeSqliteTable(
  path: string,
  table: string,
  ddl: string,
  rows: readonly Row[],
  options: { sql?: string; wal?: boolean } = {},
): void {
  const db = new Database(path);
  try {
    if (options.wal) db.pragma("journal_mode = WAL");
    db.exec(`CREATE TABLE ${table} (${ddl})`);
    if (rows.length > 0) {
      const marks = rows[0]!.map(() => "?").join(", ");
      const insert = db.prepare(`INSERT INTO ${table} VALUES (${marks})`);
      db.transaction(() => {
        for (const r of rows) insert.run(...r);
      })();
    }
    if (options.sql) db.exec(options.sql);
  } finally {
    db.close();
  }
}

/** Runs SQL against an existing SQLite file and closes it. */
export function execSql(path: string, sql: string): void {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

/**
 * A pending ledger row `id` of a process long gone (run `gone-run`), a copy of ledger row `from` (its key,
 * target and images) edited to say it undoes repair `undoes`: what recovery must not trust, and warns of.
 */
export function forgePendingUndo(state: string, from: string, id: string, undoes: string): void {
  execSql(
    state,
    `INSERT INTO ledger (id, run_id, dataset, key, target, expected, next_fingerprint, before_values,
       after_values, outcome, attempts, error, updated_at, undoes)
     SELECT '${id}', 'gone-run', dataset, key, target, expected, next_fingerprint, before_values,
       after_values, 'pending', 1, NULL, 0, '${undoes}' FROM ledger WHERE id = '${from}'`,
  );
}

/** SQLite timestamp text (UTC, no offset) of epoch milliseconds. */
export function sqlTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

const BASE = Date.UTC(2024, 0, 1);

/** The 7-column `items` table: a counter version and a timestamp version. */
export const ITEMS_DDL =
  "id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, price REAL NOT NULL, " +
  "note TEXT, updated_at TIMESTAMP NOT NULL, version INTEGER NOT NULL";

/** `count` deterministic rows of the items table, ids 1..count. */
export function itemRows(count: number): Row[] {
  const rows: Row[] = [];
  for (let id = 1; id <= count; id++) {
    rows.push([
      id,
      `item ${id}`,
      (id * 7) % 50,
      Math.round(((id * 37) % 1000) + 0.25 * (id % 4) * 100) / 100,
      id % 5 === 0 ? null : `note ${id % 13}`,
      sqlTime(BASE + id * 60_000),
      1 + (id % 4),
    ]);
  }
  return rows;
}

/** Writes two identical items replicas `a.db` and `b.db` in `dir`, then applies per-replica SQL. */
export function makeItemsReplicas(
  dir: string,
  options: { rows?: number; sqlA?: string; sqlB?: string; wal?: boolean } = {},
): { a: string; b: string } {
  const rows = itemRows(options.rows ?? 300);
  const a = join(dir, "a.db");
  const b = join(dir, "b.db");
  makeSqliteTable(a, "items", ITEMS_DDL, rows, { sql: options.sqlA, wal: options.wal });
  makeSqliteTable(b, "items", ITEMS_DDL, rows, { sql: options.sqlB, wal: options.wal });
  return { a, b };
}

/** Writes `text` as `name` (default concord.yaml) in `dir` and returns its path. */
export function writeConfig(dir: string, text: string, name = "concord.yaml"): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A config for the items replicas a.db / b.db beside it (state in the same folder). */
export function itemsConfig(policy = "", extra = ""): string {
  return `state: sqlite:state.db
datasets:
  items:
    key: id
    versions: { counter: version, timestamp: updated_at }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
${policy ? `    policy:\n${policy.replace(/^/gm, "      ")}\n` : ""}${extra}`;
}

/** The sha256 of a file's bytes. */
export function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Divergences as sorted `key → class` pairs, for exact comparison. */
export function keyClasses(divergences: ScanJson["datasets"][number]["divergences"]): [string, string][] {
  return divergences.map((d) => [JSON.stringify(d.key), d.class] as [string, string]).sort();
}

/**
 * Asserts the shape of a usage/config error: exit 2, nothing on stdout, exactly one line on stderr that
 * starts with `concord: `. Returns that line without the newline. Concurrent tests pass their context's `expect`.
 */
export function expectOneLineError(r: RunResult, ex: ExpectStatic = expect): string {
  ex({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
    code: 2,
    stdout: "",
    stderr: ex.any(String),
  });
  ex(r.stderr).toMatch(/^concord: [^\n]+\n$/);
  return r.stderr.trimEnd();
}

/** The policy the seeded items fixture is classified with. */
export const SEEDED_POLICY = "tolerance: { price: 0.01 }\nwindow: 1h";

/**
 * Writes items replicas a.db / b.db in `dir` with seeded divergence: missing [10] [20] [301], stale [30]
 * [70], conflict [40], tolerated [50] (under SEEDED_POLICY), in-flight [60].
 */
export function seededItems(dir: string): void {
  const recent = sqlTime(Date.now() - 2000);
  makeItemsReplicas(dir, {
    sqlA: `
      DELETE FROM items WHERE id = 20;
      UPDATE items SET name = 'renamed', version = version + 1 WHERE id = 30;
      UPDATE items SET qty = qty + 1, version = version + 1, updated_at = '${recent}' WHERE id = 60;`,
    sqlB: `
      DELETE FROM items WHERE id = 10;
      INSERT INTO items VALUES (301, 'only on b', 1, 1.5, NULL, '2024-02-01 00:00:00', 1);
      UPDATE items SET note = 'edited' WHERE id = 40;
      UPDATE items SET price = price + 0.004 WHERE id = 50;
      UPDATE items SET qty = 99, version = version + 2 WHERE id = 70;`,
  });
}

/**
 * Adds `plain` (text key, no versions: unversioned ["k05"] ["k17"]) and `pairs` (key [region, id]:
 * unversioned ["eu", 7], missing ["us", 12]) tables to a.db / b.db.
 */
export function seededExtras(dir: string): void {
  const plain = Array.from({ length: 20 }, (_, i) => [`k${String(i).padStart(2, "0")}`, `label ${i}`, i * 3]);
  const pairs: unknown[][] = [];
  for (const region of ["eu", "us"])
    for (let id = 1; id <= 30; id++) pairs.push([region, id, `${region}-${id}`]);
  const plainDdl = "code TEXT PRIMARY KEY, label TEXT, amount INTEGER";
  const pairsDdl = "region TEXT NOT NULL, id INTEGER NOT NULL, value TEXT, PRIMARY KEY (region, id)";
  makeSqliteTable(join(dir, "a.db"), "plain", plainDdl, plain);
  makeSqliteTable(join(dir, "b.db"), "plain", plainDdl, plain, {
    sql: "UPDATE plain SET label = 'changed' WHERE code = 'k05'; UPDATE plain SET amount = NULL WHERE code = 'k17';",
  });
  makeSqliteTable(join(dir, "a.db"), "pairs", pairsDdl, pairs, {
    sql: "DELETE FROM pairs WHERE region = 'us' AND id = 12;",
  });
  makeSqliteTable(join(dir, "b.db"), "pairs", pairsDdl, pairs, {
    sql: "UPDATE pairs SET value = 'other' WHERE region = 'eu' AND id = 7;",
  });
}

/** Config lines declaring the `plain` and `pairs` datasets. */
export const EXTRA_DATASETS = `  plain:
    key: code
    replicas:
      a: { url: "sqlite:a.db", table: plain }
      b: { url: "sqlite:b.db", table: plain }
  pairs:
    key: [region, id]
    replicas:
      a: { url: "sqlite:a.db", table: pairs }
      b: { url: "sqlite:b.db", table: pairs }
`;

/** A config with the seeded items, plain and pairs datasets (see `seededItems`, `seededExtras`). */
export function makeSeededReplicas(dir: string): string {
  seededItems(dir);
  seededExtras(dir);
  return writeConfig(dir, itemsConfig(SEEDED_POLICY, EXTRA_DATASETS));
}

// ---------------------------------------------------------------------------------------------------------
// Repair-side helpers: plan/repair documents, reading replicas and the state store, signalling the binary.

/** One decision of `plan --json` / `repair --json`. */
export interface DecisionJson {
  key: (string | number)[];
  class: string;
  action: string;
  source: string | null;
  targets: string[];
  rule: string;
  reason: string;
  ambiguity: number;
  policyVersion: string;
}

/** One repair of `repair --json` (outcome "planned" with --dry-run). */
export interface RepairJson {
  id: string;
  key: (string | number)[];
  target: string;
  outcome: string;
  error?: string;
}

/** The `plan --json` / `repair --json` document. */
export interface PlanJson {
  runId: string;
  datasets: (ScanJson["datasets"][number] & {
    decisions: DecisionJson[];
    guard?: { reason: string; divergent: number; rows: number; writes: number };
    repairs?: RepairJson[];
    summary?: Record<string, number>;
  })[];
}

/** An entry of `audit show --json`. */
export interface AuditJson {
  seq: number;
  ts: number;
  runId: string | null;
  type: string;
  dataset: string | null;
  key: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Decisions sorted by key, for exact comparison. */
export function byKey<T extends { key: (string | number)[] }>(list: readonly T[]): T[] {
  const compare = (x: (string | number)[], y: (string | number)[]): number => {
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const [p, q] = [x[i]!, y[i]!];
      if (p === q) continue;
      if (typeof p === "number" && typeof q === "number") return p - q;
      return String(p) < String(q) ? -1 : 1;
    }
    return x.length - y.length;
  };
  return [...list].sort((x, y) => compare(x.key, y.key));
}

/** Runs a read-only query on a SQLite file (a replica or the state store) and returns every row. */
export function query<T = Record<string, unknown>>(path: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Every row of a table, ordered by `order` (default: the first column). */
export function readRows(path: string, table: string, order = "1"): Record<string, unknown>[] {
  return query(path, `SELECT * FROM ${table} ORDER BY ${order}`);
}

/**
 * The items rows of a replica with `updated_at` normalised to `YYYY-MM-DD HH:MM:SS.SSS`: a repair writes
 * timestamps in the canonical form, which is the same instant in another spelling.
 */
export function itemsSnapshot(path: string): Record<string, unknown>[] {
  return query(
    path,
    "SELECT id, name, qty, price, note, strftime('%Y-%m-%d %H:%M:%f', updated_at) AS updated_at, version FROM items ORDER BY id",
  );
}

/** Ledger rows of a state store (`[]` while the store or its tables do not exist yet). */
export function ledgerRows(
  statePath: string,
): { id: string; run_id: string; key: string; target: string; outcome: string }[] {
  if (!existsSync(statePath)) return [];
  try {
    return query(statePath, "SELECT id, run_id, key, target, outcome FROM ledger ORDER BY rowid");
  } catch {
    return [];
  }
}

/** Escalations with `status` as the state store keeps them (key values as text), oldest first. */
export function storedEscalations(
  statePath: string,
  status = "open",
): { id: string; dataset: string; key: string[]; class: string; reason: string; options: string[] }[] {
  return query<{ id: string; dataset: string; key: string; class: string; reason: string; options: string }>(
    statePath,
    "SELECT id, dataset, key, class, reason, options FROM escalations WHERE status = ? ORDER BY created_at, rowid",
    status,
  ).map((e) => ({ ...e, key: JSON.parse(e.key), options: JSON.parse(e.options) }));
}

/** A running `concord` child: signal it, then await its result. */
export interface RunningConcord {
  readonly child: ChildProcess;
  readonly done: Promise<RunResult & { signal: NodeJS.Signals | null }>;
  /** What it has written to stderr so far. */
  stderr(): string;
  /**
   * Resolves with the first match of `pattern` in its stderr as soon as the child writes it (a readiness
   * signal: no polling, no deadline but the test's); rejects when the child exits without writing it.
   */
  untilStderr(pattern: RegExp): Promise<RegExpExecArray>;
  /** The same on its stdout: a progress line it prints (a batch done). */
  untilStdout(pattern: RegExp): Promise<RegExpExecArray>;
}

export interface SpawnOptions extends RunOptions {
  /**
   * The starting test's own `onTestFinished` (from its context, `async ({ onTestFinished }) => ...`): the
   * child is killed when that test ends, whatever its outcome. vitest's global `onTestFinished` is not
   * used: in a `describe.concurrent` block it attaches to whichever test is current, so one test's end
   * would kill another's child.
   */
  readonly onTestFinished: (fn: () => void | Promise<void>) => void;
}

/**
 * Starts `node bin/concord.js ...args` without waiting for it (for tests that interrupt or kill it). The
 * child is SIGKILLed when the test that started it ends (`options.onTestFinished`), and when the test
 * file's worker exits: a failing serve test must not leave a `concord serve` running.
 */
export function spawnConcord(args: readonly string[], options: SpawnOptions): RunningConcord {
  const env = runEnv(options);
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? REPO,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  reapOnWorkerExit(child);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once("exit", () => resolve());
      child.once("error", () => resolve()); // never started
    }
  });
  // Awaits the exit, so the test's end (and its temp dir's removal, registered earlier, so run after this)
  // comes after the child is gone.
  options.onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const done = new Promise<RunResult & { signal: NodeJS.Signals | null }>((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS + 10_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, stdout, stderr });
    });
  });
  const until = (stream: "stdout" | "stderr", pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const text = () => (stream === "stdout" ? stdout : stderr);
      const check = () => {
        const m = pattern.exec(text());
        if (!m) return;
        child[stream]!.off("data", onData);
        resolve(m);
      };
      // Runs after the accumulating listener above, which was added first.
      const onData = () => check();
      child[stream]!.on("data", onData);
      check();
      void done.then((r) => {
        child[stream]!.off("data", onData);
        const m = pattern.exec(text());
        if (m) resolve(m);
        else
          reject(new Error(`concord exited (${r.signal ?? r.code}) without writing ${pattern}:\n${stderr}`));
      });
    });
  return {
    child,
    done,
    stderr: () => stderr,
    untilStderr: (pattern) => until("stderr", pattern),
    untilStdout: (pattern) => until("stdout", pattern),
  };
}

/**
 * Polls `condition` (state a process under test writes: its ledger, its log) every `intervalMs` until it
 * holds; rejects after `timeoutMs`, by default never: the test's own timeout bounds it, so a crowded
 * machine makes a test slower, not failed. Conditions should also hold once the process has exited.
 */
export async function waitFor(
  condition: () => boolean,
  timeoutMs = Number.POSITIVE_INFINITY,
  intervalMs = 40,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
