/**
 * `serve` over real PostgreSQL replicas with PostgreSQL state: segments split in the database, a pass
 * interrupted by `stop` resumes from its checkpoint in another service instance, and a probe's canary
 * stays out of comparison.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { createService, type Service } from "../../src/serve/service.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);
const ROWS = 2000;
const STALE = [3, 701, 1402, 1999];

let db: PostgresTestSchema;
let dir: string;

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
  dir = mkdtempSync(join(tmpdir(), "concord-serve-pg-"));
  for (const t of ["a", "b"]) {
    await db.admin.query(
      `CREATE TABLE ${db.table(t)} (id bigint PRIMARY KEY, payload text NOT NULL, version bigint NOT NULL)`,
    );
    await db.admin.query(
      `INSERT INTO ${db.table(t)} SELECT i, 'item ' || i, CASE WHEN $1 AND i = ANY($2) THEN 1 ELSE 2 END
       FROM generate_series(1, $3) i`,
      [t === "b", STALE, ROWS],
    );
  }
});

afterAll(async () => {
  if (!available) return;
  await db.admin.query(`DROP SCHEMA IF EXISTS "${db.name}_state" CASCADE`);
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

function config(extra = "") {
  return parseConfig(
    `state: "${POSTGRES.url}?schema=${db.name}_state"
datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "${POSTGRES.url}", table: ${db.table("a")} }
      b: { url: "${POSTGRES.url}", table: ${db.table("b")} }
    policy: { owner: a, resolve: highest-version }
    checkpointRows: 250
${extra}`,
    join(dir, "concord.yaml"),
  );
}

describe.skipIf(!available)("serve over PostgreSQL", () => {
  it("resumes a stopped pass from its checkpoint in another process's service and converges", async () => {
    const logs: string[] = [];
    const first: Service = await createService(config("    intensity: 0.02\n"), { log: (l) => logs.push(l) });
    const { runId } = await first.api.trigger("items", "repair");
    for (let i = 0; i < 500; i++) {
      const cp = await first.state.getCheckpoint("items");
      if (cp && cp.done >= 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await first.stop();

    const second: Service = await createService(config(), { log: (l) => logs.push(l) });
    try {
      const cp = (await second.state.getCheckpoint("items"))!;
      expect(cp).toMatchObject({ runId, mode: "repair" });
      expect(cp.bounds.length).toBeGreaterThanOrEqual(6);
      expect(cp.done).toBeGreaterThanOrEqual(1);
      await second.start();
      for (let i = 0; i < 500 && (await second.state.getCheckpoint("items")); i++)
        await new Promise((r) => setTimeout(r, 20));
      await second.idle();
      expect(logs.some((l) => l.includes(`resuming pass ${runId} at segment ${cp.done + 1}`))).toBe(true);
      const [run] = await second.api.run(runId);
      expect(run).toMatchObject({ status: "ok", counts: { stale: STALE.length } });
      expect(run!.stats["repairs.applied"]).toBe(STALE.length);
      const { rows } = await db.admin.query(
        `SELECT count(*)::int AS n FROM ${db.table("a")} a JOIN ${db.table("b")} b USING (id)
         WHERE a.payload = b.payload AND a.version = b.version`,
      );
      expect(rows[0].n).toBe(ROWS);
    } finally {
      await second.stop();
    }
  });

  it("probes a PostgreSQL pair: the canary is written conditionally and never compared", async () => {
    const s = await createService(config("    probe: { every: 1h, key: -7, timeout: 300ms }\n"), {
      log: () => {},
    });
    try {
      const out = (await s.runner("items").probeOnce())!;
      expect(out.error).toBeUndefined();
      // Nothing replicates between the two tables here: b never shows the canary.
      expect(out.lag).toEqual({ b: null });
      const { rows } = await db.admin.query(`SELECT payload FROM ${db.table("a")} WHERE id = -7`);
      expect(rows[0].payload).toBe(`concord-probe:${out.seq}`);
      const { runId } = await s.api.trigger("items", "scan");
      await s.idle();
      expect((await s.api.run(runId))[0]).toMatchObject({ status: "ok", counts: {} });
    } finally {
      await s.stop();
    }
  });
});
