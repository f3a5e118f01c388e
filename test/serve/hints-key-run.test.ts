/**
 * A key's hint counts a dirty-segment pass as agreeing only when both of its runs agreed: the segments' run
 * and the check of the changed keys (`<runId>-keys`, which ends later and so is listed first). SQLite state.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { keyRunId } from "../../src/engine/fold-key-run.js";
import { ConsistencyHints } from "../../src/serve/consistency-hints.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { RunRecord, StateStore } from "../../src/state/state-store.js";
import { itemsYaml } from "../support/sqlite-items.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const T = Date.parse("2026-01-01T00:00:00Z");

async function pass(
  state: StateStore,
  id: string,
  segments: RunRecord["status"],
  keys: RunRecord["status"],
): Promise<void> {
  const runs = [
    { id, status: segments, start: T, end: T + 1000 },
    { id: keyRunId(id), status: keys, start: T + 1000, end: T + 2000 },
  ];
  for (const r of runs) {
    await state.beginRun({ id: r.id, dataset: "items", command: "serve scan", startedAt: r.start });
    const remaining = r.status === "ok" ? 0 : 1;
    await state.finishRun(r.id, "items", {
      finishedAt: r.end,
      status: r.status,
      counts: { remaining },
      stats: {},
    });
  }
}

async function openHints(): Promise<{ state: StateStore; hints: ConsistencyHints }> {
  const dir = mkdtempSync(join(tmpdir(), "concord-hints-key-run-"));
  const text = itemsYaml().replace("state: sqlite:state.db", `state: sqlite:${join(dir, "state.db")}`);
  const config = parseConfig(text, join(dir, "concord.yaml"));
  const state = await openStateStore(config.state);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => state.close());
  return { state, hints: new ConsistencyHints(config, state, () => T + 60_000) };
}

describe("a key's last verified time and a pass's key run", () => {
  it("a pass whose segments' run diverged is no agreeing pass, though its key run agreed", async () => {
    const { state, hints } = await openHints();
    await pass(state, "p1", "diverged", "ok");
    await hints.load();
    expect((await hints.keyHint("items", ["7"])).lastVerifiedAt).toBeNull();
  });

  it("a pass whose key run diverged is no agreeing pass either", async () => {
    const { state, hints } = await openHints();
    await pass(state, "p1", "ok", "diverged");
    await hints.load();
    expect((await hints.keyHint("items", ["7"])).lastVerifiedAt).toBeNull();
  });

  it("a pass where both agreed verified every key when its last run ended", async () => {
    const { state, hints } = await openHints();
    await pass(state, "p1", "ok", "ok");
    await hints.load();
    expect((await hints.keyHint("items", ["7"])).lastVerifiedAt).toBe(new Date(T + 2000).toISOString());
  });
});
