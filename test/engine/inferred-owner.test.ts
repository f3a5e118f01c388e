/**
 * Inferred ownership through the one run pipeline on real SQLite replicas and a real SQLite state store: the
 * evidence snapshot (an EvidenceReader) picks each conflict's owner, the repair lands on the other replica,
 * and the audit's `decided` entries carry the evidence; without confident evidence the run escalates or
 * uses the fallback.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConcordConfig } from "../../src/config/load-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import type {
  ActivityEvidence,
  EvidenceReader,
  RangeDrift,
  ReplicaEvidence,
} from "../../src/learning/evidence.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

const CONFLICTS = [3, 40, 77];

let dir: string;
const cleanup: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-inferred-"));
  makeItemsReplicas(dir, { rows: 100, conflict: CONFLICTS });
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** Evidence kept in memory: what the state store's aggregates would answer. */
class MemoryEvidence implements EvidenceReader {
  reads = 0;
  constructor(private readonly rows: readonly ReplicaEvidence[]) {}
  async replicaEvidence(): Promise<readonly ReplicaEvidence[]> {
    this.reads++;
    return this.rows;
  }
  async rangeDrift(): Promise<readonly RangeDrift[]> {
    return [];
  }
  async activityEvidence(): Promise<readonly ActivityEvidence[]> {
    return [];
  }
}

async function open(cfg: ConcordConfig): Promise<{ state: StateStore; replicas: OpenReplica[] }> {
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  cleanup.push(async () => {
    for (const r of replicas) await r.connector.close();
    await state.close();
  });
  return { state, replicas };
}

function names(replica: string): string[] {
  const db = new Database(join(dir, `${replica}.db`), { readonly: true });
  try {
    return CONFLICTS.map(
      (id) => (db.prepare("SELECT name FROM items WHERE id = ?").get(id) as { name: string }).name,
    );
  } finally {
    db.close();
  }
}

async function repair(owner: string, evidence: EvidenceReader | undefined) {
  const cfg = itemsConfig(dir, { policy: `owner: ${owner}, resolve: highest-version` });
  const { state, replicas } = await open(cfg);
  let t = 1_000;
  const result = await runDataset(
    cfg.datasets[0]!,
    replicas,
    { state, now: () => t++, evidence },
    { runId: "r1", command: "repair", mode: "repair" },
  );
  const decided = (await state.readAudit({ runId: "r1" })).filter((e) => e.type === "decided");
  return { result, state, decided };
}

describe("owner: { inferred: reliability }", () => {
  it("makes the replica with the best lower bound the owner of every conflict, evidence in the audit", async () => {
    const evidence = new MemoryEvidence([
      { replica: "a", settled: 100, lost: 45 },
      { replica: "b", settled: 300, lost: 3 },
    ]);
    const { result, decided } = await repair("{ inferred: reliability, minConfidence: 0.9 }", evidence);
    expect(evidence.reads).toBe(1);
    expect(result.totals.escalated).toBe(0);
    expect(result.totals.repairs).toEqual({ applied: 3 });
    expect(names("a")).toEqual(CONFLICTS.map((id) => `b ${id}`));
    expect(decided).toHaveLength(3);
    for (const e of decided) {
      const data = e.data as { source: string; reason: string; evidence: Record<string, unknown> };
      expect(data.source).toBe("b");
      expect(data.reason).toContain("owner inferred by reliability of b 0.990");
      expect(data.evidence).toMatchObject({
        basis: "reliability",
        best: "b",
        owner: "b",
        settled: 300,
        lost: 3,
        confident: true,
        minConfidence: 0.9,
      });
    }
  });

  it("escalates every conflict when no replica reaches minConfidence and no fallback is declared", async () => {
    const evidence = new MemoryEvidence([
      { replica: "a", settled: 10, lost: 0 },
      { replica: "b", settled: 10, lost: 1 },
    ]);
    const { result, state } = await repair("{ inferred: reliability, minConfidence: 0.9 }", evidence);
    expect(result.totals.escalated).toBe(3);
    expect(result.totals.repairs).toEqual({});
    expect(names("a")).toEqual(CONFLICTS.map((id) => `a ${id}`));
    const open = await state.listEscalations({ dataset: "items" });
    expect(open).toHaveLength(3);
    expect(open[0]!.reason).toContain("lower bound is below minConfidence 0.9");
  });

  it("uses the fallback when the store keeps no evidence", async () => {
    const { result, decided } = await repair("{ inferred: reliability, fallback: a }", undefined);
    expect(result.totals.repairs).toEqual({ applied: 3 });
    expect(names("b")).toEqual(CONFLICTS.map((id) => `a ${id}`));
    expect((decided[0]!.data as { reason: string }).reason).toContain("fallback owner");
  });
});
