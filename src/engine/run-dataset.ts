/**
 * The one orchestrator of a run over a dataset: begin (or resume) → settle pending repairs → segments (or a
 * list of keys) → scan → decide → record → repair → verify → checkpoint → finish. Each group of segments runs
 * here or, given a SegmentDispatch, as a job on a worker; the lifecycle around them is the same. The CLI,
 * serve, the simulator and the demo call it and observe it; none of them assembles the stages themselves.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { Observation } from "../core/classify.js";
import type { DecisionContext } from "../core/inferred-owner.js";
import type { Key, KeyRange } from "../core/model.js";
import type { CompiledPolicy } from "../core/policy.js";
import { policyChangedEvent } from "../core/policy-change.js";
import type { KnownChecksums } from "../detect/detect-divergences.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import { WriteGuard, type WriteGuardOptions } from "../execute/write-guard.js";
import type { EvidenceReader } from "../learning/evidence.js";
import type { RunSegment as SegmentFigures } from "../state/segment-store.js";
import type { Checkpoint, RunRecord, StateStore } from "../state/state-store.js";
import { CandidateDecider, type CandidatePolicy } from "./candidate-decider.js";
import {
  datasetPolicy,
  datasetPolicyText,
  describeDataset,
  describedFingerprint,
} from "./describe-dataset.js";
import { dispatchSegments } from "./dispatch-segments.js";
import { dropCheckpoint } from "./drop-checkpoint.js";
import type { FeedImages } from "./fetch-observations.js";
import { OpenEscalations } from "./open-escalations.js";
import { inferredBasis, readOwnerEvidence } from "./owner-evidence.js";
import { mayTripGuard } from "./plan-dataset.js";
import { recoverPending, STALE_RUN_MS } from "./recover-pending.js";
import type { RepairMode } from "./repair-dataset.js";
import type { OpenReplica, RunContext } from "./run-context.js";
import {
  acquirePass,
  HEARTBEAT_MS,
  keepAlive,
  LEASE_TTL_MS,
  latchLease,
  passLease,
  processOwner,
  runLease,
} from "./run-liveness.js";
import { type ExpectedState, runSegment, type SegmentWork } from "./run-segment.js";
import { addTotals, emptyTotals, type RunTotals, recordRunEnd } from "./run-totals.js";
import { observationPieces } from "./scan-dataset.js";
import { type QueuedTotals, queuedMode, type SegmentDispatch } from "./segment-dispatch.js";
import { addFigures, SEGMENT_RUNS_KEPT, segmentFigures } from "./segment-figures.js";
import { candidateFigures, type SegmentReport, segmentReport } from "./segment-report.js";
import {
  cutDenseRange,
  listedEstimate,
  MAX_SEGMENT_GROUP,
  rangesCut,
  segmentBounds,
  segmentGroups,
  segmentsOf,
} from "./segments.js";

/** scan: detect only; plan: + decide; dry-run: + the writes repair would make; repair: + record and write. */
export type RunMode = "scan" | "plan" | "dry-run" | "repair";

export type { RunTotals } from "./run-totals.js";

/**
 * The least default piece budget: a piece of this many divergences is a few megabytes, and cutting smaller
 * only multiplies rescans (with `checkpointRows: 40`, a budget of 4 keys made every group with five differing
 * keys be scanned again in pieces: the simulator's passes took 3.6 times as long).
 */
const MIN_PIECE_DIVERGENCES = 1000;

/**
 * The default piece budget is a segment's rows over this (2,000 divergences for 100,000-row segments): a
 * piece of 10,000 divergences is about 40 MB live with its decisions, audit entries and writes, and the heap
 * V8 grows over its garbage kept a 1M-row / 100k-difference repair near 300 MB of RSS; pieces of 2,000 keep
 * it under 150 MB (docs/benchmarks.md, *Memory at 1M/100k*).
 */
const ROWS_PER_PIECE_DIVERGENCE = 50;

/**
 * A dense group under declared limits is counted to its end before it is done (the guard weighs it whole);
 * the keys that count lists are kept while they are at most this many pieces' worth, and the group's pieces
 * are then classified from them instead of listing the group again. An observation (a key and a fingerprint
 * per replica) is a small part of a divergence with its records, decision and audit entries.
 */
const KEEP_PAST_PIECES = 8;

/** What one group of segments (or the list of keys) came to: its work and where it lies in the run. */
/** What the run does after a piece: go on with the next, or stop (the signal, or a stop mid-scan). */
type PieceStep = "next" | "stop";

export interface SegmentOutcome extends SegmentWork {
  /** Segments `[from, to)` of `of` (a list of keys is segment 0 of 1). */
  readonly from: number;
  readonly to: number;
  readonly of: number;
  /** With a focus order: this visit's position (1-based, after it) among the pass's `of` visits. */
  readonly visit?: { readonly at: number; readonly of: number } | undefined;
}

