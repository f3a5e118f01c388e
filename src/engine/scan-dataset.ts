/**
 * The scan stage: detect the keys whose records differ (over a key range, or re-read a list of keys), fetch
 * their records, classify them with the versions last seen, and record the divergences. Writes no replica.
 */
import type { DatasetConfig } from "../config/load-config.js";
import {
  classifyDivergence,
  type Divergence,
  type DivergenceClass,
  type Observation,
} from "../core/classify.js";
import { compareKeys, FULL_RANGE, type Key, type KeyRange, keyId, keyInRange } from "../core/model.js";
import { readAhead } from "../core/read-ahead.js";
import type { Version } from "../core/version.js";
import { detectDivergences, type KnownChecksums } from "../detect/detect-divergences.js";
import type { ResolvedShape, SchemaIssue } from "../detect/resolve-shape.js";
import type { ObservedVersion, StageWrites, StoredDivergence } from "../state/state-store.js";
import { canaryKey, describeDataset } from "./describe-dataset.js";
import { type FeedImages, fetchObservations, stillDiffers } from "./fetch-observations.js";
import type { OpenReplica, RunContext } from "./run-context.js";

/** Run statistics: what crossed from the stores into the engine, and how long it took. */
export interface ScanStats {
  durationMs: number;
  rowsRead: number;
  rowsScanned: number;
  bytesRead: number;
  queries: number;
}

/** The result of scanning one dataset (or a segment of it, or a list of its keys). */
export interface DatasetScan {
  readonly name: string;
  readonly shape: ResolvedShape["shape"];
  readonly resolved: ResolvedShape;
  readonly replicas: Readonly<Record<string, { rows: number }>>;
  readonly divergences: readonly Divergence[];
  readonly schema: readonly SchemaIssue[];
  readonly counts: Readonly<Partial<Record<DivergenceClass, number>>>;
  readonly stats: ScanStats;
  /** The key range scanned (the whole key space unless a segment was asked for). */
  readonly range: KeyRange;
  /** The keys re-read, when the scan was of a list of keys rather than a range (`keyId` text). */
  readonly keys?: ReadonlySet<string> | undefined;
  /**
   * What makes this comparison less than exact or slower than it could be, one line each naming the
   * column or replica: types the stores keep differently, and pushdown a connector cannot do.
   */
  readonly notes: readonly string[];
  /** True when the signal stopped detection before the range was covered (what was found is kept). */
  readonly stopped?: boolean;
  /**
   * True when detection listed more than `limit` keys: the scan stopped there and found nothing (no
   * divergences kept or recorded); the caller scans the range again in smaller pieces.
   */
  readonly overflow?: boolean;
  /**
   * With `overflow` and `countPast`: how many differing keys detection listed over the whole range (the
   * divergences are at most this many), and `replicas` holds each replica's rows in it.
   */
  readonly listed?: number | undefined;
  /**
   * With `overflow`, `countPast` and `keepPast`: every key detection listed (a key and each replica's
   * presence and fingerprint), in key order, when they were no more than `keepPast`; the caller hands them
   * back (`observations`) instead of listing the range again.
   */
  readonly kept?: readonly Observation[] | undefined;
  /**
   * With `overflow` and without `countPast`: the first and last keys detection listed before it stopped,
   * and how many it listed (at least `limit` + 1): how dense the range's start is, for cutting it.
   */
  readonly reached?: { readonly first: Key; readonly last: Key; readonly listed: number } | undefined;
  /**
   * With `defer`: the versions observed and the divergences found, not yet written; the caller writes them
   * (`recordStage`) before anything it records of the scan, with its own writes of the same point.
   */
  readonly pending?: StageWrites;
}

/** True when the scan looked at this key (its range holds it, or it was one of the keys re-read). */
export function scanCovers(scan: DatasetScan, key: Key): boolean {
  return scan.keys ? scan.keys.has(keyId(key)) : keyInRange(scan.shape.key, scan.range, key);
}

const FETCH_BATCH = 500;

/** What `classifyBatch` reads and where it adds what it finds: one scan's. */
interface ClassifyInto {
  readonly ds: DatasetConfig;
  readonly replicas: readonly OpenReplica[];
  readonly ctx: RunContext;
  readonly resolved: ResolvedShape;
  readonly canary: string | undefined;
  readonly defer: boolean;
  readonly divergences: Divergence[];
  readonly observedVersions: ObservedVersion[];
}

