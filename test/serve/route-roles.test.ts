/**
 * Every API route × every role: a token whose role lacks the right gets 403 and the service is never
 * called; one that has it gets through. The routes are enumerated from the app as registered, so a new
 * route without a role rule fails here (and cannot even be registered: buildHttpApp refuses it).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROLES, type Role, roleAllows } from "../../src/core/roles.js";
import { hashToken } from "../../src/core/token-hash.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { ROUTE_ROLES } from "../../src/serve/http/route-roles.js";
import type { ServiceApi } from "../../src/serve/service-api.js";

const tokenOf = (role: Role) => `token-for-the-${role}-role-0123456789`;
const LEGACY = "the-one-legacy-serve-token-0123";

/** A ServiceApi that records which methods were called and answers something plausible to each. */
function recordingApi(calls: string[]): ServiceApi {
  const answers: Record<string, unknown> = {
    health: { ok: true, startedAt: 1, datasets: 1 },
    countEscalations: 0,
    resolveMatching: { confirmed: false, preview: { count: 0, token: "0123456789abcdef" } },
    resolve: { id: "e1", status: "rejected", key: [], keyJson: [], dataset: "d", repairs: [] },
    verifyAudit: { ok: true, count: 0 },
    trigger: { runId: "run-1" },
    history: { runs: [], lag: [], ttc: [], anomalies: [], summary: {} },
    metrics: { contentType: "text/plain", body: "" },
    run: [{ id: "r1" }],
    escalation: { id: "e1" },
    escalationValues: { id: "e1" },
    reload: { reloaded: true, datasets: {}, tokens: false },
  };
  return new Proxy({} as ServiceApi, {
    get: (_, name: string) => {
      if (name === "then") return undefined;
      return (...args: unknown[]) => {
        calls.push(name);
        void args;
        const answer = answers[name] ?? [];
        return name === "health" ? answer : Promise.resolve(answer);
      };
    },
  });
}

/** A request for each route: its path with parameters filled in, and a body it accepts. */
function requestFor(method: string, url: string): { url: string; payload?: Record<string, unknown> } {
  const path = url.replace(":id", "e1").replace(":name", "d");
  if (method !== "POST") return { url: path };
  if (url === "/api/escalations/resolve") return { url: path, payload: { reject: true } };
  if (url === "/api/escalations/:id/resolve") return { url: path, payload: { reject: true } };
  if (url === "/api/datasets/:name/replay") return { url: path, payload: { replica: "b" } };
  return { url: path, payload: {} };
}

const registered: { method: string; url: string }[] = [];
const calls: string[] = [];
let app: ReturnType<typeof buildHttpApp>;

beforeAll(async () => {
  app = buildHttpApp(recordingApi(calls), {
    token: [
      { name: undefined, token: LEGACY },
      ...ROLES.map((role) => ({ name: role, role, hash: hashToken(tokenOf(role), "sha256") })),
    ],
    onRoute: (method, url) => registered.push({ method, url }),
    log: () => {},
  });
  await app.ready();
});
afterAll(() => app.close());

const apiRoutes = () =>
  registered
    .filter((r) => r.url.startsWith("/api") && r.method !== "HEAD")
    .sort((a, b) => (a.url < b.url ? -1 : 1));

describe("roles on every route", () => {
  it("has a rule for every registered API route, and a route for every rule", () => {
    const routes = apiRoutes().map((r) => `${r.method} ${r.url}`);
    expect(routes.length).toBeGreaterThan(10);
    expect(new Set(routes)).toEqual(new Set(Object.keys(ROUTE_ROLES)));
  });

  it("answers 403 without calling the service when the role lacks the right, and lets it through otherwise", async () => {
    const table: string[] = [];
    for (const { method, url } of apiRoutes()) {
      const needed = ROUTE_ROLES[`${method} ${url}`]!;
      for (const role of ROLES) {
        calls.length = 0;
        // A Server-Sent Events stream never ends, so inject cannot wait for it: only refusals are checked
        // here (test/serve/hints.test.ts reads the stream with the tokens allowed to).
        if (url.endsWith("/events") && roleAllows(role, needed)) continue;
        const req = requestFor(method, url);
        const res = await app.inject({
          method: method as "GET" | "POST",
          url: req.url,
          headers: { authorization: `Bearer ${tokenOf(role)}` },
          ...(req.payload !== undefined ? { payload: req.payload } : {}),
        });
        const allowed = roleAllows(role, needed);
        table.push(`${method} ${url} ${role}: ${res.statusCode}`);
        if (allowed) {
          expect(res.statusCode, `${method} ${url} as ${role}: ${res.body}`).toBeLessThan(400);
        } else {
          expect(res.statusCode, `${method} ${url} as ${role}`).toBe(403);
          expect(JSON.parse(res.body).error).toBe(
            `forbidden: token ${role} has role ${role}; ${method} ${url} needs ${needed}`,
          );
          expect(calls, `${method} ${url} as ${role}`).toEqual([]);
        }
      }
    }
    // Each role can do what the one below it can, and viewer < operator < admin strictly.
    const counts = ROLES.map((role) => table.filter((l) => new RegExp(` ${role}: 20[0-9]$`).test(l)).length);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
    const [, viewer, operator, , admin] = counts;
    expect(viewer).toBeLessThan(operator!);
    expect(operator).toBeLessThan(admin!);
  });

  it("keeps the one legacy token working as admin, acting as api", async () => {
    for (const { method, url } of apiRoutes()) {
      if (url.endsWith("/events")) continue; // a stream that never ends (see above)
      const req = requestFor(method, url);
      const res = await app.inject({
        method: method as "GET" | "POST",
        url: req.url,
        headers: { authorization: `Bearer ${LEGACY}` },
        ...(req.payload !== undefined ? { payload: req.payload } : {}),
      });
      expect(res.statusCode, `${method} ${url}`).toBeLessThan(400);
    }
    const who = await app.inject({ url: "/api/whoami", headers: { authorization: `Bearer ${LEGACY}` } });
    expect(JSON.parse(who.body)).toEqual({ actor: "api", role: "admin" });
    const named = await app.inject({
      url: "/api/whoami",
      headers: { authorization: `Bearer ${tokenOf("operator")}` },
    });
    expect(JSON.parse(named.body)).toEqual({ actor: "token:operator", role: "operator" });
  });

  it("refuses to register an API route without a role rule", async () => {
    const bare = buildHttpApp(recordingApi([]), { token: LEGACY, log: () => {} });
    expect(() => bare.get("/api/unruled", async () => ({}))).toThrow(
      "GET /api/unruled: no role rule (add it to ROUTE_ROLES in route-roles.ts)",
    );
    await bare.close();
  });

  it("accepts scrypt hashes, and says nothing of a wrong token but that it is invalid", async () => {
    const salted = buildHttpApp(recordingApi([]), {
      token: [
        {
          name: "ops",
          role: "operator",
          hash: hashToken("a-person-chose-this-one", "scrypt", Buffer.alloc(16, 1)),
        },
      ],
      log: () => {},
    });
    const ok = await salted.inject({
      url: "/api/whoami",
      headers: { authorization: "Bearer a-person-chose-this-one" },
    });
    expect(JSON.parse(ok.body)).toEqual({ actor: "token:ops", role: "operator" });
    const bad = await salted.inject({
      url: "/api/whoami",
      headers: { authorization: "Bearer a-person-chose-this-onE" },
    });
    expect([bad.statusCode, JSON.parse(bad.body)]).toEqual([401, { error: "invalid token" }]);
    await salted.close();
  });
});