/** Told what a run does as it goes; the run awaits each call, so an observer may do I/O. */
export interface RunObserver {
  /** An unfinished checkpointed run of another mode was given up for this one (recorded `failed`). */
  onAbandoned?(checkpoint: Checkpoint): void | Promise<void>;
  /** The run's shape is known and its segments fixed; `resumedAt` is the first segment when it resumed. */
  onStart?(info: {
    runId: string;
    resolved: ResolvedShape;
    segments: number;
    resumedAt: number | undefined;
    /**
     * Segments of the run already done (a resumed run's; with a dispatch, not always the first ones; with a
     * focus order, the visits made).
     */
    done: number;
    /** With a focus order: how many segment visits the pass makes (`resumedAt` is then a visit position). */
    visits?: number | undefined;
    /** The policy versions of the run's candidates, or why the shadow could not be used (it is left out). */
    candidate?: {
      readonly live: string;
      readonly shadow?: string | undefined;
      readonly shadowError?: string | undefined;
      readonly canary?: string | undefined;
    };
  }): void | Promise<void>;
  /** Detection progress of the group being scanned, labelled for people ("customers 3–5/12"). */
  onProgress?(label: string, done: number, total: number, estimate?: boolean): void;
  /** Pending repairs of interrupted runs were settled (repair mode, before any segment). */
  onRecovered?(results: readonly RepairResult[]): void | Promise<void>;
  /** A group of segments (or the list of keys) run in this process is done; in a checkpointed run, after its checkpoint. */
  onSegment?(outcome: SegmentOutcome): void | Promise<void>;
  /**
   * A group of segments is done, wherever it ran: its report (the same for a group run here and a job run on
   * a worker), and its work when it ran in this process. After its checkpoint; after `onSegment`.
   */
  onSegmentDone?(report: SegmentReport, work: SegmentOutcome | undefined): void | Promise<void>;
  /** Between groups, with the time the last one took; the next starts when this resolves. */
  pause?(segmentMs: number): Promise<void>;
}

/** Options of one run. */
export interface RunDatasetOptions {
  /** The id of a new run (a resumed run keeps its own: see the result's `runId`). */
  readonly runId: string;
  /** The command recorded with the run ("repair", "serve scan", …). */
  readonly command: string;
  readonly mode: RunMode;
  /** Re-read exactly these keys instead of covering the key space (targeted checks); no segments. */
  readonly keys?: readonly Key[] | undefined;
  /**
   * The run's divergences are changes the owner's change log holds (a replay, a check of the owner's feed,
   * the full pass answering a pruned log): under `resolve: replay` they go to the owner's value; otherwise
   * such a policy escalates them. In this process only (a dispatched key job decides without it).
   */
  readonly logged?: boolean | undefined;
  /**
   * With `keys`: the rows each replica's table held when a recent run counted them (a watch's earlier
   * check), reported and weighed by the guard instead of asking every store again (a MySQL `COUNT(*)`).
   */
  readonly keyRows?: Readonly<Record<string, number>> | undefined;
  /**
   * With `keys`: rows the watched replica's change feed delivered for some of them, compared instead of
   * fetched there while the replicas agree (see FeedImages). In this process only (a dispatched key job
   * fetches every key).
   */
  readonly images?: FeedImages | undefined;
  /**
   * Cover only these ranges, one group each (a dirty-segment pass: see `runPlannedPass`), instead of the
   * whole key space; in this process, no checkpoint.
   */
  readonly ranges?: readonly KeyRange[] | undefined;
  /**
   * With `ranges`, in this process: for each range (same index), detection's first checksum round already
   * read (a dirty-segment pass's trees hashed it): the range's first scan compares these instead of reading
   * them again. A range cut into pieces reads its pieces itself.
   */
  readonly firstRounds?: readonly (KnownChecksums | undefined)[] | undefined;
  /** Added to the run's notes (why a pass covers what it covers). */
  readonly notes?: readonly string[] | undefined;
  /** The dataset as its caller just described it (describing once per pass); described here otherwise. */
  readonly described?: ResolvedShape | undefined;
  /**
   * Keep a checkpoint after every group of segments and resume the dataset's unfinished run of the same
   * mode; a run that stops or fails keeps it (and stays `running`) so a later call resumes it. A checkpoint
   * of another mode is abandoned. Without it a run is finished whatever happens (`failed` on an error).
   */
  readonly checkpoint?: boolean;
  /** Stops after the write batch in flight; the segments not reached are neither recorded nor written. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Stops like `signal`, and then ends the run for good: a checkpointed run is recorded `failed` (stats
   * `aborted: 1`) and its checkpoint dropped, so the next run starts afresh instead of resuming it.
   */
  readonly abort?: AbortSignal | undefined;
  /** The run's write guard settings (the policy's write rate is added); one guard serves the whole run. */
  readonly guard?: Omit<WriteGuardOptions, "writesPerSecond">;
  /** Detection settings for every scan of the run (`serial`: one query at a time against the stores). */
  readonly detect?: RunContext["detect"];
  /**
   * Dry-run only: render every planned write as its target would run it (statements in its dialect, Redis
   * commands; see `Connector.printWrites`), in each segment's `printed`. Nothing is written.
   */
  readonly print?: boolean;
  /**
   * With `keys` (a diff file, `repair --from`): what the file says each replica held, by `keyId`. Only keys
   * whose replicas still hold exactly that are decided and written; the others are reported stale.
   */
  readonly expected?: ExpectedState | undefined;
  /** Which writes a repair makes (default: the dataset's `repairMode`, else all); the rest are held back. */
  readonly repairMode?: RepairMode | undefined;
  /**
   * How many differing keys one piece of a group may hold (default `checkpointRows / 50`, at least
   * MIN_PIECE_DIVERGENCES): a range that lists more is cut smaller and done a piece at a time, so memory is
   * bounded by this, not by the divergences.
   */
  readonly pieceDivergences?: number | undefined;
  /** Scan adjacent segments as one while differences are sparse (default true). */
  readonly groupSegments?: boolean;
  /**
   * Adaptive focus: the order the pass visits its segments in, given how many there are — indexes, repeats
   * allowed (a hot segment visited several times, spread over the pass). Every segment is still visited at
   * least once (missing ones are appended), so a pass still covers the whole key space. Called once per
   * pass; a checkpointed pass keeps its order in the checkpoint and resumes it. No grouping. A dispatched pass
   * (one job per run and segment) submits its segments in the order's first visits, repeats dropped, and
   * plans afresh when resumed.
   */
  readonly focus?: ((segments: number) => readonly number[] | Promise<readonly number[]>) | undefined;
  /**
   * With `focus`, on a local pass: asked after each visit with the visits made so far; the order it returns
   * replaces the visits still to make (made whole: every segment not yet visited is appended), so what the
   * pass just saw can move its focus before the pass ends. Undefined: the rest stays as planned.
   */
  readonly refocus?:
    | ((
        made: readonly number[],
        segments: number,
      ) => readonly number[] | undefined | Promise<readonly number[] | undefined>)
    | undefined;
  /**
   * With a checkpoint: the process that runs the pass (`host:pid:random`). The run takes the dataset's pass
   * lease first (PassOwnedError when another live process holds it), renews it with every heartbeat, stops
   * after the step in flight if it loses it, and releases it at the end.
   */
  readonly owner?: string | undefined;
  /** Heartbeat period (default 10 s); 0 for none (the simulator, whose clock is virtual). */
  readonly heartbeatMs?: number;
  /** How old a heartbeat must be for its run to be taken for dead when settling pending repairs (60 s). */
  readonly staleRunMs?: number;
  readonly observer?: RunObserver;
  /**
   * Who runs it, as the audit names them (`cli:<user>`, `serve`, `token:<name>`; default "concord"): a
   * repair run that changes the dataset's policy records them in the policy registry and its audit entry.
   */
  readonly actor?: string | undefined;
  /** The file the dataset's policy was read from (the config file; default "config"). */
  readonly policySource?: string | undefined;
  /**
   * A staged rollout: the keys `inCanary(key, fraction)` picks are decided by this candidate policy
   * (compiled against the run's shape; `where` names it in errors). The live policy is still the one adopted.
   */
  readonly canary?: {
    readonly policy: DatasetConfig["policy"];
    readonly where: string;
    readonly fraction: number;
  };
  /**
   * Shadow mode: a candidate policy decides every group beside the live one (plan, dry-run and repair); its
   * figures come in each group's report (`onSegmentDone`); nothing it decides is recorded or written. A
   * candidate that does not fit the shape is left out (`onStart` says why), never a reason to stop the run.
   */
  readonly shadow?: CandidatePolicy | undefined;
  /**
   * Hand each segment to worker processes through this queue instead of running it here (scan and repair;
   * implies `checkpoint`, needs `owner`). The run is begun, its pending repairs settled, its checkpoint kept
   * (which segments are folded, under the mode `queue:<mode>`) and finished here, as any run's; the workers
   * run the segments (runSegmentJob). Segments are cut into jobs of up to 8, about four per slot of the
   * dataset's `concurrency`. Without a pause between segments: the workers keep to `intensity`. With `keys`
   * (a change-feed batch), the list is one key job (and `expected` goes with it): no checkpoint, no pass
   * lease; the run is begun and finished here, and what a dead worker left pending is settled at its end.
   */
  readonly dispatch?: SegmentDispatch | undefined;
  /** With `dispatch`: how long one wait for finished segments lasts before the signals are looked at (1 s). */
  readonly pollMs?: number;
}

