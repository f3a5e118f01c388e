/** Compares replicas when some store has no key order (Redis): hash-partition every stream, spill to disk, compare per partition. */

import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Observation, ReplicaObservation } from "../core/classify.js";
import { compareKeys, type Key, type KeyFingerprint, type RecordShape } from "../core/model.js";

/** A replica's stream of key/fingerprint batches, in any order. */
export interface UnorderedStream {
  readonly name: string;
  readonly batches: AsyncIterable<readonly KeyFingerprint[]>;
}

/**
 * The hash partition of a key: FNV-1a (32 bits) over its text (see `keyCodec`), modulo `parts`. Any
 * function both sides of one comparison share would do; this one costs no allocation and no digest.
 */
export function keyPartition(shape: RecordShape, key: Key, parts: number): number {
  return parts <= 1 ? 0 : textPartition(keyCodec(shape).text(key), parts);
}

function textPartition(text: string, parts: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0) % parts;
}

/**
 * A key as one line-safe string and back: a single integer key is its own digits (a NULL one is "N", which
 * no integer's digits spell); any other key is its JSON (which escapes newlines and tabs; NULL is null).
 */
function keyCodec(shape: RecordShape): { text: (key: Key) => string; key: (text: string) => Key } {
  if (shape.key.length === 1 && shape.key[0]!.type === "integer")
    return { text: (key) => key[0] ?? "N", key: (text) => [text === "N" ? null : text] };
  return { text: (key) => JSON.stringify(key), key: (text) => JSON.parse(text) as Key };
}

/** Lines for one spill file, written 64 KiB at a time instead of one write per pair. */
class SpillWriter {
  private lines: string[] = [];
  private size = 0;
  private readonly out: WriteStream;

  constructor(path: string) {
    this.out = createWriteStream(path);
  }

  /** Buffers a line; a promise only when a chunk went out and the file is behind. */
  add(line: string): Promise<void> | undefined {
    this.lines.push(line);
    this.size += line.length;
    return this.size >= 1 << 16 ? this.flush() : undefined;
  }

  private flush(): Promise<void> | undefined {
    const chunk = this.lines.join("");
    this.lines = [];
    this.size = 0;
    if (this.out.write(chunk)) return undefined;
    return new Promise<void>((resolve) => this.out.once("drain", () => resolve()));
  }

  async end(): Promise<void> {
    if (this.size > 0) await this.flush();
    await new Promise<void>((resolve, reject) =>
      this.out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  }
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
  const codec = keyCodec(shape);
  // Only the keys that differ are parsed and sorted: a partition is mostly equal keys.
  const compare = function* (table: Map<string, (string | null)[]>): Iterable<Observation> {
    const differing: { key: Key; fps: (string | null)[] }[] = [];
    for (const [text, fps] of table) {
      const first = fps[0];
      if (first === null || fps.some((f) => f !== first)) differing.push({ key: codec.key(text), fps });
    }
    differing.sort((a, b) => compareKeys(shape.key, a.key, b.key));
    for (const { key, fps } of differing) {
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
            add(table, i, codec.text(kf.key), kf.fingerprint);
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
        const outs = files[r]!.map((f) => new SpillWriter(f));
        try {
          for await (const batch of s.batches) {
            for (const kf of batch) {
              const text = codec.text(kf.key);
              const behind = outs[textPartition(text, parts)]!.add(`${kf.fingerprint}\t${text}\n`);
              if (behind) await behind;
              streamed[r]!++;
              options.onRow?.();
            }
          }
        } finally {
          await Promise.all(outs.map((o) => o.end()));
        }
      }),
    );
    for (let p = 0; p < parts; p++) {
      const table = new Map<string, (string | null)[]>();
      for (let r = 0; r < streams.length; r++) {
        // A partition file is about `partitionRows` short lines: read whole, as its table is held whole.
        const text = await readFile(files[r]![p]!, "utf8");
        let at = 0;
        while (at < text.length) {
          const end = text.indexOf("\n", at);
          const line = text.slice(at, end < 0 ? text.length : end);
          at = end < 0 ? text.length : end + 1;
          if (line) add(table, r, line.slice(17), line.slice(0, 16));
        }
      }
      yield* emit(table);
    }
    reportRows();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
