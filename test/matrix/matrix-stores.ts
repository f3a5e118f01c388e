/** The stores in test/matrix/stores/ whose servers answer, their pairs, and how a test reports a matrix outcome. Tests only. */
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ExpectStatic } from "vitest";
import type { MatrixStore } from "./matrix.js";
import type { MatrixOutcome } from "./run-concord.js";

/** Every store file's `store`, in file name order, that answers (one that does not is skipped; CI requires it). */
export async function loadStores(): Promise<MatrixStore[]> {
  const folder = fileURLToPath(new URL("./stores/", import.meta.url));
  const stores: MatrixStore[] = [];
  for (const file of readdirSync(folder)
    .filter((f) => f.endsWith(".ts"))
    .sort()) {
    const module = (await import(`./stores/${file}`)) as { store: MatrixStore };
    if (await module.store.available()) stores.push(module.store);
  }
  return stores;
}

/** Every unordered pair, a store with itself included, each named first (for test titles). */
export function storePairs(stores: readonly MatrixStore[]): [string, string, MatrixStore, MatrixStore][] {
  return stores.flatMap((a, i) =>
    stores.slice(i).map((b): [string, string, MatrixStore, MatrixStore] => [a.name, b.name, a, b]),
  );
}

/** Fails with every broken expectation at once; prints the known gaps skipped. */
export function expectClean(expect: ExpectStatic, outcome: MatrixOutcome): void {
  if (outcome.skipped.length)
    console.info(`known gaps skipped:\n  ${[...new Set(outcome.skipped)].join("\n  ")}`);
  expect(outcome.failures).toEqual([]);
}
