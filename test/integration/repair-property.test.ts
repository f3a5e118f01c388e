/** Properties of repair through the engine on real connectors: convergence, idempotency, no clobbering, rollback, audit, guard. */
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { type DatasetConfig, parseConfig } from "../../src/config/load-config.js";
import type { Connector } from "../../src/connectors/connector.js";
import { MemoryTable } from "../../src/connectors/memory/memory-connector.js";
import { memoryTables, openConnector } from "../../src/connectors/open-connector.js";
import { quoteIdent, SqliteConnector } from "../../src/connectors/sqlite/sqlite-connector.js";
import { verifyAuditChainAsync } from "../../src/core/audit-chain.js";
import type { CanonicalValue, ColumnType } from "../../src/core/canonical.js";
import { WRITE_ACTIONS } from "../../src/core/decide.js";
import { type ColumnSpec, type Key, keyId } from "../../src/core/model.js";
import {
  type DatasetPlan,
  type OpenReplica,
  planDataset,
  type RunContext,
  recordPlan,
  repairDataset,
  repairTasks,
  scanDataset,
} from "../../src/engine/index.js";
import { executeRepairs, type RepairTask } from "../../src/execute/execute-repairs.js";
import { inverseRepair } from "../../src/execute/inverse-repair.js";
import { WriteGuard } from "../../src/execute/write-guard.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";

// ---------------------------------------------------------------------------------------------------------
// The table every replica holds: id | name, qty, price, tags, site, ver, ts, vv.

const KEY_COLUMNS: readonly ColumnSpec[] = [{ name: "id", type: "integer" }];
const COLUMNS: readonly ColumnSpec[] = [
  { name: "name", type: "text" },
  { name: "qty", type: "integer" },
  { name: "price", type: "decimal" },
  { name: "tags", type: "json" },
  { name: "site", type: "text" },
  { name: "ver", type: "integer" },
  { name: "ts", type: "timestamp" },
  { name: "vv", type: "json" },
];
const COLUMN_NAMES = COLUMNS.map((c) => c.name);
type Row = Readonly<Record<string, CanonicalValue>>;

const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);
/** Timestamps in increasing order; the last is within a one-minute window of NOW. */
const TIMES = ["2024-01-01T10:00:00.000000Z", "2024-01-01T11:00:00.000000Z", "2024-01-01T11:59:50.000000Z"];

const rowArb: fc.Arbitrary<Row> = fc.record({
  name: fc.constantFrom(null, "", "a", "b", "x|y", "é\\N"),
  qty: fc.option(fc.integer({ min: -50, max: 50 }).map(String), { nil: null }),
  price: fc.constantFrom(null, "0", "0.01", "1.5", "1.75", "-2.25", "100", "123456.789"),
  tags: fc.constantFrom(null, "[]", '["a"]', '["b","a"]', '[{"k":1}]'),
  site: fc.constantFrom(null, "eu", "eu", "us", "us", "apac", "mars"),
  ver: fc.option(fc.integer({ min: 0, max: 4 }).map(String), { nil: null, freq: 6 }),
  ts: fc.option(fc.constantFrom(...TIMES.slice(0, 2)), { nil: null, freq: 6 }),
  vv: fc.constantFrom(null, "{}", '{"r0":1}', '{"r1":1}', '{"r0":1,"r1":1}', '{"r0":2,"r1":1}', '{"r2":3}'),
});

/** What one replica does to a key's base record. */
type Edit =
  | { readonly kind: "keep" }
  | { readonly kind: "delete" }
  | { readonly kind: "write"; readonly row: Row }
  /** A newer write: counter up, timestamp later, this replica's vector entry up, maybe a new name. */
  | { readonly kind: "bump"; readonly by: number; readonly name: CanonicalValue | undefined }
  /** A price change within the tolerance a policy may declare. */
  | { readonly kind: "nudge" };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ kind: "keep" } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: "delete" } as const) },
  { weight: 2, arbitrary: rowArb.map((row) => ({ kind: "write", row }) as const) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("bump" as const),
      by: fc.integer({ min: 1, max: 2 }),
      name: fc.constantFrom(undefined, "p", "q"),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "nudge" } as const) },
);

