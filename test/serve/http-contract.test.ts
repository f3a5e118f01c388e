/**
 * The HTTP layer's own rules, tested against a test-local ServiceApi whose methods can be made to throw:
 * bearer auth on every /api route, input validation messages, error → status mapping, and that no reply
 * carries a stack trace or the token. What the API answers from a real service is in http-api.test.ts.
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReplayError } from "../../src/engine/replay-dataset.js";
import { ResolveError } from "../../src/engine/resolve-escalation.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { type ServiceApi, TriggerError } from "../../src/serve/service-api.js";

const TOKEN = "test-token-0123456789abcdef";
const SECRET_URL = "postgres://app:hunter2@db.internal/app";

/** Records each call; `fail` makes the next call of that method throw. */
function stubApi() {
  const calls: { method: string; args: unknown[] }[] = [];
  const fail = new Map<string, unknown>();
  const call = <T>(method: string, args: unknown[], value: T): Promise<T> => {
    calls.push({ method, args });
    const err = fail.get(method);
    if (err !== undefined) {
      fail.delete(method);
      return Promise.reject(err);
    }
    return Promise.resolve(value);
  };
  const history = {
    runs: [],
    lag: [],
    ttc: [],
    anomalies: [],
    summary: {
      passes: 0,
      convergenceRate: null,
      ttc: { p50: null, p90: null, p99: null },
      repairSuccessRate: null,
      escalationRate: null,
    },
  };
  const api: ServiceApi = {
    health: () => ({ ok: true, startedAt: 1, datasets: 1 }),
    datasets: () => call("datasets", [], []),
    runs: (f) => call("runs", [f], []),
    run: (id) =>
      call(
        "run",
        [id],
        id === "r1"
          ? [
              {
                id: "r1",
                dataset: "d",
                command: "repair",
                startedAt: 1,
                status: "ok" as const,
                counts: {},
                stats: {},
              },
            ]
          : [],
      ),
    segments: async () => [],
    control: (name, action) => call("control", [name, action], { runId: "r1", state: "paused" as const }),
    divergences: (f) => call("divergences", [f], []),
    countDivergences: (f) => call("countDivergences", [f], 0),
    escalations: (f) => call("escalations", [f], []),
    countEscalations: (f) => call("countEscalations", [f], 0),
    escalationGroups: (f) => call("escalationGroups", [f], []),
    escalation: (id) => call("escalation", [id], { id } as never),
    escalationValues: (id) => call("escalationValues", [id], { id } as never),
    resolveMatching: (f, choice, confirm, by) =>
      call("resolveMatching", [f, choice, confirm, by], {
        confirmed: false as const,
        preview: { count: 0, token: "0123456789abcdef" },
      }),
    resolve: (id, choice) =>
      call("resolve", [id, choice], {
        id,
        status: "resolved" as const,
        key: ["7"],
        keyJson: [7],
        dataset: "d",
        repairs: [{ id: "x", key: ["7"], target: "b", outcome: "applied" as const }],
      }),
    audit: (f) => call("audit", [f], []),
    verifyAudit: () => call("verifyAudit", [], { ok: true, count: 0 }),
    trigger: (dataset, mode) => call("trigger", [dataset, mode], { runId: "run-1" }),
    replay: (dataset, replica) =>
      call("replay", [dataset, replica], {
        source: "a",
        replica,
        cursor: { from: 0, to: 3 },
        logLast: 3,
        batches: 1,
        changes: 3,
        keys: 3,
        finished: true,
        gap: null,
        counts: {},
        repairs: { applied: 3 },
        escalated: 0,
        remaining: 0,
        rowsRead: 6,
      }),
    history: (f) => call("history", [f], history),
    metrics: () =>
      call("metrics", [], {
        contentType: "text/plain; version=0.0.4; charset=utf-8",
        body: "concord_up 1\n",
      }),
    hint: (dataset) =>
      call("hint", [dataset], {
        dataset,
        at: "2024-05-01T12:00:00.000Z",
        lagThresholdSeconds: 30,
        state: "fresh" as const,
        lag: { p50: null, p99: null, samples: 0 },
        openDivergences: 0,
        openEscalations: 0,
      }),
    keyHint: (dataset, key) =>
      call("keyHint", [dataset, key], {
        dataset,
        key,
        divergent: false,
        repairPending: false,
        divergentSince: null,
        lastVerifiedAt: null,
      }),
    subscribeHints: () => () => {},
    policies: () => call("policies", [], []),
    insights: (dataset) => call("insights", [dataset], []),
    candidate: (d) => call("candidate", [d], null),
    approveCandidate: (d, by) => call("approveCandidate", [d, by], {} as never),
    approval: (d) => call("approval", [d], null),
    promoteCandidate: (d, by) => call("promoteCandidate", [d, by], {} as never),
    approvePolicy: (d, by) => call("approvePolicy", [d, by], {} as never),
    reload: (by) => call("reload", [by], { reloaded: true as const, datasets: {}, tokens: false }),
  };
  return { api, calls, fail };
}

