/**
 * A segment whose rows mostly differ is done in pieces of a bounded number of divergences: no scan, plan,
 * record or repair step holds more than the budget, and what the run finds and repairs is what the unbounded
 * run (the whole segment at once) finds and repairs. Real SQLite replicas and state store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, expect, it } from "vitest";
import type { ConcordConfig } from "../../src/config/load-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { keyId } from "../../src/core/model.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { type RunDatasetOptions, runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StageWrites, StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas, staleOnB } from "../support/sqlite-items.js";

const ROWS = 24_000;
/** Every row but each sixth is stale on b: 20,000 divergences. */
const STALE = Array.from({ length: ROWS }, (_, i) => i + 1).filter((id) => id % 6 !== 0);
const BUDGET = 2000;

let dirs: string[] = [];
beforeEach(() => {
  dirs = [];
});
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fresh(): string {
  const dir = mkdtempSync(join(tmpdir(), "concord-dense-"));
  dirs.push(dir);
  makeItemsReplicas(dir, { rows: ROWS, stale: STALE });
  return dir;
}

/** The state store with the largest list each write method was given, by method. */
function measured(state: StateStore): { state: StateStore; largest: Map<string, number> } {
  const largest = new Map<string, number>();
  const methods = ["recordDivergences", "appendAudit", "claimRepairs", "settleRepairs", "rememberVersions"];
  const wrapped = new Proxy(state, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      const note = (method: string, n: number) => largest.set(method, Math.max(largest.get(method) ?? 0, n));
      return (...args: unknown[]) => {
        const list = prop === "rememberVersions" ? args[1] : args[0];
        if (Array.isArray(list) && methods.includes(String(prop))) note(String(prop), list.length);
        // A stage's parts count as the calls they stand for.
        if (prop === "recordStage") {
          const stage = args[0] as StageWrites;
          if (stage.divergences) note("recordDivergences", stage.divergences.length);
          if (stage.audit) note("appendAudit", stage.audit.length);
          for (const v of stage.versions ?? []) note("rememberVersions", v.observed.length);
        }
        return v.apply(target, args);
      };
    },
  });
  return { state: wrapped, largest };
}

interface Seen {
  pieces: number;
  most: { divergences: number; decisions: number; tasks: number; results: number };
  divergences: string[];
  applied: string[];
  reports: { from: number; to: number; part?: { index: number; last: boolean } | undefined }[];
}

async function run(
  cfg: ConcordConfig,
  options: Partial<RunDatasetOptions> & Pick<RunDatasetOptions, "runId" | "mode">,
  onPiece?: (seen: Seen) => void,
) {
  const ds = cfg.datasets[0]!;
  const raw = await openStateStore(cfg.state);
  const { state, largest } = measured(raw);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  const seen: Seen = {
    pieces: 0,
    most: { divergences: 0, decisions: 0, tasks: 0, results: 0 },
    divergences: [],
    applied: [],
    reports: [],
  };
  try {
    const result = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        command: options.mode,
        ...options,
        observer: {
          onSegment({ scan, plan, tasks, results }) {
            seen.pieces++;
            seen.most.divergences = Math.max(seen.most.divergences, scan.divergences.length);
            seen.most.decisions = Math.max(seen.most.decisions, plan?.decisions.length ?? 0);
            seen.most.tasks = Math.max(seen.most.tasks, tasks.length);
            seen.most.results = Math.max(seen.most.results, results.length);
            for (const d of scan.divergences) seen.divergences.push(`${keyId(d.key)} ${d.class}`);
            for (const r of results) if (r.outcome === "applied") seen.applied.push(keyId(r.key));
          },
          onSegmentDone(report) {
            seen.reports.push({ from: report.from, to: report.to, part: report.part });
            onPiece?.(seen);
          },
        },
      },
    );
    const drill = await raw.listSegments(result.runId);
    return { result, seen, largest, drill };
  } finally {
    for (const r of replicas) await r.connector.close();
    await raw.close();
  }
}

function rowsOfB(dir: string): unknown[] {
  const db = new Database(join(dir, "b.db"), { readonly: true });
  try {
    return db.prepare("SELECT * FROM items ORDER BY id").all();
  } finally {
    db.close();
  }
}

const POLICY = "owner: a, resolve: highest-version";

