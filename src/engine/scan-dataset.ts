/**
 * The scan stage: detect the keys whose records differ (over a key range, or re-read a list of keys), fetch
 * their records, classify them with the versions last seen, and record the divergences. Writes no replica.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { RowImage } from "../connectors/change-feed.js";
import {
  classifyDivergence,
  type Divergence,
  type DivergenceClass,
  type Observation,
  type ReplicaObservation,
} from "../core/classify.js";
import {
  compareKeys,
  FULL_RANGE,
  type Key,
  type KeyRange,
  keyId,
  keyInRange,
  type StoredRecord,
} from "../core/model.js";
import { readAhead } from "../core/read-ahead.js";
import { readVersion, type Version } from "../core/version.js";
import { detectDivergences, type KnownChecksums } from "../detect/detect-divergences.js";
import type { ResolvedShape, SchemaIssue } from "../detect/resolve-shape.js";
import type { ObservedVersion, StageWrites, StoredDivergence } from "../state/state-store.js";
import { canaryKey, describeDataset } from "./describe-dataset.js";
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

/**
 * Rows a replica's change feed delivered for keys a targeted check re-reads (see ChangeBatch.images): that
 * replica's record of such a key is the image, not a fetch, while the replicas agree with it. Where they
 * differ the key is fetched there after all, so what a check decides on (and repairs from) is read, as
 * without images; agreement with the row as its change committed it settles the key, since any later change
 * of it comes through the feed and is checked in turn.
 */
export interface FeedImages {
  /** The replica whose feed delivered them. */
  readonly replica: string;
  /** By `keyId`: the row at the key's newest change in the batch (null: deleted). */
  readonly images: ReadonlyMap<string, RowImage | null>;
  /** Awaited before that replica is read for these keys (ChangeBatch.beforeRead). */
  readonly beforeRead?: (() => Promise<void>) | undefined;
}

/**
 * The full records of the observed keys on every replica that listed them, as observations with values
 * and versions. A record deleted between listing and fetching reads as absent: the observation is what was
 * fetched. An observation whose replicas holding the key all come with their values (an in-store pair
 * read the records with the listing) is taken as fetched: only its versions are read from the values.
 */
export async function fetchObservations(
  resolved: ResolvedShape,
  replicas: readonly OpenReplica[],
  batch: readonly Observation[],
  images?: FeedImages,
): Promise<Observation[]> {
  // Observations an in-store pair listed with every holder's record need no fetch.
  const given = batch.map((o) => withValues(o, replicas));
  const imaged = images ? await imageRecords(resolved, replicas, batch, images) : new Map();
  const records = await Promise.all(
    replicas.map(async (r) => {
      const mine = r.name === images?.replica;
      const keys = batch
        .filter((o, i) => !given[i] && o.replicas[r.name]?.present && !(mine && imaged.has(keyId(o.key))))
        .map((o) => o.key);
      if (mine && keys.length) await images?.beforeRead?.();
      const got = keys.length ? await r.connector.fetchRecords(resolved.shape, keys) : [];
      return new Map<string, StoredRecord>(got.map((rec) => [keyId(rec.key), rec]));
    }),
  );
  const observe = (
    rec: Pick<StoredRecord, "fingerprint" | "values"> | undefined | null,
  ): ReplicaObservation =>
    rec
      ? {
          present: true,
          fingerprint: rec.fingerprint,
          values: rec.values,
          version: readVersion(resolved.versionPositions, rec.values),
        }
      : { present: false };
  const observed = batch.map((o, n) => {
    const id = given[n] ? "" : keyId(o.key);
    const out: Record<string, ReplicaObservation> = {};
    replicas.forEach((r, i) => {
      const fromImage = r.name === images?.replica && imaged.has(id);
      out[r.name] = observe(
        given[n] ? listedRecord(o.replicas[r.name]!) : fromImage ? imaged.get(id) : records[i]!.get(id),
      );
    });
    return { key: o.key, replicas: out };
  });
  if (!images || !imaged.size) return observed;
  // Where the replicas differ from an image, the key is read there after all: decisions rest on reads.
  const recheck = observed.filter((o) => imaged.has(keyId(o.key)) && stillDiffers(o));
  if (!recheck.length) return observed;
  const replica = replicas.find((r) => r.name === images.replica)!;
  const read = async (keys: readonly Key[]) =>
    new Map((await replica.connector.fetchRecords(resolved.shape, keys)).map((rec) => [keyId(rec.key), rec]));
  const fresh = await read(recheck.map((o) => o.key));
  // A read equal to the image is the row as that change committed it, whether or not the commit is visible
  // yet: it needs no wait. One that differs is either older (the commit not yet visible) or newer (a later
  // change): read again once the batch's commits are visible, and that read decides.
  const unlike = recheck.filter(
    (o) => fingerprintOf(fresh.get(keyId(o.key))) !== fingerprintOf(imaged.get(keyId(o.key))),
  );
  if (unlike.length) {
    await images.beforeRead?.();
    const again = await read(unlike.map((o) => o.key));
    for (const o of unlike) {
      const id = keyId(o.key);
      const rec = again.get(id);
      if (rec) fresh.set(id, rec);
      else fresh.delete(id);
    }
  }
  for (const o of recheck) o.replicas[replica.name] = observe(fresh.get(keyId(o.key)));
  return observed;
}

