/**
 * Which pending repairs a run may settle, and which process runs a pass: a live run's claims are left to
 * it, a dead one's are settled (at once when its process on this host is gone), and one serve process at a
 * time runs a dataset's pass.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConcordConfig } from "../../src/config/load-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { keyId } from "../../src/core/model.js";
import { describeDataset } from "../../src/engine/describe-dataset.js";
import { recoverPending } from "../../src/engine/recover-pending.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import {
  acquirePass,
  keepLease,
  LeaseLostError,
  PassOwnedError,
  processOwner,
  runLease,
} from "../../src/engine/run-liveness.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

let dir: string;
const cleanup: (() => Promise<void>)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-live-"));
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function setup(): { cfg: ConcordConfig } {
  makeItemsReplicas(dir, { rows: 20, stale: [1, 2, 3, 4, 5] });
  return { cfg: itemsConfig(dir) };
}

async function open(cfg: ConcordConfig): Promise<{ state: StateStore; replicas: OpenReplica[] }> {
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  cleanup.push(async () => {
    for (const r of replicas) await r.connector.close();
    await state.close();
  });
  return { state, replicas };
}

/** A pid that no process holds any more: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "console.log(process.pid)"], {
    encoding: "utf8",
  }).stdout.trim() as unknown as number;
}

/** Leaves run `run` with a pending claim on key 1 of b (the write not made), owned by `owner`. */
async function pendingClaim(
  state: StateStore,
  run: string,
  owner: string,
  at: number,
  nextFingerprint = "0000000000000000",
): Promise<string> {
  await state.beginRun({ id: run, dataset: "items", command: "repair", startedAt: at });
  await state.acquireLease(runLease(run), owner, at, 60_000);
  const claimed = await state.claimRepairs([
    {
      id: `rep-${run}`,
      runId: run,
      dataset: "items",
      key: ["1"],
      target: "b",
      expected: null,
      nextFingerprint,
      before: null,
      after: ["item 1", "2"],
      outcome: "pending",
      attempts: 0,
      updatedAt: at,
    },
  ]);
  expect(claimed.get(`rep-${run}`)?.kind).toBe("claimed");
  return `rep-${run}`;
}

