/**
 * A focused pass through the one run pipeline on real SQLite replicas: segments are visited in the focus
 * order (every one at least once), and a checkpointed pass that stops resumes the order it started with. A
 * watched dataset's whole pass is focused; its dirty-segment pass (only the segments its feeds marked) is not.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, expect, it } from "vitest";
import { openConnector } from "../../src/connectors/open-connector.js";
import { runPlannedPass } from "../../src/engine/dirty-segment-pass.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

let dir: string;
const cleanup: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-focus-"));
  makeItemsReplicas(dir, { rows: 100, stale: [60] });
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

it("visits segments in the focus order, resuming a stopped pass in the order it started with", async () => {
  const cfg = itemsConfig(dir, { extra: "    checkpointRows: 25\n" });
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  cleanup.push(async () => {
    for (const r of replicas) await r.connector.close();
    await state.close();
  });
  let t = 1_000;
  const visited: number[] = [];
  const stop = new AbortController();
  const first = await runDataset(
    ds,
    replicas,
    { state, now: () => t++ },
    {
      runId: "focus-1",
      command: "serve scan",
      mode: "scan",
      checkpoint: true,
      focus: (n) => (n === 4 ? [2, 9, 2, 2] : []),
      observer: {
        onSegment: ({ from, visit }) => {
          visited.push(from);
          expect(visit?.of).toBe(6);
          if (visit?.at === 3) stop.abort();
        },
      },
      signal: stop.signal,
    },
  );
  expect(first).toMatchObject({ finished: false, status: "running", segmentsDone: 3, segments: 6 });
  // Resumed with another focus function: the pass keeps the order it was started with.
  const second = await runDataset(
    ds,
    replicas,
    { state, now: () => t++ },
    {
      runId: "focus-2",
      command: "serve scan",
      mode: "scan",
      checkpoint: true,
      focus: () => [0, 0, 0],
      observer: { onSegment: ({ from }) => void visited.push(from) },
    },
  );
  expect(second).toMatchObject({ runId: "focus-1", finished: true, segments: 6, segmentsDone: 6 });
  expect(visited).toEqual([2, 2, 2, 0, 1, 3]);
  // The stale key in segment 3 (ids 51–75) was found on each of its three visits.
  expect(second.totals.counts.stale).toBe(3);
  expect(await state.getCheckpoint(ds.name)).toBeUndefined();
});

it("re-plans the rest of a pass after each visit (refocus), and a stopped pass resumes the order as re-planned", async () => {
  const cfg = itemsConfig(dir, { extra: "    checkpointRows: 25\n" });
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  cleanup.push(async () => {
    for (const r of replicas) await r.connector.close();
    await state.close();
  });
  let t = 1_000;
  const visited: number[] = [];
  const asked: number[][] = [];
  const stop = new AbortController();
  const first = await runDataset(
    ds,
    replicas,
    { state, now: () => t++ },
    {
      runId: "refocus-1",
      command: "serve scan",
      mode: "scan",
      checkpoint: true,
      focus: () => [0, 1, 2, 3],
      // After the stale key's segment (2) is visited, the rest becomes [2, 2] (and 3, never visited, appended);
      // out-of-range indexes are dropped; undefined keeps the rest as planned.
      refocus: (made) => {
        asked.push([...made]);
        return made.length === 3 ? [2, 7, 2] : undefined;
      },
      observer: {
        onSegment: ({ from, visit }) => {
          visited.push(from);
          if (visit?.at === 4) {
            expect(visit.of).toBe(6);
            stop.abort();
          }
        },
      },
      signal: stop.signal,
    },
  );
  expect(first).toMatchObject({ finished: false, segmentsDone: 4, segments: 6 });
  // Not asked after the visit the pass stopped at.
  expect(asked).toEqual([[0], [0, 1], [0, 1, 2]]);
  // Resumed: the re-planned order is what the checkpoint kept.
  const second = await runDataset(
    ds,
    replicas,
    { state, now: () => t++ },
    {
      runId: "refocus-2",
      command: "serve scan",
      mode: "scan",
      checkpoint: true,
      focus: () => [0, 1, 2, 3],
      observer: { onSegment: ({ from }) => void visited.push(from) },
    },
  );
  expect(second).toMatchObject({ runId: "refocus-1", finished: true, segments: 6, segmentsDone: 6 });
  expect(visited).toEqual([0, 1, 2, 2, 2, 3]);
  expect(second.totals.counts.stale).toBe(3);
});

it("focuses a watched dataset's whole pass, not its dirty-segment pass", async () => {
  const cfg = itemsConfig(dir, {
    extra:
      "    checkpointRows: 25\n    watch: { replicas: [a], incremental: true, segmentRows: 25, sweepSegments: 0 }\n",
    policy: "owner: a, resolve: owner",
  });
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  cleanup.push(async () => {
    for (const r of replicas) await r.connector.close();
    await state.close();
  });
  let t = 1_000;
  const deps = { state, now: () => t++ };
  let asked = 0;
  const pass = (runId: string, visited: number[]) =>
    runPlannedPass(ds, replicas, deps, {
      runId,
      command: "serve repair",
      mode: "repair",
      checkpoint: true,
      focus: () => {
        asked++;
        return [3, 3, 0];
      },
      observer: { onSegment: ({ from }) => void visited.push(from) },
    });
  const whole: number[] = [];
  const first = await pass("whole-1", whole);
  expect(first.plan.kind).toBe("whole");
  expect(first.run.status).toBe("ok");
  expect(asked).toBe(1);
  expect(whole).toEqual([3, 3, 0, 1, 2]);
  // The feed vouches for every change and marked segment 2 dirty (a changed a row in it): the next pass reads
  // it alone, unfocused.
  const { bounds } = (await state.getSegmentSummary(ds.name))!;
  const a = new Database(join(dir, "a.db"));
  a.prepare("UPDATE items SET name = 'changed', version = 3 WHERE id = ?").run(Number(bounds[1]![0]));
  a.close();
  await state.putFeedPosition({ dataset: ds.name, replica: "a", position: "1", updatedAt: t });
  await state.markSegmentsDirty(ds.name, [2], t);
  const dirty: number[] = [];
  const second = await pass("dirty-1", dirty);
  expect(second.plan).toMatchObject({ kind: "dirty", segments: [2] });
  expect(second.run).toMatchObject({ status: "ok", segments: 1 });
  expect(dirty).toEqual([0]);
  expect(asked).toBe(1);
});
