/**
 * `serve` repairs through the same connector writes as `concord repair`: a pass its API triggers, run in the
 * service or as segment jobs on a worker host, writes PostgreSQL values as the owner holds them (numeric
 * 1.50, float -0, a json text's spacing and repeated member, jsonb's 1.50), not the canonical text compared.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { SegmentWorkerHost } from "../../src/serve/segment-worker-host.js";
import { createService } from "../../src/serve/service.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { InlineQueue } from "./inline-queue.js";

const available = await serviceAvailable(POSTGRES);

describe.skipIf(!available)("serve: exact repair values", () => {
  let db: PostgresTestSchema;
  let dir: string;
  beforeAll(async () => {
    db = await createPostgresTestSchema();
    dir = mkdtempSync(join(tmpdir(), "concord-hfx-serve-exact-"));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(["service", "worker"] as const)(
    "a repair triggered through the API writes the owner's texts (run by the %s)",
    async (by) => {
      const [a, b] = [db.table(`hfx_serve_a_${by}`), db.table(`hfx_serve_b_${by}`)];
      await db.admin.query(
        `CREATE TABLE ${a} (id int PRIMARY KEY, n numeric, f float8, j json, jb jsonb);
         CREATE TABLE ${b} (LIKE ${a} INCLUDING ALL);
         INSERT INTO ${a} VALUES (1, 1.50, '-0', '{"b": 1,  "a": [1.0, 2]}', '{"x": 1.50}'),
           (2, 2.50, '-0', '{"a":1,"a":2}', '{"y": [2.0]}');
         INSERT INTO ${b} VALUES (2, 9.00, '1', '{"z":  1}', '{"y": 2.50}');`,
      );
      const cfg = parseConfig(
        `state: sqlite:${join(dir, `state-${by}.db`)}
datasets:
  items:
    key: id
    replicas:
      a: { url: "${POSTGRES.url}", table: ${a} }
      b: { url: "${POSTGRES.url}", table: ${b} }
    policy: { owner: a, resolve: owner }
`,
        join(dir, "concord.yaml"),
      );
      const queue = by === "worker" ? new InlineQueue() : undefined;
      const service = await createService(cfg, { log: () => {}, ...(queue ? { queue } : {}) });
      const host = queue
        ? new SegmentWorkerHost(cfg, { state: service.state, now: Date.now, log: () => {}, worker: "w1" })
        : undefined;
      try {
        if (queue) {
          queue.host = host;
          await service.start();
        }
        const { runId } = await service.api.trigger("items", "repair");
        await service.idle();
        const [run] = await service.api.run(runId);
        expect(run).toMatchObject({ status: "ok" });
        expect(run!.stats["repairs.applied"]).toBe(2);
        if (queue) expect(queue.ran.length).toBeGreaterThan(0);
      } finally {
        await host?.close();
        await service.stop();
      }
      const rows = async (table: string) =>
        (
          await db.admin.query<{ text: string }>(`SELECT t::text AS text FROM ${table} t ORDER BY id`)
        ).rows.map((r) => r.text);
      expect(await rows(b)).toEqual([
        `(1,1.50,-0,"{""b"": 1,  ""a"": [1.0, 2]}","{""x"": 1.50}")`,
        `(2,2.50,-0,"{""a"":1,""a"":2}","{""y"": [2.0]}")`,
      ]);
      expect(await rows(b)).toEqual(await rows(a));
    },
    60_000,
  );
});
