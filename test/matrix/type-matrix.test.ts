/**
 * The type matrix over every pair of stores in test/matrix/stores/ whose servers answer (see matrix.ts): equal
 * values agree, different values diverge on their column, repairs land exactly in the target's native terms
 * or are refused naming column and type; keys likewise.
 */
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MatrixKeyType, MatrixStore } from "./matrix.js";
import { type MatrixOutcome, type OpenStore, runKeyMatrix, runValueMatrix } from "./run-matrix.js";

const folder = fileURLToPath(new URL("./stores/", import.meta.url));
const stores: MatrixStore[] = [];
for (const file of readdirSync(folder)
  .filter((f) => f.endsWith(".ts"))
  .sort()) {
  const module = (await import(`./stores/${file}`)) as { store: MatrixStore };
  if (await module.store.available()) stores.push(module.store);
}

/**
 * Every unordered pair, a store with itself included (named first, for the test titles), but two schemaless
 * stores (Redis with itself): nothing would type their values.
 */
const pairs: [string, string, MatrixStore, MatrixStore][] = stores.flatMap((a, i) =>
  stores
    .slice(i)
    .filter((b) => !(a.schemaless && b.schemaless))
    .map((b): [string, string, MatrixStore, MatrixStore] => [a.name, b.name, a, b]),
);

/** Fails with every broken expectation at once; prints the known gaps skipped. */
function expectClean(outcome: MatrixOutcome): void {
  if (outcome.skipped.length)
    console.info(`known gaps skipped:\n  ${[...new Set(outcome.skipped)].join("\n  ")}`);
  expect(outcome.failures).toEqual([]);
}

/** Key type pairs: each of one store's types of a family beside the other's first of it, and the reverse. */
function keyPairs(s: MatrixStore, d: MatrixStore): [MatrixKeyType, MatrixKeyType][] {
  const out: [MatrixKeyType, MatrixKeyType][] = [];
  for (const family of ["integer", "text"] as const) {
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

  it.each(directions)("values %s → %s", async (from, to) => {
    const [s, d] = from === "a" ? [sa, sb] : [sb, sa];
    expectClean(await runValueMatrix(s, d, `values_${from}${to}`));
  });

  it.each(directions)("keys %s → %s", async (from, to) => {
    const [s, d] = from === "a" ? [sa, sb] : [sb, sa];
    const outcomes = await limited(
      keyPairs(s.store, d.store).map(
        ([sk, dk], n) =>
          () =>
            runKeyMatrix(s, sk, d, dk, `keys_${from}${to}_${n}`),
      ),
      4,
    );
    expectClean({
      failures: outcomes.flatMap((o) => o.failures),
      skipped: outcomes.flatMap((o) => o.skipped),
      rows: 0,
      columns: 0,
    });
  });
});
