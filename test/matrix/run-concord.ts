/** Runs a matrix direction's dataset through the engine (runDataset over connectors from openConnector). Tests only. */
import { parseConfig } from "../../src/config/load-config.js";
import type { Connector, TableDescription } from "../../src/connectors/connector.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { Divergence } from "../../src/core/classify.js";
import type { RecordShape } from "../../src/core/model.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { type RunMode, runDataset } from "../../src/engine/run-dataset.js";
import type { RepairResult } from "../../src/execute/execute-repairs.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";
import type { MatrixSpace, MatrixStore } from "./matrix.js";

/** A store with its space open for the test file. */
export interface OpenStore {
  readonly store: MatrixStore;
  readonly space: MatrixSpace;
}

/** What a direction came to: the expectations it broke (empty: all held) and the known gaps it skipped. */
export interface MatrixOutcome {
  readonly failures: string[];
  readonly skipped: string[];
  /** Rows compared and columns, for the record. */
  readonly rows: number;
  readonly columns: number;
}

/** What one run saw: the resolved shape, divergences, repair results, notes and schema issues. */
export interface RunResult {
  readonly shape: RecordShape;
  readonly divergences: Divergence[];
  readonly results: RepairResult[];
  readonly notes: readonly string[];
  readonly issues: readonly string[];
}

/** The dataset config of a direction: source `s` owns every record. */
function datasetYaml(
  name: string,
  s: Readonly<Record<string, string>>,
  d: Readonly<Record<string, string>>,
  columns: readonly string[],
  types: Readonly<Record<string, string>>,
) {
  return `state: "sqlite::memory:"
datasets:
  ${name}:
    key: k
    columns: ${JSON.stringify(columns)}
    types: ${JSON.stringify(types)}
    replicas:
      s: ${JSON.stringify(s)}
      d: ${JSON.stringify(d)}
    policy: { owner: s, resolve: owner, limits: { maxDivergentFraction: 1, maxRepairs: 1000000 } }
`;
}

/** One run of a direction's dataset: over the whole table, or re-reading only `keys`. */
export interface Step {
  readonly mode: RunMode;
  /** Key texts (the key column's canonical text). */
  readonly keys?: readonly string[];
}

/**
 * Opens both replicas of a direction's dataset, runs `steps` in turn over them, and closes them. Repairs the
 * target refuses run apart from the others (by column): what one refused row does to the rest of its write
 * batch is the executor's business (test/integration/row-failures), not the types'.
 */
export async function runConcord(
  name: string,
  s: OpenStore,
  d: OpenStore,
  table: string,
  steps: readonly Step[],
  columns: readonly string[],
  types: Readonly<Record<string, string>> = {},
): Promise<{ runs: RunResult[]; descriptions: Map<string, TableDescription> }> {
  const config = parseConfig(
    datasetYaml(name, s.space.replica(table), d.space.replica(table), columns, types),
    "/matrix.yaml",
  );
  const ds = config.datasets[0]!;
  const state = SqliteStateStore.open(":memory:");
  const replicas: OpenReplica[] = [];
  try {
    for (const r of ds.replicas) replicas.push({ name: r.name, connector: await openConnector(ds.name, r) });
    const descriptions = new Map<string, TableDescription>();
    for (const r of replicas) descriptions.set(r.name, await r.connector.describe());
    const runs: RunResult[] = [];
    let n = 0;
    for (const { mode, keys } of steps) {
      if (keys && keys.length === 0) continue;
      const divergences: Divergence[] = [];
      const results: RepairResult[] = [];
      const run = await runDataset(
        ds,
        replicas,
        { state, now: () => 1_700_000_000_000 + n * 1000 },
        {
          runId: `matrix-${name}-${n++}`,
          command: mode,
          mode,
          ...(keys ? { keys: keys.map((k) => [k]) } : {}),
          // A refused write is the row's answer: retrying it only costs the back-off.
          guard: { maxAttempts: 1, breakAfter: 1_000_000 },
          observer: {
            onSegment(outcome) {
              divergences.push(...outcome.scan.divergences);
              results.push(...outcome.results);
            },
          },
        },
      );
      runs.push({
        shape: run.resolved.shape,
        divergences,
        results,
        notes: run.resolved.notes,
        issues: run.resolved.issues.map((i) => i.detail),
      });
    }
    return { runs, descriptions };
  } finally {
    for (const r of replicas) await closeQuietly(r.connector);
    await state.close();
  }
}

/** Closes a connector, ignoring a failure to (a test's cleanup must not hide its result). */
export async function closeQuietly(c: Connector): Promise<void> {
  await c.close().catch(() => undefined);
}