/** What a run came to. */
export interface DatasetRunResult {
  /** The run's id (a resumed run's own). */
  readonly runId: string;
  readonly dataset: string;
  readonly resolved: ResolvedShape;
  readonly totals: RunTotals;
  /** Pending repairs of interrupted runs this run settled. */
  readonly recovered: readonly RepairResult[];
  /**
   * What the operator should know that is no finding of the run: one line each (today: a pending ledger row
   * whose `undoes` recovery did not act on, `Recovery.warnings`). Notes say how the run read the replicas;
   * warnings, that something in the state store needs a person.
   */
  readonly warnings: readonly string[];
  /** False when the signal stopped it before the end (a checkpointed run is then resumable). */
  readonly finished: boolean;
  /** The status recorded (`running` when a checkpointed run stopped and waits to be resumed). */
  readonly status: RunRecord["status"];
  /** When the run began (a resumed run's first start), ms since the epoch. */
  readonly startedAt: number;
  /** The run's segments, and how many were done (all of them unless it stopped). */
  readonly segments: number;
  readonly segmentsDone: number;
}

/** The ports a run needs besides its replicas. */
export interface RunDeps {
  readonly state: StateStore;
  readonly now: () => number;
  /**
   * Where an inferred owner's evidence is read (default: the state store's aggregates). Read once per run,
   * before the first decision.
   */
  readonly evidence?: EvidenceReader | undefined;
}

/** The evidence reader of a run: the one given, else the state store's evidence aggregates. */
export function evidenceReader(deps: RunDeps): EvidenceReader {
  return deps.evidence ?? deps.state;
}

/**
 * The decision context of a run: the evidence snapshot its inferred owner (live or canary policy) decides by,
 * read once; empty when no owner is inferred.
 */
export async function runDecisionContext(
  deps: RunDeps,
  dataset: string,
  ...policies: readonly (CompiledPolicy | undefined)[]
): Promise<DecisionContext> {
  const basis = inferredBasis(...policies);
  if (!basis) return {};
  return { evidence: await readOwnerEvidence(evidenceReader(deps), dataset, basis, deps.now()) };
}

/**
 * Runs `mode` over one dataset whose replicas are open, as one run. The whole key space goes segment by
 * segment (`checkpointRows` rows each, grouped while sparse), or only `keys`. Repair settles what interrupted
 * runs left pending first, records and writes each group before the next through one write guard, and
 * latches the blast-radius guard: once a group trips it, nothing more is recorded or written in the run.
 */
