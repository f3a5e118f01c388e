import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { itemsConfig } from "../../test/support/sqlite-items.js";
import type { CandidateConfig } from "../config/load-config.js";
import { SqliteStateStore } from "../state/sqlite/sqlite-state-store.js";
import { CanaryError } from "./canary-rollout.js";
import { DatasetCanary } from "./dataset-canary.js";

const POLICY = itemsConfig("/tmp").datasets[0]!.policy;

function candidate(over: Partial<CandidateConfig> = {}): CandidateConfig {
  return {
    file: "/tmp/candidate.yaml",
    mode: "canary",
    steps: [0.25, 1],
    passes: 1,
    approvals: 1,
    margin: 0.05,
    policy: POLICY,
    ...over,
  };
}

const fared = (liveBad: number, candidateBad: number) => ({
  live: { decided: 10, bad: liveBad },
  candidate: { decided: 10, bad: candidateBad },
});

let state: SqliteStateStore;
beforeEach(() => {
  state = SqliteStateStore.open(":memory:");
});
afterEach(() => state.close());

/** The canary of `c` (the dataset's candidate now), with its log lines. */
function canaryOf(c: CandidateConfig | undefined) {
  const logged: string[] = [];
  let current = c;
  const canary = new DatasetCanary({
    dataset: "items",
    state,
    now: () => 1000,
    log: (line) => logged.push(line),
    candidate: () => current,
  });
  return { canary, logged, replace: (next: CandidateConfig | undefined) => (current = next) };
}

describe("DatasetCanary", () => {
  it("a good pass awaits approval; the approval steps on, audited; a restart resumes where it stood", async () => {
    const c = candidate();
    const { canary, logged } = canaryOf(c);
    const pass = await canary.pass(c);
    expect(pass.fraction).toBe(0.25);
    await pass.started("v1", "run-1");
    await pass.segmentDone(fared(1, 1));
    await pass.finished("run-1");
    expect((await canary.load(c)).view()).toMatchObject({ status: "awaiting-approval", goodPasses: 1 });

    expect(await canary.approve(c, "lead")).toMatchObject({ status: "running", fraction: 1 });
    expect(logged).toEqual(["items: canary promoted from 0.25 to 1 by lead"]);
    expect((await state.readAudit()).map((e) => e.type)).toEqual(["canary-step"]);

    const restarted = canaryOf(c).canary;
    expect((await restarted.load(c)).view()).toMatchObject({ step: 1, fraction: 1 });
  });

  it("rolls back past the margin (audited under the pass's run, logged as an alert) and says so", async () => {
    const c = candidate();
    const { canary, logged } = canaryOf(c);
    const pass = await canary.pass(c);
    await pass.started("v1", "run-1");
    await pass.segmentDone(fared(0, 5));
    await pass.finished("run-1");
    expect(canary.rolledBack()).toBe(true);
    expect(logged[0]).toMatch(/^ALERT items: canary rolled back: the candidate's keys fared worse/);
    expect((await state.readAudit()).map((e) => [e.type, e.runId])).toEqual([
      ["canary-rolled-back", "run-1"],
    ]);
    expect((await canary.pass(c)).fraction).toBe(0);
  });

  it("a pass that did not apply the candidate (no version) counts nothing", async () => {
    const c = candidate();
    const { canary } = canaryOf(c);
    const pass = await canary.pass(c);
    await pass.started(undefined, "run-1");
    await pass.segmentDone(fared(0, 5));
    await pass.finished("run-1");
    expect((await canary.load(c)).view()).toMatchObject({ status: "running", goodPasses: 0, last: null });
    expect(await state.readAudit()).toEqual([]);
  });

  it("a changed candidate starts afresh, its stored progress dropped", async () => {
    const c = candidate();
    const { canary, replace } = canaryOf(c);
    const pass = await canary.pass(c);
    await pass.started("v1", "run-1");
    await pass.finished("run-1");
    expect(await state.getRollout("items", "canary")).toBeDefined();
    const next = candidate({ margin: 0.1 });
    replace(next);
    canary.reset(next);
    expect((await canary.load(next)).view()).toMatchObject({ status: "running", goodPasses: 0 });
    replace(undefined);
    canary.reset(undefined);
    await expect(canary.approve(undefined, "lead")).rejects.toBeInstanceOf(CanaryError);
    expect(await state.getRollout("items", "canary")).toBeUndefined();
  });
});
