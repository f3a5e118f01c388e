/**
 * The HTTP API over the real `serve` service and real SQLite replicas, in-process (`inject`): auth on every
 * route, triggers that start real passes, the read models they fill, escalations resolved through the API,
 * the audit trail and its verification, metrics, and the service's errors as HTTP statuses.
 */
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/core/audit-chain.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import type { DatasetStatus, DivergenceView, EscalationView, History } from "../../src/serve/service-api.js";
import type { RunRecord } from "../../src/state/state-store.js";
import { ACCOUNTS, type ServeFixture, startFixture, TOKEN } from "./http-fixture.js";

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

async function get<T>(url: string): Promise<T> {
  const res = await app.inject({ url, headers: auth });
  expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
  return res.json() as T;
}

/** Starts a pass through the API and waits for it to finish; returns its run id. */
async function pass(dataset: string, mode: "scan" | "repair"): Promise<string> {
  const res = await app.inject({ method: "POST", url: `/api/datasets/${dataset}/${mode}`, headers: auth });
  expect(res.statusCode, res.body).toBe(202);
  const { runId } = res.json() as { runId: string };
  expect(runId).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]+$/);
  await fx.service.idle();
  return runId;
}

function openEscalations(): Promise<{ escalations: EscalationView[] }> {
  return get("/api/escalations?status=open");
}