function applyEdit(base: Row | null, edit: Edit, replica: number): Row | null {
  switch (edit.kind) {
    case "keep":
      return base;
    case "delete":
      return null;
    case "write":
      return edit.row;
    case "nudge":
      return base && { ...base, price: base.price === "1.5" ? "1.75" : "1.5" };
    case "bump": {
      if (!base) return null;
      const vector = JSON.parse(base.vv ?? "{}") as Record<string, number>;
      vector[`r${replica}`] = (vector[`r${replica}`] ?? 0) + edit.by;
      const sorted = Object.fromEntries(Object.entries(vector).sort(([a], [b]) => (a < b ? -1 : 1)));
      const at = TIMES.indexOf(base.ts ?? "");
      return {
        ...base,
        ...(edit.name !== undefined ? { name: edit.name } : {}),
        ver: String(Number(base.ver ?? "0") + edit.by),
        ts: TIMES[Math.min(TIMES.length - 1, at + edit.by)]!,
        vv: JSON.stringify(sorted),
      };
    }
  }
}

interface Entry {
  readonly id: number;
  readonly base: Row | null;
  /** One edit per replica: the state scanned and repaired. */
  readonly edits: readonly Edit[];
  /** Edits observed by an earlier scan (so versions are remembered and regressions can show). */
  readonly earlier: readonly Edit[] | null;
}

// ---------------------------------------------------------------------------------------------------------
// Policies: any the config schema accepts, over random version columns.

type ResolveChoice = "owner" | "lww" | "highest-version" | "version-vector" | "merge" | undefined;
type MergeChoice = Record<string, "max" | "min" | "lww" | "union" | "owner">;

interface PolicyChoice {
  readonly counter: boolean;
  readonly timestamp: boolean;
  readonly vector: boolean;
  readonly owner: "none" | "static" | "field";
  readonly staticOwner: number;
  readonly resolve: ResolveChoice;
  readonly merge: MergeChoice;
  readonly tolerance: boolean;
  readonly window: boolean;
  readonly ambiguity: number | undefined;
}

