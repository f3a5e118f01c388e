/** The one place that wires a run: connectors → detect → classify (→ decide → execute → verify). */
import type { DatasetConfig } from "./config/load-config.js";
import type { Connector, TableDescription } from "./connectors/connector.js";
import {
  BENIGN_CLASSES,
  classifyDivergence,
  type Divergence,
  type DivergenceClass,
  type Observation,
  type ReplicaObservation,
} from "./core/classify.js";
import { type Key, keyId, type RecordShape, type StoredRecord } from "./core/model.js";
import { readVersion, type Version } from "./core/version.js";
import { type DetectOptions, detectDivergences } from "./detect/detect-divergences.js";
import { type ResolvedShape, resolveShape, type SchemaIssue } from "./detect/resolve-shape.js";
import type { StateStore } from "./state/state-store.js";

/** Run statistics: what crossed from the stores into the engine, and how long it took. */
export interface ScanStats {
  durationMs: number;
  rowsRead: number;
  rowsScanned: number;
  bytesRead: number;
  queries: number;
}

/** The result of scanning one dataset. */
export interface DatasetScan {
  readonly name: string;
  readonly shape: RecordShape;
  readonly resolved: ResolvedShape;
  readonly replicas: Readonly<Record<string, { rows: number }>>;
  readonly divergences: readonly Divergence[];
  readonly schema: readonly SchemaIssue[];
  readonly counts: Readonly<Partial<Record<DivergenceClass, number>>>;
  readonly stats: ScanStats;
}

/** Ports and clock a run needs. Time comes in here so the core stays pure. */
export interface RunContext {
  readonly runId: string;
  readonly state: StateStore;
  readonly now: () => number;
  readonly command: string;
  readonly detect?: Omit<DetectOptions, "range">;
  readonly onProgress?: (dataset: string, done: number, total: number) => void;
}

/** Opened replicas of a dataset, in config order. */
export interface OpenReplica {
  readonly name: string;
  readonly connector: Connector;
}

const FETCH_BATCH = 500;

/** True when a divergence needs a write (everything except tolerated, in-flight and read-after-write). */
export function isRepairable(d: { class: DivergenceClass }): boolean {
  return !BENIGN_CLASSES.has(d.class);
}

async function enrich(
  shape: RecordShape,
  resolved: ResolvedShape,
  replicas: readonly OpenReplica[],
  batch: readonly Observation[],
): Promise<Observation[]> {
  const records = await Promise.all(
    replicas.map(async (r) => {
      const keys = batch.filter((o) => o.replicas[r.name]?.present).map((o) => o.key);
      const got = keys.length ? await r.connector.fetchRecords(shape, keys) : [];
      return new Map<string, StoredRecord>(got.map((rec) => [keyId(rec.key), rec]));
    }),
  );
  return batch.map((o) => {
    const id = keyId(o.key);
    const out: Record<string, ReplicaObservation> = {};
    replicas.forEach((r, i) => {
      const rec = records[i]!.get(id);
      // A record deleted between listing and fetching reads as absent: the observation is what was fetched.
      out[r.name] = rec
        ? {
            present: true,
            fingerprint: rec.fingerprint,
            values: rec.values,
            version: readVersion(resolved.versionPositions, rec.values),
          }
        : { present: false };
    });
    return { key: o.key, replicas: out };
  });
}

function stillDiffers(o: Observation): boolean {
  const states = Object.values(o.replicas);
  const fp = states[0]?.present ? states[0].fingerprint : null;
  return states.some((s) => (s.present ? s.fingerprint : null) !== fp);
}

/**
 * Scans one dataset whose replicas are open: resolves the shape (schema divergence is reported, not
 * thrown), detects differing keys, fetches their records, classifies them with the versions last seen,
 * remembers versions for regression checks, and records the divergences in the state store. Writes
 * nothing to any replica.
 */
export async function scanDataset(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  ctx: RunContext,
): Promise<DatasetScan> {
  const started = ctx.now();
  const descriptions = new Map<string, TableDescription>();
  for (const r of replicas) descriptions.set(r.name, await r.connector.describe());
  const resolved = resolveShape(ds, descriptions);
  const { shape } = resolved;

  const divergences: Divergence[] = [];
  const detect = detectDivergences(
    shape,
    replicas.map((r) => ({ name: r.name, connector: r.connector })),
    {
      ...ctx.detect,
      ...definedOnly(ds.detect),
      onProgress: (done, total) => ctx.onProgress?.(ds.name, done, total),
    },
  );
  for await (const batch of detect) {
    for (let i = 0; i < batch.length; i += FETCH_BATCH) {
      const observed = (await enrich(shape, resolved, replicas, batch.slice(i, i + FETCH_BATCH))).filter(
        stillDiffers,
      );
      if (observed.length === 0) continue;
      const lastSeen = resolved.rules.versioned
        ? await ctx.state.lastSeenVersions(
            ds.name,
            observed.map((o) => o.key),
          )
        : new Map<string, Record<string, Version>>();
      const nowMs = ctx.now();
      for (const o of observed) {
        divergences.push(
          classifyDivergence(o, {
            shape,
            rules: resolved.rules,
            nowMs,
            lastSeen: lastSeen.get(keyId(o.key)),
          }),
        );
      }
      if (resolved.rules.versioned) {
        await ctx.state.rememberVersions(
          ds.name,
          observed.flatMap((o) =>
            Object.entries(o.replicas)
              .filter(([, r]) => r.present && r.version)
              .map(([replica, r]) => ({ key: o.key, replica, version: r.version! })),
          ),
        );
      }
    }
  }

  const counts: Partial<Record<DivergenceClass, number>> = {};
  for (const d of divergences) counts[d.class] = (counts[d.class] ?? 0) + 1;
  if (resolved.issues.length) counts.schema = resolved.issues.length;
  const rows: Record<string, { rows: number }> = {};
  for (const r of replicas) rows[r.name] = { rows: await r.connector.count(shape, { lo: null, hi: null }) };
  const stats: ScanStats = {
    durationMs: ctx.now() - started,
    rowsRead: 0,
    rowsScanned: 0,
    bytesRead: 0,
    queries: 0,
  };
  for (const r of replicas) {
    stats.rowsRead += r.connector.stats.rowsRead;
    stats.rowsScanned += r.connector.stats.rowsScanned;
    stats.bytesRead += r.connector.stats.bytesRead;
    stats.queries += r.connector.stats.queries;
  }
  await ctx.state.recordDivergences(
    divergences.map((d) => ({
      runId: ctx.runId,
      dataset: ds.name,
      key: d.key,
      class: d.class,
      detail: { replicas: d.replicas, columns: d.columns, newest: d.newest, regressed: d.regressed },
    })),
  );
  return {
    name: ds.name,
    shape,
    resolved,
    replicas: rows,
    divergences,
    schema: resolved.issues,
    counts,
    stats,
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Keys as arrays, for callers that need to re-read a set of divergent keys. */
export function divergentKeys(scan: DatasetScan): Key[] {
  return scan.divergences.map((d) => d.key);
}
