/**
 * A key's consistency hint names the last whole pass that found the dataset in agreement without reading
 * the runs on each request: serve reads it once at start and again when a pass ends. SQLite replicas; state
 * on SQLite and PostgreSQL.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { createService, type Service } from "../../src/serve/service.js";
import { itemsYaml, makeItemsReplicas } from "../support/sqlite-items.js";
import { STATE_KINDS } from "./persisted-state.fixture.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

for (const kind of STATE_KINDS) {
  describe.skipIf(!kind.available)(`key hints over ${kind.name} state`, () => {
    it("read the runs once at start and once per pass, never per request", async () => {
      const dir = mkdtempSync(join(tmpdir(), "concord-hints-cache-"));
      const state = kind.create();
      let service: Service | undefined;
      cleanups.push(async () => {
        await service?.stop();
        await state.drop();
        rmSync(dir, { recursive: true, force: true });
      });
      makeItemsReplicas(dir, { rows: 50 });
      const text = itemsYaml().replace("state: sqlite:state.db", `state: ${state.url}`);
      const path = join(dir, "concord.yaml");
      writeFileSync(path, text);
      service = await createService(parseConfig(text, path), { log: () => {} });
      const listRuns = vi.spyOn(service.state, "listRuns");
      await service.start();
      expect(listRuns).toHaveBeenCalledTimes(1);
      // No pass yet: never verified; a hundred requests read no runs.
      for (let i = 0; i < 100; i++)
        expect((await service.api.keyHint("items", ["7"])).lastVerifiedAt).toBeNull();
      expect(listRuns).toHaveBeenCalledTimes(1);

      const pass = async () => {
        const { runId } = await service!.api.trigger("items", "scan");
        await service!.idle();
        const [run] = await service!.api.run(runId);
        expect(run!.status).toBe("ok");
        return run!.finishedAt!;
      };
      const first = await pass();
      // The pass's end reads the runs again (in the background): the next requests see it.
      await vi.waitFor(() => expect(listRuns).toHaveBeenCalledTimes(2));
      const reads = listRuns.mock.calls.length;
      for (let i = 0; i < 100; i++)
        expect((await service.api.keyHint("items", [String(i + 1)])).lastVerifiedAt).toBe(
          new Date(first).toISOString(),
        );
      expect(listRuns).toHaveBeenCalledTimes(reads);

      const second = await pass();
      expect(second).toBeGreaterThanOrEqual(first);
      await vi.waitFor(async () =>
        expect((await service!.api.keyHint("items", ["3"])).lastVerifiedAt).toBe(
          new Date(second).toISOString(),
        ),
      );
      expect(listRuns).toHaveBeenCalledTimes(reads + 1);
    });
  });
}