/**
 * Fetches the records of a batch's keys (the canary's left out), classifies those that still differ with the
 * versions last seen, and remembers the versions observed (or leaves them to the caller with `defer`).
 * Module-level with loops, not a closure made per scan: V8 recompiles such a closure after every full GC
 * (docs/benchmarks.md, "Callbacks recompiled per batch").
 */
async function classifyBatch(
  batch: readonly Observation[],
  into: ClassifyInto,
  images?: FeedImages,
): Promise<void> {
  const { ds, replicas, ctx, resolved, canary } = into;
  for (let i = 0; i < batch.length; i += FETCH_BATCH) {
    const slice: Observation[] = [];
    // A key's id is made only when there is a canary to leave out.
    for (let j = i; j < Math.min(i + FETCH_BATCH, batch.length); j++)
      if (canary === undefined || keyId(batch[j]!.key) !== canary) slice.push(batch[j]!);
    const observed: Observation[] = [];
    for (const o of await fetchObservations(ds.name, resolved, replicas, slice, images))
      if (stillDiffers(o)) observed.push(o);
    if (observed.length === 0) continue;
    const keys: Key[] = [];
    for (const o of observed) keys.push(o.key);
    const lastSeen = resolved.rules.versioned
      ? await ctx.state.lastSeenVersions(ds.name, keys)
      : new Map<string, Record<string, Version>>();
    const nowMs = ctx.now();
    for (const o of observed) {
      into.divergences.push(
        classifyDivergence(o, {
          shape: resolved.shape,
          rules: resolved.rules,
          nowMs,
          lastSeen: lastSeen.get(keyId(o.key)),
        }),
      );
    }
    if (resolved.rules.versioned) {
      const seen: ObservedVersion[] = [];
      for (const o of observed)
        for (const [replica, r] of Object.entries(o.replicas))
          if (r.present && r.version) seen.push({ key: o.key, replica, version: r.version });
      if (into.defer) into.observedVersions.push(...seen);
      else await ctx.state.rememberVersions(ds.name, seen, { ordering: resolved.rules.ordering });
    }
  }
}

/** Options of one scan. */
export interface ScanOptions {
  readonly range?: KeyRange;
  /** Re-read exactly these keys on every replica instead of detecting over a range (the targeted form). */
  readonly keys?: readonly Key[];
  /** With `keys`: each replica's rows as a recent scan found them; spares asking the stores again. */
  readonly knownRows?: Readonly<Record<string, number>>;
  /** With `keys`: rows a change feed delivered for some of them (see FeedImages). */
  readonly images?: FeedImages | undefined;
  /** About how many rows the range holds (a segment: `checkpointRows`); spares detection a count. */
  readonly expectedRows?: number;
  /** With `range`: detection's first checksum round, already read (see `DetectOptions.firstRound`). */
  readonly firstRound?: KnownChecksums | undefined;
  /** The shape resolved for this run already (segments of one run share it): no describing again. */
  readonly resolved?: ResolvedShape;
  /** Stops detection between batches (Ctrl-C); the scan then says `stopped`. */
  readonly signal?: AbortSignal | undefined;
  /**
   * At most this many differing keys are held: detection listing more stops the scan, which then says
   * `overflow` and keeps nothing (a range scan only).
   */
  readonly limit?: number | undefined;
  /**
   * With `limit`: an overflowing scan goes on listing the range's differing keys (counting them, fetching
   * nothing) and reports the count in `listed`, so a blast-radius guard can weigh the range before it is
   * done in pieces.
   */
  readonly countPast?: boolean | undefined;
  /**
   * With `countPast`: keep what detection lists while it is no more than this many keys, and return it
   * (`kept`) with an overflow, so the range is not listed twice. Memory: this many observations (a key and a
   * fingerprint per replica each: a small part of a divergence with its records and decision).
   */
  readonly keepPast?: number | undefined;
  /**
   * Classify these keys (as an earlier scan's `kept` listed them, in `range`) instead of detecting: their
   * records are fetched and compared again, so a key that agrees now is dropped. With it, `knownRows` gives
   * the replicas' rows in the range (none: 0).
   */
  readonly observations?: readonly Observation[] | undefined;
  /**
   * Leave the versions observed and the divergences found to the caller (`DatasetScan.pending`) instead of
   * writing them as the scan goes: a segment writes them in one transaction with its plan's record.
   */
  readonly defer?: boolean;
}

