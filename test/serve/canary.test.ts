/**
 * A staged rollout (`candidate: { mode: canary }`) in serve: the candidate decides exactly the keys whose
 * hash falls below the step's fraction (checked key by key against the replicas), promotion to the next
 * step needs the step to hold for its passes and then distinct approvers (an operator may not approve, an
 * approver not twice), and a candidate that fares worse than the live policy by more than the margin is
 * rolled back on its own, audited and alerted.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { inCanary } from "../../src/core/canary.js";
import { hashToken } from "../../src/core/token-hash.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { ACCOUNTS, type ServeFixture, startFixture } from "./http-fixture.js";

const LEAD1 = "canary-lead-one-token-0123456789";
const LEAD2 = "canary-lead-two-token-0123456789";
const OPS = "canary-operator-token-0123456789";

let fx: ServeFixture;
let app: FastifyInstance;

beforeEach(async () => {
  fx = await startFixture({ datasets: ["accounts"] });
  app = buildHttpApp(fx.service.api, {
    token: [
      { name: "lead1", role: "approver", hash: hashToken(LEAD1, "sha256") },
      { name: "lead2", role: "approver", hash: hashToken(LEAD2, "sha256") },
      { name: "ops", role: "operator", hash: hashToken(OPS, "sha256") },
    ],
    log: () => {},
  });
  await app.ready();
});

afterEach(async () => {
  await app?.close();
  await fx?.close();
});

async function call(method: "GET" | "POST", url: string, token = LEAD1) {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(method === "POST" ? { payload: {} } : {}),
  });
  return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown> };
}

interface View {
  status: string;
  fraction: number;
  goodPasses: number;
  approvals: string[];
  rollback: string | null;
  last: { live: { decided: number; bad: number }; candidate: { decided: number; bad: number } } | null;
}
const view = async () => (await call("GET", "/api/datasets/accounts/candidate")).body.candidate as View;
const auditOf = async (type: string) =>
  (
    (await call("GET", "/api/audit?limit=5000")).body.entries as {
      type: string;
      data: Record<string, unknown>;
    }[]
  ).filter((e) => e.type === type);

/** Writes a candidate file and the dataset's live policy and candidate block, and reloads. */
async function configure(live: string, candidateFile: string, block: string) {
  writeFileSync(join(fx.dir, "candidate.yaml"), candidateFile);
  const path = join(fx.dir, "concord.yaml");
  writeFileSync(
    path,
    readFileSync(path, "utf8").replace(
      /policy: \{[^\n]*\}\n/,
      `policy: ${live}\n    candidate: { policy: candidate.yaml, mode: canary, ${block} }\n`,
    ),
  );
  await fx.service.api.reload("test");
}

async function repairPass() {
  await fx.service.api.trigger("accounts", "repair");
  await fx.service.idle();
}

describe("canary rollout", () => {
  it("applies the candidate to exactly the keys below the step's fraction, and is promoted by two distinct approvers", async () => {
    // Every row but the fixture's own divergences conflicts: same version, another name on b. Live
    // (highest-version, no owner) escalates a conflict; the candidate (owner a) copies a's record.
    const special = new Set<number>([...ACCOUNTS.stale, ...ACCOUNTS.conflict, ...ACCOUNTS.missing]);
    fx.sql("b", "UPDATE accounts SET name = name || ' (b)' WHERE version = 2");
    await configure(
      "{ resolve: highest-version }",
      "owner: a\nresolve: owner\n",
      "steps: [0.25, 1], passes: 1, approvals: 2",
    );
    expect(await view()).toMatchObject({ status: "running", fraction: 0.25, goodPasses: 0 });

    await repairPass();
    // Key by key: repaired exactly where the key's hash is below 0.25 (the stale rows are repaired by both).
    for (let id = 1; id <= ACCOUNTS.rows; id++) {
      if (special.has(id)) continue;
      const same =
        JSON.stringify(fx.row("a", "accounts", id)) === JSON.stringify(fx.row("b", "accounts", id));
      expect(same, `key ${id}`).toBe(inCanary([String(id)], 0.25));
    }
    const after = await view();
    expect(after).toMatchObject({ status: "awaiting-approval", goodPasses: 1 });
    expect(after.last!.candidate.bad).toBe(0);
    expect(after.last!.live.bad).toBe(
      after.last!.live.decided - ACCOUNTS.stale.filter((id) => !inCanary([String(id)], 0.25)).length,
    );

    // Promotion: an operator may not approve; one approver is not enough; not twice.
    expect((await call("POST", "/api/datasets/accounts/candidate/approve", OPS)).status).toBe(403);
    expect(
      (await call("POST", "/api/datasets/accounts/candidate/approve", LEAD1)).body.candidate,
    ).toMatchObject({
      status: "awaiting-approval",
      approvals: ["token:lead1"],
      fraction: 0.25,
    });
    const twice = await call("POST", "/api/datasets/accounts/candidate/approve", LEAD1);
    expect(twice).toEqual({
      status: 409,
      body: { error: "token:lead1 already approved this step; another approver is needed" },
    });
    const promoted = await call("POST", "/api/datasets/accounts/candidate/approve", LEAD2);
    expect(promoted.body.candidate).toMatchObject({
      status: "running",
      fraction: 1,
      approvals: [],
      goodPasses: 0,
    });
    expect((await auditOf("canary-step")).map((e) => e.data)).toEqual([
      { from: 0.25, to: 1, approvers: ["token:lead1", "token:lead2"] },
    ]);
    // Approving again before the new step has held: refused.
    expect((await call("POST", "/api/datasets/accounts/candidate/approve", LEAD1)).status).toBe(409);

    // The last step: the candidate decides every key; the conflicts are all repaired.
    await repairPass();
    for (let id = 1; id <= ACCOUNTS.rows; id++)
      if (!special.has(id))
        expect(fx.row("b", "accounts", id), `key ${id}`).toEqual(fx.row("a", "accounts", id));
    expect((await call("GET", "/api/audit/verify")).body.ok).toBe(true);
  });

  it("rolls back on its own when the candidate's keys fare worse than the margin allows", async () => {
    fx.sql("b", "UPDATE accounts SET name = name || ' (b)' WHERE version = 2");
    // Live: a owns every record (all repaired). Candidate: highest-version without an owner (conflicts escalate).
    await configure(
      "{ owner: a, resolve: owner }",
      "resolve: highest-version\n",
      "steps: [0.5, 1], passes: 2, margin: 0.1",
    );
    await repairPass();
    const v = await view();
    expect(v.status).toBe("rolled-back");
    expect(v.fraction).toBe(0);
    expect(v.rollback).toMatch(
      /^the candidate's keys fared worse: \d+ of \d+ escalated, failed or superseded/,
    );
    const [rolled] = await auditOf("canary-rolled-back");
    expect(rolled!.data).toMatchObject({ step: 0, fraction: 0.5, margin: 0.1 });
    expect(fx.logs.some((l) => l.startsWith("ALERT accounts: canary rolled back:"))).toBe(true);
    // Rolled back: the next pass is the live policy's alone, and approvals are refused.
    await repairPass();
    for (let id = 1; id <= ACCOUNTS.rows; id++)
      if (!ACCOUNTS.missing.includes(id as never))
        expect(fx.row("b", "accounts", id), `key ${id}`).toEqual(fx.row("a", "accounts", id));
    expect(await call("POST", "/api/datasets/accounts/candidate/approve", LEAD1)).toEqual({
      status: 409,
      body: { error: "the rollout is rolled-back" },
    });
  });
});
