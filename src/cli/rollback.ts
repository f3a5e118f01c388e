/** `concord rollback --run ID | --repair ID`: conditional inverse writes from the ledger's before images. */
import { AuditBrokenError, verifyAudit } from "../audit/verify-audit.js";
import { fingerprintRow } from "../core/fingerprint.js";
import { keyId, keyToJson } from "../core/model.js";
import { printable } from "../core/printable.js";
import { observeKeys } from "../engine/observe-keys.js";
import { recoverPending, STALE_RUN_MS } from "../engine/recover-pending.js";
import { runRepairTasks } from "../engine/repair-dataset.js";
import {
  type HeldLease,
  holdRunLease,
  keepHolding,
  processOwner,
  takeLease,
} from "../engine/run-liveness.js";
import type { RepairTask } from "../execute/execute-repairs.js";
import { inverseRepair } from "../execute/inverse-repair.js";
import type { LedgerEntry, RepairFilter, RepairPage } from "../state/state-store.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo, writeWarning } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { type JsonSpill, SpillDir } from "./json-spill.js";
import { put, writeJson } from "./run-json.js";
import { newRunId, openSession, type Session } from "./session.js";
import { type StopSignals, stopSignals } from "./stop-signals.js";

export interface RollbackOptions {
  readonly config: string;
  readonly run?: string | undefined;
  readonly repair?: string | undefined;
  readonly json?: boolean | undefined;
  /** Ledger entries read, checked and rolled back at a time (default 2,000); memory follows it. For tests. */
  readonly pageSize?: number | undefined;
}

/** Ledger entries a rollback holds at a time: one write batch's worth. */
const PAGE_SIZE = 2000;

/**
 * Restores the before image of every applied repair of a run (or one repair), only where the record
 * still equals the after image; a record changed since is left alone (`superseded`). Exit 0 when every
 * rollback applied, 1 otherwise. Ctrl-C (SIGINT) or SIGTERM stops after the write batch in flight: what was
 * rolled back is in ledger and audit, the leases are released, and a second rollback does the rest (exit
 * 130, 143 after SIGTERM). The run's ledger entries are read a page at a time and the report is streamed, so
 * memory follows the page size, not the number of repairs.
 */
export async function runRollback(options: RollbackOptions, io: CliIo = processIo()): Promise<number> {
  if (!!options.run === !!options.repair)
    throw new UsageError("rollback: give exactly one of --run ID or --repair ID");
  // Nothing to roll back in a state store that does not exist: it is not created to say so.
  const session = await openSession({ config: options.config }, { readonly: false, state: "if-exists" }, io);
  const abort = stopSignals(io.stderr, "batch");
  abort.listen();
  try {
    // The ledger records an applied repair under the run whose write landed (a claim settles only under its
    // claimer), so a run's applied entries are exactly the repairs it applied.
    const applied: RepairFilter = options.run
      ? { runId: options.run, outcome: "applied" }
      : { id: options.repair!, outcome: "applied" };
    const first = async () => (await session.state.listRepairsPage(applied, { limit: 1 })).entries[0];
    const what = options.run ? `rollback --run ${options.run}` : `rollback --repair ${options.repair}`;
    // Nothing applied is left: say whether that is because it was all undone already, or never applied.
    const none = async () => {
      const undone = await session.state.countRepairs({ ...applied, outcome: "rolled-back" });
      const already = options.run
        ? ` (its ${undone} repair${undone === 1 ? " was" : "s were"} rolled back already)`
        : " (it was rolled back already)";
      return new UsageError(
        `${options.run ? `${what}: no applied repairs in that run` : `${what}: no applied repair with that id`}${undone ? already : ""}`,
      );
    };
    const found = await first();
    if (!found) throw await none();
    // One rollback of a run at a time (a `--repair` counts as one of its run's): a second would find the
    // first's inverse claims held and report them superseded. It is refused, naming the process that holds
    // the run, before it writes anything; the first one's report is the result. A holder on this host that no
    // longer exists (kill -9) is taken over at once, one elsewhere once its lease lapses (60 s). Every entry
    // listed belongs to one run: the one named (--run), or the repair's (--repair).
    const owner = processOwner();
    const held: HeldLease[] = [];
    try {
      const run = found.runId;
      const name = rollbackLease(run);
      await takeLease(
        session.state,
        name,
        owner,
        Date.now(),
        STALE_RUN_MS,
        (holder) =>
          new RollbackBusyError(
            `${what}: run ${run} is being rolled back by another process (${holder ?? "unknown"}); nothing done here: its report is the result`,
          ),
      );
      held.push(keepHolding({ state: session.state, now: Date.now, name, owner, ttlMs: STALE_RUN_MS }));
      // Read again under the lease: a rollback that held it a moment ago may have undone these.
      if (!(await first())) throw await none();
      return await rollBack(session, applied, owner, options, io, abort);
    } finally {
      for (const lease of held) await lease.release();
    }
  } finally {
    abort.dispose();
    await session.close();
  }
}

