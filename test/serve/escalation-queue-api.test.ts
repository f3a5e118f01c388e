/**
 * The escalation queue through the HTTP API over a real service and SQLite replicas (in-process): filters,
 * paging with a total, groups, values read on demand, a bulk resolution that needs the preview's count or
 * token, and who resolved what (the token's name when tokens are named, else "api").
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/serve/http/app.js";
import type { EscalationGroupView, EscalationValues, EscalationView } from "../../src/serve/service-api.js";
import { type ServeFixture, startFixture, TOKEN } from "./http-fixture.js";

const OPS_TOKEN = "ops-token-0123456789abcdef";
const auth = { authorization: `Bearer ${TOKEN}` };

let fx: ServeFixture;
let app: FastifyInstance;

beforeAll(async () => {
  // accounts: conflict on 10 and 11 (name differs on b), missing 200 on b: three escalations, two patterns.
  fx = await startFixture({ datasets: ["accounts"] });
  await fx.service.api.trigger("accounts", "repair");
  await fx.service.idle();
  app = buildHttpApp(fx.service.api, {
    token: [
      { name: "ops", token: OPS_TOKEN },
      { name: "dashboard", token: TOKEN },
    ],
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await fx?.close();
});

async function call<T>(url: string, payload?: object, headers = auth): Promise<{ status: number; body: T }> {
  const res = await app.inject({
    method: payload === undefined ? "GET" : "POST",
    url,
    headers,
    ...(payload ? { payload } : {}),
  });
  return { status: res.statusCode, body: res.json() as T };
}

async function get<T>(url: string): Promise<T> {
  const { status, body } = await call<T>(url);
  expect(status, `${url}: ${JSON.stringify(body)}`).toBe(200);
  return body;
}

type List = { escalations: EscalationView[]; total: number; offset: number; limit: number };
const keys = (l: List) => l.escalations.map((e) => e.key[0]);

describe("the escalation queue over HTTP", () => {
  it("filters by class, column and replica, pages with a total, and groups by pattern", async () => {
    const all = await get<List>("/api/escalations?status=open");
    expect([all.total, all.offset, all.limit]).toEqual([3, 0, 10_000]);
    expect(keys(all).sort()).toEqual([10, 11, 200]);
    expect(keys(await get<List>("/api/escalations?class=conflict"))).toEqual([10, 11]);
    expect(keys(await get<List>("/api/escalations?column=name"))).toEqual([10, 11]);
    expect(keys(await get<List>("/api/escalations?column=balance"))).toEqual([]);
    // Of two replicas that differ both are concerned; a lacking one alone.
    expect(keys(await get<List>("/api/escalations?replica=a")).sort()).toEqual([10, 11]);
    expect(keys(await get<List>("/api/escalations?replica=b")).sort()).toEqual([10, 11, 200]);
    const page = await get<List>("/api/escalations?status=open&limit=1&offset=1");
    expect([page.total, page.escalations.length, page.escalations[0]!.id]).toEqual([
      3,
      1,
      all.escalations[1]!.id,
    ]);

    const { groups } = await get<{ groups: EscalationGroupView[] }>("/api/escalations/groups?status=open");
    expect(groups.map((g) => [g.class, g.columns, g.absent, g.count, g.description])).toEqual([
      ["conflict", ["name"], [], 2, "differs in name"],
      ["missing", [], ["b"], 1, "absent on b"],
    ]);
    expect(groups[0]!.oldestAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    const byGroup = await get<List>(`/api/escalations?group=${groups[1]!.id}`);
    expect(keys(byGroup)).toEqual([200]);
    expect(byGroup.escalations[0]).toMatchObject({ absent: ["b"], group: groups[1]!.id });
    expect((await get<List>("/api/escalations?group=0123456789ab")).total).toBe(0);

    for (const [url, error] of [
      ["/api/escalations?class=weird", /^query\.class: expected one of missing, .*, guard$/],
      ["/api/escalations?group=xyz", "query.group: expected a group id (12 hex digits)"],
      ["/api/escalations?offset=-1", "query.offset: expected an integer from 0 to 999999999"],
      ["/api/escalations/groups?limit=5", 'query: unknown parameter "limit"'],
    ] as const) {
      const res = await call<{ error: string }>(url);
      expect(res.status, url).toBe(400);
      expect(res.body.error).toMatch(error);
    }
  });

  it("reads an escalated key's values on every replica now, side by side", async () => {
    const { escalations } = await get<List>("/api/escalations?class=conflict");
    const e10 = escalations.find((e) => e.key[0] === 10)!;
    const values = await get<EscalationValues>(`/api/escalations/${e10.id}/values`);
    expect(values).toEqual({
      id: e10.id,
      dataset: "accounts",
      key: [10],
      columns: ["balance", "name", "version"],
      state: "diverged",
      changed: false,
      differing: ["name"],
      replicas: {
        a: {
          present: true,
          values: { name: "Account 10", balance: "72.5", version: "2" },
          version: { counter: "2" },
        },
        b: {
          present: true,
          values: { name: "Account 10 (edited on b)", balance: "72.5", version: "2" },
          version: { counter: "2" },
        },
      },
    });
    expect((await call(`/api/escalations/nope/values`)).status).toBe(404);
    expect((await get<{ escalation: EscalationView }>(`/api/escalations/${e10.id}`)).escalation.id).toBe(
      e10.id,
    );
  });

  it("resolves a group only once confirmed by the preview's count or token, as the token's name", async () => {
    const { groups } = await get<{ groups: EscalationGroupView[] }>("/api/escalations/groups?status=open");
    const conflicts = groups.find((g) => g.class === "conflict")!;
    const preview = await call<{ confirmed: boolean; matched: number; token: string }>(
      "/api/escalations/resolve",
      {
        group: conflicts.id,
        pick: "a",
      },
    );
    expect(preview).toEqual({
      status: 200,
      body: { confirmed: false, matched: 2, token: expect.stringMatching(/^[0-9a-f]{16}$/) },
    });
    // The token stands for the choice too: rejecting needs a preview of its own.
    const rejectPreview = await call<{ token: string }>("/api/escalations/resolve", {
      group: conflicts.id,
      reject: true,
    });
    expect(rejectPreview.body.token).not.toBe(preview.body.token);
    for (const confirm of [{ count: 3 }, { token: rejectPreview.body.token }]) {
      const refused = await call<{ error: string }>("/api/escalations/resolve", {
        group: conflicts.id,
        pick: "a",
        confirm,
      });
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatch(
        /^2 open escalations match now, not the .* confirmed: list them again and confirm$/,
      );
    }
    expect((await get<List>("/api/escalations?status=open")).total).toBe(3);
    // A pick no dataset has a replica of: 400 before any preview or confirmation, nothing resolved.
    for (const body of [
      { group: conflicts.id, pick: "zz" },
      { group: conflicts.id, pick: "zz", confirm: { count: 2 } },
    ]) {
      const typo = await call<{ error: string }>("/api/escalations/resolve", body);
      expect([typo.status, typo.body.error]).toEqual([
        400,
        'pick zz: no replica named "zz" in the config (have: a, b)',
      ]);
    }
    expect((await get<List>("/api/escalations?status=open")).total).toBe(3);
    const bad = await call<{ error: string }>("/api/escalations/resolve", {
      group: conflicts.id,
      pick: "a",
      confirm: {},
    });
    expect([bad.status, bad.body.error]).toEqual([
      400,
      'body.confirm: expected { "count": <n> } or { "token": "<preview token>" }',
    ]);

    const done = await call<Record<string, unknown>>(
      "/api/escalations/resolve",
      { group: conflicts.id, pick: "a", confirm: { token: preview.body.token } },
      { authorization: `Bearer ${OPS_TOKEN}` },
    );
    expect(done).toEqual({
      status: 200,
      body: { confirmed: true, matched: 2, resolved: 2, rejected: 0, open: [], repairs: { applied: 2 } },
    });
    expect(fx.row("b", "accounts", 10)).toEqual(fx.row("a", "accounts", 10));
    const resolved = await get<List>("/api/escalations?status=resolved");
    expect(resolved.escalations.map((e) => [e.key[0], e.resolvedBy, e.pick])).toEqual([
      [10, "token:ops", "a"],
      [11, "token:ops", "a"],
    ]);
    expect(Date.parse(resolved.escalations[0]!.resolvedAt!)).toBeGreaterThan(Date.now() - 60_000);

    // One at a time, with the other named token: recorded as that name, with a count as confirmation.
    const missing = await call<Record<string, unknown>>("/api/escalations/resolve", {
      class: "missing",
      reject: true,
      confirm: { count: 1 },
    });
    expect(missing.body).toMatchObject({ confirmed: true, matched: 1, rejected: 1 });
    const rejected = await get<List>("/api/escalations?status=rejected");
    expect(rejected.escalations.map((e) => [e.key[0], e.resolvedBy, e.pick])).toEqual([
      [200, "token:dashboard", null],
    ]);
    const { entries } = await get<{ entries: { type: string; data: Record<string, unknown> }[] }>(
      "/api/audit?limit=20",
    );
    expect(
      entries.filter((e) => e.type === "resolved" || e.type === "rejected").map((e) => e.data.by),
    ).toEqual(["token:ops", "token:ops", "token:dashboard"]);
  });
});