const API_ROUTES: readonly { method: "GET" | "POST"; url: string; payload?: unknown }[] = [
  { method: "GET", url: "/api/datasets" },
  { method: "GET", url: "/api/runs" },
  { method: "GET", url: "/api/runs/r1" },
  { method: "GET", url: "/api/divergences" },
  { method: "GET", url: "/api/escalations" },
  { method: "POST", url: "/api/escalations/e1/resolve", payload: { reject: true } },
  { method: "GET", url: "/api/audit" },
  { method: "GET", url: "/api/audit/verify" },
  { method: "POST", url: "/api/datasets/d/scan" },
  { method: "POST", url: "/api/datasets/d/repair" },
  { method: "POST", url: "/api/datasets/d/pause" },
  { method: "POST", url: "/api/datasets/d/resume" },
  { method: "POST", url: "/api/datasets/d/abort" },
  { method: "GET", url: "/api/history" },
  { method: "GET", url: "/api/hints/d" },
  { method: "GET", url: "/api/hints/d?key=7" },
  { method: "GET", url: "/api/no-such-route" },
  { method: "GET", url: "/api" },
];

let app: FastifyInstance;
let stub: ReturnType<typeof stubApi>;
const logged: string[] = [];
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  stub = stubApi();
  app = buildHttpApp(stub.api, { token: TOKEN, log: (line) => logged.push(line) });
  await app.ready();
});
afterAll(() => app.close());

/** Every error answer: JSON `{ error }` in one line, no stack, no token. */
function expectCleanError(res: { body: string; headers: Record<string, unknown> }): string {
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(["error"]);
  const error = body.error as string;
  expect(error).not.toMatch(/\n|\bat .*:\d+:\d+|node_modules|\.ts:\d/);
  expect(res.body).not.toContain(TOKEN);
  return error;
}

describe("bearer auth", () => {
  it.each(API_ROUTES)(
    "$method $url answers 401 without a token, with a wrong one, or another scheme",
    async (route) => {
      const before = stub.calls.length;
      for (const headers of [
        {},
        { authorization: "Bearer wrong-token-0123456789abcdef" },
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` },
        { authorization: `Bearer${TOKEN}` },
        { authorization: "Bearer " },
      ]) {
        const res = await app.inject({
          method: route.method,
          url: route.url,
          headers,
          payload: route.payload as object,
        });
        expect(res.statusCode, JSON.stringify(headers)).toBe(401);
        expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
        expectCleanError(res);
      }
      expect(stub.calls.length, "the service is never reached").toBe(before);
    },
  );

  it("accepts the token, with the scheme in any case", async () => {
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER  ${TOKEN}`]) {
      const res = await app.inject({ url: "/api/datasets", headers: { authorization } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ datasets: [] });
    }
  });

  it("answers /api/queue with an empty queue under --role all (no queue), behind the token", async () => {
    expect((await app.inject({ url: "/api/queue" })).statusCode).toBe(401);
    const res = await app.inject({ url: "/api/queue", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ role: "all", datasets: [], workers: [] });
  });

  it("guards /api paths however they are spelled", async () => {
    for (const url of ["/api/datasets?x=1", "/%61pi/datasets", "/api/datasets/", "/api/runs/%2e%2e"]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(401);
    }
  });

  it("leaves /healthz, /metrics and the dashboard open", async () => {
    const health = await app.inject({ url: "/healthz" });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ ok: true, startedAt: 1, datasets: 1 });
    const metrics = await app.inject({ url: "/metrics" });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain/);
    expect(metrics.body).toBe("concord_up 1\n");
    const page = await app.inject({ url: "/" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.body).toContain("/assets/uPlot.iife.min.js");
  });

  it("rejects an empty token at build time", () => {
    expect(() => buildHttpApp(stub.api, { token: "" })).toThrow(/token/);
  });
});