/** The lease one rollback of a run's repairs holds while it works (`--run` and `--repair` alike). */
function rollbackLease(runId: string): string {
  return `rollback:${runId}`;
}

/** Another process is rolling back the same run: this one did nothing. */
export class RollbackBusyError extends Error {
  override readonly name = "RollbackBusyError";
}

function pageSize(options: RollbackOptions): number {
  return options.pageSize ?? PAGE_SIZE;
}

/**
 * The ledger pages of the entries matching `filter`, in the order first recorded (empty pages left out), each
 * with where the next one starts (`next`: absent after the last).
 */
async function* pages(session: Session, filter: RepairFilter, limit: number): AsyncIterable<RepairPage> {
  let after: string | undefined;
  do {
    const page = await session.state.listRepairsPage(filter, { after, limit });
    if (page.entries.length) yield page;
    after = page.next;
  } while (after !== undefined);
}

/** The first entry of `entries` whose before or after image does not fingerprint to its row's fingerprints. */
function forgedImage(entries: readonly LedgerEntry[]): LedgerEntry | undefined {
  return entries.find(
    (e) =>
      (e.before ? fingerprintRow(e.key, e.before) : null) !== e.expected ||
      (e.after ? fingerprintRow(e.key, e.after) : null) !== e.nextFingerprint,
  );
}

function forgedError(forged: LedgerEntry, done: string): AuditBrokenError {
  return new AuditBrokenError(
    `rollback: ${done}, the ledger row of repair ${forged.id} (${forged.dataset} key ${keyId(forged.key)} on ${forged.target}) holds a before or after image that is not what its fingerprints say (the row was edited)`,
  );
}

/** A dataset's replicas and record shape, opened once per rollback on its first page. */
interface DatasetAt {
  readonly ds: Session["config"]["datasets"][number];
  readonly replicas: Awaited<ReturnType<Session["replicas"]>>;
  readonly shape: Awaited<ReturnType<typeof observeKeys>>["resolved"]["shape"];
}

/** The rollback of the applied repairs `applied` lists, under the lease of the run they belong to. */
async function rollBack(
  session: Session,
  applied: RepairFilter,
  owner: string,
  options: RollbackOptions,
  io: CliIo,
  abort: StopSignals,
): Promise<number> {
  const { stdout, stderr } = io;
  const limit = pageSize(options);
  // Rollback writes the ledger's before images back: a row edited behind the store's back (a forged image)
  // would be written into the replica. The whole log is verified first (chain, anchors, ledger against the
  // audit), and nothing is done on a log that does not verify.
  const verdict = await verifyAudit(session.state, session.config.audit);
  if (!verdict.ok)
    throw new AuditBrokenError(
      `rollback: nothing rolled back, the audit log does not verify (concord audit verify): ${verdict.problem}`,
    );
  // The images are bound to the row's fingerprints (the target's before the repair, the one written): a
  // before image edited while its row was pending is vouched for by no entry, and recovery, settling the
  // row, would copy it into one. Every page is checked before anything is written, and again as it is
  // rolled back (a row edited in between stops the rollback there).
  for await (const { entries: page } of pages(session, applied, limit)) {
    const forged = forgedImage(page);
    if (forged) throw forgedError(forged, "nothing rolled back");
  }
  const runId = newRunId();
  // The run's lease names this process, so that after a kill -9 the next rollback (or repair) settles the
  // repairs this one left pending at once instead of reporting them held by it.
  const run = await holdRunLease({ state: session.state, now: Date.now, runId, owner, ttlMs: STALE_RUN_MS });
  const spills = new SpillDir({ keep: options.json === true });
  try {
    const report = spills.spill();
    let done: PagesRolledBack;
    // What recovery warned of (a tampered pending row it did not act on): on stderr at once, and in the JSON.
    const warnings: string[] = [];
    const warn = (warning: string) => {
      warnings.push(warning);
      writeWarning(stderr, warning);
    };
    try {
      done = await rollBackPages(session, applied, runId, options, io.stdout, abort, report, warn);
    } finally {
      await run.release();
    }
    await session.anchorAudit();
    const { allOk, notAttempted, outcomes } = done;
    const interrupted = notAttempted > 0;
    const count = report.count;
    if (options.json)
      await writeJson(
        stdout,
        jsonDoc({ runId, interrupted, rollbacks: "@@spill:0@@", warnings }),
        new Map([["@@spill:0@@", [report.items()]]]),
      );
    else {
      stdout.write(`${rolledBackLine(allOk && !interrupted, count, outcomes)} (run ${runId}).\n`);
      if (interrupted)
        stdout.write(
          `interrupted: ${notAttempted} repair${notAttempted === 1 ? "" : "s"} not rolled back (run the rollback again to finish)\n`,
        );
    }
    if (interrupted) {
      stderr.write("concord: interrupted; what was rolled back is in the ledger and the audit log\n");
      return abort.exitCode();
    }
    return allOk ? EXIT.ok : EXIT.diverged;
  } finally {
    spills.dispose();
  }
}