describe("open endpoints", () => {
  it("answers /healthz without auth", async () => {
    const res = await app.inject({ url: "/healthz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ok: true, datasets: 2 });
  });

  it("answers /metrics without auth, in Prometheus text with concord_ metrics", async () => {
    const res = await app.inject({ url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toMatch(/^# HELP concord_/m);
    expect(res.body).toMatch(/^# TYPE concord_divergences gauge$/m);
  });

  it("serves the dashboard at /", async () => {
    const res = await app.inject({ url: "/" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain("<title>Concord</title>");
  });
});

describe("auth", () => {
  const routes = [
    ["GET", "/api/datasets"],
    ["GET", "/api/runs"],
    ["GET", "/api/runs/x"],
    ["GET", "/api/divergences"],
    ["GET", "/api/escalations"],
    ["POST", "/api/escalations/x/resolve"],
    ["GET", "/api/audit"],
    ["GET", "/api/audit/verify"],
    ["POST", "/api/datasets/accounts/scan"],
    ["POST", "/api/datasets/accounts/repair"],
    ["GET", "/api/history"],
  ] as const;

  it.each(routes)("%s %s needs the bearer token", async (method, url) => {
    for (const headers of [{}, { authorization: "Bearer not-the-token-0123456789" }]) {
      const res = await app.inject({ method, url, headers, ...(method === "POST" ? { payload: {} } : {}) });
      expect(res.statusCode).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
      expect(Object.keys(res.json())).toEqual(["error"]);
      expect(res.body).not.toContain(TOKEN);
    }
    // Nothing ran: a refused trigger starts no pass.
    expect((await fx.service.api.runs({})).length).toBe(0);
  });
});

describe("passes through the API", () => {
  let accountsRun: string;

  it("triggers a repair (202), whose run then appears in /api/runs and /api/runs/:id", async () => {
    accountsRun = await pass("accounts", "repair");
    const { runs } = await get<{ runs: RunRecord[] }>("/api/runs");
    expect(runs.map((r) => r.id)).toContain(accountsRun);
    const one = await get<{ runs: RunRecord[] }>(`/api/runs/${accountsRun}`);
    expect(one.runs).toMatchObject([
      {
        id: accountsRun,
        dataset: "accounts",
        status: "diverged",
        counts: {
          stale: ACCOUNTS.stale.length,
          conflict: ACCOUNTS.conflict.length,
          missing: ACCOUNTS.missing.length,
        },
      },
    ]);
    const filtered = await get<{ runs: RunRecord[] }>("/api/runs?dataset=catalog&limit=5");
    expect(filtered.runs).toEqual([]);
    // The stale rows were repaired on b.
    for (const id of ACCOUNTS.stale) expect(fx.row("b", "accounts", id)).toEqual(fx.row("a", "accounts", id));
  });

  it("reports the dataset's status, divergences and escalations from that pass", async () => {
    const { datasets } = await get<{ datasets: DatasetStatus[] }>("/api/datasets");
    const accounts = datasets.find((d) => d.name === "accounts")!;
    expect(accounts).toMatchObject({
      state: "idle",
      mode: "repair",
      lastRun: { id: accountsRun },
      counts: { stale: 3, conflict: 2, missing: 1 },
      repairs: { applied: 3 },
      openEscalations: 3,
    });
    expect(accounts.replicas.map((r) => [r.name, r.up])).toEqual([
      ["a", true],
      ["b", true],
    ]);

    const all = await get<{ divergences: DivergenceView[] }>("/api/divergences?dataset=accounts");
    expect(all.divergences).toHaveLength(6);
    const conflicts = await get<{ divergences: DivergenceView[] }>(
      "/api/divergences?dataset=accounts&class=conflict",
    );
    expect(conflicts.divergences.map((d) => d.key)).toEqual([[10], [11]]);
    const limited = await get<{ divergences: DivergenceView[] }>("/api/divergences?limit=2");
    expect(limited.divergences).toHaveLength(2);
    // A dataset the config does not declare: 404, not an empty list that reads as "no divergence".
    const unknown = await app.inject({ method: "GET", url: "/api/divergences?dataset=nope", headers: auth });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: "no dataset named nope" });

    const { escalations } = await openEscalations();
    expect(escalations.map((e) => [e.class, e.key])).toEqual([
      ["conflict", [10]],
      ["conflict", [11]],
      ["missing", [200]],
    ]);
    expect(escalations.every((e) => e.status === "open" && e.runId === accountsRun)).toBe(true);
  });

  it("records the pass in the audit trail, filterable by run and key, and verifies the chain", async () => {
    const { entries } = await get<{ entries: AuditEntry[] }>(`/api/audit?run=${accountsRun}`);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.runId === accountsRun)).toBe(true);
    const byKey = await get<{ entries: AuditEntry[] }>("/api/audit?key=5");
    expect(byKey.entries.map((e) => e.type)).toEqual(["detected", "decided", "applied"]);
    // Read by the key column's type, as hints' ?key= and audit show --key read it: 05 and +5 are key 5.
    for (const spelt of ["05", "%2B5", "%5B5%5D"])
      expect(await get<{ entries: AuditEntry[] }>(`/api/audit?key=${spelt}`), spelt).toEqual(byKey);
    expect(await get("/api/audit/verify")).toEqual({ ok: true, count: expect.any(Number) });
  });

  it("answers 409 while a pass of the dataset runs, 404 for an unknown dataset", async () => {
    const first = await app.inject({ method: "POST", url: "/api/datasets/catalog/repair", headers: auth });
    expect(first.statusCode).toBe(202);
    const second = await app.inject({ method: "POST", url: "/api/datasets/catalog/scan", headers: auth });
    expect(second.statusCode).toBe(409);
    expect(second.json()).toEqual({ error: "dataset catalog is already running a pass" });
    await fx.service.idle();
    const unknown = await app.inject({ method: "POST", url: "/api/datasets/nope/scan", headers: auth });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: "no dataset named nope" });
  });

  it("keeps history for the charts and summary figures", async () => {
    const history = await get<History>("/api/history");
    expect(history.runs.map((r) => r.dataset)).toEqual(["accounts", "catalog"]);
    expect(history.runs[0]).toMatchObject({ runId: accountsRun, repairs: { applied: 3 } });
    expect(history.summary.repairSuccessRate).toBe(1);
    const later = await get<History>(`/api/history?dataset=accounts&since=${Date.now() + 60_000}`);
    expect(later.runs).toEqual([]);
  });

  it("pages divergences in the store across the datasets' last passes, with the total", async () => {
    // Paged in the store: every dataset's last pass, in config order, a page at a time, with the total.
    const everything = await get<{ divergences: DivergenceView[]; total: number }>("/api/divergences");
    expect(everything.total).toBe(everything.divergences.length);
    expect(new Set(everything.divergences.map((d) => d.dataset)).size).toBeGreaterThan(1);
    const paged: DivergenceView[] = [];
    for (let offset = 0; offset < everything.total; offset += 4) {
      const page = await get<{ divergences: DivergenceView[]; total: number; offset: number; limit: number }>(
        `/api/divergences?limit=4&offset=${offset}`,
      );
      expect(page).toMatchObject({ total: everything.total, offset, limit: 4 });
      paged.push(...page.divergences);
    }
    expect(paged).toEqual(everything.divergences);
    const past = await get<{ divergences: DivergenceView[]; total: number }>(
      `/api/divergences?offset=${everything.total}`,
    );
    expect(past).toMatchObject({ divergences: [], total: everything.total });
    const conflictPage = await get<{ divergences: DivergenceView[]; total: number }>(
      "/api/divergences?dataset=accounts&class=conflict&offset=1",
    );
    expect(conflictPage.divergences.map((d) => d.key)).toEqual([[11]]);
    expect(conflictPage.total).toBe(2);
  });
});

describe("resolving escalations through the API", () => {
  it("picks a replica: the escalation leaves the open list and the replicas agree on the key", async () => {
    const before = await openEscalations();
    const target = before.escalations.find((e) => e.key[0] === 10)!;
    expect(fx.row("b", "accounts", 10)).not.toEqual(fx.row("a", "accounts", 10));

    const res = await app.inject({
      method: "POST",
      url: `/api/escalations/${target.id}/resolve`,
      headers: auth,
      payload: { pick: "a" },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      id: target.id,
      status: "resolved",
      dataset: "accounts",
      key: [10],
      repairs: [{ target: "b", outcome: "applied" }],
    });
    expect(fx.row("b", "accounts", 10)).toEqual(fx.row("a", "accounts", 10));
    const after = await openEscalations();
    expect(after.escalations.map((e) => e.id)).not.toContain(target.id);
    expect(after.escalations).toHaveLength(before.escalations.length - 1);
    const resolved = await get<{ escalations: EscalationView[] }>("/api/escalations?status=resolved");
    expect(resolved.escalations.map((e) => e.id)).toEqual([target.id]);
    const audit = await get<{ entries: AuditEntry[] }>("/api/audit?key=[10]");
    expect(audit.entries.at(-1)).toMatchObject({
      type: "resolved",
      data: { by: "api", pick: "a", ok: true },
    });

    // Once closed, it cannot be resolved again.
    const again = await app.inject({
      method: "POST",
      url: `/api/escalations/${target.id}/resolve`,
      headers: auth,
      payload: { reject: true },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({ error: `escalation ${target.id} is already resolved` });
  });

  it("rejects one: closed without writing", async () => {
    const target = (await openEscalations()).escalations.find((e) => e.key[0] === 11)!;
    const rowB = fx.row("b", "accounts", 11);
    const res = await app.inject({
      method: "POST",
      url: `/api/escalations/${target.id}/resolve`,
      headers: auth,
      payload: { reject: true },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: target.id, status: "rejected", repairs: [] });
    expect(fx.row("b", "accounts", 11)).toEqual(rowB);
    expect((await openEscalations()).escalations.map((e) => e.id)).not.toContain(target.id);
  });

  it("answers 400 for a replica that is not an option, 404 for an unknown escalation", async () => {
    const target = (await openEscalations()).escalations[0]!;
    const bad = await app.inject({
      method: "POST",
      url: `/api/escalations/${target.id}/resolve`,
      headers: auth,
      payload: { pick: "z" },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      error: `pick z: not an option for escalation ${target.id} (options: a, b)`,
    });
    const missing = await app.inject({
      method: "POST",
      url: "/api/escalations/0000000000000000/resolve",
      headers: auth,
      payload: { pick: "a" },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: "no escalation with id 0000000000000000" });
  });

  it("answers 409 when the escalation's dataset is no longer configured", async () => {
    const target = (await openEscalations()).escalations[0]!;
    // Another service over the same state store, configured without accounts.
    const other = await startFixture({ dir: fx.dir, datasets: ["catalog"] });
    try {
      const otherApp = buildHttpApp(other.service.api, { token: TOKEN });
      const res = await otherApp.inject({
        method: "POST",
        url: `/api/escalations/${target.id}/resolve`,
        headers: auth,
        payload: { pick: "a" },
      });
      expect(res.statusCode).toBe(409);
      expect(res.json().error).toMatch(/which the config no longer declares$/);
      await otherApp.close();
    } finally {
      await other.close();
    }
  });
});

describe("bad input against the real service", () => {
  it.each([
    ["/api/runs?limit=0", "query.limit: expected an integer from 1 to 10000"],
    ["/api/divergences?class=sideways", /^query\.class: expected one of missing, /],
    ["/api/escalations?status=pending", "query.status: expected one of open, resolved, rejected"],
    [
      "/api/history?since=soon",
      "query.since: expected milliseconds since the epoch or an ISO 8601 date-time",
    ],
    ["/api/audit?run=x&sort=desc", 'query: unknown parameter "sort"'],
  ])("GET %s → 400", async (url, message) => {
    const res = await app.inject({ url, headers: auth });
    expect(res.statusCode).toBe(400);
    const { error } = res.json() as { error: string };
    if (typeof message === "string") expect(error).toBe(message);
    else expect(error).toMatch(message);
  });

  it.each([
    "/api/runs?dataset=nope",
    "/api/history?dataset=nope",
    "/api/escalations?dataset=nope",
    "/api/escalations/groups?dataset=nope",
  ])("GET %s → 404 naming the dataset, not an empty list that reads as nothing there", async (url) => {
    const res = await app.inject({ url, headers: auth });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: "no dataset named nope in the config, nor records of one" });
  });

  it("404s an unknown run and unknown routes", async () => {
    const run = await app.inject({ url: "/api/runs/20990101T000000Z-000000", headers: auth });
    expect(run.statusCode).toBe(404);
    expect(run.json()).toEqual({ error: "no run with id 20990101T000000Z-000000" });
    const route = await app.inject({ url: "/api/replicas", headers: auth });
    expect(route.statusCode).toBe(404);
    expect(route.json()).toEqual({ error: "not found: GET /api/replicas" });
  });

  it("echoes an unknown dataset name with its bidi characters escaped, not obeyed", async () => {
    // U+202E (right-to-left override), U+2066 (isolate), U+200F: a name that reorders what shows the error.
    // (Control characters are refused before any lookup: 400, the name not echoed.)
    const name = "acc\u202eevil\u2066x\u200f";
    const res = await app.inject({
      method: "POST",
      url: `/api/datasets/${encodeURIComponent(name)}/scan`,
      headers: auth,
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: "no dataset named acc\\u202eevil\\u2066x\\u200f" });
    expect(res.body).not.toMatch(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
    const hint = await app.inject({ url: `/api/hints/${encodeURIComponent(name)}`, headers: auth });
    expect(hint.statusCode).toBe(404);
    expect(hint.json()).toEqual({ error: "no dataset named acc\\u202eevil\\u2066x\\u200f" });
  });

  it("answers a wrong method on a known route with 405 and Allow; an unknown path stays 404", async () => {
    for (const [method, url, allow] of [
      ["DELETE", "/api/datasets", "GET, HEAD, OPTIONS"],
      ["GET", "/api/datasets/accounts/scan", "OPTIONS, POST"],
      ["PUT", "/healthz", "GET, HEAD, OPTIONS"],
    ] as const) {
      const res = await app.inject({ method, url, headers: auth });
      expect(res.statusCode, `${method} ${url}`).toBe(405);
      expect(res.headers.allow).toBe(allow);
      expect(res.json()).toEqual({ error: `method not allowed: ${method} ${url} (allowed: ${allow})` });
    }
    // Still behind the token, like any /api path.
    const anonymous = await app.inject({ method: "DELETE", url: "/api/datasets" });
    expect(anonymous.statusCode).toBe(401);
    const unknown = await app.inject({ method: "DELETE", url: "/api/datasets/accounts/nope", headers: auth });
    expect(unknown.statusCode).toBe(404);
  });

  it("answers a path the router refuses in the API's one-line JSON, echoing neither the URL nor its query", async () => {
    for (const [url, status, error] of [
      ["/api/runs/%ZZ?token=s3cretQ", 400, "bad request: the URL path is not valid percent-encoding"],
      ["/api/escalations/%E0%A4%A/values", 400, "bad request: the URL path is not valid percent-encoding"],
      [
        `/api/runs/${"x".repeat(150)}?token=s3cretQ`,
        414,
        "URI too long: a path segment exceeds 100 characters",
      ],
    ] as const) {
      for (const headers of [auth, {}]) {
        const res = await app.inject({ url, headers });
        expect(res.statusCode, url).toBe(status);
        expect(res.headers["content-type"]).toMatch(/^application\/json/);
        expect(res.headers["cache-control"]).toBe("no-store");
        expect(res.body).toBe(JSON.stringify({ error }));
      }
    }
  });

  it("answers a URL over the header limit with a 431 in the API's one-line JSON", async () => {
    const server = buildHttpApp(fx.service.api, { token: TOKEN });
    await server.listen({ host: "127.0.0.1", port: 0 });
    try {
      const { port } = server.server.address() as AddressInfo;
      const res = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        const req = request({
          host: "127.0.0.1",
          port,
          path: `/api/runs?run=${"x".repeat(20_000)}`,
          headers: auth,
        });
        req.on("error", reject);
        req.on("response", (r) => {
          let body = "";
          r.setEncoding("utf8").on("data", (d: string) => {
            body += d;
          });
          r.on("end", () =>
            resolve({ status: r.statusCode ?? 0, type: String(r.headers["content-type"]), body }),
          );
        });
        req.end();
      });
      expect(res.status).toBe(431);
      expect(res.type).toMatch(/^application\/json/);
      expect(JSON.parse(res.body)).toEqual({
        error: "request header fields too large: the URL and headers together exceed the server's limit",
      });
    } finally {
      await server.close();
    }
  });
});

describe("after stop", () => {
  it("answers a trigger with 503 once the service is stopping", async () => {
    await fx.service.stop();
    const res = await app.inject({ method: "POST", url: "/api/datasets/accounts/scan", headers: auth });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: "the service is stopping" });
    const health = await app.inject({ url: "/healthz" });
    expect(health.statusCode).toBe(503);
  });
});
