import { describe, expect, it } from "vitest";
import type { Observation } from "../core/classify.js";
import type { KeyFingerprint, RecordShape } from "../core/model.js";
import { keyPartition, partitionedDiff } from "./partitioned-diff.js";

const SHAPE: RecordShape = { key: [{ name: "id", type: "integer" }], columns: [] };

/** One pair per batch; a fingerprint is written as one hex digit repeated. */
async function* batches(pairs: string): AsyncIterable<readonly KeyFingerprint[]> {
  for (const pair of pairs.split(" ")) {
    const [id, digit] = pair.split("=") as [string, string];
    yield [{ key: [id], fingerprint: digit.repeat(16) }];
  }
}

describe("partitionedDiff with a stream that repeats keys (Redis SCAN)", () => {
  it.each([1, 3])("keeps the last pair of a key and counts the key once (%i partitions)", async (parts) => {
    const rows = new Map<string, number>();
    const out: Observation[] = [];
    const diff = partitionedDiff(
      SHAPE,
      [
        { name: "a", batches: batches("1=a 2=b 3=c") },
        { name: "b", batches: batches("2=b 1=f 3=c 1=a 2=e") },
      ],
      { parts, batchSize: 10, onStreamRows: (name, n) => rows.set(name, n) },
    );
    for await (const batch of diff) out.push(...batch);
    expect(out).toEqual([
      {
        key: ["2"],
        replicas: {
          a: { present: true, fingerprint: "b".repeat(16) },
          b: { present: true, fingerprint: "e".repeat(16) },
        },
      },
    ]);
    expect(Object.fromEntries(rows)).toEqual({ a: 3, b: 3 });
  });
});

describe("partitionedDiff over many keys", () => {
  it.each([1, 4, 7])(
    "finds exactly the differing keys, in key order within each partition (%i partitions)",
    async (parts) => {
      const n = 5000;
      async function* side(changed: boolean): AsyncIterable<readonly KeyFingerprint[]> {
        let batch: KeyFingerprint[] = [];
        for (let j = 0; j < n; j++) {
          const i = (j * 7919) % n; // any order
          if (changed && i % 97 === 0) continue;
          const fp = (changed && i % 89 === 1 ? "f" : "0").repeat(16);
          batch.push({ key: [String(i)], fingerprint: fp });
          if (batch.length === 64) {
            yield batch;
            batch = [];
          }
        }
        if (changed) batch.push({ key: [String(n + 1)], fingerprint: "a".repeat(16) });
        yield batch;
      }
      const out: Observation[] = [];
      for await (const b of partitionedDiff(
        SHAPE,
        [
          { name: "a", batches: side(false) },
          { name: "b", batches: side(true) },
        ],
        { parts, batchSize: 100 },
      ))
        out.push(...b);
      const expected = new Set<string>([String(n + 1)]);
      for (let i = 0; i < n; i++) if (i % 97 === 0 || i % 89 === 1) expected.add(String(i));
      expect(new Set(out.map((o) => o.key[0]))).toEqual(expected);
      expect(out).toHaveLength(expected.size);
      const missing = out.find((o) => o.key[0] === "97")!;
      expect(missing.replicas).toEqual({
        a: { present: true, fingerprint: "0".repeat(16) },
        b: { present: false },
      });
      // Keys of one partition come out ascending.
      const byPart = new Map<number, number[]>();
      for (const o of out) {
        const p = keyPartition(SHAPE, o.key, parts);
        byPart.set(p, [...(byPart.get(p) ?? []), Number(o.key[0])]);
      }
      for (const keys of byPart.values()) expect(keys).toEqual([...keys].sort((x, y) => x - y));
    },
  );
});

describe("partitionedDiff with text and composite keys", () => {
  it("spills keys holding tabs and newlines and reads them back whole", async () => {
    const shape: RecordShape = {
      key: [
        { name: "k", type: "text" },
        { name: "n", type: "integer" },
      ],
      columns: [],
    };
    const keys = ["a\tb", "line\nbreak", "plain", '{"json":1}', "", "😀"].map((t, i) => [t, String(i)]);
    async function* side(drop: number): AsyncIterable<readonly KeyFingerprint[]> {
      yield keys.filter((_, i) => i !== drop).map((key) => ({ key, fingerprint: "0".repeat(16) }));
    }
    for (const parts of [1, 3]) {
      const out: Observation[] = [];
      for await (const b of partitionedDiff(
        shape,
        [
          { name: "a", batches: side(-1) },
          { name: "b", batches: side(1) },
        ],
        { parts, batchSize: 10 },
      ))
        out.push(...b);
      expect(out.map((o) => o.key)).toEqual([["line\nbreak", "1"]]);
    }
  });
});
