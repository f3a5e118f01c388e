/**
 * A staged rollout's progress is kept in the state store: serve restarted mid-rollout resumes at the same
 * step with the passes held and the approvals collected; a changed candidate starts afresh. SQLite replicas;
 * state on SQLite and PostgreSQL.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import type { CanaryView } from "../../src/serve/canary-rollout.js";
import { createService, type Service } from "../../src/serve/service.js";
import { itemsYaml, makeItemsReplicas } from "../support/sqlite-items.js";
import { STATE_KINDS } from "./persisted-state.fixture.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

for (const kind of STATE_KINDS) {
  describe.skipIf(!kind.available)(`canary rollout kept in ${kind.name} state`, () => {
    it("resumes at the same step, passes held and approvals collected, after serve restarts", async () => {
      const dir = mkdtempSync(join(tmpdir(), "concord-canary-"));
      const state = kind.create();
      const services: Service[] = [];
      cleanups.push(async () => {
        for (const s of services) await s.stop().catch(() => {});
        await state.drop();
        rmSync(dir, { recursive: true, force: true });
      });
      makeItemsReplicas(dir, { rows: 200, stale: [3, 50, 120, 199] });
      writeFileSync(join(dir, "candidate.yaml"), "owner: a\nresolve: owner\n");
      const yaml = (steps: string) =>
        itemsYaml({
          extra: `    candidate: { policy: candidate.yaml, mode: canary, steps: [${steps}], passes: 1, approvals: 2 }\n`,
        }).replace("state: sqlite:state.db", `state: ${state.url}`);
      const path = join(dir, "concord.yaml");
      const open = async (steps = "0.25, 0.5, 1") => {
        const service = await createService(parseConfig(yaml(steps), path), { log: () => {} });
        services.push(service);
        await service.start();
        return service;
      };
      const view = async (s: Service) => (await s.api.candidate("items")) as CanaryView;
      const pass = async (s: Service) => {
        await s.api.trigger("items", "repair");
        await s.idle();
      };

      const first = await open();
      expect(await view(first)).toMatchObject({ step: 0, fraction: 0.25, status: "running" });
      await pass(first);
      await first.api.approveCandidate("items", "token:lead1");
      await first.api.approveCandidate("items", "token:lead2");
      await pass(first);
      await first.api.approveCandidate("items", "token:lead1");
      const before = await view(first);
      expect(before).toMatchObject({
        step: 1,
        fraction: 0.5,
        status: "awaiting-approval",
        goodPasses: 1,
        approvals: ["token:lead1"],
      });
      await first.stop();

      const second = await open();
      expect(await view(second)).toEqual(before);
      // The approval collected before the restart counts: lead1 may not approve again; lead2 completes it.
      await expect(second.api.approveCandidate("items", "token:lead1")).rejects.toThrow(
        "token:lead1 already approved this step; another approver is needed",
      );
      expect(await second.api.approveCandidate("items", "token:lead2")).toMatchObject({
        step: 2,
        fraction: 1,
        status: "running",
        goodPasses: 0,
        approvals: [],
      });
      await second.stop();

      // Another candidate (its steps changed while serve was down) starts at its first step.
      const third = await open("0.1, 1");
      expect(await view(third)).toMatchObject({ step: 0, fraction: 0.1, goodPasses: 0, approvals: [] });
    });
  });
}