export async function runDataset(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  deps: RunDeps,
  options: RunDatasetOptions,
): Promise<DatasetRunResult> {
  const { state, now } = deps;
  const observer = options.observer ?? {};
  // With keys, a dispatch hands the list to a worker as one key job, and a dirty-segment pass (ranges) each
  // range as a job: no checkpoint, begun and finished here.
  const dispatch = options.dispatch;
  if (dispatch && options.mode !== "scan" && options.mode !== "repair")
    throw new Error(`runDataset: a ${options.mode} run cannot dispatch its segments (scan and repair can)`);
  if (dispatch && options.keys && options.print)
    throw new Error("runDataset: a run that prints its writes cannot dispatch its keys");
  const checkpointed =
    (options.checkpoint === true || dispatch !== undefined) && !options.keys && !options.ranges;
  const writes = options.mode === "repair";
  // A pass run on workers keeps its checkpoint in its own shape: a pass of the other kind abandons it.
  const cpMode = dispatch ? queuedMode(options.mode as "scan" | "repair") : options.mode;

  const owner = options.owner ?? processOwner();
  const lease = checkpointed && options.owner ? { name: passLease(ds.name), owner } : undefined;
  if (lease) await acquirePass(state, ds.name, lease.owner, now());
  try {
    return await runOwned();
  } finally {
    if (lease) await state.releaseLease(lease.name, lease.owner).catch(() => {});
  }

  async function runOwned(): Promise<DatasetRunResult> {
    let cp = checkpointed ? await state.getCheckpoint(ds.name) : undefined;
    // An unfinished run of another mode: this one covers the whole key space again.
    if (cp && cp.mode !== cpMode)
      cp = await abandonCheckpoint(state, ds.name, cp, { owner, mode: cpMode, now }, observer);
    const resumed = cp !== undefined;
    const runId = cp?.runId ?? options.runId;
    const startedAt = cp?.startedAt ?? now();
    // What a checkpoint keeps: a local run its totals, done being the first `cp.done` segments; a dispatched
    // one the totals of its folded segments and which they are (workers finish them in any order).
    // A focused local pass keeps its visit order beside its totals, `cp.done` being its position in it.
    const queued = dispatch && cp ? (cp.totals as QueuedTotals | undefined) : undefined;
    const { focus: keptOrder, ...keptTotals } = (
      !dispatch && cp?.totals ? cp.totals : {}
    ) as Partial<RunTotals> & {
      focus?: number[];
    };
    const totals: RunTotals = { ...emptyTotals(), ...(dispatch ? queued?.run : keptTotals) };
    let order: readonly number[] | undefined;
    let position = cp?.done ?? 0;
    const done = new Set<number>(
      dispatch ? (queued?.done ?? []) : Array.from({ length: cp?.done ?? 0 }, (_, i) => i),
    );
    let jobRows = queued?.jobRows ?? ds.checkpointRows;
    // The replicas are described before the run is recorded: one whose table cannot be read fails the
    // command before anything is written anywhere.
    const described = options.described ?? (await describeDataset(ds, replicas));
    const resolved = options.notes?.length
      ? { ...described, notes: [...described.notes, ...options.notes] }
      : described;
    const policy = options.mode === "scan" ? undefined : datasetPolicy(ds, resolved);
    const canary =
      policy && options.canary && options.canary.fraction > 0
        ? {
            policy: datasetPolicy(ds, resolved, options.canary.policy, options.canary.where),
            fraction: options.canary.fraction,
          }
        : undefined;
    // Inferred ownership decides by one evidence snapshot for the whole run (a resumed run reads it anew).
    const decisionContext = {
      ...(await runDecisionContext(deps, ds.name, policy, canary?.policy)),
      ...(options.logged ? { logged: true } : {}),
    };
    const shadow = options.shadow && policy ? new CandidateDecider(ds, options.shadow) : undefined;
    let shadowError: string | undefined;
    try {
      const compiled = shadow?.start(resolved);
      // A candidate with an inferred owner decides by one evidence snapshot per run too.
      if (shadow && compiled) shadow.useContext(await runDecisionContext(deps, ds.name, compiled));
    } catch (err) {
      shadowError = (err instanceof Error ? err.message : String(err)).split("\n")[0];
    }
    if (!cp) await state.beginRun({ id: runId, dataset: ds.name, command: options.command, startedAt });
    // A run that records decisions adopts its policy first: a changed policy is registered and audited, with
    // its diff, before the first decision made under it.
    if (writes && policy) {
      const change = {
        dataset: ds.name,
        runId,
        at: now(),
        version: policy.version,
        text: datasetPolicyText(ds, resolved),
        source: options.policySource ?? "config",
        by: options.actor ?? "concord",
      };
      await state.adoptPolicy(
        {
          dataset: ds.name,
          version: change.version,
          text: change.text,
          source: change.source,
          firstUsedAt: change.at,
          firstUsedBy: change.by,
          firstRunId: runId,
        },
        (previous) => [policyChangedEvent(change, previous)],
      );
    }
    // The run's own lease names the process running it, so a rerun on this host can tell a killed one at once.
    const held = resumed ? await state.getLease(runLease(runId)) : undefined;
    if (held && held.owner !== owner) await state.releaseLease(runLease(runId), held.owner);
    await state.acquireLease(runLease(runId), owner, now(), STALE_RUN_MS);
    // Alive while it works: a heartbeat on the run (and the pass lease renewed); losing the lease stops it.
    const leaseLost = new AbortController();
    const alive =
      options.heartbeatMs === 0
        ? undefined
        : keepAlive({
            state,
            now,
            runId,
            everyMs: options.heartbeatMs ?? HEARTBEAT_MS,
            lease: lease && { ...lease, ttlMs: LEASE_TTL_MS },
            run: { owner, ttlMs: STALE_RUN_MS },
            lost: () => leaseLost.abort(),
          });
    const ctx: RunContext = {
      runId,
      state,
      now,
      command: options.command,
      ...(options.detect ? { detect: options.detect } : {}),
      // Recording a piece's plan closes the open escalations its scan no longer supports: listed once a run.
      escalations: new OpenEscalations(state, ds.name),
    };
    const record = { runId, dataset: ds.name, startedAt };
    let segments: KeyRange[] = [];
    let recovered: RepairResult[] = [];
    const warnings: string[] = [];
    const result = (finished: boolean, status: RunRecord["status"]): DatasetRunResult => ({
      ...record,
      resolved,
      totals,
      recovered,
      warnings,
      finished,
      status,
      segments: order?.length ?? segments.length,
      segmentsDone: finished ? (order?.length ?? segments.length) : order ? position : done.size,
    });
    const save = async (base: Checkpoint): Promise<Checkpoint> => {
      const next: Checkpoint = dispatch
        ? { ...base, done: done.size, totals: { run: totals, done: [...done], jobRows }, updatedAt: now() }
        : order
          ? { ...base, done: position, totals: { ...totals, focus: order }, updatedAt: now() }
          : { ...base, done: done.size, totals, updatedAt: now() };
      await state.putCheckpoint(next);
      return next;
    };
    const forgetJobs = async () => {
      if (!dispatch) return;
      const latch = await state.getLease(latchLease(runId));
      if (latch) await state.releaseLease(latch.name, latch.owner);
      await dispatch.forget(
        ds.name,
        runId,
        segments.map((_, i) => i),
      );
    };
    // A checkpointed run waits to be resumed; any other is finished with what it did.
    const stopped = async (): Promise<DatasetRunResult> => {
      if (checkpointed && options.abort?.aborted) {
        await state.finishRun(runId, ds.name, {
          finishedAt: now(),
          status: "failed",
          counts: totals.counts,
          stats: {
            ...totals.stats,
            durationMs: now() - startedAt,
            aborted: 1,
            abortedAtSegment: done.size,
          },
        });
        await state.deleteCheckpoint(ds.name);
        // Jobs still queued find no checkpoint of theirs and do nothing; those not started are dropped.
        await forgetJobs();
        return result(false, "failed");
      }
      if (checkpointed) return result(false, "running");
      totals.remaining = Math.max(totals.remaining, 1);
      await recordRunEnd(state, record, totals, "diverged", now());
      // A key job not started is dropped; one running finds its run finished when it is delivered again.
      await forgetJobs();
      return result(false, "diverged");
    };
    const settlePending = async (own: boolean): Promise<RepairResult[]> => {
      const recovery = await recoverPending(ds.name, replicas, resolved.shape, ctx, {
        resumed: own,
        ...(options.staleRunMs !== undefined ? { staleAfterMs: options.staleRunMs } : {}),
      });
      const { settled } = recovery;
      warnings.push(...recovery.warnings);
      for (const r of settled) totals.recovered[r.outcome] = (totals.recovered[r.outcome] ?? 0) + 1;
      if (settled.length) await observer.onRecovered?.(settled);
      return settled;
    };

    try {
      const { shape } = resolved;
      if (!cp && checkpointed) {
        let bounds = await segmentBounds(replicas, shape, ds.checkpointRows, {
          inStore: ds.detect.inStore !== false,
        });
        if (dispatch) {
          // Jobs of up to 8 adjacent segments, about four per slot the fleet may run at once: few enough that
          // each job's fixed costs (a scan, a write batch, its ledger and audit rounds) stay small against its
          // rows, enough that every slot has work and a dead worker's job is a small part of the pass.
          const per = Math.max(
            1,
            Math.min(MAX_SEGMENT_GROUP, Math.floor((bounds.length + 1) / (4 * (ds.concurrency ?? 1)))),
          );
          bounds = bounds.filter((_, i) => (i + 1) % per === 0);
          jobRows = per * ds.checkpointRows;
        }
        cp = await save({
          dataset: ds.name,
          runId,
          mode: cpMode,
          bounds,
          done: 0,
          totals: undefined,
          startedAt,
          updatedAt: now(),
        });
      }
      const bounds =
        options.keys || options.ranges
          ? []
          : (cp?.bounds ??
            (await segmentBounds(replicas, shape, ds.checkpointRows, {
              inStore: ds.detect.inStore !== false,
            })));
      segments = options.ranges ? [...options.ranges] : segmentsOf(bounds);
      if (!dispatch && !options.keys && !options.ranges && segments.length > 1)
        order =
          keptOrder ??
          (options.focus ? visitOrder(await options.focus(segments.length), segments.length) : undefined);
      if (cp && order && !keptOrder) cp = await save(cp);
      // A dispatched pass has one job per segment: the focus order says which to submit first (repeats dropped).
      const submitOrder =
        dispatch && options.focus && !options.keys && !options.ranges && segments.length > 1
          ? [...new Set(visitOrder(await options.focus(segments.length), segments.length))]
          : undefined;
      const resumedAt = cp && cp.done > 0 ? cp.done : undefined;
      // The drill-down keeps the groups of the dataset's last runs; a run over a list of keys (a change-feed
      // batch, a re-check) records none, so frequent small runs never push whole passes out. Queued segments
      // are recorded by the worker that ran them.
      const drillDown = !options.keys && !options.ranges;
      await observer.onStart?.({
        runId,
        resolved,
        segments: segments.length,
        resumedAt,
        done: order ? position : done.size,
        ...(order ? { visits: order.length } : {}),
        ...(policy
          ? {
              candidate: {
                live: policy.version,
                shadow: shadow?.policy?.version,
                shadowError,
                canary: canary?.policy.version,
              },
            }
          : {}),
      });
      if (resolved.issues.length && totals.counts.schema === undefined) {
        // Every segment reports the same schema issues: they count once per run.
        totals.counts.schema = resolved.issues.length;
        totals.remaining += resolved.issues.length;
        if (options.mode !== "scan") totals.escalated += resolved.issues.length;
      }

      // Repairs an interrupted run left pending are settled before anything is decided again; a dispatched
      // run's own stay with its workers (some may still be at work) until every segment is in. The drill-down's
      // old groups are dropped meanwhile (another table: the two overlap, both before any group is recorded).
      const [settled] = await Promise.all([
        writes ? settlePending(resumed && !dispatch) : undefined,
        drillDown && !resumed ? state.keepSegmentRuns(ds.name, SEGMENT_RUNS_KEPT - 1) : undefined,
      ]);
      if (settled) recovered = settled;

      const signal = AbortSignal.any(
        [options.signal, options.abort, leaseLost.signal].filter((s): s is AbortSignal => s !== undefined),
      );
      if (dispatch) {
        const shadowPolicy = shadow?.policy ? options.shadow : undefined;
        const all = await dispatchSegments({
          dispatch,
          job: {
            dataset: ds.name,
            runId,
            mode: options.mode as "scan" | "repair",
            expectedRows: jobRows,
            described: describedFingerprint(described),
            ...(options.ranges ? { standalone: true } : {}),
            ...(shadowPolicy || canary
              ? { candidate: { shadow: shadowPolicy, canary: canary && options.canary } }
              : {}),
            ...(options.keys
              ? {
                  keys: options.keys,
                  ...(options.expected ? { expected: [...options.expected] } : {}),
                }
              : {}),
          },
          segments,
          ...(submitOrder ? { order: submitOrder } : {}),
          done,
          signal,
          pollMs: options.pollMs,
          fold: async (finished) => {
            for (const [i, r] of finished) {
              addTotals(totals, r.totals);
              done.add(i);
            }
            if (cp) cp = await save(cp);
            for (const [i, r] of finished)
              await observer.onSegmentDone?.(
                {
                  from: i,
                  to: i + 1,
                  of: segments.length,
                  totals: r.totals,
                  durationMs: r.durationMs,
                  worker: r.worker,
                  repairs: r.repairs ?? {},
                  opened: r.opened ?? {},
                  ttcSeconds: r.ttcSeconds,
                  candidate: r.candidate,
                  unsettled: r.unsettled,
                  retry: r.retry,
                },
                undefined,
              );
          },
        });
        if (!all) return await stopped();
        // Every segment is in: what this pass's dead workers left pending is settled by what the targets hold.
        if (writes) {
          const own = await settlePending(true);
          // Not landed: its divergence is still there for the next pass.
          totals.remaining += own.filter((r) => r.outcome === "failed").length;
          recovered = [...recovered, ...own];
        }
      } else {
        const guard = new WriteGuard({
          backpressure: ds.backpressure,
          dataset: ds.name,
          ...options.guard,
          writesPerSecond: policy?.limits.writesPerSecond,
        });
        let lastFound = 0;
        // How many differing keys one piece of a group may hold: the budget segment groups adapt to.
        // A policy with blast-radius limits weighs each group whole (a trip writes nothing of it): a dense
        // group's differing keys are counted first, and it is done in pieces only when that count cannot
        // trip the guard (otherwise whole, as one piece, so a refusal refuses the group before any write).
        const limited =
          policy !== undefined &&
          (policy.limits.maxRepairs !== undefined || policy.limits.maxDivergentFraction !== undefined);
        const pieceBudget =
          options.keys || !(await rangesCut(replicas, resolved.shape))
            ? undefined
            : Math.max(
                1,
                Math.floor(
                  options.pieceDivergences ??
                    Math.max(MIN_PIECE_DIVERGENCES, ds.checkpointRows / ROWS_PER_PIECE_DIVERGENCE),
                ),
              );
        let budget = pieceBudget;
        // The last group held more differing keys than the budget (it was cut into pieces).
        let dense = false;
        // How many segments the last group spanned (its divergences per segment estimate the next group's).
        let lastSpan = 1;
        const start = order ? position : done.size;
        // `pos`: where the checkpoint stands after the group (a segment index, or a position in the focus order).
        const groups: Iterable<{ range: KeyRange; from: number; to: number; pos?: number }> = options.keys
          ? [{ range: segments[0]!, from: 0, to: 1 }]
          : order
            ? focusVisits(() => order!, start, segments)
            : options.groupSegments === false || options.ranges
              ? segments.slice(start).map((range, i) => ({ range, from: start + i, to: start + i + 1 }))
              : segmentGroups(segments, ds.checkpointRows / 10, () => lastFound, start);
        for (const { range, from, to, pos = to } of groups) {
          if (signal.aborted) return await stopped();
          const started = now();
          const label =
            segments.length === 1
              ? ds.name
              : `${ds.name} ${from + 1}${to > from + 1 ? `–${to}` : ""}/${segments.length}`;
          const onProgress = observer.onProgress;
          const segmentCtx: RunContext = onProgress
            ? { ...ctx, onProgress: (_, n, total, estimate) => onProgress(label, n, total, estimate) }
            : ctx;
          // A group is scanned, decided, recorded and written a piece at a time: the whole range first, and a
          // range that lists more than `budget` differing keys is cut smaller and its pieces done in key order,
          // so what the run holds is bounded by the budget, not by how many of the group's rows differ.
          const firstRound = options.ranges ? options.firstRounds?.[from] : undefined;
          let pieces: {
            range: KeyRange;
            expectedRows?: number;
            firstRound?: KnownChecksums;
            observations?: readonly Observation[];
            rows?: Record<string, number>;
          }[] = [
            {
              ...(segments.length > 1 ? { range, expectedRows: (to - from) * ds.checkpointRows } : { range }),
              ...(firstRound ? { firstRound } : {}),
            },
          ];
          if (dense && budget !== undefined && !limited) {
            // The last group had to be cut: this one likely too, so it is cut before any of it is scanned
            // (unless the guard must weigh it first), by as many differing keys as the last group held.
            const estimate = Math.ceil((lastFound / lastSpan) * (to - from));
            const cut = await cutDenseRange(replicas, resolved.shape, range, budget, {
              listed: estimate,
              ...(segments.length > 1 ? { expectedRows: (to - from) * ds.checkpointRows } : {}),
            });
            const each = Math.ceil(cut.rows / Math.max(1, cut.pieces.length));
            if (cut.pieces.length) pieces = cut.pieces.map((r) => ({ range: r, expectedRows: each }));
          }
          const group = emptyTotals();
          let figures: SegmentFigures | undefined;
          let part = 0;
          lastFound = 0;
          dense = false;
          // The guard weighed this group whole from its count of differing keys and it cannot trip.
          let weighed = false;
          // One piece, start to end, in a function of its own: what it found, decided and wrote is held by
          // that function's frame alone and released when it returns. Held in this loop's own frame, a stale
          // register of the suspended run kept the last piece alive through the next (twice the memory).
          const runPiece = async (piece: (typeof pieces)[number]): Promise<PieceStep> => {
            const pieceStarted = now();
            const segment = await runSegment({
              ds,
              replicas,
              ctx: segmentCtx,
              resolved,
              policy,
              canary,
              decisionContext,
              writes,
              guard,
              signal,
              latched: totals.guard !== undefined || group.guard !== undefined,
              print: options.print === true && options.mode === "dry-run",
              repairMode: options.repairMode ?? ds.repairMode ?? "all",
              expected: options.keys ? options.expected : undefined,
              bounds: options.keys || options.ranges ? undefined : bounds,
              weighed,
              target: options.keys
                ? {
                    keys: options.keys,
                    ...(options.keyRows ? { rows: options.keyRows } : {}),
                    ...(options.images ? { images: options.images } : {}),
                  }
                : {
                    ...piece,
                    ...(budget !== undefined
                      ? {
                          limit: budget,
                          ...(limited && !weighed
                            ? { countPast: true, keepPast: budget * KEEP_PAST_PIECES }
                            : {}),
                        }
                      : {}),
                  },
            });
            // Stopped mid-scan: nothing of this piece is decided, recorded or written.
            if (segment.stopped) {
              if (!checkpointed) addTotals(totals, group);
              return "stop";
            }
            if (segment.overflow) {
              dense = true;
              if (limited && !weighed) {
                const { listed, replicas: rows } = segment.work.scan;
                // The keys the count listed, when few enough to keep: the group is not listed again.
                const kept = segment.work.scan.kept;
                if (listed === undefined || mayTripGuard(policy!.limits, listed, rows, replicas.length)) {
                  // The guard could refuse the group: it is done whole, as before any cutting.
                  pieces.unshift(
                    kept
                      ? {
                          range: piece.range,
                          observations: kept,
                          rows: Object.fromEntries(Object.entries(rows).map(([r, n]) => [r, n.rows])),
                        }
                      : piece,
                  );
                  budget = undefined;
                  return "next";
                }
                weighed = true;
                if (kept) {
                  // Half a budget a piece, as `cutDenseRange` cuts a group it lists again: the kept keys wait
                  // beside the piece being done (with an in-store pair, each with its replicas' records), so
                  // a piece of a whole budget took the run's live heap, and the heap V8 grows over it, past
                  // what the budget says (docs/benchmarks.md, "the kept keys in half-budget pieces").
                  pieces.unshift(...observationPieces(piece.range, kept, Math.ceil(budget! / 2), rows));
                  return "next";
                }
              }
              const listed = segment.work.scan.listed;
              const cut = await cutDenseRange(replicas, resolved.shape, piece.range, budget!, {
                listed: listed ?? listedEstimate(resolved.shape, piece.range, segment.work.scan.reached),
                estimated: listed === undefined,
                ...(piece.expectedRows !== undefined ? { expectedRows: piece.expectedRows } : {}),
              });
              const each = Math.ceil(cut.rows / Math.max(1, cut.pieces.length));
              // A range the store cannot cut is done whole (unbounded: there is no smaller piece).
              pieces.unshift(
                ...(cut.pieces.length
                  ? cut.pieces.map((r) => ({ range: r, expectedRows: each }))
                  : [{ range: piece.range, expectedRows: cut.rows }]),
              );
              if (!cut.pieces.length) budget = undefined;
              return "next";
            }
            if (budget === undefined && !options.keys) budget = pieceBudget;
            lastFound += segment.work.scan.divergences.length;
            addTotals(group, segment.totals);
            const cutUp = part > 0 || pieces.length > 0;
            const outcome: SegmentOutcome = {
              from,
              to,
              of: segments.length,
              ...(order ? { visit: { at: pos, of: order.length } } : {}),
              ...segment.work,
            };
            const here = segmentFigures(ds.name, runId, outcome, pieceStarted, now());
            figures = figures ? addFigures(figures, here) : { ...here, startedAt: started };
            const report = () => {
              const r = segmentReport(
                outcome,
                segment.work,
                segment.totals,
                now() - pieceStarted,
                candidateFigures(segment.work, shadow, canary),
              );
              return cutUp ? { ...r, part: { index: part, last: pieces.length === 0 } } : r;
            };
            if (!segment.whole) {
              // Cut short by the signal between writes: what was written is reported, but a checkpointed run
              // does this group again when it resumes (its totals and checkpoint stay as they were).
              if (!checkpointed) {
                addTotals(totals, group);
                if (drillDown) await state.recordSegment(figures);
              }
              await observer.onSegment?.(outcome);
              await observer.onSegmentDone?.(report(), outcome);
              return "stop";
            }
            if (pieces.length === 0) {
              addTotals(totals, group);
              if (drillDown) await state.recordSegment(figures);
              for (let i = from; i < to; i++) done.add(i);
              position = pos;
              if (cp) cp = await save(cp);
            }
            await observer.onSegment?.(outcome);
            await observer.onSegmentDone?.(report(), outcome);
            part++;
            if (pieces.length > 0 && signal.aborted) {
              if (!checkpointed) {
                addTotals(totals, group);
                if (drillDown) await state.recordSegment(figures);
              }
              return "stop";
            }
            return "next";
          };
          while (pieces.length > 0) {
            if ((await runPiece(pieces.shift()!)) === "stop") return await stopped();
          }
          if (pieceBudget !== undefined && lastFound > pieceBudget) dense = true;
          lastSpan = to - from;
          if (order && options.refocus && pos < order.length && !signal.aborted) {
            const made = order.slice(0, pos);
            const rest = await options.refocus(made, segments.length);
            if (rest) order = [...made, ...restOfPass(made, rest, segments.length)];
          }
          if (pos < (order?.length ?? segments.length) && observer.pause && !signal.aborted)
            await observer.pause(now() - started);
        }
      }

      const status = totals.remaining > 0 ? "diverged" : "ok";
      // What lets anyone check that no dispatched segment was lost: each folded once, and the rows each held;
      // and how many key ranges the pass cut (insights weigh a range's drift against the others').
      const extra: Record<string, number> = options.keys ? {} : { segments: segments.length };
      if (dispatch && !options.keys) {
        extra["segments.folded"] = done.size;
        for (const [r, { rows }] of Object.entries(totals.replicas)) extra[`rows.${r}`] = rows;
      }
      await recordRunEnd(state, record, totals, status, now(), extra);
      if (cp) await state.deleteCheckpoint(ds.name);
      await forgetJobs();
      return result(true, status);
    } catch (err) {
      if (!checkpointed) {
        await recordRunEnd(state, record, totals, "failed", now()).catch(() => {});
        await forgetJobs().catch(() => {});
      }
      throw err;
    } finally {
      await alive?.stop();
      await state.releaseLease(runLease(runId), owner).catch(() => {});
    }
  }
}

