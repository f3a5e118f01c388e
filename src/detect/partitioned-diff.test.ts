import { describe, expect, it } from "vitest";
import type { Observation } from "../core/classify.js";
import type { KeyFingerprint, RecordShape } from "../core/model.js";
import { partitionedDiff } from "./partitioned-diff.js";

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
