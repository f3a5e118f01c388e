import { describe, expect, it } from "vitest";
import type { Key, KeyFingerprint, RecordShape } from "../core/model.js";
import { mergeStreams, OrderError } from "./merge-streams.js";

const SHAPE: RecordShape = { key: [{ name: "id", type: "integer" }], columns: [] };

async function* batches(...keys: string[][]): AsyncIterable<readonly KeyFingerprint[]> {
  for (const batch of keys) yield batch.map((k) => ({ key: [k] as Key, fingerprint: "0000000000000001" }));
}

async function merge(a: string[][], b: string[][]): Promise<unknown> {
  try {
    for await (const _ of mergeStreams(
      SHAPE,
      [
        { name: "a", batches: batches(...a) },
        { name: "b", batches: batches(...b) },
      ],
      100,
    ));
  } catch (err) {
    return err;
  }
  return undefined;
}

describe("mergeStreams: a stream that breaks the ordering contract", () => {
  it.each([
    ["within a batch", [["1", "2", "2", "3"]]],
    [
      "across batches",
      [
        ["1", "2"],
        ["2", "3"],
      ],
    ],
  ])("names a key listed twice (%s) as a duplicate, not as out of order", async (_, a) => {
    const err = await merge(a, [["1", "2", "3"]]);
    expect(err).toBeInstanceOf(OrderError);
    expect((err as Error).message).toBe(
      'duplicate key ["2"] in replica a: key columns must be unique (back them with a primary key or unique index)',
    );
  });

  it("says keys are out of binary order when one goes backwards", async () => {
    const err = await merge([["1", "3", "2"]], [["1", "2", "3"]]);
    expect((err as Error).message).toBe(
      'replica a returned key ["2"] after ["3"]: keys are not in binary order',
    );
  });
});
