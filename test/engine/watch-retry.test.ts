/**
 * The watch's retry set, on SQLite replicas and the SQLite feed (nothing mocked): a key whose repair another
 * run holds (a run that died a moment ago, not yet stale) is settled by a re-check once that run is taken
 * for dead; a key whose conditional write was rejected (its target changed between read and write) is
 * checked again and repaired; over `watch.retryKeys` the rest is left to the next pass, its segments dirty.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConcordConfig, DatasetConfig } from "../../src/config/load-config.js";
import { openChangeFeed } from "../../src/connectors/open-change-feed.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { Key } from "../../src/core/model.js";
import { keyId } from "../../src/core/model.js";
import { repairId } from "../../src/core/repair-id.js";
import { describeDataset } from "../../src/engine/describe-dataset.js";
import { runPlannedPass } from "../../src/engine/dirty-segment-pass.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runLease } from "../../src/engine/run-liveness.js";
import { feedOptions, type WatchCheck, watchDataset } from "../../src/engine/watch-dataset.js";
import type { RetryOverflow, WatchRecheck } from "../../src/engine/watch-rechecks.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

let dir: string;
const cleanup: (() => Promise<void>)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-watch-retry-"));
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

async function until(ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function config(retryKeys?: number): ConcordConfig {
  makeItemsReplicas(dir, { rows: 20 });
  return itemsConfig(dir, {
    extra: `    watch: { replicas: [a], batch: 0s${retryKeys !== undefined ? `, retryKeys: ${retryKeys}` : ""} }\n`,
  });
}

async function open(
  cfg: ConcordConfig,
): Promise<{ ds: DatasetConfig; state: StateStore; replicas: OpenReplica[] }> {
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  cleanup.push(async () => {
    for (const r of replicas) await r.connector.close();
    await state.close();
  });
  return { ds, state, replicas };
}

/** What a watch told its observer, and how to stop it. */
interface Watching {
  readonly checks: WatchCheck[];
  readonly rechecks: WatchRecheck[];
  readonly overflows: RetryOverflow[];
  started(): boolean;
  stop(): Promise<void>;
}

function watch(
  ds: DatasetConfig,
  state: StateStore,
  replicas: readonly OpenReplica[],
  options: { staleRunMs?: number } = {},
): Watching {
  const checks: WatchCheck[] = [];
  const rechecks: WatchRecheck[] = [];
  const overflows: RetryOverflow[] = [];
  let started = false;
  let n = 0;
  const stop = new AbortController();
  const running = watchDataset(
    ds,
    replicas,
    [{ replica: "a", open: () => openChangeFeed(ds.replicas[0]!, feedOptions(ds, "a")) }],
    { state, now: Date.now },
    {
      signal: stop.signal,
      newRunId: () => `w-${++n}`,
      recheckMs: 100,
      run: { ...(options.staleRunMs !== undefined ? { staleRunMs: options.staleRunMs } : {}) },
      observer: {
        onStarted: () => {
          started = true;
        },
        onChecked: (c) => {
          checks.push(c);
        },
        onRechecked: (r) => {
          rechecks.push(r);
        },
        onRetryOverflow: (o) => {
          overflows.push(o);
        },
      },
    },
  );
  return {
    checks,
    rechecks,
    overflows,
    started: () => started,
    async stop() {
      stop.abort();
      await running;
    },
  };
}

/** Updates rows of a replica's SQLite file (a's changes reach its feed). */
function update(replica: "a" | "b", ids: readonly number[], name: (id: number) => string, bump = 1): void {
  const db = new Database(join(dir, `${replica}.db`));
  try {
    const stmt = db.prepare("UPDATE items SET name = ?, version = version + ? WHERE id = ?");
    db.transaction(() => {
      for (const id of ids) stmt.run(name(id), bump, id);
    })();
  } finally {
    db.close();
  }
}

function rowsOf(replica: "a" | "b", ids: readonly number[]): unknown[] {
  const db = new Database(join(dir, `${replica}.db`), { readonly: true });
  try {
    return ids.map((id) => db.prepare("SELECT id, name, version FROM items WHERE id = ?").get(id));
  } finally {
    db.close();
  }
}