describe("input validation", () => {
  const cases: readonly [string, string | RegExp, string?, unknown?][] = [
    ["/api/runs?limit=0", "query.limit: expected an integer from 1 to 10000"],
    ["/api/runs?limit=abc", "query.limit: expected an integer from 1 to 10000"],
    ["/api/runs?limit=10001", "query.limit: expected an integer from 1 to 10000"],
    ["/api/runs?limit=1.5", "query.limit: expected an integer from 1 to 10000"],
    ["/api/runs?limit=-1", "query.limit: expected an integer from 1 to 10000"],
    ["/api/runs?limt=5", 'query: unknown parameter "limt"'],
    ["/api/runs?dataset=a&dataset=b", "query.dataset: expected one name"],
    ["/api/runs?dataset=", "query.dataset: must not be empty"],
    ["/api/datasets?verbose=1", 'query: unknown parameter "verbose"'],
    ["/api/divergences?class=drift", /^query\.class: expected one of missing, stale, conflict, .*schema/],
    ["/api/escalations?status=closed", "query.status: expected one of open, resolved, rejected"],
    ["/api/audit?key=[oops", /^query\.key: expected a JSON array of key values/],
    ["/api/audit?limit=99999999", "query.limit: expected an integer from 1 to 10000"],
    ["/api/audit/verify?deep=1", 'query: unknown parameter "deep"'],
    [
      "/api/history?since=yesterday",
      "query.since: expected milliseconds since the epoch or an ISO 8601 date-time",
    ],
    [
      "/api/history?since=2026-13-45",
      "query.since: expected milliseconds since the epoch or an ISO 8601 date-time",
    ],
    // A day the month does not have (Date.parse would read it as March 1st).
    [
      "/api/history?since=2024-02-30T00:00:00Z",
      "query.since: expected milliseconds since the epoch or an ISO 8601 date-time",
    ],
    ["/api/runs/r1?x=1", 'query: unknown parameter "x"'],
    ["/api/escalations/e1/resolve", 'body: give exactly one of "pick" or "reject"', "POST", {}],
    [
      "/api/escalations/e1/resolve",
      'body: give exactly one of "pick" or "reject"',
      "POST",
      { pick: "a", reject: true },
    ],
    ["/api/escalations/e1/resolve", "body.pick: expected a replica name", "POST", { pick: "" }],
    ["/api/escalations/e1/resolve", "body.pick: expected a replica name", "POST", { pick: 3 }],
    ["/api/escalations/e1/resolve", "body.reject: expected true", "POST", { reject: false }],
    ["/api/escalations/e1/resolve", 'body: unknown field "force"', "POST", { pick: "a", force: true }],
    ["/api/escalations/e1/resolve", /^body: expected a JSON object/, "POST", ["pick"]],
    ["/api/escalations/e1/resolve", /^body: expected a JSON object/, "POST", undefined],
    ["/api/datasets/d/scan", 'body: unknown field "now"', "POST", { now: true }],
    ["/api/datasets/d/repair", "body: expected no body (or {})", "POST", [1]],
  ];

  it.each(cases)("%s %s", async (url, expected, method = "GET", payload = undefined) => {
    const before = stub.calls.length;
    const res = await app.inject({
      method: method as "GET" | "POST",
      url,
      headers: auth,
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    expect(res.statusCode).toBe(400);
    const error = expectCleanError(res);
    if (typeof expected === "string") expect(error).toBe(expected);
    else expect(error).toMatch(expected);
    expect(stub.calls.length, "the service is never reached").toBe(before);
  });

  it("answers malformed JSON and other media types with one line", async () => {
    const bad = await app.inject({
      method: "POST",
      url: "/api/escalations/e1/resolve",
      headers: { ...auth, "content-type": "application/json" },
      payload: '{"pick": ',
    });
    expect(bad.statusCode).toBe(400);
    expectCleanError(bad);
    const text = await app.inject({
      method: "POST",
      url: "/api/escalations/e1/resolve",
      headers: { ...auth, "content-type": "text/plain" },
      payload: "pick a",
    });
    expect(text.statusCode).toBe(400);
    expect(expectCleanError(text)).toMatch(/^body: expected a JSON object/);
    const xml = await app.inject({
      method: "POST",
      url: "/api/escalations/e1/resolve",
      headers: { ...auth, "content-type": "application/xml" },
      payload: "<pick>a</pick>",
    });
    expect(xml.statusCode).toBe(415);
    expectCleanError(xml);
  });

  it("passes parsed values to the service", async () => {
    stub.calls.length = 0;
    await app.inject({ url: "/api/runs?dataset=d&limit=25", headers: auth });
    await app.inject({ url: "/api/divergences?class=lww-tie&limit=3", headers: auth });
    await app.inject({ url: "/api/divergences?dataset=d&offset=20", headers: auth });
    await app.inject({ url: "/api/escalations?status=open", headers: auth });
    await app.inject({ url: "/api/audit?run=r1&key=42&limit=5", headers: auth });
    await app.inject({ url: "/api/audit?key=eu,x", headers: auth });
    await app.inject({ url: "/api/audit?key=[7]", headers: auth });
    await app.inject({ url: `/api/audit?key=${encodeURIComponent("[10,null]")}`, headers: auth });
    await app.inject({ url: "/api/history?dataset=d&since=2026-01-01T00:00:00Z", headers: auth });
    await app.inject({ url: "/api/history?since=1700000000000", headers: auth });
    expect(stub.calls.map((c) => [c.method, ...c.args])).toEqual([
      ["runs", { dataset: "d", limit: 25 }],
      ["divergences", { class: "lww-tie", limit: 3, offset: 0 }],
      ["countDivergences", { class: "lww-tie" }],
      ["divergences", { dataset: "d", limit: 10_000, offset: 20 }],
      ["countDivergences", { dataset: "d" }],
      ["escalations", { status: "open", limit: 10_000, offset: 0 }],
      ["countEscalations", { status: "open" }],
      ["audit", { run: "r1", key: '["42"]', limit: 5 }],
      ["audit", { key: '["eu","x"]' }],
      ["audit", { key: '["7"]' }],
      ["audit", { key: '["10",null]' }],
      ["history", { dataset: "d", since: Date.UTC(2026, 0, 1) }],
      ["history", { since: 1_700_000_000_000 }],
    ]);
  });
});

describe("answers", () => {
  it("wraps lists, 404s an unknown run, 202s a trigger, shapes a resolution", async () => {
    expect((await app.inject({ url: "/api/runs/r1", headers: auth })).json()).toMatchObject({
      runs: [{ id: "r1" }],
    });
    const missing = await app.inject({ url: "/api/runs/nope", headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(expectCleanError(missing)).toBe("no run with id nope");
    const scan = await app.inject({ method: "POST", url: "/api/datasets/d/scan", headers: auth });
    expect(scan.statusCode).toBe(202);
    expect(scan.json()).toEqual({ runId: "run-1" });
    const resolved = await app.inject({
      method: "POST",
      url: "/api/escalations/e1/resolve",
      headers: auth,
      payload: { pick: "b" },
    });
    expect(resolved.statusCode).toBe(200);
    expect(resolved.json()).toEqual({
      id: "e1",
      status: "resolved",
      dataset: "d",
      key: [7],
      repairs: [{ id: "x", target: "b", outcome: "applied" }],
    });
    expect(stub.calls.at(-1)).toEqual({ method: "resolve", args: ["e1", { pick: "b" }] });
  });

  it("runs a replay with { replica } and answers its outcome; refuses another body in one line", async () => {
    const url = "/api/datasets/d/replay";
    const ok = await app.inject({ method: "POST", url, headers: auth, payload: { replica: "b" } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ dataset: "d", replica: "b", cursor: { from: 0, to: 3 }, remaining: 0 });
    expect(stub.calls.at(-1)).toEqual({ method: "replay", args: ["d", "b"] });
    for (const payload of [{}, { replica: "" }, { replica: "b", batch: 5 }]) {
      const bad = await app.inject({ method: "POST", url, headers: auth, payload });
      expect(bad.statusCode).toBe(400);
      expect(expectCleanError(bad)).toMatch(/^body/);
    }
  });

  it("answers unknown routes with 404 JSON, a wrong method on a known one with 405", async () => {
    for (const url of ["/nope", "/assets/nope.js", "/healthz/x"]) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(404);
      expect(expectCleanError(res)).toBe(`not found: GET ${url}`);
    }
    const wrongMethod = await app.inject({ method: "DELETE", url: "/api/datasets", headers: auth });
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toBe("GET, HEAD, OPTIONS");
    expect(expectCleanError(wrongMethod)).toBe(
      "method not allowed: DELETE /api/datasets (allowed: GET, HEAD, OPTIONS)",
    );
  });

  it("answers OPTIONS of every known path 204 with Allow and no CORS headers; unknown paths 404, /api 401 without a token", async () => {
    const cases: [string, string][] = [
      ["/healthz", "GET, HEAD, OPTIONS"],
      ["/metrics", "GET, HEAD, OPTIONS"],
      ["/api/datasets", "GET, HEAD, OPTIONS"],
      ["/api/datasets/d/scan", "OPTIONS, POST"],
      ["/api/runs/r1", "GET, HEAD, OPTIONS"],
    ];
    for (const [url, allow] of cases) {
      const res = await app.inject({
        method: "OPTIONS",
        url,
        headers: { ...auth, origin: "https://x.example" },
      });
      expect(res.statusCode, url).toBe(204);
      expect(res.headers.allow, url).toBe(allow);
      expect(res.body, url).toBe("");
      expect(
        Object.keys(res.headers).filter((h) => h.startsWith("access-control-")),
        url,
      ).toEqual([]);
    }
    const unknown = await app.inject({ method: "OPTIONS", url: "/nope" });
    expect(unknown.statusCode).toBe(404);
    expect(expectCleanError(unknown)).toBe("not found: OPTIONS /nope");
    const anonymous = await app.inject({ method: "OPTIONS", url: "/api/datasets" });
    expect(anonymous.statusCode).toBe(401);
  });

  const mapped: readonly [string, unknown, number][] = [
    ["resolve", new ResolveError("not-found", "no escalation with id e1"), 404],
    ["resolve", new ResolveError("not-open", "escalation e1 is already resolved"), 409],
    [
      "resolve",
      new ResolveError("bad-choice", "pick z: not an option for escalation e1 (options: a, b)"),
      400,
    ],
    ["resolve", new ResolveError("unknown-dataset", "escalation e1 belongs to dataset gone"), 409],
    ["trigger", new TriggerError("unknown-dataset", "no dataset named d"), 404],
    ["trigger", new TriggerError("busy", "dataset d is already running a pass"), 409],
    ["trigger", new TriggerError("stopping", "the service is stopping"), 503],
    ["replay", new TriggerError("unknown-dataset", "no dataset named d"), 404],
    ["replay", new TriggerError("bad-replica", "replica: z is not a replica of d"), 400],
    ["replay", new TriggerError("not-replay", "dataset d: policy.resolve is not replay"), 409],
    ["replay", new TriggerError("busy", "dataset d is already replaying onto b"), 409],
    ["replay", new ReplayError("d: replaying seqs 1–3 of a's change log left 1 divergence"), 409],
  ];
  it.each(mapped)("%s throwing %s answers %i with its message", async (method, err, status) => {
    stub.fail.set(method, err);
    const res =
      method === "resolve"
        ? await app.inject({
            method: "POST",
            url: "/api/escalations/e1/resolve",
            headers: auth,
            payload: { pick: "z" },
          })
        : method === "replay"
          ? await app.inject({
              method: "POST",
              url: "/api/datasets/d/replay",
              headers: auth,
              payload: { replica: "b" },
            })
          : await app.inject({ method: "POST", url: "/api/datasets/d/repair", headers: auth });
    expect(res.statusCode).toBe(status);
    expect(expectCleanError(res)).toBe((err as Error).message);
  });

  it("answers an unexpected error with 500 'internal error' and logs it without secrets", async () => {
    logged.length = 0;
    stub.fail.set(
      "datasets",
      new Error(`cannot open ${SECRET_URL} with token ${TOKEN}\n    at Object.<anonymous> (x.ts:1:1)`),
    );
    const res = await app.inject({ url: "/api/datasets", headers: auth });
    expect(res.statusCode).toBe(500);
    expect(expectCleanError(res)).toBe("internal error");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(
      "GET /api/datasets failed: Error: cannot open postgres://app:***@db.internal/app",
    );
    expect(logged[0]).not.toContain("hunter2");
    expect(logged[0]).not.toContain(TOKEN);
    expect(logged[0]).not.toContain("\n");

    stub.fail.set("history", "a string, not an Error");
    const odd = await app.inject({ url: "/api/history", headers: auth });
    expect(odd.statusCode).toBe(500);
    expect(expectCleanError(odd)).toBe("internal error");
  });
});

describe("dashboard assets", () => {
  it("serves uPlot and the dashboard files with ETags", async () => {
    for (const [url, type] of [
      ["/assets/uPlot.iife.min.js", /^text\/javascript/],
      ["/assets/uPlot.min.css", /^text\/css/],
      ["/assets/dashboard.js", /^text\/javascript/],
      ["/assets/dashboard.css", /^text\/css/],
      ["/assets/favicon.svg", /^image\/svg\+xml/],
    ] as const) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers["content-type"]).toMatch(type);
      const etag = res.headers.etag as string;
      const again = await app.inject({ url, headers: { "if-none-match": etag } });
      expect(again.statusCode).toBe(304);
    }
    expect((await app.inject({ url: "/assets/uPlot.iife.min.js" })).body).toContain("uPlot");
  });

  it("never builds markup from data: the script uses no innerHTML, outerHTML, insertAdjacentHTML or document.write", async () => {
    const js = (await app.inject({ url: "/assets/dashboard.js" })).body.replace(/^\s*\/\/.*$/gm, "");
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });
});