/** The run id a checkpointed run of `mode` over the dataset would take: its unfinished run's, or `fresh`. */
export async function resumableRunId(
  state: StateStore,
  dataset: string,
  mode: RunMode,
  fresh: () => string,
): Promise<string> {
  const cp: Checkpoint | undefined = await state.getCheckpoint(dataset);
  return cp && cp.mode === mode ? cp.runId : fresh();
}

/**
 * Ends the dataset's unfinished run of another mode and drops its checkpoint the way `concord checkpoint drop`
 * does (`dropCheckpoint`: under the pass lease, the run recorded failed with the segment it stopped at, the
 * drop audited), telling the observer; the caller's run covers the whole key space again.
 */
export async function abandonCheckpoint(
  state: StateStore,
  dataset: string,
  cp: Checkpoint,
  options: { readonly owner: string; readonly mode: string; readonly now: () => number },
  observer: Pick<RunObserver, "onAbandoned">,
): Promise<undefined> {
  await dropCheckpoint(state, dataset, {
    owner: options.owner,
    by: options.owner,
    now: options.now,
    stats: { abandonedAtSegment: cp.done },
    data: { abandonedFor: options.mode },
  });
  await observer.onAbandoned?.(cp);
  return undefined;
}

/** A focused pass's visits from position `start`, read from the order as it stands (`refocus` may replace its rest). */
function* focusVisits(order: () => readonly number[], start: number, segments: readonly KeyRange[]) {
  for (let i = start; i < order().length; i++) {
    const seg = order()[i]!;
    yield { range: segments[seg]!, from: seg, to: seg + 1, pos: i + 1 };
  }
}

/** The rest of a refocused pass: `rest`'s valid indexes, and every segment neither made nor in it appended. */
function restOfPass(made: readonly number[], rest: readonly number[], segments: number): number[] {
  const kept = rest.filter((i) => Number.isInteger(i) && i >= 0 && i < segments);
  const seen = new Set([...made, ...kept]);
  for (let i = 0; i < segments; i++) if (!seen.has(i)) kept.push(i);
  return kept;
}

/**
 * A focus order made whole: indexes outside `[0, segments)` dropped, and every segment the order never
 * visits appended in index order, so a focused pass still covers the whole key space.
 */
export function visitOrder(order: readonly number[], segments: number): number[] {
  const kept = order.filter((i) => Number.isInteger(i) && i >= 0 && i < segments);
  const seen = new Set(kept);
  for (let i = 0; i < segments; i++) if (!seen.has(i)) kept.push(i);
  return kept;
}
