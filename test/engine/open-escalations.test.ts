/**
 * A run's view of its dataset's open escalations holds what it needs of each (id, key, class, columns, when
 * opened), read from a real SQLite state store a page at a time: a dataset's open escalations can number
 * millions, and whole records (reasons, options, observations) held 320 MB for 100,000.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import type { EscalationRecord } from "../../src/core/plan-record.js";
import { OpenEscalations } from "../../src/engine/open-escalations.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";

let dir: string;
let state: StateStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "concord-open-esc-"));
  state = await openStateStore(`sqlite:${join(dir, "state.db")}`);
});

afterEach(async () => {
  await state.close();
  rmSync(dir, { recursive: true, force: true });
});

function escalation(i: number, dataset = "items"): EscalationRecord {
  return {
    id: `e${String(i).padStart(6, "0")}`,
    dataset,
    key: [String(i)],
    class: i % 2 ? "conflict" : "missing",
    reason: `a long reason that a run has no use for ${"x".repeat(200)}`,
    options: ["a", "b"],
    detail: { observed: { a: "0123456789abcdef", b: null }, rule: "resolve: owner", policyVersion: "v1" },
    status: "open",
    runId: "r1",
    createdAt: 1_000 + i,
    columns: i % 2 ? ["name", "price"] : [],
    absent: i % 2 ? [] : ["b"],
    involved: ["b"],
  };
}

it("reads every open escalation of its dataset across pages, keeping only what a run needs", async () => {
  // 2,345 open in items (more than two listing pages), some in another dataset, one closed.
  await state.openEscalations(Array.from({ length: 2345 }, (_, i) => escalation(i)));
  await state.openEscalations([escalation(9_000, "other"), escalation(9_001, "other")]);
  await state.closeEscalation("e000007", "resolved", { by: "test" }, 5_000);
  const seen: Parameters<StateStore["listEscalations"]>[0][] = [];
  const listing: Pick<StateStore, "listEscalations"> = {
    listEscalations: (filter) => {
      seen.push(filter);
      return state.listEscalations(filter);
    },
  };
  const open = new OpenEscalations(listing, "items");
  const kept = [...(await open.current())];
  expect(kept.map((e) => e.id)).toEqual(
    Array.from({ length: 2345 }, (_, i) => `e${String(i).padStart(6, "0")}`).filter((id) => id !== "e000007"),
  );
  // Each listing asked for a page, not for every open escalation at once.
  expect(seen.length).toBeGreaterThan(2);
  for (const f of seen) expect(f).toMatchObject({ status: "open", dataset: "items", limit: 1000 });
  // What is kept: the id, key, class, columns and when opened; no reason, options or observations.
  expect(kept[1]).toEqual({
    id: "e000001",
    key: ["1"],
    class: "conflict",
    createdAt: 1_001,
    columns: ["name", "price"],
  });
  for (const e of kept) expect(Object.keys(e).sort()).toEqual(["class", "columns", "createdAt", "id", "key"]);
  // Escalations with the same differing columns share one list.
  expect(kept[1]!.columns).toBe(kept[3]!.columns);
  // Read once: the run's own openings and closings keep it, without listing again.
  const listings = seen.length;
  open.opened([escalation(5_000)]);
  open.closed("e000001");
  const again = [...(await open.current())];
  expect(seen.length).toBe(listings);
  expect(again.map((e) => e.id)).toContain("e005000");
  expect(again.map((e) => e.id)).not.toContain("e000001");
  expect(again.at(-1)).toEqual({
    id: "e005000",
    key: ["5000"],
    class: "missing",
    createdAt: 6_000,
    columns: [],
  });
});