/** A record's fingerprint, or null for none (absent). */
function fingerprintOf(rec: StoredRecord | null | undefined): string | null {
  return rec ? rec.fingerprint : null;
}

/**
 * The image replica's records of the batch's keys that come with an image it can read exactly (by `keyId`;
 * null: deleted at the change). A key missing here is fetched.
 */
async function imageRecords(
  resolved: ResolvedShape,
  replicas: readonly OpenReplica[],
  batch: readonly Observation[],
  images: FeedImages,
): Promise<Map<string, StoredRecord | null>> {
  const out = new Map<string, StoredRecord | null>();
  const connector = replicas.find((r) => r.name === images.replica)?.connector;
  if (!connector?.recordFromImage) return out;
  for (const o of batch) {
    const id = keyId(o.key);
    const image = images.images.get(id);
    if (image === null) out.set(id, null);
    else if (image) {
      const rec = await connector.recordFromImage(resolved.shape, image);
      // A record whose canonical key is not the changed key's is not this key's row as the fetch reads it.
      if (rec && keyId(rec.key) === id) out.set(id, rec);
    }
  }
  return out;
}

/** A replica's record as an in-store pair listed it with the key (undefined: it holds none). */
function listedRecord(seen: ReplicaObservation): Pick<StoredRecord, "fingerprint" | "values"> | undefined {
  return seen.present ? { fingerprint: seen.fingerprint!, values: seen.values! } : undefined;
}

/** True when every replica holding the observed key comes with its values (and none is left unsaid). */
function withValues(o: Observation, replicas: readonly OpenReplica[]): boolean {
  for (const r of replicas) {
    const seen = o.replicas[r.name];
    if (!seen || (seen.present && !seen.values)) return false;
  }
  return true;
}

/** True when the replicas' fingerprints (absence included) are not all the same. */
export function stillDiffers(o: Observation): boolean {
  const states = Object.values(o.replicas);
  const fp = states[0]?.present ? states[0].fingerprint : null;
  return states.some((s) => (s.present ? s.fingerprint : null) !== fp);
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
  // With `keepPast`: what detection listed, while it stays under the bound.
  let kept: Observation[] | undefined = options.countPast && options.keepPast ? [] : undefined;
  const classify = async (batch: readonly Observation[], images?: FeedImages) => {
    for (let i = 0; i < batch.length; i += FETCH_BATCH) {
      const slice = batch.slice(i, i + FETCH_BATCH).filter((o) => keyId(o.key) !== canary);
      const observed = (await fetchObservations(resolved, replicas, slice, images)).filter(stillDiffers);
      if (observed.length === 0) continue;
      const lastSeen = resolved.rules.versioned
        ? await ctx.state.lastSeenVersions(
            ds.name,
            observed.map((o) => o.key),
          )
        : new Map<string, Record<string, Version>>();
      const nowMs = ctx.now();
      for (const o of observed) {
        divergences.push(
          classifyDivergence(o, {
            shape,
            rules: resolved.rules,
            nowMs,
            lastSeen: lastSeen.get(keyId(o.key)),
          }),
        );
      }
      if (resolved.rules.versioned) {
        const seen = observed.flatMap((o) =>
          Object.entries(o.replicas)
            .filter(([, r]) => r.present && r.version)
            .map(([replica, r]) => ({ key: o.key, replica, version: r.version! })),
        );
        if (options.defer) observedVersions.push(...seen);
        else await ctx.state.rememberVersions(ds.name, seen, { ordering: resolved.rules.ordering });
      }
    }
  };

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