const policyArb: fc.Arbitrary<PolicyChoice> = fc.record({
  counter: fc.boolean(),
  timestamp: fc.boolean(),
  vector: fc.boolean(),
  owner: fc.constantFrom("none", "static", "field"),
  staticOwner: fc.nat(2),
  resolve: fc.constantFrom<ResolveChoice>(
    "owner",
    "lww",
    "highest-version",
    "version-vector",
    "merge",
    "merge",
    undefined,
  ),
  merge: fc.record(
    {
      name: fc.constantFrom("max", "min", "lww", "owner"),
      qty: fc.constantFrom("max", "min"),
      price: fc.constantFrom("max", "min"),
      tags: fc.constant("union"),
      site: fc.constantFrom("max", "owner"),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<MergeChoice>,
  tolerance: fc.boolean(),
  window: fc.boolean(),
  ambiguity: fc.option(fc.constantFrom(0, 0.1, 0.3, 0.5, 1), { nil: undefined, freq: 3 }),
});

interface Limits {
  readonly maxRepairs?: number;
  readonly maxDivergentFraction?: number;
}

/** The policy section and versions of a dataset, adjusted to what the schema accepts. */
function policyConfig(p: PolicyChoice, replicas: readonly string[], limits: Limits) {
  let { counter, timestamp, vector } = p;
  const owner =
    p.owner === "static" || (p.resolve === "owner" && p.owner === "none")
      ? replicas[p.staticOwner % replicas.length]!
      : p.owner === "field"
        ? { field: "site", map: { eu: replicas[0]!, us: replicas[1]!, apac: replicas.at(-1)! } }
        : undefined;
  if (p.resolve === "lww") timestamp = true;
  if (p.resolve === "version-vector") vector = true;
  if (p.resolve === "highest-version") counter = true;
  const merge: MergeChoice = {};
  for (const [column, rule] of Object.entries(p.merge)) {
    if (rule === "lww" && !timestamp) continue;
    if (rule === "owner" && !owner) continue;
    merge[column] = rule;
  }
  if (p.resolve === "merge" && Object.keys(merge).length === 0) merge.tags = "union";
  return {
    versions: {
      ...(counter ? { counter: "ver" } : {}),
      ...(timestamp ? { timestamp: "ts" } : {}),
      ...(vector ? { vector: "vv" } : {}),
    },
    policy: {
      ...(owner ? { owner } : {}),
      ...(p.resolve ? { resolve: p.resolve } : {}),
      ...(Object.keys(merge).length ? { merge } : {}),
      ...(p.tolerance ? { tolerance: { price: 0.5 } } : {}),
      ...(p.window && timestamp ? { window: "1m" } : {}),
      ...(p.ambiguity !== undefined ? { escalate: { ambiguity: p.ambiguity } } : {}),
      ...(limits.maxRepairs !== undefined || limits.maxDivergentFraction !== undefined ? { limits } : {}),
    },
  };
}

type Store = "memory" | "sqlite";

interface Scenario {
  readonly stores: readonly Store[];
  readonly entries: readonly Entry[];
  readonly policy: PolicyChoice;
  readonly tuning: { segmentRows?: number; fanout?: number; leafRows?: number };
}

const TUNINGS = [{}, { segmentRows: 4, fanout: 3, leafRows: 2 }, { segmentRows: 2, fanout: 2, leafRows: 1 }];

const scenarioArb: fc.Arbitrary<Scenario> = fc.constantFrom(2, 3).chain((n) =>
  fc.record({
    stores: fc.array(fc.constantFrom<Store>("memory", "sqlite"), { minLength: n, maxLength: n }),
    entries: fc
      .uniqueArray(
        fc.record({
          id: fc.integer({ min: -20, max: 40 }),
          base: fc.option(rowArb, { nil: null, freq: 8 }),
          edits: fc.array(editArb, { minLength: n, maxLength: n }),
          earlier: fc.option(fc.array(editArb, { minLength: n, maxLength: n }), { nil: null, freq: 3 }),
        }),
        { selector: (e) => e.id, minLength: 1, maxLength: 14 },
      )
      .map((entries) => entries as Entry[]),
    policy: policyArb,
    tuning: fc.constantFrom(...TUNINGS),
  }),
);

// ---------------------------------------------------------------------------------------------------------
// Replicas: memory tables (opened through `memory:NAME`) and SQLite databases, with a back door each.

interface Replica extends OpenReplica {
  /** Every row, in key order, in the store's own representation (SQLite: `quote()` of each column). */
  snapshot(): string[];
  /** Writes a row as someone else would, bypassing the connector (null: delete). */
  put(id: string, row: Row | null): void;
}

let tableSerial = 0;
const openedTables: string[] = [];
afterAll(() => {
  for (const name of openedTables) memoryTables.delete(name);
});

const SQLITE_TYPES: Record<ColumnType, string> = {
  integer: "INTEGER",
  decimal: "DECIMAL(18,6)",
  float: "REAL",
  // SQLite has no 32-bit float: REAL holds any float32 exactly (read back as float, not float32).
  float32: "REAL",
  boolean: "BOOLEAN",
  text: "TEXT",
  timestamp: "TIMESTAMP",
  time: "TIME",
  json: "JSON",
  bytes: "BLOB",
};

function sqliteNative(type: ColumnType, v: CanonicalValue): unknown {
  if (v === null) return null;
  return type === "integer" ? BigInt(v) : v;
}

async function openReplica(
  store: Store,
  name: string,
  rows: readonly (readonly [string, Row])[],
): Promise<Replica> {
  const all = [...KEY_COLUMNS, ...COLUMNS];
  if (store === "memory") {
    const tableName = `repair-property-${tableSerial++}`;
    const table = new MemoryTable(KEY_COLUMNS, COLUMNS);
    memoryTables.set(tableName, table);
    openedTables.push(tableName);
    const put = (id: string, row: Row | null) => {
      if (row) table.put({ id, ...row });
      else table.delete([id]);
    };
    for (const [id, row] of rows) put(id, row);
    const connector = await openConnector("items", { name, url: `memory:${tableName}` });
    return {
      name,
      connector,
      put,
      snapshot: () => table.keys().map((k) => JSON.stringify(all.map((c) => table.get(k)![c.name] ?? null))),
    };
  }
  const db = new Database(":memory:");
  db.exec(
    `CREATE TABLE items (${all.map((c, i) => `${quoteIdent(c.name)} ${SQLITE_TYPES[c.type]}${i === 0 ? " PRIMARY KEY" : ""}`).join(", ")})`,
  );
  const upsert = db.prepare(
    `INSERT OR REPLACE INTO items (${all.map((c) => quoteIdent(c.name)).join(", ")}) VALUES (${all.map(() => "?").join(", ")})`,
  );
  const remove = db.prepare("DELETE FROM items WHERE id = ?");
  const dump = db.prepare(
    `SELECT ${all.map((c) => `quote(${quoteIdent(c.name)})`).join(" || '|' || ")} FROM items ORDER BY id`,
  );
  const put = (id: string, row: Row | null) => {
    if (row) upsert.run(BigInt(id), ...COLUMNS.map((c) => sqliteNative(c.type, row[c.name] ?? null)));
    else remove.run(BigInt(id));
  };
  for (const [id, row] of rows) put(id, row);
  const connector: Connector = new SqliteConnector(db, "items", { label: name });
  return { name, connector, put, snapshot: () => dump.pluck().all() as string[] };
}

function datasetConfig(
  s: Scenario,
  replicas: readonly { name: string; url: string }[],
  limits: Limits = {},
): DatasetConfig {
  const { versions, policy } = policyConfig(
    s.policy,
    replicas.map((r) => r.name),
    limits,
  );
  const doc = {
    state: "sqlite::memory:",
    datasets: {
      items: {
        key: "id",
        versions,
        replicas: Object.fromEntries(replicas.map((r) => [r.name, { url: r.url, table: "items" }])),
        policy,
        detect: s.tuning,
      },
    },
  };
  // JSON is YAML: the config goes through the same parser and schema as concord.yaml.
  return parseConfig(JSON.stringify(doc), "repair-property.yaml", {}).datasets[0]!;
}

interface World {
  readonly ds: DatasetConfig;
  readonly replicas: readonly Replica[];
  readonly state: SqliteStateStore;
  context(runId: string): RunContext;
  snapshot(): string[][];
  close(): Promise<void>;
}

async function openWorld(s: Scenario, limits: Limits = {}): Promise<World> {
  const names = s.stores.map((_, i) => `r${i}`);
  const rowsFor = (edits: (e: Entry) => readonly Edit[] | null, i: number) =>
    s.entries.flatMap((e) => {
      const list = edits(e);
      const row = list ? applyEdit(e.base, list[i]!, i) : e.base;
      return row ? [[String(e.id), row] as const] : [];
    });
  const hasEarlier = s.entries.some((e) => e.earlier);
  const replicas: Replica[] = [];
  for (const [i, store] of s.stores.entries()) {
    replicas.push(
      await openReplica(
        store,
        names[i]!,
        rowsFor((e) => (hasEarlier ? e.earlier : e.edits), i),
      ),
    );
  }
  const ds = datasetConfig(
    s,
    replicas.map((r, i) => ({
      name: r.name,
      // Never opened (the replicas are built above), but distinct: two replicas on one table is a config error.
      url: s.stores[i] === "memory" ? `memory:unused-${i}` : `sqlite:/unused-${i}.db`,
    })),
    limits,
  );
  const state = SqliteStateStore.open(":memory:");
  const context = (runId: string): RunContext => ({ runId, state, now: () => NOW, command: "repair" });
  if (hasEarlier) {
    // An earlier scan remembers versions; then the replicas move to the state under test.
    await scanDataset(ds, replicas, context("earlier"));
    for (const [i, r] of replicas.entries()) {
      for (const e of s.entries) r.put(String(e.id), applyEdit(e.base, e.edits[i]!, i));
    }
  }
  return {
    ds,
    replicas,
    state,
    context,
    snapshot: () => replicas.map((r) => r.snapshot()),
    async close() {
      for (const r of replicas) await r.connector.close();
      await state.close();
    },
  };
}

async function planRun(w: World, runId: string): Promise<DatasetPlan> {
  const ctx = w.context(runId);
  const scan = await scanDataset(w.ds, w.replicas, ctx);
  const plan = planDataset(w.ds, scan);
  await recordPlan(plan, ctx);
  return plan;
}

/** The inverse of a run's applied repairs, built as `concord rollback --run` builds it. */
async function rollbackRun(w: World, plan: DatasetPlan, runId: string, rollbackId: string) {
  const entries = (await w.state.listRepairs({ runId })).filter((e) => e.outcome === "applied");
  const tasks: RepairTask[] = entries.map(inverseRepair);
  const results = await executeRepairs(w.ds.name, tasks, {
    runId: rollbackId,
    shape: plan.scan.shape,
    replicas: new Map(w.replicas.map((r) => [r.name, r.connector])),
    state: w.state,
    guard: new WriteGuard(),
    now: () => NOW,
    appliedEvent: "rolled-back",
  });
  await w.state.recordRepairs(entries.map((e) => ({ ...e, outcome: "rolled-back", updatedAt: NOW })));
  return { entries, results };
}

async function expectAuditVerifies(w: World): Promise<void> {
  const verdict = await verifyAuditChainAsync(w.state.iterateAudit());
  expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
}

/** Every replica's current fingerprint (null: absent) of a key. */
async function fingerprints(w: World, plan: DatasetPlan, key: Key): Promise<(string | null)[]> {
  return Promise.all(
    w.replicas.map(
      async (r) => (await r.connector.fetchRecords(plan.scan.shape, [key]))[0]?.fingerprint ?? null,
    ),
  );
}

const PASSIVE = new Set(["escalate", "wait", "ignore"]);
const ids = (plan: DatasetPlan, keep: (action: string) => boolean) =>
  plan.decisions.filter((d) => keep(d.action)).map((d) => keyId(d.key));

// ---------------------------------------------------------------------------------------------------------

describe("repair through the engine (memory and SQLite replicas)", () => {
  it("converges, is idempotent, rolls back exactly and keeps a verifiable audit chain", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const w = await openWorld(s);
        try {
          const before = w.snapshot();
          const plan = await planRun(w, "run-1");
          expect(plan.guard).toBeUndefined();

          // Decisions: well formed, deterministic, and within the policy's reach.
          expect(planDataset(w.ds, plan.scan).decisions).toEqual(plan.decisions);
          for (const d of plan.decisions) {
            expect(d.policyVersion).toBe(plan.policy.version);
            expect(d.ambiguity).toBeGreaterThanOrEqual(0);
            expect(d.ambiguity).toBeLessThanOrEqual(1);
            expect(d.reason).not.toMatch(/\n/);
            if (d.class === "tolerated") expect(d.action).toBe("ignore");
            if (d.class === "in-flight") expect(d.action).toBe("wait");
            if (d.class === "missing" && !plan.policy.owner) expect(d.action).toBe("escalate");
            if (plan.policy.resolve === "owner" && WRITE_ACTIONS.has(d.action)) {
              const div = plan.scan.divergences.find((v) => keyId(v.key) === keyId(d.key))!;
              const owner = div.replicas[d.source!]!;
              expect(d.record).toEqual(owner.present ? owner.values : null);
            }
          }

          const results = await repairDataset(plan, w.replicas, w.context("run-1"));
          const tasks = repairTasks(plan);
          expect(results.map((r) => r.outcome)).toEqual(tasks.map(() => "applied"));
          for (const d of plan.decisions.filter((x) => WRITE_ACTIONS.has(x.action))) {
            expect(await fingerprints(w, plan, d.key)).toEqual(
              w.replicas.map(() => d.recordFingerprint ?? null),
            );
          }
          const after = w.snapshot();

          // (a) A new scan finds only what was escalated, tolerated or left in flight.
          const rescan = await scanDataset(w.ds, w.replicas, w.context("run-2"));
          expect(rescan.divergences.map((d) => keyId(d.key)).sort()).toEqual(
            ids(plan, (a) => PASSIVE.has(a)).sort(),
          );

          // (b) The same plan again writes nothing: every repair is found done in the ledger.
          const again = await repairDataset(plan, w.replicas, w.context("run-3"));
          expect(again).toHaveLength(tasks.length);
          for (const r of again) expect(r).toMatchObject({ outcome: "noop", earlier: true });
          expect(w.snapshot()).toEqual(after);
          const applied = (await w.state.readAudit()).filter((e) => e.type === "applied");
          const perRepair = new Map<string, number>();
          for (const e of applied) {
            const id = (e.data as { repair: string }).repair;
            perRepair.set(id, (perRepair.get(id) ?? 0) + 1);
          }
          expect([...perRepair.values()].every((n) => n === 1)).toBe(true);
          expect(perRepair.size).toBe(tasks.length);

          // (d) Rolling the run back restores every replica exactly as it was.
          const rollback = await rollbackRun(w, plan, "run-1", "rollback-1");
          expect(rollback.entries).toHaveLength(tasks.length);
          for (const r of rollback.results) expect(r.outcome).toBe("rolled-back");
          expect(w.snapshot()).toEqual(before);

          // (e) The audit chain verifies after all of it.
          await expectAuditVerifies(w);
        } finally {
          await w.close();
        }
      }),
      { numRuns: 200 },
    );
  });

  it("repairs a divergence again when it recurs after its repair", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const w = await openWorld(s);
        try {
          const plan = await planRun(w, "run-1");
          await repairDataset(plan, w.replicas, w.context("run-1"));
          // Someone puts every replica back as it was: the same divergences, so the same repair ids.
          for (const [i, r] of w.replicas.entries()) {
            for (const e of s.entries) r.put(String(e.id), applyEdit(e.base, e.edits[i]!, i));
          }
          const replan = await planRun(w, "run-2");
          // Without versions the recurrence is the same divergence, so the same repair ids (new episodes,
          // `id~2`). With versions, a replica going back below the version Concord wrote and verified is a
          // regression, decided afresh.
          const versioned = Object.values(w.ds.versions).some(Boolean);
          if (!versioned) {
            expect(repairTasks(replan).map((t) => t.id)).toEqual(repairTasks(plan).map((t) => t.id));
          }
          const results = await repairDataset(replan, w.replicas, w.context("run-2"));
          for (const r of results) expect(r).toMatchObject({ outcome: "applied" });
          if (!versioned) for (const r of results) expect(r.id).toMatch(/~2$/);
          const rescan = await scanDataset(w.ds, w.replicas, w.context("run-3"));
          expect(rescan.divergences.map((d) => keyId(d.key)).sort()).toEqual(
            ids(replan, (a) => PASSIVE.has(a)).sort(),
          );
          await expectAuditVerifies(w);
        } finally {
          await w.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it("never overwrites a record changed between detection and execution", async () => {
    await fc.assert(
      fc.asyncProperty(
        scenarioArb,
        fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
        async (s, coin) => {
          const w = await openWorld(s);
          try {
            const plan = await planRun(w, "run-1");
            const tasks = repairTasks(plan);
            fc.pre(tasks.length > 0);
            const tampered = new Map<string, Row>();
            for (const [i, t] of tasks.entries()) {
              // The first always, the others at random.
              if (i > 0 && !coin[i]) continue;
              // A name no generated or merged record holds: it differs from both the expected and the next state.
              const row: Row = {
                ...Object.fromEntries(COLUMN_NAMES.map((c) => [c, null])),
                name: `changed-${i}`,
              };
              w.replicas.find((r) => r.name === t.target)!.put(t.key[0]!, row);
              tampered.set(`${t.target} ${keyId(t.key)}`, row);
            }
            const results = await repairDataset(plan, w.replicas, w.context("run-1"));
            expect(results).toHaveLength(tasks.length);
            for (const r of results) {
              const row = tampered.get(`${r.target} ${keyId(r.key)}`);
              expect(r.outcome).toBe(row ? "superseded" : "applied");
              if (row) {
                const held = await w.replicas
                  .find((x) => x.name === r.target)!
                  .connector.fetchRecords(plan.scan.shape, [r.key]);
                expect(held.map((h) => h.values)).toEqual([COLUMN_NAMES.map((c) => row[c] ?? null)]);
              }
            }
            const ledger = await w.state.listRepairs({ runId: "run-1" });
            expect(ledger.filter((e) => e.outcome === "superseded")).toHaveLength(tampered.size);
            await expectAuditVerifies(w);
          } finally {
            await w.close();
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it("writes nothing when the blast-radius guard trips", async () => {
    const limitsArb: fc.Arbitrary<Limits> = fc.oneof(
      fc.record({ maxRepairs: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ maxDivergentFraction: fc.constantFrom(0.01, 0.1, 0.3, 0.6) }),
      fc.record({
        maxRepairs: fc.integer({ min: 1, max: 6 }),
        maxDivergentFraction: fc.constantFrom(0.1, 0.5),
      }),
    );
    let tripped = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, limitsArb, async (s, limits) => {
        const w = await openWorld(s, limits);
        try {
          const before = w.snapshot();
          const plan = await planRun(w, "run-1");
          const rows = Math.max(0, ...Object.values(plan.scan.replicas).map((r) => r.rows));
          const divergent = plan.scan.divergences.filter(
            (d) => d.class !== "tolerated" && d.class !== "in-flight",
          );
          const writes = plan.decisions
            .filter((d) => WRITE_ACTIONS.has(d.action))
            .reduce((n, d) => n + d.targets.length, 0);
          const over =
            (limits.maxDivergentFraction !== undefined &&
              rows > 0 &&
              divergent.length / rows > limits.maxDivergentFraction) ||
            (limits.maxRepairs !== undefined && writes > limits.maxRepairs);
          expect(plan.guard !== undefined).toBe(over);
          const results = await repairDataset(plan, w.replicas, w.context("run-1"));
          if (plan.guard) {
            tripped++;
            expect(results).toEqual([]);
            expect(repairTasks(plan)).toEqual([]);
            expect(w.snapshot()).toEqual(before);
            expect(await w.state.listRepairs({})).toEqual([]);
            const audit = await w.state.readAudit();
            expect(audit.some((e) => e.type === "guard")).toBe(true);
            expect(audit.some((e) => ["applied", "noop", "superseded", "failed"].includes(e.type))).toBe(
              false,
            );
            const open = await w.state.listEscalations({ status: "open" });
            expect(open.filter((e) => e.class === "guard")).toHaveLength(1);
          } else {
            expect(results.map((r) => r.outcome)).toEqual(repairTasks(plan).map(() => "applied"));
          }
          await expectAuditVerifies(w);
        } finally {
          await w.close();
        }
      }),
      { numRuns: 60 },
    );
    expect(tripped).toBeGreaterThan(10);
  });
});