/**
 * Scans one dataset whose replicas are open: resolves the shape (schema divergence is reported, not
 * thrown), detects differing keys (or re-reads the keys given), fetches their records, classifies them with
 * the versions last seen, remembers versions for regression checks, and records the divergences in the
 * state store. Writes nothing to any replica.
 */
export async function scanDataset(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  ctx: RunContext,
  options: ScanOptions = {},
): Promise<DatasetScan> {
  const started = ctx.now();
  const range = options.range ?? FULL_RANGE;
  // Connector stats accumulate over the connector's life: this scan reports what it added.
  const before = new Map(replicas.map((r) => [r.name, { ...r.connector.stats }]));
  const resolved = options.resolved ?? (await describeDataset(ds, replicas));
  const { shape } = resolved;
  // The probe's canary record is not user data: never compared, never repaired.
  const canary = ds.probe ? keyId(canaryKey(ds, shape)) : undefined;

  const divergences: Divergence[] = [];
  // With `defer`, the versions observed, left to the caller.
  const observedVersions: ObservedVersion[] = [];
  const knownRows = new Map<string, number>();
  let stopped = false;
  let overflow = false;
  let listed = 0;
  let firstKey: Key | undefined;
  let lastKey: Key | undefined;
  // With `keepPast`: what detection listed, while it stays under the bound.
  let kept: Observation[] | undefined = options.countPast && options.keepPast ? [] : undefined;
  const into: ClassifyInto = {
    ds,
    replicas,
    ctx,
    resolved,
    canary,
    defer: options.defer === true,
    divergences,
    observedVersions,
  };
  const classify = (batch: readonly Observation[], images?: FeedImages) => classifyBatch(batch, into, images);

  if (options.keys) {
    // Every replica is asked for every key: presence is what the fetch finds.
    const everywhere = Object.fromEntries(replicas.map((r) => [r.name, { present: true }]));
    await classify(
      options.keys.map((key) => ({ key, replicas: everywhere })),
      options.images,
    );
  } else if (options.observations) {
    for (const r of replicas) knownRows.set(r.name, options.knownRows?.[r.name] ?? 0);
    await classify(options.observations);
  } else {
    const detect = detectDivergences(
      shape,
      replicas.map((r) => ({ name: r.name, connector: r.connector })),
      {
        ...ctx.detect,
        ...definedOnly(ds.detect),
        onProgress: (done, total, estimate) => ctx.onProgress?.(ds.name, done, total, estimate),
        onReplicaRows: (name, n) => knownRows.set(name, n),
        ...(options.range ? { range } : {}),
        ...(options.expectedRows !== undefined ? { expectedRows: options.expectedRows } : {}),
        ...(options.firstRound ? { firstRound: options.firstRound } : {}),
      },
    );
    // Stores list the next batch while this one's records are fetched and classified; a serial scan keeps
    // to one query at a time.
    const serial = ctx.detect?.serial === true;
    for await (const batch of serial ? detect : readAhead(detect)) {
      if (options.signal?.aborted) {
        stopped = true;
        break;
      }
      listed += batch.length;
      if (batch.length) {
        firstKey ??= batch[0]!.key;
        lastKey = batch[batch.length - 1]!.key;
      }
      if (kept) {
        if (listed <= options.keepPast!) kept.push(...batch);
        else kept = undefined;
      }
      if (overflow) continue;
      if (options.limit !== undefined && listed > options.limit) {
        overflow = true;
        // Nothing of a range too dense to hold is kept: the caller cuts it smaller.
        divergences.length = 0;
        if (options.countPast === true) continue;
        break;
      }
      await classify(batch);
    }
  }
  // The versions observed go before the divergences, as when written as the scan goes.
  const versions: StageWrites["versions"] = observedVersions.length
    ? [{ dataset: ds.name, observed: observedVersions, options: { ordering: resolved.rules.ordering } }]
    : [];
  if (overflow) {
    // Counted to the end: what the range holds, for the guard; nothing else of it is kept.
    const counted = options.countPast === true && !stopped;
    const rows: Record<string, { rows: number }> = {};
    if (counted)
      for (const r of replicas)
        rows[r.name] = { rows: knownRows.get(r.name) ?? (await r.connector.count(shape, range)) };
    return {
      name: ds.name,
      shape,
      resolved,
      replicas: rows,
      divergences: [],
      schema: resolved.issues,
      counts: {},
      stats: { durationMs: ctx.now() - started, rowsRead: 0, rowsScanned: 0, bytesRead: 0, queries: 0 },
      range,
      notes: resolved.notes,
      overflow,
      ...(counted ? { listed } : {}),
      ...(!counted && !stopped && firstKey && lastKey
        ? { reached: { first: firstKey, last: lastKey, listed } }
        : {}),
      ...(counted && kept ? { kept: kept.sort((a, b) => compareKeys(shape.key, a.key, b.key)) } : {}),
      ...(stopped ? { stopped } : {}),
      ...(options.defer ? { pending: { versions } } : {}),
    };
  }

  const counts: Partial<Record<DivergenceClass, number>> = {};
  for (const d of divergences) counts[d.class] = (counts[d.class] ?? 0) + 1;
  if (resolved.issues.length) counts.schema = resolved.issues.length;
  const rows: Record<string, { rows: number }> = {};
  for (const r of replicas) {
    // A replica's rows are its table's (the blast-radius guard weighs divergence against them), also when
    // only a list of keys was re-read: then the cheap estimate where the store has one.
    const known = options.keys
      ? (options.knownRows?.[r.name] ?? (await r.connector.estimateCount?.(shape)))
      : knownRows.get(r.name);
    rows[r.name] = { rows: known ?? (await r.connector.count(shape, range)) };
  }
  const stats: ScanStats = {
    durationMs: ctx.now() - started,
    rowsRead: 0,
    rowsScanned: 0,
    bytesRead: 0,
    queries: 0,
  };
  for (const r of replicas) {
    const was = before.get(r.name)!;
    stats.rowsRead += r.connector.stats.rowsRead - was.rowsRead;
    stats.rowsScanned += r.connector.stats.rowsScanned - was.rowsScanned;
    stats.bytesRead += r.connector.stats.bytesRead - was.bytesRead;
    stats.queries += r.connector.stats.queries - was.queries;
  }
  const stored = (list: readonly Divergence[]): StoredDivergence[] =>
    list.map((d) => ({
      runId: ctx.runId,
      dataset: ds.name,
      key: d.key,
      class: d.class,
      detail: { replicas: d.replicas, columns: d.columns, newest: d.newest, regressed: d.regressed },
    }));
  // A batch at a time: the rows and their JSON are never built for a whole piece at once (deferred, each
  // store builds a statement's rows at a time).
  if (!options.defer)
    for (let i = 0; i < divergences.length; i += FETCH_BATCH)
      await ctx.state.recordDivergences(stored(divergences.slice(i, i + FETCH_BATCH)));
  return {
    name: ds.name,
    shape,
    resolved,
    replicas: rows,
    divergences,
    schema: resolved.issues,
    counts,
    stats,
    range,
    ...(options.keys ? { keys: new Set(options.keys.map(keyId)) } : {}),
    notes: resolved.notes,
    ...(stopped ? { stopped } : {}),
    ...(options.defer ? { pending: { versions, divergences: stored(divergences) } } : {}),
  };
}

/**
 * A range's listed keys (`DatasetScan.kept`, in key order) cut into pieces of at most `budget` keys, whose
 * ranges cut `range` exactly (a piece ends where the next one's first key begins). The replicas' rows of the
 * whole range go with the first piece (the pieces' rows add up to the range's).
 */
export function observationPieces(
  range: KeyRange,
  kept: readonly Observation[],
  budget: number,
  rows: Readonly<Record<string, { rows: number }>>,
): { range: KeyRange; observations: readonly Observation[]; rows: Record<string, number> }[] {
  const size = Math.max(1, budget);
  const out: { range: KeyRange; observations: readonly Observation[]; rows: Record<string, number> }[] = [];
  for (let i = 0; i < Math.max(1, kept.length); i += size) {
    const lo = i === 0 ? range.lo : kept[i]!.key;
    const hi = i + size < kept.length ? kept[i + size]!.key : range.hi;
    out.push({
      range: { lo, hi },
      observations: kept.slice(i, i + size),
      rows: Object.fromEntries(Object.entries(rows).map(([r, n]) => [r, i === 0 ? n.rows : 0])),
    });
  }
  return out;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
