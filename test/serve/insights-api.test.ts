/**
 * `GET /api/insights` and the `concord_replica_reliability` gauges over a real `serve` service, with state on
 * SQLite and on PostgreSQL: a repair pass and a person's pick through the API record evidence, and the API
 * answers what `concord insights --json` prints.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { createService } from "../../src/serve/service.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { itemsYaml, makeItemsReplicas } from "../support/sqlite-items.js";

const TOKEN = "insights-test-token-3b8e1f0c";
const auth = { authorization: `Bearer ${TOKEN}` };
const pgAvailable = await serviceAvailable(POSTGRES);
let pg: PostgresTestSchema | undefined;

beforeAll(async () => {
  if (pgAvailable) pg = await createPostgresTestSchema();
});

afterAll(async () => {
  await pg?.drop();
});

interface InsightsBody {
  datasets: {
    name: string;
    replicas: {
      name: string;
      reliability: { score: number; low: number; high: number; settled: number; lost: number };
    }[];
    hotspots: { kind: string; where: string; divergences: number; rate: number; trend: string }[];
    patterns: { kind: string; summary: string }[];
    recommendations: {
      id: string;
      kind: string;
      summary: string;
      evidence: object;
      candidatePolicy: object | null;
    }[];
  }[];
}

const STATES = [
  { name: "SQLite", available: true, state: () => "sqlite:state.db" },
  { name: "PostgreSQL", available: pgAvailable, state: () => `"${POSTGRES.url}?schema=${pg!.name}"` },
];

describe.each(STATES)("GET /api/insights, state on $name", ({ available, state }) => {
  it.skipIf(!available)(
    "answers each dataset's reliability, hotspots, patterns and recommendations",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "concord-insights-api-"));
      // b is behind on 12 keys (ids 1–12: range 0 of 50-row ranges) and disagrees at equal versions on 30 (range 0 too) and 150.
      makeItemsReplicas(dir, {
        rows: 300,
        stale: Array.from({ length: 12 }, (_, i) => i + 1),
        conflict: [30, 150],
      });
      const yaml = itemsYaml({
        policy: "resolve: highest-version",
        extra: "    checkpointRows: 50\n",
      }).replace("state: sqlite:state.db", `state: ${state()}`);
      const service = await createService(parseConfig(yaml, join(dir, "concord.yaml")), { log: () => {} });
      const app: FastifyInstance = buildHttpApp(service.api, { token: TOKEN });
      await app.ready();
      try {
        await service.api.trigger("items", "repair");
        await service.idle();
        const open = await service.state.listEscalations({ status: "open", dataset: "items" });
        expect(open).toHaveLength(2);
        const picked = await app.inject({
          method: "POST",
          url: `/api/escalations/${open[0]!.id}/resolve`,
          headers: auth,
          payload: { pick: "a" },
        });
        expect(picked.statusCode, picked.body).toBe(200);

        const res = await app.inject({ url: "/api/insights", headers: auth });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json() as InsightsBody;
        expect(body.datasets.map((d) => d.name)).toEqual(["items"]);
        const [items] = body.datasets;
        // 12 stale decisions settled by the policy, one conflict by a person: b lost all 13.
        expect(items!.replicas.map((r) => [r.name, r.reliability.settled, r.reliability.lost])).toEqual([
          ["a", 13, 0],
          ["b", 13, 13],
        ]);
        expect(items!.replicas[1]!.reliability.high).toBeLessThan(items!.replicas[0]!.reliability.low);
        expect(items!.hotspots[0]).toMatchObject({
          kind: "range",
          where: "0",
          divergences: 13,
          trend: "new",
        });
        expect(items!.recommendations.find((r) => r.kind === "owner")).toMatchObject({
          candidatePolicy: { resolve: "highest-version", owner: "a" },
        });

        const one = await app.inject({ url: "/api/insights?dataset=items", headers: auth });
        expect((one.json() as InsightsBody).datasets).toEqual(body.datasets);
        const unknown = await app.inject({ url: "/api/insights?dataset=nope", headers: auth });
        expect(unknown.statusCode).toBe(404);
        const bad = await app.inject({ url: "/api/insights?since=1", headers: auth });
        expect(bad.statusCode).toBe(400);
        expect((await app.inject({ url: "/api/insights" })).statusCode).toBe(401);

        const metrics = await app.inject({ url: "/metrics" });
        expect(metrics.body).toContain('concord_replica_reliability{dataset="items",replica="a"} 1\n');
        expect(metrics.body).toContain('concord_replica_reliability{dataset="items",replica="b"} 0\n');
        expect(metrics.body).toMatch(
          /concord_replica_reliability_low\{dataset="items",replica="a"\} 0\.7\d+\n/,
        );
        expect(metrics.body).toMatch(
          /concord_replica_reliability_high\{dataset="items",replica="b"\} 0\.2\d+\n/,
        );
      } finally {
        await app.close();
        await service.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