/** What the pages came to: whether every rollback applied, and how many a stop left unattempted. */
interface PagesRolledBack {
  readonly allOk: boolean;
  /** Repairs a stop (Ctrl-C, SIGTERM) left applied: not reached, so neither attempted nor reported. */
  readonly notAttempted: number;
  /** The reported repairs by their inverse's outcome (rolled-back, noop, superseded, failed). */
  readonly outcomes: ReadonlyMap<string, number>;
}

/** Outcomes of an inverse write after which its repair is undone: written, or found done. */
const UNDID = new Set(["rolled-back", "noop"]);

/**
 * The summary's head: "Rolled back: N repairs" when every repair was; otherwise how many of those attempted
 * were undone, and what became of the rest ("Partly rolled back: 297 of 300 repairs (3 superseded)"), not the
 * count attempted as if all were undone.
 */
export function rolledBackLine(all: boolean, count: number, outcomes: ReadonlyMap<string, number>): string {
  const repairs = (n: number) => `${n} repair${n === 1 ? "" : "s"}`;
  if (all) return `Rolled back: ${repairs(count)}`;
  let undid = 0;
  const rest: string[] = [];
  for (const [outcome, n] of outcomes) {
    if (UNDID.has(outcome)) undid += n;
    else rest.push(`${n} ${outcome}`);
  }
  if (rest.length === 0) return `Partly rolled back: ${repairs(count)}`;
  return `Partly rolled back: ${undid} of ${repairs(count)} (${rest.join(", ")})`;
}

/**
 * Rolls back the pages of `applied` one after another under the rollback's run `runId`: each page's report
 * items go into `report` (--json: spilled for the document written at the end) and, in text, to `stdout` as
 * they come. After a stop the entries after the page in hand are counted by the ledger (`countRepairs`), not
 * read.
 */
async function rollBackPages(
  session: Session,
  applied: RepairFilter,
  runId: string,
  options: RollbackOptions,
  stdout: NodeJS.WritableStream,
  abort: StopSignals,
  report: JsonSpill,
  warn: (warning: string) => void,
): Promise<PagesRolledBack> {
  let allOk = true;
  let notAttempted = 0;
  const outcomes = new Map<string, number>();
  const datasets = new Map<string, DatasetAt>();
  // The entries after a page, counted by the ledger rather than read (none after the last page).
  const after = async (next: string | undefined) =>
    next === undefined ? 0 : await session.state.countRepairs(applied, { after: next });
  for await (const { entries: page, next } of pages(session, applied, pageSize(options))) {
    if (abort.signal.aborted) {
      notAttempted += page.length + (await after(next));
      break;
    }
    const forged = forgedImage(page);
    if (forged) throw forgedError(forged, "stopped");
    // A page's entries by dataset, in the order each first appears.
    const byDataset = new Map<string, LedgerEntry[]>();
    for (const e of page) {
      const list = byDataset.get(e.dataset);
      if (list) list.push(e);
      else byDataset.set(e.dataset, [e]);
    }
    for (const [name, original] of byDataset) {
      if (abort.signal.aborted) {
        notAttempted += original.length;
        continue;
      }
      const at = datasets.get(name) ?? (await openDataset(session, name, runId, warn));
      datasets.set(name, at);
      const done = await rollBackEntries(session, name, original, at, runId, abort);
      notAttempted += done.notAttempted;
      if (!done.allOk) allOk = false;
      let text = "";
      for (const r of done.reported) {
        report.push(() => r);
        outcomes.set(String(r.outcome), (outcomes.get(String(r.outcome)) ?? 0) + 1);
        if (!options.json)
          text += `${r.repair}  ${printable((r.key as unknown[]).join(","))} on ${r.target}: ${r.outcome}${r.error ? ` (${printable(String(r.error))})` : ""}\n`;
      }
      if (text) await put(stdout, text);
    }
    // Stopped during this page: what follows it is counted, not read.
    if (abort.signal.aborted) {
      notAttempted += await after(next);
      break;
    }
  }
  return { allOk, notAttempted, outcomes };
}

