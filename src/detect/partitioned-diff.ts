/** Compares replicas when some store has no key order (Redis): hash-partition every stream, spill to disk, compare per partition. */

import { hash } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, type WriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { encodeRow } from "../core/canonical.js";
import type { Observation, ReplicaObservation } from "../core/classify.js";
import { compareKeys, type Key, type KeyFingerprint, type RecordShape } from "../core/model.js";

/** A replica's stream of key/fingerprint batches, in any order. */
export interface UnorderedStream {
  readonly name: string;
  readonly batches: AsyncIterable<readonly KeyFingerprint[]>;
}

/** The hash partition of a key: the first 32 bits of MD5 over its canonical encoding, modulo `parts`. */
export function keyPartition(key: Key, parts: number): number {
  if (parts <= 1) return 0;
  return Number.parseInt(hash("md5", encodeRow(key), "hex").slice(0, 8), 16) % parts;
}

function keyText(key: Key): string {
  return JSON.stringify(key);
}

async function writeLine(out: WriteStream, line: string): Promise<void> {
  if (!out.write(line)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
}

/**
 * Yields Observations for every key that is absent somewhere or whose fingerprints differ. Every stream is
 * read once. With one partition everything is compared in memory; with more, each replica's pairs are
 * spilled to `parts` files by key hash and each partition is then compared in memory, so memory is bounded
 * by the partition size (about `partitionRows` keys), not the table. Within a partition, observations come
 * in key order.
 */
export async function* partitionedDiff(
  shape: RecordShape,
  streams: readonly UnorderedStream[],
  options: {
    readonly parts: number;
    readonly batchSize: number;
    readonly onRow?: () => void;
    /**
     * Told, per replica, how many distinct keys its stream held (a key streamed twice counts once): once
     * every stream is read, or with spilling once every partition is compared.
     */
    readonly onStreamRows?: (name: string, rows: number) => void;
  },
): AsyncIterable<Observation[]> {
  const parts = Math.max(1, options.parts);
  const names = streams.map((s) => s.name);
  const compare = function* (table: Map<string, (string | null)[]>): Iterable<Observation> {
    const keys = [...table.keys()]
      .map((k) => JSON.parse(k) as Key)
      .sort((a, b) => compareKeys(shape.key, a, b));
    for (const key of keys) {
      const fps = table.get(keyText(key))!;
      const first = fps[0];
      if (fps.every((f) => f !== null && f === first)) continue;
      const replicas: Record<string, ReplicaObservation> = {};
      names.forEach((n, i) => {
        const f = fps[i];
        replicas[n] = f ? { present: true, fingerprint: f } : { present: false };
      });
      yield { key, replicas };
    }
  };
  const emit = function* (table: Map<string, (string | null)[]>): Iterable<Observation[]> {
    let out: Observation[] = [];
    for (const o of compare(table)) {
      out.push(o);
      if (out.length >= options.batchSize) {
        yield out;
        out = [];
      }
    }
    if (out.length) yield out;
  };
  const add = (table: Map<string, (string | null)[]>, replica: number, key: string, fp: string) => {
    let row = table.get(key);
    if (!row) {
      row = names.map(() => null);
      table.set(key, row);
    }
    // An unordered store may stream a key again (Redis SCAN): the last pair counts, and the key once.
    if (row[replica] !== null) repeats[replica]!++;
    row[replica] = fp;
  };
  const repeats = names.map(() => 0);
  const streamed = names.map(() => 0);
  const reportRows = () => {
    for (const [i, s] of streams.entries()) options.onStreamRows?.(s.name, streamed[i]! - repeats[i]!);
  };

  if (parts === 1) {
    const table = new Map<string, (string | null)[]>();
    await Promise.all(
      streams.map(async (s, i) => {
        for await (const batch of s.batches) {
          for (const kf of batch) {
            add(table, i, keyText(kf.key), kf.fingerprint);
            streamed[i]!++;
            options.onRow?.();
          }
        }
      }),
    );
    reportRows();
    yield* emit(table);
    return;
  }

  const dir = mkdtempSync(join(tmpdir(), "concord-diff-"));
  try {
    const files = streams.map((_, r) => Array.from({ length: parts }, (_, p) => join(dir, `${r}-${p}.tsv`)));
    await Promise.all(
      streams.map(async (s, r) => {
        const outs = files[r]!.map((f) => createWriteStream(f, { highWaterMark: 1 << 16 }));
        try {
          for await (const batch of s.batches) {
            for (const kf of batch) {
              await writeLine(outs[keyPartition(kf.key, parts)]!, `${kf.fingerprint}\t${keyText(kf.key)}\n`);
              streamed[r]!++;
              options.onRow?.();
            }
          }
        } finally {
          await Promise.all(
            outs.map(
              (o) =>
                new Promise<void>((resolve, reject) =>
                  o.end((err?: Error | null) => (err ? reject(err) : resolve())),
                ),
            ),
          );
        }
      }),
    );
    for (let p = 0; p < parts; p++) {
      const table = new Map<string, (string | null)[]>();
      for (let r = 0; r < streams.length; r++) {
        const lines = createInterface({
          input: createReadStream(files[r]![p]!),
          crlfDelay: Number.POSITIVE_INFINITY,
        });
        for await (const line of lines) {
          if (!line) continue;
          add(table, r, line.slice(17), line.slice(0, 16));
        }
      }
      yield* emit(table);
    }
    reportRows();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
