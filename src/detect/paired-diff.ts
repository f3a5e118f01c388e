/** Detection between two replicas compared inside their store (the connectors' `pairDiff`), when they can be. */
import type { InStorePair } from "../connectors/connector.js";
import type { Observation, ReplicaObservation } from "../core/classify.js";
import type { KeyRange, RecordShape, StoredRecord } from "../core/model.js";
import type { DetectReplica } from "./detect-divergences.js";

/**
 * The in-store pair of the dataset's replicas: exactly two replicas whose connectors both offer `pairDiff`
 * and accept each other. A string says why a dataset whose replicas all offer it is compared in the engine
 * instead; undefined when they do not all offer it, are in different kinds of store, or `enabled` is false.
 */
export async function inStorePair(
  shape: RecordShape,
  replicas: readonly DetectReplica[],
  enabled = true,
): Promise<InStorePair | string | undefined> {
  if (!enabled || replicas.length < 2 || !replicas.every((r) => r.connector.pairDiff)) return undefined;
  // Replicas in different kinds of store are compared in the engine as a matter of course: nothing to note.
  if (!replicas.every((r) => r.connector.kind === replicas[0]!.connector.kind)) return undefined;
  if (replicas.length !== 2)
    return `the ${replicas.length} replicas are not compared inside their store, which compares two at a time`;
  return replicas[0]!.connector.pairDiff!.pair(shape, replicas[1]!.connector);
}

/**
 * The scan note saying why replicas that could be compared inside their store are not (a slower scan), or
 * undefined when they are or the capability plays no part.
 */
export function pairNote(pair: InStorePair | string | undefined): string | undefined {
  if (typeof pair !== "string") return undefined;
  return `${pair}: compared with range checksums and fingerprints computed in the engine instead of inside the store`;
}

/**
 * Observations of the keys the pair lists in `range` (in key order, batches as listed). Where the store read
 * the records with the listing (`PairedKey.records`), each replica holding the key is observed with its
 * record's fingerprint and values, which the caller then uses as fetched; otherwise the two replicas'
 * fingerprints are only placeholders telling them apart, comparable within the observation, and the caller
 * fetches the records. `onRows` is told the first replica's rows in the range, `onListed` the keys each
 * replica holds among those listed.
 */
export async function* pairedObservations(
  pair: InStorePair,
  names: readonly [string, string],
  range: KeyRange,
  batchSize: number,
  onRows: (rows: number) => void,
  onListed: (here: number, there: number) => void,
): AsyncIterable<Observation[]> {
  const [a, b] = names;
  for await (const batch of pair.diff(range, batchSize, onRows)) {
    let here = 0;
    let there = 0;
    const out = batch.map((k) => {
      if (k.here) here++;
      if (k.there) there++;
      return {
        key: k.key,
        replicas: {
          [a]: observed(k.here, k.records?.here, "here"),
          [b]: observed(k.there, k.records?.there, "there"),
        },
      };
    });
    onListed(here, there);
    yield out;
  }
}

/** One replica's part of a listed key: its record as read with the listing, or a placeholder fingerprint. */
function observed(
  present: boolean,
  record: StoredRecord | undefined,
  placeholder: string,
): ReplicaObservation {
  if (!present) return { present: false };
  return record
    ? { present: true, fingerprint: record.fingerprint, values: record.values }
    : { present: true, fingerprint: placeholder };
}