it("a scan of 20,000 divergences in one segment holds at most the budget and finds what the whole scan finds", async () => {
  const dir = fresh();
  const cfg = itemsConfig(dir, { policy: POLICY });
  const bounded = await run(cfg, { runId: "dense-scan-1", mode: "scan", pieceDivergences: BUDGET });
  const whole = await run(cfg, {
    runId: "dense-scan-2",
    mode: "scan",
    pieceDivergences: Number.POSITIVE_INFINITY,
  });

  expect(whole.result.segments).toBe(1);
  expect(whole.seen.pieces).toBe(1);
  expect(whole.seen.most.divergences).toBe(20_000);
  expect(bounded.seen.pieces).toBeGreaterThanOrEqual(20_000 / BUDGET);
  expect(bounded.seen.most.divergences).toBeLessThanOrEqual(BUDGET);
  expect(bounded.largest.get("recordDivergences")).toBeLessThanOrEqual(BUDGET);
  // The same divergences, in key order either way.
  expect(bounded.seen.divergences).toEqual(whole.seen.divergences);
  expect(bounded.result.totals.counts).toEqual(whole.result.totals.counts);
  expect(bounded.result.totals.remaining).toBe(whole.result.totals.remaining);
  expect(bounded.result.totals.replicas).toEqual(whole.result.totals.replicas);
  // The pieces report one group; only the last completes it, and the drill-down keeps one record adding up.
  expect(bounded.seen.reports.every((r) => r.from === 0 && r.to === 1)).toBe(true);
  expect(bounded.seen.reports.filter((r) => !r.part || r.part.last)).toHaveLength(1);
  expect(bounded.drill).toHaveLength(1);
  expect(bounded.drill[0]!.counts).toEqual(whole.drill[0]!.counts);
  expect(bounded.drill[0]!.rows).toEqual(whole.drill[0]!.rows);
});

it("a repair over dense segments holds at most the budget per step and repairs what the unbounded run repairs", async () => {
  const one = fresh();
  const two = fresh();
  // Three segments of 8,000 rows, each with about 6,700 divergences: the first is cut once it lists more
  // than the budget, the next ones are cut before they are scanned.
  const extra = "    checkpointRows: 8000\n";
  const bounded = await run(itemsConfig(one, { policy: POLICY, extra }), {
    runId: "dense-repair-1",
    mode: "repair",
    checkpoint: true,
    pieceDivergences: 1000,
  });
  const whole = await run(itemsConfig(two, { policy: POLICY, extra }), {
    runId: "dense-repair-2",
    mode: "repair",
    checkpoint: true,
    pieceDivergences: Number.POSITIVE_INFINITY,
  });

  expect(whole.result.segments).toBe(3);
  expect(whole.seen.most.divergences).toBeGreaterThan(6000);
  for (const [what, n] of Object.entries(bounded.seen.most)) expect(n, what).toBeLessThanOrEqual(1000);
  expect(bounded.largest.get("recordDivergences")).toBeLessThanOrEqual(1000);
  expect(bounded.largest.get("claimRepairs")).toBeLessThanOrEqual(1000);
  expect(bounded.largest.get("settleRepairs")).toBeLessThanOrEqual(1000);
  expect(bounded.largest.get("rememberVersions")).toBeLessThanOrEqual(2 * 1000);
  // A detected and a decided entry per divergence, and the run's own.
  expect(bounded.largest.get("appendAudit")).toBeLessThanOrEqual(2 * 1000 + 1);

  expect(staleOnB(one)).toEqual([]);
  expect(rowsOfB(one)).toEqual(rowsOfB(two));
  expect(bounded.seen.divergences).toEqual(whole.seen.divergences);
  expect([...bounded.seen.applied].sort()).toEqual([...whole.seen.applied].sort());
  expect(new Set(bounded.seen.applied).size).toBe(STALE.length);
  expect(bounded.result.totals.repairs).toEqual({ applied: STALE.length });
  expect(bounded.result.totals.counts).toEqual(whole.result.totals.counts);
  expect(bounded.result.totals.remaining).toBe(0);
  expect(bounded.result.status).toBe("ok");
  // One drill-down record per segment, adding up to the run.
  expect(bounded.drill.map((s) => [s.from, s.to])).toEqual(whole.drill.map((s) => [s.from, s.to]));
  expect(bounded.drill.reduce((n, s) => n + (s.repairs.applied ?? 0), 0)).toBe(STALE.length);
  expect(bounded.drill.map((s) => s.counts)).toEqual(whole.drill.map((s) => s.counts));
});

it("a checkpointed repair stopped between pieces resumes without skipping or applying anything twice", async () => {
  const dir = fresh();
  const cfg = itemsConfig(dir, { policy: POLICY });
  const stop = new AbortController();
  const first = await run(
    cfg,
    {
      runId: "dense-resume",
      mode: "repair",
      checkpoint: true,
      pieceDivergences: BUDGET,
      signal: stop.signal,
    },
    (seen) => {
      if (seen.pieces === 3) stop.abort();
    },
  );
  expect(first.result.finished).toBe(false);
  expect(first.result.status).toBe("running");
  expect(first.seen.applied.length).toBeGreaterThan(0);
  expect(first.seen.applied.length).toBeLessThan(STALE.length);
  expect(staleOnB(dir).length).toBe(STALE.length - first.seen.applied.length);

  const second = await run(cfg, {
    runId: "dense-resume-other",
    mode: "repair",
    checkpoint: true,
    pieceDivergences: BUDGET,
  });
  // The same run, resumed: the segment is done again and finds only what the first pieces left.
  expect(second.result.runId).toBe("dense-resume");
  expect(second.result.status).toBe("ok");
  expect(staleOnB(dir)).toEqual([]);
  const applied = [...first.seen.applied, ...second.seen.applied];
  expect(new Set(applied).size).toBe(applied.length);
  expect(applied).toHaveLength(STALE.length);
  expect(second.seen.most.divergences).toBeLessThanOrEqual(BUDGET);
});