/**
 * Leaves run `run` (its process on another host, its heartbeat fresh now) with the pending claim of the
 * repair a check would make for each of `ids` on b: b's record as it is, a's as it is now.
 */
async function claimAsDeadRun(
  ds: DatasetConfig,
  state: StateStore,
  replicas: readonly OpenReplica[],
  run: string,
  ids: readonly number[],
): Promise<{ ids: string[]; at: number }> {
  const { shape } = await describeDataset(ds, replicas);
  const keys: Key[] = ids.map((id) => [String(id)]);
  const [a, b] = await Promise.all(replicas.map((r) => r.connector.fetchRecords(shape, keys)));
  const now = Date.now();
  await state.beginRun({ id: run, dataset: ds.name, command: "watch", startedAt: now });
  await state.acquireLease(runLease(run), "another-host:4242:dead", now, 60_000);
  const entries = keys.map((key, i) => {
    const expected = b![i]!.fingerprint;
    const next = a![i]!.fingerprint;
    return {
      id: repairId(ds.name, key, "b", expected, next),
      runId: run,
      dataset: ds.name,
      key,
      target: "b",
      expected,
      nextFingerprint: next,
      before: null,
      after: null,
      outcome: "pending" as const,
      attempts: 0,
      updatedAt: now,
    };
  });
  const claimed = await state.claimRepairs(entries);
  for (const e of entries) expect(claimed.get(e.id)?.kind).toBe("claimed");
  return { ids: entries.map((e) => e.id), at: now };
}

/**
 * Starts a watch and stops it after one check (row 20 changed alike on both replicas): the feed's triggers
 * and stored position exist, so changes made while no watch runs wait in the feed.
 */
async function primeFeed(
  ds: DatasetConfig,
  state: StateStore,
  replicas: readonly OpenReplica[],
): Promise<void> {
  const w = watch(ds, state, replicas);
  await until(w.started);
  update("b", [20], () => "same");
  update("a", [20], () => "same");
  await until(() => w.checks.length > 0);
  await w.stop();
  expect(await state.getFeedPosition(ds.name, "a")).toBeDefined();
}

