/**
 * Candidates in a coordinator's passes: the segments run as jobs on a worker (the real SegmentWorkerHost,
 * handed jobs in-process instead of through Redis), and a shadow candidate is still decided beside the live
 * policy and recorded, a canary still decides exactly its fraction of keys, as in a single-process pass. The
 * worker's own config has no candidate: the job carries the coordinator's.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type ConcordConfig, loadConfig } from "../../src/config/load-config.js";
import { inCanary } from "../../src/core/canary.js";
import { SegmentWorkerHost } from "../../src/serve/segment-worker-host.js";
import { ACCOUNTS, type ServeFixture, startFixture } from "./http-fixture.js";
import { InlineQueue } from "./inline-queue.js";

let fx: ServeFixture | undefined;
let host: SegmentWorkerHost | undefined;

afterEach(async () => {
  await fx?.close();
  await host?.close();
  fx = undefined;
  host = undefined;
});

/**
 * A coordinator over the fixture's accounts (segments of 50 rows: six jobs), a worker over the config as
 * it was before the candidate, and the candidate block written into the coordinator's config and reloaded.
 */
async function coordinatorAndWorker(candidateFile: string, block: string): Promise<InlineQueue> {
  const queue = new InlineQueue();
  fx = await startFixture({ datasets: ["accounts"], queue });
  const path = join(fx.dir, "concord.yaml");
  writeFileSync(
    path,
    readFileSync(path, "utf8").replace(
      "policy: { resolve: highest-version }",
      "policy: { resolve: highest-version }\n    checkpointRows: 50",
    ),
  );
  const workerConfig: ConcordConfig = loadConfig(path);
  host = new SegmentWorkerHost(workerConfig, {
    state: fx.service.state,
    now: Date.now,
    log: () => {},
    worker: "worker-1",
  });
  queue.host = host;
  writeFileSync(join(fx.dir, "candidate.yaml"), candidateFile);
  writeFileSync(
    path,
    readFileSync(path, "utf8").replace(
      "checkpointRows: 50",
      `checkpointRows: 50\n    candidate: { policy: candidate.yaml, ${block} }`,
    ),
  );
  await fx.service.api.reload("test");
  // A coordinator runs passes only while it leads: started, as a leader would be.
  await fx.service.start();
  expect(workerConfig.datasets[0]!.candidate).toBeUndefined();
  return queue;
}

async function repairPass(): Promise<void> {
  await fx!.service.api.trigger("accounts", "repair");
  await fx!.service.idle();
}

describe("candidates in a coordinator's passes", () => {
  it("a shadow candidate is decided on the worker and recorded by the coordinator", async () => {
    const queue = await coordinatorAndWorker("owner: a\nresolve: owner\n", "mode: shadow");
    await repairPass();
    expect(queue.ran.length).toBe(6);
    expect(queue.ran.every((j) => j.candidate?.shadow !== undefined)).toBe(true);
    const c = (await fx!.service.api.candidate("accounts")) as unknown as {
      passes: number;
      agree: number;
      disagree: number;
      wouldWrite: number;
      disagreements: {
        key: number[];
        class: string;
        live: { action: string };
        candidate: { action: string };
      }[];
      byRule: { candidate: string; count: number }[];
    };
    // The same figures as the single-process pass (test/serve/shadow.test.ts).
    expect([c.passes, c.agree, c.disagree, c.wouldWrite]).toEqual([
      1,
      ACCOUNTS.stale.length,
      ACCOUNTS.conflict.length + ACCOUNTS.missing.length,
      3,
    ]);
    expect(c.disagreements.map((d) => [d.key[0], d.class, d.live.action, d.candidate.action])).toEqual([
      [10, "conflict", "escalate", "propagate"],
      [11, "conflict", "escalate", "propagate"],
      [200, "missing", "escalate", "propagate"],
    ]);
    expect(c.byRule).toEqual([
      { live: "conflict: escalate", candidate: "resolve: owner", count: 2 },
      { live: "missing: no owner", candidate: "resolve: owner", count: 1 },
    ]);
    // Live decisions applied, the candidate's not.
    for (const id of ACCOUNTS.stale)
      expect(fx!.row("b", "accounts", id)).toEqual(fx!.row("a", "accounts", id));
    expect(fx!.row("b", "accounts", 200)).toBeNull();
    const shadows = (await fx!.service.state.readAudit({ limit: 1000 })).filter((e) => e.type === "shadow");
    expect(shadows).toHaveLength(1);
    expect(shadows[0]!.data).toMatchObject({ agree: 3, disagree: 3 });
  });

  it("a canary decides exactly its fraction of keys on the worker, and its pass counts for the rollout", async () => {
    const special = new Set<number>([...ACCOUNTS.stale, ...ACCOUNTS.conflict, ...ACCOUNTS.missing]);
    const queue = await coordinatorAndWorker(
      "owner: a\nresolve: owner\n",
      "mode: canary, steps: [0.25, 1], passes: 1, approvals: 1",
    );
    // Every other row conflicts too: live escalates it, the candidate copies a's record.
    fx!.sql("b", "UPDATE accounts SET name = name || ' (b)' WHERE version = 2");
    await repairPass();
    expect(queue.ran.length).toBe(6);
    expect(queue.ran.every((j) => j.candidate?.canary?.fraction === 0.25)).toBe(true);
    let inside = 0;
    for (let id = 1; id <= ACCOUNTS.rows; id++) {
      if (special.has(id)) continue;
      const same =
        JSON.stringify(fx!.row("a", "accounts", id)) === JSON.stringify(fx!.row("b", "accounts", id));
      expect(same, `key ${id}`).toBe(inCanary([String(id)], 0.25));
      if (same) inside++;
    }
    expect(inside).toBeGreaterThan(0);
    const view = (await fx!.service.api.candidate("accounts")) as unknown as {
      status: string;
      goodPasses: number;
      last: { live: { decided: number }; candidate: { decided: number } };
    };
    expect(view).toMatchObject({ status: "awaiting-approval", goodPasses: 1 });
    const specialsIn = [...special].filter((id) => inCanary([String(id)], 0.25)).length;
    expect(view.last.candidate.decided).toBe(inside + specialsIn);
    expect(view.last.live.decided + view.last.candidate.decided).toBe(ACCOUNTS.rows);
  });
});
