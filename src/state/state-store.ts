/** The StateStore port: where runs, observed versions and divergences are kept between runs. */
import type { DivergenceClass } from "../core/classify.js";
import type { Key } from "../core/model.js";
import type { Version } from "../core/version.js";

export interface RunRecord {
  readonly id: string;
  readonly dataset: string;
  readonly command: string;
  readonly startedAt: number;
  readonly finishedAt?: number | undefined;
  readonly status: "running" | "ok" | "diverged" | "failed";
  readonly counts: Readonly<Record<string, number>>;
  readonly stats: Readonly<Record<string, number>>;
}

export interface StoredDivergence {
  readonly runId: string;
  readonly dataset: string;
  readonly key: Key;
  readonly class: DivergenceClass;
  /** Free-form JSON detail (replica observations, differing columns). */
  readonly detail: unknown;
}

export interface ObservedVersion {
  readonly key: Key;
  readonly replica: string;
  readonly version: Version;
}

/**
 * Durable state shared by runs. Contract:
 * - `beginRun` then `finishRun` bracket every run of a dataset (a run id is shared by the datasets of one invocation); a run never finished stays "running" (a crash).
 * - `rememberVersions` keeps, per (dataset, key, replica), the version to compare the next observation
 *   with; `lastSeenVersions` returns them. Only keys that diverged are remembered, so the store grows with
 *   divergence, not with the table.
 * - Writes are durable when the promise resolves.
 */
export interface StateStore {
  beginRun(run: { id: string; dataset: string; command: string; startedAt: number }): Promise<void>;
  finishRun(
    id: string,
    dataset: string,
    result: {
      finishedAt: number;
      status: RunRecord["status"];
      counts: Record<string, number>;
      stats: Record<string, number>;
    },
  ): Promise<void>;
  /** The per-dataset records of one run (one invocation covers every dataset it touched). */
  getRun(id: string): Promise<RunRecord[]>;
  listRuns(options?: { dataset?: string; limit?: number }): Promise<RunRecord[]>;
  recordDivergences(divergences: readonly StoredDivergence[]): Promise<void>;
  listDivergences(runId: string): Promise<StoredDivergence[]>;
  lastSeenVersions(dataset: string, keys: readonly Key[]): Promise<Map<string, Record<string, Version>>>;
  rememberVersions(dataset: string, observed: readonly ObservedVersion[]): Promise<void>;
  close(): Promise<void>;
}
