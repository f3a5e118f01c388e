/**
 * The type matrix's keys over every pair of stores in test/matrix/stores/ whose servers answer (see
 * matrix.ts): keys missing on the target are found, inserted exactly, or refused naming the collation that
 * makes them equal to a key it holds; a key only the target holds is deleted.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import type { MatrixKeyType, MatrixStore } from "./matrix.js";
import { expectClean, loadStores, storePairs } from "./matrix-stores.js";
import type { OpenStore } from "./run-concord.js";
import { runKeyMatrix } from "./run-key-matrix.js";

const pairs = storePairs(await loadStores());

/** Key type pairs: each of one store's types of a family beside the other's first of it, and the reverse. */
function keyPairs(s: MatrixStore, d: MatrixStore): [MatrixKeyType, MatrixKeyType][] {
  const out: [MatrixKeyType, MatrixKeyType][] = [];
  for (const family of ["integer", "text", "bytes"] as const) {
    const ss = s.keyTypes.filter((k) => k.family === family);
    const ds = d.keyTypes.filter((k) => k.family === family);
    if (!ss.length || !ds.length) continue;
    for (const sk of ss) out.push([sk, ds[0]!]);
    for (const dk of ds.slice(1)) out.push([ss[0]!, dk]);
  }
  return out;
}

/** Runs `jobs` at most `width` at a time. */
async function limited<T>(jobs: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, jobs.length) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    }),
  );
  return out;
}

describe.skipIf(pairs.length === 0).each(pairs)("key matrix %s ↔ %s", (_a, _b, a, b) => {
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

  it.for(directions)("keys %s → %s", async ([from, to], { expect }) => {
    const [s, d] = from === "a" ? [sa, sb] : [sb, sa];
    // Each type pair has its own tables: four at a time, since most of a run is waiting on round trips.
    const outcomes = await limited(
      keyPairs(s.store, d.store).map(
        ([sk, dk], n) =>
          () =>
            runKeyMatrix(s, sk, d, dk, `keys_${from}${to}_${n}`),
      ),
      4,
    );
    expectClean(expect, {
      failures: outcomes.flatMap((o) => o.failures),
      skipped: outcomes.flatMap((o) => o.skipped),
      rows: 0,
      columns: 0,
    });
  });
});