describe("watch retry set", () => {
  it("a key whose repair a run that died a moment ago holds is repaired by a re-check once that run is stale", async () => {
    const { ds, state, replicas } = await open(config());
    await primeFeed(ds, state, replicas);
    update("a", [1], (id) => `changed ${id}`);
    // The dead run's heartbeat and claim carry the time stamped before its state writes, which can take a
    // while on a loaded machine: its staleness counts from that stamp, not from when the helper returned.
    const {
      ids: [held],
      at: claimedAt,
    } = await claimAsDeadRun(ds, state, replicas, "run-dead", [1]);
    // Stale after 5 s: the watch must start and make its first check while the claim is still live, which a
    // loaded machine may not manage within 1.5 s.
    const staleRunMs = 5000;
    const w = watch(ds, state, replicas, { staleRunMs });
    try {
      await until(() => w.checks.length > 0);
      // The feed's check finds the repair held by the dead run: superseded, and the key held for a re-check.
      const first = w.checks[0]!;
      expect(first.result.totals.repairs).toEqual({ superseded: 1 });
      expect(first.retrying).toBe(1);
      expect(rowsOf("b", [1])).toEqual([{ id: 1, name: "item 1", version: 2 }]);
      // Re-checks back off until the dead run is stale; the one after that settles its claim and repairs.
      await until(() => w.rechecks.some((r) => r.settled.length > 0));
      const settling = w.rechecks.find((r) => r.settled.length > 0)!;
      expect(settling.settled).toEqual([["1"]]);
      expect(settling.result?.totals.repairs).toEqual({ applied: 1 });
      expect(settling.result?.recovered.map((r) => [r.id, r.outcome])).toEqual([[held, "failed"]]);
      expect(settling.retrying).toBe(0);
      // Every re-check before it found the claim held; none came before the first back-off.
      const before = w.rechecks.slice(0, w.rechecks.indexOf(settling));
      expect(before.length).toBeGreaterThan(0);
      for (const r of before) expect(r.result?.totals.repairs).toEqual({ superseded: 1 });
      expect(Date.now() - claimedAt).toBeGreaterThanOrEqual(staleRunMs);
      expect(rowsOf("b", [1])).toEqual(rowsOf("a", [1]));
      // The audit: the dead run's claim settled as not landed, then the repair applied by a re-check's run.
      const audit = await state.readAudit({ key: keyId(["1"]) });
      const failed = audit.find(
        (e) => e.type === "failed" && (e.data as { repair?: string }).repair === held,
      );
      expect(failed?.data).toMatchObject({ recovered: true, interruptedRun: "run-dead" });
      const applied = audit.filter((e) => e.type === "applied");
      expect(applied.map((e) => e.runId)).toEqual([settling.result!.runId]);
      const [run] = await state.getRun(settling.result!.runId);
      expect(run?.command).toBe("watch retry");
    } finally {
      await w.stop();
    }
  });

  it("a key whose conditional write was rejected (its target changed since it was read) is checked again and repaired", async () => {
    const { ds, state, replicas } = await open(config());
    // Another writer changes b's row 1 between the check's read and its write, once.
    const b = replicas.find((r) => r.name === "b")!.connector;
    const applyWrites = b.applyWrites.bind(b);
    let interfered = false;
    b.applyWrites = async (shape, writes) => {
      if (!interfered) {
        interfered = true;
        update("b", [1], () => "written meanwhile", 0);
      }
      return applyWrites(shape, writes);
    };
    const w = watch(ds, state, replicas);
    try {
      await until(w.started);
      update("a", [1], (id) => `changed ${id}`);
      await until(() => w.checks.length > 0);
      expect(w.checks[0]!.result.totals.repairs).toEqual({ superseded: 1 });
      expect(w.checks[0]!.retrying).toBe(1);
      expect(rowsOf("b", [1])).toEqual([{ id: 1, name: "written meanwhile", version: 2 }]);
      await until(() => w.rechecks.length > 0);
      const [again] = w.rechecks;
      expect(again!.settled).toEqual([["1"]]);
      expect(again!.result?.totals.repairs).toEqual({ applied: 1 });
      expect(again!.retrying).toBe(0);
      expect(rowsOf("b", [1])).toEqual([{ id: 1, name: "changed 1", version: 3 }]);
    } finally {
      await w.stop();
    }
  });

  it("holds at most watch.retryKeys keys; the rest is left to the next pass with its segments marked dirty", async () => {
    const { ds, state, replicas } = await open(config(2));
    // A verified whole pass makes the dataset's segment summary, so changed keys mark segments dirty.
    const pass = await runPlannedPass(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "pass-1",
        command: "serve repair",
        mode: "repair",
      },
    );
    expect(pass.run.status).toBe("ok");
    await primeFeed(ds, state, replicas);
    await state.clearDirtySegments(ds.name, [0], Date.now());
    expect(await state.listDirtySegments(ds.name)).toEqual([]);
    update("a", [1, 2, 3, 4], (id) => `changed ${id}`);
    await claimAsDeadRun(ds, state, replicas, "run-dead", [1, 2, 3, 4]);
    // The dead run stays live for a minute: every re-check finds its claims held.
    const w = watch(ds, state, replicas);
    try {
      await until(() => w.checks.length > 0);
      expect(w.checks[0]!.keys).toBe(4);
      expect(w.checks[0]!.result.totals.repairs).toEqual({ superseded: 4 });
      expect(w.checks[0]!.retrying).toBe(2);
      // Twice two left over: when the watch started (it holds the claims left pending, as after a restart)
      // and after the check.
      expect(w.overflows).toEqual([
        { full: 2, exhausted: 0, bound: 2, attempts: 10 },
        { full: 2, exhausted: 0, bound: 2, attempts: 10 },
      ]);
      expect((await state.listDirtySegments(ds.name)).map((d) => d.segment)).toEqual([0]);
      // The two it holds are checked again (and held again: the claims are still live).
      await until(() => w.rechecks.length > 0);
      expect(w.rechecks[0]!.checked).toHaveLength(2);
      expect(w.rechecks[0]!.settled).toEqual([]);
      expect(w.rechecks[0]!.retrying).toBe(2);
    } finally {
      await w.stop();
    }
  });
});