describe("run liveness", () => {
  it("a live run's pending repair is left to it; a dead local process's is settled at once", async () => {
    const { cfg } = setup();
    const { state, replicas } = await open(cfg);
    const now = Date.now();
    const { shape: recordShape } = await describeDataset(cfg.datasets[0]!, replicas);
    const live = await pendingClaim(state, "run-live", processOwner(), now);
    const dead = await pendingClaim(state, "run-dead", `${hostname()}:${deadPid()}:x`, now);
    const ctx = { runId: "run-now", state, now: () => now + 1000 };
    const { settled } = await recoverPending("items", replicas, recordShape, ctx);
    expect(settled.map((r) => r.id)).toEqual([dead]);
    expect(settled[0]?.outcome).toBe("failed");
    const ledger = await state.getRepairs([
      { id: live, key: ["1"] },
      { id: dead, key: ["1"] },
    ]);
    expect(ledger.get(live)?.outcome).toBe("pending");
    expect(ledger.get(dead)?.outcome).toBe("failed");
    // Once the live run's heartbeat is a minute old it is taken for dead too.
    const { settled: later } = await recoverPending("items", replicas, recordShape, {
      ...ctx,
      now: () => now + 61_000,
    });
    expect(later.map((r) => r.id)).toEqual([live]);
    expect(keyId(later[0]!.key)).toBe(keyId(["1"]));
  });

  it("a recovered repair adds evidence as a fresh one does, from its interrupted run's detected entry", async () => {
    const { cfg } = setup();
    const { state, replicas } = await open(cfg);
    const now = Date.now();
    const { shape: recordShape } = await describeDataset(cfg.datasets[0]!, replicas);
    const b = replicas.find((r) => r.name === "b")!;
    const [held] = await b.connector.fetchRecords(recordShape, [["1"]]);
    // The dead run decided key 1 (stale on b) and its write landed before it died: b holds what it wrote.
    const owner = `${hostname()}:${deadPid()}:x`;
    const dead = await pendingClaim(state, "run-dead", owner, now - 5000, held!.fingerprint);
    await state.appendAudit([
      {
        ts: now - 4000,
        runId: "run-dead",
        type: "detected",
        dataset: "items",
        key: keyId(["1"]),
        data: { class: "stale", columns: ["name"] },
      },
    ]);
    const { settled } = await recoverPending("items", replicas, recordShape, {
      runId: "run-now",
      state,
      now: () => now,
    });
    expect(settled.map((r) => [r.id, r.outcome])).toEqual([[dead, "applied"]]);
    const targets = await state.evidenceTotals({ dataset: "items", by: ["replica"], column: "" });
    expect(targets.find((t) => t.replica === "b")).toMatchObject({ repaired: 1, failed: 0 });
    const byColumn = await state.evidenceTotals({ dataset: "items", by: ["class", "column"], replica: "" });
    expect(byColumn.map((t) => [t.class, t.column, t.repaired, t.converged, t.convergedMs])).toEqual([
      ["stale", "", 1, 1, 4000],
      ["stale", "name", 1, 1, 4000],
    ]);
  });

  it("one process at a time runs a dataset's pass: the other is told who holds it", async () => {
    const { cfg } = setup();
    const { state, replicas } = await open(cfg);
    await acquirePass(state, "items", "host-a:1:aa", Date.now());
    await expect(
      runDataset(
        cfg.datasets[0]!,
        replicas,
        { state, now: Date.now },
        {
          runId: "run-b",
          command: "serve repair",
          mode: "repair",
          checkpoint: true,
          owner: "host-b:2:bb",
        },
      ),
    ).rejects.toThrow(PassOwnedError);
    await expect(acquirePass(state, "items", "host-b:2:bb", Date.now())).rejects.toThrow(/host-a:1:aa/);
    // Nothing of b's run was recorded, and a's pass is still its own.
    expect(await state.listRuns({ dataset: "items" })).toEqual([]);
    expect((await state.getLease("pass:items"))?.owner).toBe("host-a:1:aa");
    // When a releases it, b runs the pass and releases it in turn.
    await state.releaseLease("pass:items", "host-a:1:aa");
    const run = await runDataset(
      cfg.datasets[0]!,
      replicas,
      { state, now: Date.now },
      {
        runId: "run-b",
        command: "serve repair",
        mode: "repair",
        checkpoint: true,
        owner: "host-b:2:bb",
      },
    );
    expect(run.totals.repairs).toEqual({ applied: 5 });
    expect(await state.getLease("pass:items")).toBeUndefined();
  });

  it("keepLease renews a lease alone, and reports its loss once another process took it", async () => {
    const { cfg } = setup();
    const { state } = await open(cfg);
    const start = Date.now();
    let clock = start;
    const now = () => clock;
    await acquirePass(state, "items", "host-a:1:aa", now(), 1000);
    const kept = keepLease({
      state,
      now,
      name: "pass:items",
      owner: "host-a:1:aa",
      ttlMs: 1000,
      everyMs: 20,
    });
    try {
      // Renewed on its timer: past its first TTL the lease is still a's, and b cannot take it.
      // Waits for that renewal itself: on a loaded machine a fixed wait can end before its write has landed.
      clock = start + 900;
      await until(
        "a renewal at +900 ms",
        async () => (await state.getLease("pass:items"))!.expiresAt === start + 1900,
      );
      clock = start + 1500;
      expect(await state.acquireLease("pass:items", "host-b:2:bb", now(), 1000)).toBe(false);
      expect(await kept.renew()).toBe(true);
      expect(kept.signal.aborted).toBe(false);
      // a was silent past its TTL (b's clock is seconds ahead): b takes the lease; a's next renewal finds it b's.
      expect(await state.acquireLease("pass:items", "host-b:2:bb", start + 5000, 60_000)).toBe(true);
      await until("a's timer to find the lease b's", () => kept.signal.aborted);
      expect(kept.signal.reason).toBeInstanceOf(LeaseLostError);
      expect((kept.signal.reason as Error).message).toBe("lease pass:items was taken by host-b:2:bb");
      expect(await kept.renew()).toBe(false);
      expect((await state.getLease("pass:items"))?.owner).toBe("host-b:2:bb");
    } finally {
      await kept.stop();
    }
  });
});

/** Polls `condition` every 20 ms until it holds, failing after `ms` (generous: the machine may be loaded). */
async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
