/** K-way merge of per-replica key/fingerprint streams in key order: the path for stores without pushdown. */
import type { Observation, ReplicaObservation } from "../core/classify.js";
import { compareKeys, type Key, type KeyFingerprint, type RecordShape } from "../core/model.js";

/** A named replica's stream of key/fingerprint batches, ascending by key. */
export interface NamedStream {
  readonly name: string;
  readonly batches: AsyncIterable<readonly KeyFingerprint[]>;
}

/** Raised when a store breaks the ordering contract (for example a case-insensitive collation). */
export class OrderError extends Error {
  override readonly name = "OrderError";
}

class Cursor {
  private batch: readonly KeyFingerprint[] = [];
  private i = 0;
  private last: Key | null = null;
  done = false;
  private readonly it: AsyncIterator<readonly KeyFingerprint[]>;

  constructor(
    readonly name: string,
    source: AsyncIterable<readonly KeyFingerprint[]>,
    private readonly shape: RecordShape,
  ) {
    this.it = source[Symbol.asyncIterator]();
  }

  head(): KeyFingerprint | undefined {
    return this.batch[this.i];
  }

  async fill(): Promise<void> {
    while (!this.done && this.i >= this.batch.length) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else {
        this.batch = next.value;
        this.i = 0;
      }
    }
  }

  async advance(): Promise<void> {
    const cur = this.batch[this.i]!;
    if (this.last && compareKeys(this.shape.key, this.last, cur.key) >= 0) {
      throw new OrderError(
        `replica ${this.name} returned key ${JSON.stringify(cur.key)} after ${JSON.stringify(this.last)}: keys are not in binary order`,
      );
    }
    this.last = cur.key;
    this.i++;
    await this.fill();
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/**
 * Merges ordered streams and yields, in batches of at most `batchSize`, an Observation for every key that
 * is absent from some replica or whose fingerprints differ. Holds one batch per replica: memory is bounded
 * by the batch size, not the table. `onRow` is told of every key merged (for progress).
 */
export async function* mergeStreams(
  shape: RecordShape,
  streams: readonly NamedStream[],
  batchSize: number,
  onRow?: () => void,
): AsyncIterable<Observation[]> {
  const cursors = streams.map((s) => new Cursor(s.name, s.batches, shape));
  try {
    await Promise.all(cursors.map((c) => c.fill()));
    let out: Observation[] = [];
    for (;;) {
      let min: Key | undefined;
      for (const c of cursors) {
        const h = c.head();
        if (h && (!min || compareKeys(shape.key, h.key, min) < 0)) min = h.key;
      }
      if (!min) break;
      const replicas: Record<string, ReplicaObservation> = {};
      let first: string | undefined;
      let differs = false;
      const moving: Cursor[] = [];
      for (const c of cursors) {
        const h = c.head();
        if (h && compareKeys(shape.key, h.key, min) === 0) {
          replicas[c.name] = { present: true, fingerprint: h.fingerprint };
          if (first === undefined) first = h.fingerprint;
          else if (first !== h.fingerprint) differs = true;
          moving.push(c);
        } else {
          replicas[c.name] = { present: false };
          differs = true;
        }
      }
      onRow?.();
      if (differs) {
        out.push({ key: min, replicas });
        if (out.length >= batchSize) {
          yield out;
          out = [];
        }
      }
      await Promise.all(moving.map((c) => c.advance()));
    }
    if (out.length) yield out;
  } finally {
    await Promise.all(cursors.map((c) => c.close()));
  }
}
