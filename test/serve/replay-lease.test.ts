/**
 * A replay in serve holds the dataset's pass lease and stops when another process takes it: the lease is
 * stolen right after the first batch's cursor moved (SQLite replicas and state; the state store's cursor
 * call is where the test steps in, nothing is mocked), and the replay ends with one line naming the holder,
 * its cursor after that batch, and no batch run after the loss.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ReplayError } from "../../src/engine/replay-dataset.js";
import { LEASE_TTL_MS } from "../../src/engine/run-liveness.js";
import { createService } from "../../src/serve/service.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas, staleOnB } from "../support/sqlite-items.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-replay-lease-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const THIEF = "thief-host:4242:beef";

/** The store, except that the first cursor move hands the pass lease to THIEF once it has moved. */
function stealingAfterFirstBatch(real: StateStore): { state: StateStore; stolenAt: () => number } {
  let stolenAt = 0;
  const state = new Proxy(real, {
    get(target, name) {
      if (name === "moveReplayCursor")
        return async (...args: Parameters<StateStore["moveReplayCursor"]>) => {
          const moved = await target.moveReplayCursor(...args);
          if (!stolenAt) {
            const held = await target.getLease("pass:items");
            await target.releaseLease("pass:items", held!.owner);
            expect(await target.acquireLease("pass:items", THIEF, Date.now(), LEASE_TTL_MS)).toBe(true);
            stolenAt = Date.now();
          }
          return moved;
        };
      const v = Reflect.get(target, name, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { state, stolenAt: () => stolenAt };
}

describe("replay and the pass lease", () => {
  it("a lease stolen mid-replay stops it with one line naming the holder; no batch runs after the loss", async () => {
    const stale = Array.from({ length: 15 }, (_, i) => i + 1);
    makeItemsReplicas(dir, { rows: 20, stale });
    const config = itemsConfig(dir, {
      policy: "owner: a, resolve: replay",
      extra: "    watch: { replicas: [a], maxKeys: 5 }\n",
    });
    const real = await openStateStore(config.state);
    // The owner's feed logged 15 changes that b missed.
    await real.appendChanges(
      "items",
      "a",
      stale.map((id) => [String(id)]),
      Date.now(),
    );
    const { state, stolenAt } = stealingAfterFirstBatch(real);
    const lines: string[] = [];
    const service = await createService(config, { state, log: (l) => lines.push(l) });
    try {
      const err = await service.api.replay("items", "b", "tester").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ReplayError);
      const message = (err as Error).message;
      expect(message).toBe(
        `items: the pass lease was taken by ${THIEF} while replaying onto b; stopped with its replay cursor at 5 (the log ends at 15); replay again`,
      );
      expect(lines).toContain(`items: replay onto b stopped: ${message}`);
      // The first batch (seqs 1–5) was replayed; nothing after the loss.
      expect(stolenAt()).toBeGreaterThan(0);
      expect(await real.getReplayCursor("items", "b")).toBe(5);
      expect(staleOnB(dir)).toEqual(stale.slice(5));
      const replays = (await real.listRuns({ dataset: "items" })).filter((r) => r.command === "replay");
      expect(replays).toHaveLength(1);
      expect(replays.every((r) => r.startedAt <= stolenAt())).toBe(true);
      // The lease is the thief's still: the replay did not release what it no longer held.
      expect((await real.getLease("pass:items"))?.owner).toBe(THIEF);
    } finally {
      await service.stop();
      await real.close();
    }
    // b's file is untouched past the first batch (read once more, with the service gone).
    const b = new Database(join(dir, "b.db"), { readonly: true });
    expect(b.prepare("SELECT count(*) AS n FROM items WHERE version = 2").get()).toEqual({ n: 10 });
    b.close();
  });
});