/**
 * Opens a dataset the rollback reaches for the first time: its replicas and shape, and what an earlier
 * rollback (or run) killed mid-batch left pending settled by what the targets hold, so that its inverse
 * repairs can be claimed again here; recovery's warnings go to `warn`.
 */
async function openDataset(
  session: Session,
  name: string,
  runId: string,
  warn: (warning: string) => void,
): Promise<DatasetAt> {
  const ds = session.config.datasets.find((d) => d.name === name);
  if (!ds) throw new UsageError(`rollback: dataset ${name} is no longer declared in ${session.config.path}`);
  const replicas = await session.replicas(ds);
  const { resolved } = await observeKeys(ds, replicas, [], Date.now());
  const recovery = await recoverPending(name, replicas, resolved.shape, {
    runId,
    state: session.state,
    now: Date.now,
  });
  for (const w of recovery.warnings) warn(w);
  return { ds, replicas, shape: resolved.shape };
}

/** What rolling back one page's entries of a dataset did: its report items, in the entries' order. */
interface EntriesRolledBack {
  readonly reported: Record<string, unknown>[];
  readonly allOk: boolean;
  readonly notAttempted: number;
}

/** Rolls back `original` (applied repairs of dataset `name`, one page's) and marks those undone. */
async function rollBackEntries(
  session: Session,
  name: string,
  original: readonly LedgerEntry[],
  at: DatasetAt,
  runId: string,
  abort: StopSignals,
): Promise<EntriesRolledBack> {
  const tasks: RepairTask[] = original.map(inverseRepair);
  // An inverse an earlier rollback of these repairs carried out is not claimed again: a claim on a record
  // that already holds its before image, cut short by another kill, would be settled by recovery as a second
  // landed write. The ledger marks a repair undone as its inverse settles, so such an entry is one this page
  // listed before this rollback's own recovery settled its inverse (or one an earlier release left applied).
  // Only an inverse settled since the repair's own latest settlement undid this application of it: a repair
  // rolled back and then applied again under its id (its target back at the state it was repaired from) has
  // an inverse of the same id, settled by the first rollback, and taking that for this one left the replica
  // holding the repair's write while the ledger said it was undone.
  const earlier = await session.state.getRepairs(tasks);
  const carried = new Set(
    tasks.filter((t, i) => {
      const inverse = earlier.get(t.id);
      return (
        inverse !== undefined &&
        ["rolled-back", "noop", "applied"].includes(inverse.outcome) &&
        inverse.updatedAt >= original[i]!.updatedAt
      );
    }),
  );
  const carriedOut = (t: RepairTask) => carried.has(t);
  const results = await runRepairTasks(
    name,
    tasks.filter((t) => !carriedOut(t)),
    at.replicas,
    at.shape,
    { runId, state: session.state, now: Date.now },
    {
      writesPerSecond: at.ds.policy.limits.writesPerSecond,
      appliedEvent: "rolled-back",
      signal: abort.signal,
    },
  );
  results.push(
    ...tasks.filter(carriedOut).map((t) => ({
      id: t.id,
      key: t.key,
      target: t.target,
      outcome: "noop" as const,
      earlier: true,
    })),
  );
  const byId = new Map(results.map((r) => [r.id, r]));
  const undone = original.filter((_, i) =>
    ["rolled-back", "noop"].includes(byId.get(tasks[i]!.id)?.outcome ?? ""),
  );
  await session.state.recordRepairs(
    undone.map((e) => ({ ...e, outcome: "rolled-back", updatedAt: Date.now() })),
  );
  const reported: Record<string, unknown>[] = [];
  let allOk = true;
  let notAttempted = 0;
  original.forEach((e, i) => {
    const r = byId.get(tasks[i]!.id);
    // Only a stop leaves a task without a result: executeRepairs returns between batches.
    if (!r) {
      notAttempted++;
      return;
    }
    if (r.outcome !== "rolled-back" && r.outcome !== "noop") allOk = false;
    reported.push({
      repair: e.id,
      key: keyToJson(at.shape.key, r.key),
      target: r.target,
      outcome: r.outcome,
      ...(r.error ? { error: r.error } : {}),
    });
  });
  return { reported, allOk, notAttempted };
}
