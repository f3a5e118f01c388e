/**
 * Reloading a running service's config (POST /api/reload, admin only; SIGHUP runs the same reload): a
 * changed policy and schedule apply from the next pass, the policy change goes through the registry and the
 * audit naming who reloaded, and a bad file, or one changing what needs a restart, is refused in one line
 * with the running config kept.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../../src/core/token-hash.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { type ServeFixture, startFixture } from "./http-fixture.js";

const ADMIN = "admin-token-for-reload-0123456789";
const OPERATOR = "operator-token-for-reload-0123456789";

let fx: ServeFixture;
let app: FastifyInstance;
let original: string;

beforeAll(async () => {
  fx = await startFixture({ datasets: ["accounts"] });
  original = readFileSync(join(fx.dir, "concord.yaml"), "utf8");
  app = buildHttpApp(fx.service.api, {
    token: [
      { name: "root", role: "admin", hash: hashToken(ADMIN, "sha256") },
      { name: "ops", role: "operator", hash: hashToken(OPERATOR, "sha256") },
    ],
    log: () => {},
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await fx?.close();
});

const write = (text: string) => writeFileSync(join(fx.dir, "concord.yaml"), text);

async function call(method: "GET" | "POST", url: string, token = ADMIN) {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(method === "POST" ? { payload: {} } : {}),
  });
  return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown> };
}

interface Entry {
  type: string;
  data: Record<string, unknown>;
}
const audit = async () => (await call("GET", "/api/audit?limit=1000")).body.entries as Entry[];
const policies = async () =>
  (await call("GET", "/api/policies")).body.policies as {
    dataset: string;
    current: string;
    versions: unknown[];
    diff: string[];
  }[];
const accounts = async () =>
  ((await call("GET", "/api/datasets")).body.datasets as { name: string; scheduleMs: number | null }[])[0]!;

describe("config reload", () => {
  it("refuses a bad file in one line and keeps the running config", async () => {
    await fx.service.api.trigger("accounts", "repair");
    await fx.service.idle();
    const before = await policies();
    expect(before[0]!.versions).toHaveLength(1);
    const entries = (await audit()).length;

    const cases: [string, RegExp][] = [
      [original.replace("resolve: highest-version", "resolve: sideways"), /policy\.resolve: expected one of/],
      [`${original}\n  : [`, /concord\.yaml:\d+:\d+: /],
      [
        original.replace('url: "sqlite:b.db"', 'url: "sqlite:c.db"'),
        /datasets\.accounts\.replicas changed; restart serve to apply it/,
      ],
      [original.replace("state: sqlite:state.db", "state: sqlite:other.db"), /state changed; restart serve/],
    ];
    for (const [text, message] of cases) {
      write(text);
      const r = await call("POST", "/api/reload");
      expect(r.status, String(r.body.error)).toBe(400);
      expect(String(r.body.error)).toMatch(message);
      expect(String(r.body.error)).not.toContain("\n");
    }
    // Kept: the same config, no reload audited, the same policy at the next pass.
    expect(fx.service.config.datasets[0]!.policy.resolve).toBe("highest-version");
    expect((await audit()).length).toBe(entries);
    await fx.service.api.trigger("accounts", "repair");
    await fx.service.idle();
    expect(await policies()).toEqual(before);
  });

  it("applies a good file from the next pass: the policy through the registry and audit, named by who reloaded", async () => {
    // An operator may not reload.
    write(original);
    expect((await call("POST", "/api/reload", OPERATOR)).status).toBe(403);

    write(
      original.replace(
        "policy: { resolve: highest-version }",
        "policy: { resolve: highest-version, limits: { maxRepairs: 500 } }\n    schedule: 1h",
      ),
    );
    const r = await call("POST", "/api/reload");
    expect(r).toEqual({
      status: 200,
      body: { reloaded: true, datasets: { accounts: ["policy", "scheduleMs"] }, tokens: false },
    });
    expect((await accounts()).scheduleMs).toBe(3_600_000);
    const reloaded = (await audit()).filter((e) => e.type === "config-reloaded");
    expect(reloaded.map((e) => [e.data.by, e.data.datasets])).toEqual([
      ["token:root", { accounts: ["policy", "scheduleMs"] }],
    ]);

    await fx.service.api.trigger("accounts", "repair");
    await fx.service.idle();
    const [p] = await policies();
    expect(p!.versions).toHaveLength(2);
    expect(p!.diff).toEqual(expect.arrayContaining(["+   limits:", "+     maxRepairs: 500"]));
    const changes = (await audit()).filter((e) => e.type === "policy-changed");
    expect(changes.map((e) => e.data.by)).toEqual(["serve", "token:root"]);
    // Passes after that one name the service again (nothing changed).
    await fx.service.api.trigger("accounts", "repair");
    await fx.service.idle();
    expect((await audit()).filter((e) => e.type === "policy-changed")).toHaveLength(2);
    expect((await call("GET", "/api/audit/verify")).body.ok).toBe(true);
  });

  it("names who started a pass over HTTP in the audit", async () => {
    const r = await call("POST", "/api/datasets/accounts/scan", OPERATOR);
    expect(r.status).toBe(202);
    await fx.service.idle();
    const triggered = (await audit()).filter((e) => e.type === "triggered");
    expect(triggered.map((e) => e.data)).toEqual([{ by: "token:ops", mode: "scan" }]);
  });
});
