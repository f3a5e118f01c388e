/**
 * The approval gate: promoting a shadow candidate to the live policy needs `candidate.approvals` distinct
 * approvers, and a policy changed by a reload needs `policyApprovals`; approvals are audited with their
 * actors, refused for operators (403) and for the same approver twice (409), and survive a restart. Real
 * serve over SQLite replicas, through the HTTP API; state on SQLite and PostgreSQL.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.js";
import { hashToken } from "../../src/core/token-hash.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { createService, type Service } from "../../src/serve/service.js";
import { itemsYaml, makeItemsReplicas } from "../support/sqlite-items.js";
import { STATE_KINDS } from "./persisted-state.fixture.js";

const LEAD1 = "approval-lead-one-token-0123456789";
const LEAD2 = "approval-lead-two-token-0123456789";
const OPS = "approval-operator-token-0123456789";
const CONFLICTS = [10, 20];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Parsed JSON as the tests read it (shapes asserted by the expectations themselves). */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
type Json = any;

interface Served {
  service: Service;
  call(method: "GET" | "POST", url: string, token?: string): Promise<{ status: number; body: Json }>;
  pass(): Promise<void>;
  stop(): Promise<void>;
}

/** Items replicas where b holds other names at the same version on CONFLICTS, and a config writer. */
function setUp(kind: (typeof STATE_KINDS)[number]) {
  const dir = mkdtempSync(join(tmpdir(), "concord-approvals-"));
  const state = kind.create();
  const served: Served[] = [];
  cleanups.push(async () => {
    for (const s of served) await s.stop().catch(() => {});
    await state.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  makeItemsReplicas(dir, { rows: 60, conflict: CONFLICTS });
  // The candidate owns a: it repairs the conflicts the live policy (no owner) escalates.
  writeFileSync(join(dir, "candidate.yaml"), "owner: a\nresolve: owner\n");
  const path = join(dir, "concord.yaml");
  const write = (policy: string, extra: string) =>
    writeFileSync(
      path,
      itemsYaml({ policy, extra }).replace("state: sqlite:state.db", `state: ${state.url}`),
    );
  const open = async (): Promise<Served> => {
    const service = await createService(loadConfig(path), {
      log: () => {},
      loadConfig: () => loadConfig(path),
    });
    await service.start();
    const app: FastifyInstance = buildHttpApp(service.api, {
      token: [
        { name: "lead1", role: "approver", hash: hashToken(LEAD1, "sha256") },
        { name: "lead2", role: "approver", hash: hashToken(LEAD2, "sha256") },
        { name: "ops", role: "operator", hash: hashToken(OPS, "sha256") },
      ],
      log: () => {},
    });
    await app.ready();
    const s: Served = {
      service,
      async call(method, url, token = LEAD1) {
        const res = await app.inject({
          method,
          url,
          headers: { authorization: `Bearer ${token}` },
          ...(method === "POST" ? { payload: {} } : {}),
        });
        return { status: res.statusCode, body: JSON.parse(res.body) };
      },
      async pass() {
        await service.api.trigger("items", "repair");
        await service.idle();
      },
      async stop() {
        await app.close();
        await service.stop();
      },
    };
    served.push(s);
    return s;
  };
  const conflictsLeft = () => {
    const a = new Database(join(dir, "a.db"), { readonly: true });
    const b = new Database(join(dir, "b.db"), { readonly: true });
    try {
      const name = (db: Database.Database, id: number) =>
        (db.prepare("SELECT name FROM items WHERE id = ?").get(id) as { name: string }).name;
      return CONFLICTS.filter((id) => name(a, id) !== name(b, id));
    } finally {
      a.close();
      b.close();
    }
  };
  const audit = async (s: Served, type: string) =>
    ((await s.call("GET", "/api/audit?limit=1000")).body.entries as { type: string; data: Json }[])
      .filter((e) => e.type === type)
      .map((e) => e.data);
  return { write, open, conflictsLeft, audit };
}

for (const kind of STATE_KINDS) {
  describe.skipIf(!kind.available)(`approval gate (${kind.name} state)`, () => {
    it("promotes a shadow candidate to live with two distinct approvers, across a restart", async () => {
      const t = setUp(kind);
      t.write(
        "resolve: highest-version",
        "    candidate: { policy: candidate.yaml, mode: shadow, approvals: 2 }\n",
      );
      let s = await t.open();
      await s.pass();
      expect(t.conflictsLeft()).toEqual(CONFLICTS);
      expect((await s.call("GET", "/api/datasets/items/approval")).body).toEqual({ approval: null });

      expect((await s.call("POST", "/api/datasets/items/candidate/promote", OPS)).status).toBe(403);
      const first = await s.call("POST", "/api/datasets/items/candidate/promote", LEAD1);
      expect(first.status).toBe(200);
      expect(first.body.approval).toMatchObject({
        kind: "promotion",
        requestedBy: "token:lead1",
        approvals: ["token:lead1"],
        approvalsNeeded: 2,
      });
      expect(await s.call("POST", "/api/datasets/items/candidate/promote", LEAD1)).toEqual({
        status: 409,
        body: { error: "token:lead1 already approved this promotion; another approver is needed" },
      });
      // One approval is not enough: the live policy still decides.
      await s.pass();
      expect(t.conflictsLeft()).toEqual(CONFLICTS);

      // The approval collected survives a restart.
      await s.stop();
      s = await t.open();
      expect((await s.call("GET", "/api/datasets/items/approval")).body.approval).toMatchObject({
        approvals: ["token:lead1"],
      });
      const done = await s.call("POST", "/api/datasets/items/candidate/promote", LEAD2);
      expect(done.body.approval.approvals).toEqual(["token:lead1", "token:lead2"]);
      expect((await s.call("GET", "/api/datasets/items/approval")).body).toEqual({ approval: null });
      expect((await s.call("GET", "/api/datasets/items/candidate")).status).toBe(404);
      expect((await t.audit(s, "policy-approval")).map((d) => [d.kind, d.by])).toEqual([
        ["promotion", "token:lead1"],
        ["promotion", "token:lead2"],
      ]);
      expect(await t.audit(s, "candidate-promoted")).toEqual([
        {
          file: join(s.service.config.path, "..", "candidate.yaml"),
          approvers: ["token:lead1", "token:lead2"],
        },
      ]);

      // The next pass decides by the candidate, adopting it in the registry under its approvers' names.
      await s.pass();
      expect(t.conflictsLeft()).toEqual([]);
      const changed = await t.audit(s, "policy-changed");
      expect(changed.at(-1).by).toBe("token:lead1, token:lead2");
      expect((await s.call("GET", "/api/audit/verify")).body.ok).toBe(true);

      // Still promoted after another restart (the config file is unchanged): no second adoption.
      await s.stop();
      s = await t.open();
      expect((await s.call("GET", "/api/datasets/items/candidate")).body).toEqual({
        error: "dataset items has no candidate policy",
      });
      await s.pass();
      expect((await t.audit(s, "policy-changed")).length).toBe(changed.length);
    });

    it("holds a reloaded policy until policyApprovals distinct approvers approve it", async () => {
      const t = setUp(kind);
      t.write("resolve: highest-version", "    policyApprovals: 2\n");
      const s = await t.open();
      await s.pass();
      expect((await s.call("POST", "/api/datasets/items/policy/approve")).status).toBe(409);

      t.write("owner: a, resolve: owner", "    policyApprovals: 2\n");
      await s.service.api.reload("token:admin");
      expect((await s.call("GET", "/api/datasets/items/approval")).body.approval).toMatchObject({
        kind: "reload",
        requestedBy: "token:admin",
        approvals: [],
        approvalsNeeded: 2,
      });
      // Held: the running policy still decides (the conflicts stay escalated).
      await s.pass();
      expect(t.conflictsLeft()).toEqual(CONFLICTS);
      expect((await s.call("POST", "/api/datasets/items/policy/approve", OPS)).status).toBe(403);
      await s.call("POST", "/api/datasets/items/policy/approve", LEAD1);
      await s.pass();
      expect(t.conflictsLeft()).toEqual(CONFLICTS);
      const done = await s.call("POST", "/api/datasets/items/policy/approve", LEAD2);
      expect(done.body.approval.approvals).toEqual(["token:lead1", "token:lead2"]);
      expect(await t.audit(s, "policy-approved")).toEqual([
        { requestedBy: "token:admin", approvers: ["token:lead1", "token:lead2"] },
      ]);
      expect((await t.audit(s, "policy-approval-requested")).map((d) => d.by)).toEqual(["token:admin"]);
      await s.pass();
      expect(t.conflictsLeft()).toEqual([]);
      expect((await t.audit(s, "policy-changed")).at(-1).by).toBe(
        "token:admin (approved by token:lead1, token:lead2)",
      );
    });
  });
}
