/** K-way merge of per-replica key/fingerprint streams in key order: the path for stores without pushdown. */
import type { Observation, ReplicaObservation } from "../core/classify.js";
import { compareKeys, type Key, type KeyFingerprint, type RecordShape } from "../core/model.js";

/** A named replica's stream of key/fingerprint batches, ascending by key. */
export interface NamedStream {
  readonly name: string;
  readonly batches: AsyncIterable<readonly KeyFingerprint[]>;
}

/** Raised when a store breaks the ordering contract: keys out of binary order, or a key listed twice. */
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

  /** Moves past the head (checking key order); true when the batch is used up and `fill` is due. */
  step(): boolean {
    const cur = this.batch[this.i]!;
    const order = this.last ? compareKeys(this.shape.key, this.last, cur.key) : -1;
    // A key met twice is a duplicate (the store does not keep keys unique), not a question of order.
    if (order === 0)
      throw new OrderError(
        `duplicate key ${JSON.stringify(cur.key)} in replica ${this.name}: key columns must be unique (back them with a primary key or unique index)`,
      );
    if (order > 0) {
      throw new OrderError(
        `replica ${this.name} returned key ${JSON.stringify(cur.key)} after ${JSON.stringify(this.last)}: keys are not in binary order`,
      );
    }
    this.last = cur.key;
    this.i++;
    return this.i >= this.batch.length;
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
    // Which cursors hold the current key; reused for every key (this loop runs once per row).
    const at: boolean[] = cursors.map(() => false);
    for (;;) {
      let min: Key | undefined;
      for (const c of cursors) {
        const h = c.head();
        if (h && (!min || compareKeys(shape.key, h.key, min) < 0)) min = h.key;
      }
      if (!min) break;
      let first: string | undefined;
      let differs = false;
      for (let i = 0; i < cursors.length; i++) {
        const h = cursors[i]!.head();
        at[i] = h !== undefined && (h.key === min || compareKeys(shape.key, h.key, min) === 0);
        if (!at[i]) differs = true;
        else if (first === undefined) first = h!.fingerprint;
        else if (first !== h!.fingerprint) differs = true;
      }
      onRow?.();
      if (differs) {
        const replicas: Record<string, ReplicaObservation> = {};
        for (let i = 0; i < cursors.length; i++) {
          const c = cursors[i]!;
          replicas[c.name] = at[i]
            ? { present: true, fingerprint: c.head()!.fingerprint }
            : { present: false };
        }
        out.push({ key: min, replicas });
        if (out.length >= batchSize) {
          yield out;
          out = [];
        }
      }
      // Only a cursor whose batch ran out waits for the next one: no promise per row.
      let refill = false;
      for (let i = 0; i < cursors.length; i++) if (at[i] && cursors[i]!.step()) refill = true;
      if (refill) await Promise.all(cursors.map((c) => c.fill()));
    }
    if (out.length) yield out;
  } finally {
    await Promise.all(cursors.map((c) => c.close()));
  }
}
