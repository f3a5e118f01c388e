/** PolicyRegistry cases: versions kept with their first use, the current one, one audited adoption per change. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { verifyAuditChainAsync } from "../../../src/core/audit-chain.js";
import type { PolicyVersion } from "../../../src/state/state-store.js";
import { range, type StateStoreCase } from "./state-store-case.js";

const policy = (version: string, over: Partial<PolicyVersion> = {}): PolicyVersion => ({
  dataset: "users",
  version,
  text: `policy:\n  resolve: lww\n# ${version}\n`,
  source: "/etc/concord.yaml",
  firstUsedAt: 1000,
  firstUsedBy: "cli:alice",
  firstRunId: `run-${version}`,
  ...over,
});

const changed = (v: PolicyVersion) => (previous: PolicyVersion | undefined) => [
  {
    ts: v.firstUsedAt,
    runId: v.firstRunId,
    type: "policy-changed" as const,
    dataset: v.dataset,
    key: null,
    data: { from: previous?.version ?? null, to: v.version },
  },
];

export function policyRegistryCases({ open }: StateStoreCase): void {
  describe("policy registry", () => {
    it("keeps every version with its first use, and audits each change once, chained", async () => {
      const store = await open();
      expect(await store.currentPolicy("users")).toBeUndefined();
      const v1 = policy("aaaa00000001");
      expect(await store.adoptPolicy(v1, changed(v1))).toEqual({ changed: true, previous: undefined });
      // The same version again: nothing written.
      const again = policy("aaaa00000001", { firstUsedAt: 2000, firstUsedBy: "serve", firstRunId: "run-x" });
      expect(await store.adoptPolicy(again, changed(again))).toEqual({ changed: false, previous: v1 });
      const v2 = policy("bbbb00000002", { firstUsedAt: 3000, firstUsedBy: "token:ops", source: "cand.yaml" });
      expect(await store.adoptPolicy(v2, changed(v2))).toEqual({ changed: true, previous: v1 });
      expect(await store.currentPolicy("users")).toEqual({ policy: v2, adoptedAt: 3000, previous: v1 });
      // Back to the first: a change again, and the version keeps its first use.
      const back = policy("aaaa00000001", { firstUsedAt: 4000, firstRunId: "run-back" });
      expect(await store.adoptPolicy(back, changed(back))).toEqual({ changed: true, previous: v2 });
      expect(await store.currentPolicy("users")).toEqual({ policy: v1, adoptedAt: 4000, previous: v2 });
      expect(await store.listPolicies("users")).toEqual([v1, v2]);
      expect(await store.getPolicy("users", "bbbb00000002")).toEqual(v2);
      expect(await store.getPolicy("users", "cccc")).toBeUndefined();
      expect(await store.getPolicy("orders", "aaaa00000001")).toBeUndefined();
      const audit = await store.readAudit();
      expect(audit.map((e) => [e.type, e.runId, e.data])).toEqual([
        ["policy-changed", "run-aaaa00000001", { from: null, to: "aaaa00000001" }],
        ["policy-changed", "run-bbbb00000002", { from: "aaaa00000001", to: "bbbb00000002" }],
        ["policy-changed", "run-back", { from: "bbbb00000002", to: "aaaa00000001" }],
      ]);
      expect(await verifyAuditChainAsync(store.iterateAudit())).toEqual({ ok: true, count: 3 });
    });

    it("keeps datasets apart and lists every dataset's versions by first use", async () => {
      const store = await open();
      const a = policy("a1", { dataset: "orders", firstUsedAt: 20 });
      const b = policy("b1", { dataset: "users", firstUsedAt: 10 });
      const c = policy("a1", { dataset: "users", firstUsedAt: 30 });
      for (const v of [a, b, c]) await store.adoptPolicy(v, changed(v));
      expect(await store.listPolicies()).toEqual([b, a, c]);
      expect(await store.listPolicies("orders")).toEqual([a]);
      expect(await store.currentPolicy("orders")).toEqual({ policy: a, adoptedAt: 20 });
      expect(await store.currentPolicy("users")).toEqual({ policy: c, adoptedAt: 30, previous: b });
    });

    it("writes nothing when the audit events cannot be encoded", async () => {
      const store = await open();
      const v = policy("zz");
      await expect(
        store.adoptPolicy(v, () => [
          { ts: 1, runId: null, type: "policy-changed", dataset: "users", key: null, data: 1n },
        ]),
      ).rejects.toThrow(/bigint/);
      expect(await store.listPolicies()).toEqual([]);
      expect(await store.currentPolicy("users")).toBeUndefined();
    });

    it("reports a change exactly once when several stores adopt it at once", async () => {
      const stores = await Promise.all(range(1, 5).map(() => open()));
      const v1 = policy("v1");
      await stores[0]!.adoptPolicy(v1, changed(v1));
      const v2 = policy("v2", { firstUsedAt: 2000 });
      const results = await Promise.all(stores.map((s) => s.adoptPolicy(v2, changed(v2))));
      expect(results.filter((r) => r.changed)).toHaveLength(1);
      const audit = await stores[0]!.readAudit();
      expect(audit.map((e) => e.data)).toEqual([
        { from: null, to: "v1" },
        { from: "v1", to: "v2" },
      ]);
    });
  });
}
