/**
 * A run reads its dataset's open escalations once, however many pieces it records: a run cut into many
 * pieces lists them from the state store one time, and opens and closes exactly what the run done whole
 * does. Real SQLite replicas and state store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, expect, it } from "vitest";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

const ROWS = 3000;
/** Every fifth key differs at the same version on a and b: a conflict, escalated. */
const CONFLICT = Array.from({ length: ROWS / 5 }, (_, i) => 5 * (i + 1));

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs a repair over `dir` in pieces of `piece` divergences; counts `listEscalations` calls. */
async function repair(dir: string, runId: string, piece: number) {
  const cfg = itemsConfig(dir, { policy: "resolve: highest-version" });
  const ds = cfg.datasets[0]!;
  const raw = await openStateStore(cfg.state);
  let lists = 0;
  let listed = 0;
  let pieces = 0;
  const state = new Proxy(raw, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === "listEscalations" && typeof v === "function")
        return async (...args: unknown[]) => {
          lists++;
          const got = (await v.apply(target, args)) as unknown[];
          listed += got.length;
          return got;
        };
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as StateStore;
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  try {
    const result = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId,
        command: "repair",
        mode: "repair",
        pieceDivergences: piece,
        observer: {
          onSegment() {
            pieces++;
          },
        },
      },
    );
    const open = (await raw.listEscalations({ status: "open", dataset: ds.name })).map((e) => e.id).sort();
    const audit: string[] = [];
    for (const e of await raw.readAudit()) if (e.runId === runId) audit.push(`${e.type} ${e.key}`);
    return { result, lists, listed, pieces, open, audit: audit.sort() };
  } finally {
    for (const r of replicas) await r.connector.close();
    await raw.close();
  }
}

function settleOnB(dir: string, ids: readonly number[]): void {
  const db = new Database(join(dir, "b.db"));
  try {
    const set = db.prepare("UPDATE items SET name = ? WHERE id = ?");
    for (const id of ids) set.run(`a ${id}`, id);
  } finally {
    db.close();
  }
}

it("a run in many pieces lists the open escalations once, and opens and closes what the whole run does", async () => {
  const [piecewise, whole] = [0, 1].map(() => {
    const dir = mkdtempSync(join(tmpdir(), "concord-escalations-"));
    dirs.push(dir);
    makeItemsReplicas(dir, { rows: ROWS, conflict: CONFLICT });
    return dir;
  }) as [string, string];
  const a1 = await repair(piecewise, "r1", 50);
  const b1 = await repair(whole, "r1", Number.POSITIVE_INFINITY);
  expect(a1.pieces).toBeGreaterThanOrEqual(CONFLICT.length / 50);
  expect(a1.lists).toBe(1);
  // Read once, after the first piece opened its own: never the dataset's escalations once per piece.
  expect(a1.listed).toBeLessThanOrEqual(CONFLICT.length);
  expect(a1.open).toHaveLength(CONFLICT.length);
  expect(a1.open).toEqual(b1.open);
  expect(a1.audit).toEqual(b1.audit);

  // Half the conflicts settled by hand on b: the next run closes their escalations, piece by piece, still
  // listing once; the others stay open (already open: nothing opened again).
  const settled = CONFLICT.filter((_, i) => i % 2 === 0);
  settleOnB(piecewise, settled);
  settleOnB(whole, settled);
  const a2 = await repair(piecewise, "r2", 50);
  const b2 = await repair(whole, "r2", Number.POSITIVE_INFINITY);
  expect(a2.lists).toBe(1);
  expect(a2.listed).toBe(CONFLICT.length);
  expect(a2.open).toHaveLength(CONFLICT.length - settled.length);
  expect(a2.open).toEqual(b2.open);
  expect(a2.audit.filter((e) => e.startsWith("resolved"))).toHaveLength(settled.length);
  expect(a2.audit).toEqual(b2.audit);
});
