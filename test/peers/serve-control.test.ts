/**
 * Cassandra Reaper's run control and drill-down: a serve pass can be paused (after the segment in flight),
 * resumed and aborted through the API (token required), and `GET /api/runs/:id` lists the pass's segment
 * groups with their durations, rows, divergences and repairs. Real service, real SQLite replicas.
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/serve/http/app.js";
import type { DatasetStatus, SegmentView } from "../../src/serve/service-api.js";
import type { RunRecord } from "../../src/state/state-store.js";
import { type ServeFixture, startFixture, TOKEN } from "../serve/http-fixture.js";

const auth = { authorization: `Bearer ${TOKEN}` };
let fx: ServeFixture;
let app: FastifyInstance;

beforeAll(async () => {
  fx = await startFixture();
  app = buildHttpApp(fx.service.api, { token: TOKEN });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await fx?.close();
});

async function post(url: string, headers: Record<string, string> = auth) {
  const res = await app.inject({ method: "POST", url, headers });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

async function catalog(): Promise<DatasetStatus> {
  const res = await app.inject({ url: "/api/datasets", headers: auth });
  return (res.json() as { datasets: DatasetStatus[] }).datasets.find((d) => d.name === "catalog")!;
}

async function runOf(id: string): Promise<{ runs: RunRecord[]; segments: SegmentView[] }> {
  const res = await app.inject({ url: `/api/runs/${id}`, headers: auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { runs: RunRecord[]; segments: SegmentView[] };
}

/** Polls until `probe` holds (the service's own status is the readiness signal). */
async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("pause, resume and abort of a serve pass", () => {
  it("needs the token, and a running pass", async () => {
    expect((await post("/api/datasets/catalog/pause", {})).status).toBe(401);
    const idle = await post("/api/datasets/catalog/abort");
    expect(idle).toEqual({ status: 409, body: { error: "dataset catalog has no pass running" } });
    expect((await post("/api/datasets/nope/resume")).status).toBe(404);
  });

  it("holds a pass between segments until resumed, then lists its segments with durations and counts", async () => {
    const started = await post("/api/datasets/catalog/repair");
    expect(started.status).toBe(202);
    const runId = started.body.runId as string;
    expect(await post("/api/datasets/catalog/pause")).toEqual({
      status: 200,
      body: { runId, state: "paused" },
    });
    await until("the pass to hold", async () => {
      const s = await catalog();
      return s.state === "paused" && (s.progress?.done ?? 0) >= 1;
    });
    const held = await catalog();
    expect(held.progress!.done).toBeLessThan(held.progress!.segments);
    const during = await runOf(runId);
    expect(during.runs[0]!.status).toBe("running");
    expect(during.segments.map((s) => [s.from, s.to])).toEqual([[0, held.progress!.done]]);
    expect(await fx.service.state.getCheckpoint("catalog")).toMatchObject({
      runId,
      done: held.progress!.done,
    });

    expect(await post("/api/datasets/catalog/resume")).toEqual({
      status: 200,
      body: { runId, state: "running" },
    });
    await fx.service.idle();
    const { runs, segments } = await runOf(runId);
    expect(runs[0]!.status).not.toBe("running");
    // Contiguous groups covering every segment, each with its own figures adding up to the run's.
    const of = segments[0]!.of;
    expect(segments[0]!.from).toBe(0);
    expect(segments.at(-1)!.to).toBe(of);
    for (let i = 1; i < segments.length; i++) expect(segments[i]!.from).toBe(segments[i - 1]!.to);
    for (const s of segments) {
      expect(s).toMatchObject({ dataset: "catalog", runId });
      expect(s.durationMs).toBeGreaterThanOrEqual(s.scanMs);
    }
    const rows = segments.reduce((n, s) => n + (s.rows.a ?? 0), 0);
    expect(rows).toBe(120);
    const found = segments.reduce((n, s) => n + Object.values(s.counts).reduce((a, b) => a + b, 0), 0);
    expect(found).toBe(Object.values(runs[0]!.counts).reduce((a, b) => a + b, 0));
    const applied = segments.reduce((n, s) => n + (s.repairs.applied ?? 0), 0);
    expect(applied).toBe(runs[0]!.stats["repairs.applied"] ?? 0);
  });

  it("aborts a pass: recorded failed (aborted), its checkpoint dropped", async () => {
    const started = await post("/api/datasets/catalog/scan");
    const runId = started.body.runId as string;
    await post("/api/datasets/catalog/pause");
    await until("the pass to hold", async () => (await catalog()).state === "paused");
    expect(await post("/api/datasets/catalog/abort")).toEqual({
      status: 200,
      body: { runId, state: "running" },
    });
    await fx.service.idle();
    const { runs } = await runOf(runId);
    expect(runs[0]).toMatchObject({ status: "failed", stats: { aborted: 1 } });
    expect(await fx.service.state.getCheckpoint("catalog")).toBeUndefined();
    expect((await catalog()).state).toBe("idle");
    expect(fx.logs.some((l) => l.includes(`pass ${runId} aborted`))).toBe(true);
  });
});