it("a policy whose limits the count of differing keys could trip keeps a dense group whole: the guard trips before anything of it is written", async () => {
  const dir = fresh();
  const policy = "owner: a, resolve: highest-version, limits: { maxRepairs: 5000 }";
  const limited = await run(itemsConfig(dir, { policy }), {
    runId: "dense-guard",
    mode: "repair",
    pieceDivergences: BUDGET,
  });
  expect(limited.seen.pieces).toBe(1);
  expect(limited.result.totals.guard?.writes).toBe(STALE.length);
  expect(limited.seen.applied).toHaveLength(0);
  expect(staleOnB(dir)).toHaveLength(STALE.length);
});

it("a policy whose limits the group's count of differing keys cannot trip does a dense group in pieces, deciding and repairing what the whole group would", async () => {
  const one = fresh();
  const two = fresh();
  const policy =
    "owner: a, resolve: highest-version, limits: { maxRepairs: 100000, maxDivergentFraction: 1 }";
  const bounded = await run(itemsConfig(one, { policy }), {
    runId: "dense-limited-1",
    mode: "repair",
    pieceDivergences: BUDGET,
  });
  const whole = await run(itemsConfig(two, { policy }), {
    runId: "dense-limited-2",
    mode: "repair",
    pieceDivergences: Number.POSITIVE_INFINITY,
  });
  expect(whole.seen.pieces).toBe(1);
  expect(bounded.seen.pieces).toBeGreaterThanOrEqual(20_000 / BUDGET);
  // At most a budget of divergences in flight, at every stage and in every store write.
  for (const [what, n] of Object.entries(bounded.seen.most)) expect(n, what).toBeLessThanOrEqual(BUDGET);
  expect(bounded.largest.get("recordDivergences")).toBeLessThanOrEqual(BUDGET);
  expect(bounded.largest.get("claimRepairs")).toBeLessThanOrEqual(BUDGET);
  expect(bounded.largest.get("settleRepairs")).toBeLessThanOrEqual(BUDGET);
  expect(bounded.largest.get("appendAudit")).toBeLessThanOrEqual(2 * BUDGET + 1);
  expect(bounded.result.totals.guard).toBeUndefined();
  expect(bounded.seen.divergences).toEqual(whole.seen.divergences);
  expect([...bounded.seen.applied].sort()).toEqual([...whole.seen.applied].sort());
  expect(bounded.result.totals).toEqual({ ...whole.result.totals, stats: bounded.result.totals.stats });
  expect(staleOnB(one)).toEqual([]);
  expect(rowsOfB(one)).toEqual(rowsOfB(two));
});

it("under declared limits a piece denser than its group is weighed as the group: no piece trips the guard alone", async () => {
  // The first half of the rows all stale, the second half none: the group diverges at 50%, its first pieces
  // at 100%. A limit of 60% holds for the group, so nothing is refused.
  const half = Array.from({ length: ROWS / 2 }, (_, i) => i + 1);
  const dirs2 = [0, 1].map(() => {
    const dir = mkdtempSync(join(tmpdir(), "concord-dense-"));
    dirs.push(dir);
    makeItemsReplicas(dir, { rows: ROWS, stale: half });
    return dir;
  });
  const policy = "owner: a, resolve: highest-version, limits: { maxDivergentFraction: 0.6 }";
  const bounded = await run(itemsConfig(dirs2[0]!, { policy }), {
    runId: "dense-share-1",
    mode: "repair",
    pieceDivergences: BUDGET,
  });
  const whole = await run(itemsConfig(dirs2[1]!, { policy }), {
    runId: "dense-share-2",
    mode: "repair",
    pieceDivergences: Number.POSITIVE_INFINITY,
  });
  expect(whole.result.totals.guard).toBeUndefined();
  expect(bounded.result.totals.guard).toBeUndefined();
  expect(bounded.seen.pieces).toBeGreaterThan(1);
  expect(bounded.seen.most.divergences).toBeLessThanOrEqual(BUDGET);
  expect(bounded.seen.applied).toHaveLength(half.length);
  expect(staleOnB(dirs2[0]!)).toEqual([]);

  // And at 40% the group is refused whole, as the unbounded run refuses it: nothing of it is written.
  const strict = "owner: a, resolve: highest-version, limits: { maxDivergentFraction: 0.4 }";
  const dir = mkdtempSync(join(tmpdir(), "concord-dense-"));
  dirs.push(dir);
  makeItemsReplicas(dir, { rows: ROWS, stale: half });
  const refused = await run(itemsConfig(dir, { policy: strict }), {
    runId: "dense-share-3",
    mode: "repair",
    pieceDivergences: BUDGET,
  });
  expect(refused.result.totals.guard?.divergent).toBe(half.length);
  expect(refused.result.totals.guard?.rows).toBe(ROWS);
  expect(refused.seen.applied).toHaveLength(0);
  expect(staleOnB(dir)).toHaveLength(half.length);
});
