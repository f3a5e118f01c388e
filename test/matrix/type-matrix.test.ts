/**
 * The type matrix's values over every pair of stores in test/matrix/stores/ whose servers answer (see
 * matrix.ts): equal values agree, different values diverge on their column, repairs land exactly in the
 * target's native terms or are refused naming column and type. Keys: key-matrix.test.ts.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { expectClean, loadStores, storePairs } from "./matrix-stores.js";
import type { OpenStore } from "./run-concord.js";
import { runValueMatrix } from "./run-value-matrix.js";

const pairs = storePairs(await loadStores());

describe.skipIf(pairs.length === 0).each(pairs)("type matrix %s ↔ %s", (_a, _b, a, b) => {
  let sa: OpenStore;
  let sb: OpenStore;

  beforeAll(async () => {
    sa = { store: a, space: await a.open() };
    sb = { store: b, space: await b.open() };
  });

  afterAll(async () => {
    await sa?.space.close();
    await sb?.space.close();
  });

  const directions =
    a === b
      ? [["a", "b"] as const]
      : ([
          ["a", "b"],
          ["b", "a"],
        ] as const);

  it.for(directions)("values %s → %s", async ([from, to], { expect }) => {
    const [s, d] = from === "a" ? [sa, sb] : [sb, sa];
    expectClean(expect, await runValueMatrix(s, d, `values_${from}${to}`));
  });
});
