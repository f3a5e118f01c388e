/**
 * Reading the records of observed keys on every replica, as observations (the fetch every scan classifies
 * from), taking a watched replica's rows from its feed's images where the replicas agree. Decides nothing.
 */

import type { RowImage } from "../connectors/change-feed.js";
import type { Observation, ReplicaObservation } from "../core/classify.js";
import { type Key, keyId, type StoredRecord } from "../core/model.js";
import { RowError } from "../core/row-codec.js";
import { readVersion, type Version, VersionValueError } from "../core/version.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import type { OpenReplica } from "./run-context.js";

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
 * A record whose version columns hold a malformed version (`readVersion`) fails the fetch with a RowError
 * naming `dataset.replica`, the column and the key: nothing orders such a record, and none is guessed.
 */
export async function fetchObservations(
  dataset: string,
  resolved: ResolvedShape,
  replicas: readonly OpenReplica[],
  batch: readonly Observation[],
  images?: FeedImages,
): Promise<Observation[]> {
  // Observations an in-store pair listed with every holder's record need no fetch. Loops, not callbacks made
  // per call: V8 recompiles such a callback after every full GC (docs/benchmarks.md, "Callbacks recompiled
  // per batch").
  const given: boolean[] = [];
  for (const o of batch) given.push(withValues(o, replicas) && !outsideFilter(o, replicas));
  const imaged = images ? await imageRecords(resolved, replicas, batch, images) : NO_IMAGES;
  const records = await Promise.all(
    replicas.map((r) => fetchHeld(resolved, r, batch, given, imaged, images)),
  );
  const observed: { key: Key; replicas: Record<string, ReplicaObservation> }[] = [];
  for (let n = 0; n < batch.length; n++) {
    const o = batch[n]!;
    const id = given[n] ? "" : keyId(o.key);
    const seen: Record<string, ReplicaObservation> = {};
    for (let i = 0; i < replicas.length; i++) {
      const name = replicas[i]!.name;
      const fromImage = name === images?.replica && imaged.has(id);
      const at = { dataset, replica: name, key: o.key };
      seen[name] = given[n]
        ? observeListed(resolved, o.replicas[name]!, at)
        : observe(resolved, fromImage ? imaged.get(id) : records[i]!.get(id), at);
    }
    observed.push({ key: o.key, replicas: seen });
  }
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
  for (const o of recheck)
    o.replicas[replica.name] = observe(resolved, fresh.get(keyId(o.key)), {
      dataset,
      replica: replica.name,
      key: o.key,
    });
  return observed;
}

const NO_IMAGES: ReadonlyMap<string, StoredRecord | null> = new Map();

/** Where a record was read: named by a version error. */
interface ReadAt {
  readonly dataset: string;
  readonly replica: string;
  readonly key: Key;
}

/** A replica's record (or none) as an observation, with its version read from its values. */
function observe(
  resolved: ResolvedShape,
  rec: Pick<StoredRecord, "fingerprint" | "values"> | undefined | null,
  at: ReadAt,
): ReplicaObservation {
  return rec
    ? {
        present: true,
        fingerprint: rec.fingerprint,
        values: rec.values,
        version: versionAt(resolved, rec.values, at),
      }
    : { present: false };
}

/**
 * `readVersion` of a record's values, its ValueError made a RowError like a stored value's:
 * `items.b: column vv at key ["2"]: versions.vector: entry "x" is "abc", not a non-negative integer`.
 */
function versionAt(resolved: ResolvedShape, values: StoredRecord["values"], at: ReadAt): Version {
  try {
    return readVersion(resolved.versionPositions, values);
  } catch (err) {
    if (!(err instanceof VersionValueError)) throw err;
    const position = resolved.versionPositions[err.field];
    const column = position === undefined ? "" : `column ${resolved.shape.columns[position]!.name} `;
    throw new RowError(
      `${at.dataset}.${at.replica}: ${column}at key ${JSON.stringify(at.key)}: ${err.message}`,
    );
  }
}

/**
 * The records replica `r` holds for the batch's keys it was seen holding that no listing brought and no
 * image stands for, by key id (its feed's `beforeRead` awaited first when it is the image replica).
 */
async function fetchHeld(
  resolved: ResolvedShape,
  r: OpenReplica,
  batch: readonly Observation[],
  given: readonly boolean[],
  imaged: ReadonlyMap<string, StoredRecord | null>,
  images: FeedImages | undefined,
): Promise<Map<string, StoredRecord>> {
  const mine = r.name === images?.replica;
  const keys: Key[] = [];
  // A filtered replica is read by key for the keys its reads did not list too: it may hold them outside its filter.
  const whole = r.connector.filtered === true;
  for (let i = 0; i < batch.length; i++) {
    const o = batch[i]!;
    if (given[i] || (mine && imaged.has(keyId(o.key)))) continue;
    if (o.replicas[r.name]?.present || whole) keys.push(o.key);
  }
  if (mine && keys.length) await images?.beforeRead?.();
  const got = keys.length ? await r.connector.fetchRecords(resolved.shape, keys) : [];
  const held = new Map<string, StoredRecord>();
  for (const rec of got) held.set(keyId(rec.key), rec);
  return held;
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

/**
 * A replica's part as an in-store pair listed it with the key, as `observe` makes it of the same record (its
 * version read from its values), without a record made in between.
 */
function observeListed(resolved: ResolvedShape, seen: ReplicaObservation, at: ReadAt): ReplicaObservation {
  return seen.present
    ? {
        present: true,
        fingerprint: seen.fingerprint!,
        values: seen.values!,
        version: versionAt(resolved, seen.values!, at),
      }
    : { present: false };
}

/**
 * True when a replica whose reads are filtered (`Connector.filtered`) did not list the observed key: it may
 * hold it outside the filter, which only a read by key tells.
 */
function outsideFilter(o: Observation, replicas: readonly OpenReplica[]): boolean {
  for (const r of replicas) if (r.connector.filtered === true && !o.replicas[r.name]?.present) return true;
  return false;
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
