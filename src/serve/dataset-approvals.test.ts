import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { itemsConfig } from "../../test/support/sqlite-items.js";
import type { DatasetConfig } from "../config/load-config.js";
import { SqliteStateStore } from "../state/sqlite/sqlite-state-store.js";
import { DatasetApprovals } from "./dataset-approvals.js";
import { ApprovalError } from "./policy-approval.js";

/** The items dataset with `policy` (a flow mapping body) and two approvers for a reloaded policy. */
function items(policy: string): DatasetConfig {
  return itemsConfig("/tmp", { policy, extra: "    policyApprovals: 2\n" }).datasets[0]!;
}

const LIVE = items("owner: a, resolve: owner");
const RELOADED = items("resolve: highest-version");

let state: SqliteStateStore;
beforeEach(() => {
  state = SqliteStateStore.open(":memory:");
});
afterEach(() => state.close());

/** Approvals over the store, with what they logged, adopted and audited. */
function approvalsOf() {
  const adopted: { actor: string; promoted: boolean }[] = [];
  const approvals = new DatasetApprovals({
    dataset: "items",
    state,
    now: () => 1000,
    log: () => {},
    configFile: "concord.yaml",
    adopted: (change) => adopted.push(change),
  });
  return { approvals, adopted };
}

async function audited(): Promise<{ type: string; data: unknown }[]> {
  return (await state.readAudit()).map((e) => ({ type: e.type, data: e.data }));
}

describe("DatasetApprovals", () => {
  it("holds a reloaded policy for its approvers: the running one stays live until the second approves", async () => {
    const { approvals, adopted } = approvalsOf();
    await approvals.policyChanged(RELOADED, LIVE, "ops");
    expect(approvals.effective(RELOADED).policy).toEqual(LIVE.policy);
    expect(approvals.view()).toMatchObject({ kind: "reload", requestedBy: "ops", approvalsNeeded: 2 });

    await approvals.approvePolicy("lead-1");
    await expect(approvals.approvePolicy("lead-1")).rejects.toBeInstanceOf(ApprovalError);
    expect(adopted).toEqual([]);
    await approvals.approvePolicy("lead-2");
    expect(adopted).toEqual([{ actor: "ops (approved by lead-1, lead-2)", promoted: false }]);
    expect(approvals.effective(RELOADED)).toBe(RELOADED);
    expect(approvals.view()).toBeUndefined();
    expect((await audited()).map((e) => e.type)).toEqual([
      "policy-approval-requested",
      "policy-approval",
      "policy-approval",
      "policy-approved",
    ]);
    expect(await state.getRollout("items", "approval")).toBeUndefined();
  });

  it("a restart reads what waits; back to the running policy, the wait is dropped", async () => {
    await approvalsOf().approvals.policyChanged(RELOADED, LIVE, "ops");
    const { approvals } = approvalsOf();
    await approvals.restore(RELOADED);
    expect(approvals.view()).toMatchObject({ kind: "reload", approvals: [] });
    expect(approvals.effective(RELOADED).policy).toEqual(LIVE.policy);
    // The file is back at the running policy: nothing waits any more.
    await approvals.policyChanged(LIVE, LIVE, "ops");
    expect(approvals.view()).toBeUndefined();
    expect(await state.getRollout("items", "approval")).toBeUndefined();
    // And a restart under another policy forgets what the store kept.
    await approvalsOf().approvals.policyChanged(RELOADED, LIVE, "ops");
    const again = approvalsOf().approvals;
    await again.restore(items("resolve: owner, owner: b"));
    expect(again.view()).toBeUndefined();
    expect(await state.getRollout("items", "approval")).toBeUndefined();
  });

  it("no approvers required: a reloaded policy is live at once", async () => {
    const { approvals } = approvalsOf();
    const free = { ...RELOADED, policyApprovals: 0 };
    await approvals.policyChanged(free, LIVE, "ops");
    expect(approvals.view()).toBeUndefined();
    expect(approvals.effective(free)).toBe(free);
    await expect(approvals.approvePolicy("lead-1")).rejects.toThrow(
      "dataset items has no reloaded policy waiting for approval",
    );
  });

  it("refuses to promote without a shadow candidate", async () => {
    await expect(approvalsOf().approvals.promote(LIVE, "lead-1")).rejects.toThrow(
      "dataset items has no shadow candidate to promote",
    );
  });
});
