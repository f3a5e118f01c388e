/**
 * A dense group under declared limits between two MariaDB replicas on one server: the in-store pair lists each
 * differing key with both records, the count the guard weighs the group by keeps those keys, and the group is
 * done from them in pieces of half a budget (the kept keys wait beside the piece being done, so a piece of a
 * whole budget held more than the budget says). What is written is what the unbounded run writes, and a scan
 * after it finds nothing. Real MariaDB replicas, real SQLite state store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import { keyId } from "../../src/core/model.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);
let db: MysqlTestDatabase;
const ROWS = 6000;
/** Every row but each sixth is stale on b: 5,000 divergences in one group. */
const STALE = (id: number) => id % 6 !== 0;
const BUDGET = 1000;
const dirs: string[] = [];

async function makePair(suffix: string): Promise<void> {
  for (const side of ["a", "b"]) {
    await db.admin.query(
      `CREATE TABLE ${side}_${suffix} (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, version BIGINT NOT NULL)`,
    );
    const values: string[] = [];
    for (let id = 1; id <= ROWS; id++) {
      const old = side === "b" && STALE(id);
      values.push(`(${id}, '${old ? "old" : "item"} ${id}', ${old ? 1 : 2})`);
    }
    await db.admin.query(`INSERT INTO ${side}_${suffix} VALUES ${values.join(", ")}`);
  }
}

async function run(suffix: string, mode: "repair" | "scan", piece: number) {
  const dir = mkdtempSync(join(tmpdir(), "concord-my-pieces-"));
  dirs.push(dir);
  const cfg = parseConfig(
    `state: sqlite:state.db
datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "${db.url}", table: a_${suffix} }
      b: { url: "${db.url}", table: b_${suffix} }
    policy: { owner: a, resolve: owner, limits: { maxRepairs: 100000000, maxDivergentFraction: 1 } }
`,
    join(dir, "concord.yaml"),
  );
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({
      name: r.name,
      connector: await openConnector(ds.name, r, { readonly: mode === "scan" }),
    });
  const applied: string[] = [];
  const sizes: number[] = [];
  try {
    const result = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "r",
        command: mode,
        mode,
        pieceDivergences: piece,
        observer: {
          onSegment({ results, scan }) {
            sizes.push(scan.divergences.length);
            for (const r of results) if (r.outcome === "applied") applied.push(keyId(r.key));
          },
        },
      },
    );
    return { result, sizes, applied: applied.sort() };
  } finally {
    for (const r of replicas) await r.connector.close();
    await state.close();
  }
}

describe.skipIf(!available)("a dense group of a MariaDB in-store pair under limits", () => {
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("is listed once and done in pieces of half a budget, writing what the unbounded run writes", async () => {
    if (!db.mariadb) return;
    await makePair("bounded");
    await makePair("whole");
    const bounded = await run("bounded", "repair", BUDGET);
    const whole = await run("whole", "repair", Number.POSITIVE_INFINITY);
    const stale = Array.from({ length: ROWS }, (_, i) => i + 1).filter(STALE).length;
    // The group's keys as the count kept them, in pieces of half a budget (the count itself writes nothing).
    const done = bounded.sizes.filter((n) => n > 0);
    expect(done.reduce((a, b) => a + b, 0)).toBe(stale);
    expect(Math.max(...done)).toBeLessThanOrEqual(BUDGET / 2);
    expect(done).toHaveLength(stale / (BUDGET / 2));
    expect(bounded.applied).toHaveLength(stale);
    expect(bounded.applied).toEqual(whole.applied);
    expect(bounded.result.totals).toEqual({ ...whole.result.totals, stats: bounded.result.totals.stats });
    const after = await run("bounded", "scan", BUDGET);
    expect(after.sizes.reduce((a, b) => a + b, 0)).toBe(0);
  }, 120_000);
});
