/**
 * A candidate policy in shadow (`candidate: { policy: FILE, mode: shadow }`): every divergence of a repair
 * pass is decided by both policies, the live decision is applied, the candidate's is recorded (an audit entry
 * per pass) and shown over the API: agreement rate, disagreements by rule, what it would have written.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { ACCOUNTS, type ServeFixture, startFixture, TOKEN } from "./http-fixture.js";

let fx: ServeFixture;
let app: FastifyInstance;

beforeAll(async () => {
  fx = await startFixture({ datasets: ["accounts"] });
  app = buildHttpApp(fx.service.api, { token: TOKEN, log: () => {} });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await fx?.close();
});

async function get<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.statusCode, body: JSON.parse(res.body) as T };
}

interface CandidateJson {
  candidate: {
    mode: string;
    passes: number;
    agree: number;
    disagree: number;
    agreementRate: number | null;
    wouldWrite: number;
    livePolicyVersion: string;
    candidatePolicyVersion: string;
    byRule: { live: string; candidate: string; count: number }[];
    disagreements: {
      key: number[];
      class: string;
      live: { action: string };
      candidate: { action: string; source: string; targets: string[] };
    }[];
  };
}

describe("shadow mode", () => {
  it("decides with both policies, applies the live one and records the candidate's", async () => {
    expect((await get("/api/datasets/accounts/candidate")).status).toBe(404);
    // The candidate: a owns every record (the live policy, highest-version without an owner, escalates
    // conflicts and missing records).
    writeFileSync(join(fx.dir, "owner-a.yaml"), "owner: a\nresolve: owner\n");
    const path = join(fx.dir, "concord.yaml");
    writeFileSync(
      path,
      readFileSync(path, "utf8").replace(
        "policy: { resolve: highest-version }",
        "policy: { resolve: highest-version }\n    candidate: { policy: owner-a.yaml, mode: shadow }",
      ),
    );
    expect(await fx.service.api.reload("test")).toMatchObject({ datasets: { accounts: ["candidate"] } });
    const before = await get<CandidateJson>("/api/datasets/accounts/candidate");
    expect(before.body.candidate).toMatchObject({ mode: "shadow", passes: 0, agreementRate: null });

    await fx.service.api.trigger("accounts", "repair");
    await fx.service.idle();
    const { body } = await get<CandidateJson>("/api/datasets/accounts/candidate");
    const c = body.candidate;
    // Stale rows: both copy a's newer record to b. Conflicts and the missing row: live escalates, the
    // candidate would copy a's.
    expect([c.passes, c.agree, c.disagree]).toEqual([
      1,
      ACCOUNTS.stale.length,
      ACCOUNTS.conflict.length + ACCOUNTS.missing.length,
    ]);
    expect(c.agreementRate).toBe(0.5);
    expect(c.wouldWrite).toBe(3);
    expect(c.candidatePolicyVersion).not.toBe(c.livePolicyVersion);
    expect(c.disagreements.map((d) => [d.key[0], d.class, d.live.action, d.candidate.action])).toEqual([
      [10, "conflict", "escalate", "propagate"],
      [11, "conflict", "escalate", "propagate"],
      [200, "missing", "escalate", "propagate"],
    ]);
    expect(c.disagreements.every((d) => d.candidate.source === "a" && d.candidate.targets[0] === "b")).toBe(
      true,
    );
    expect(c.byRule.reduce((n, r) => n + r.count, 0)).toBe(3);
    expect(c.byRule.every((r) => r.candidate === "resolve: owner")).toBe(true);

    // The live decisions were applied, the candidate's not.
    for (const id of ACCOUNTS.stale) expect(fx.row("b", "accounts", id)).toEqual(fx.row("a", "accounts", id));
    expect(fx.row("b", "accounts", 10)).not.toEqual(fx.row("a", "accounts", 10));
    expect(fx.row("b", "accounts", 200)).toBeNull();

    // Recorded: one shadow entry for the pass, before the chain's end, and the chain verifies.
    const { body: log } = await get<{ entries: { type: string; data: Record<string, unknown> }[] }>(
      "/api/audit?limit=1000",
    );
    const shadows = log.entries.filter((e) => e.type === "shadow");
    expect(shadows).toHaveLength(1);
    expect(shadows[0]!.data).toMatchObject({
      agree: 3,
      disagree: 3,
      candidatePolicyVersion: c.candidatePolicyVersion,
    });
    expect((await get<{ ok: boolean }>("/api/audit/verify")).body.ok).toBe(true);
  });

  it("refuses a candidate that does not fit the dataset, naming it, and keeps the running config", async () => {
    writeFileSync(join(fx.dir, "bad.yaml"), "owner: z\n");
    const path = join(fx.dir, "concord.yaml");
    const good = readFileSync(path, "utf8");
    writeFileSync(path, good.replace("policy: owner-a.yaml", "policy: bad.yaml"));
    await expect(fx.service.api.reload("test")).rejects.toThrow(
      /datasets\.accounts\.candidate\.policy: bad\.yaml: datasets\.accounts\.policy\.owner: "z" is not a replica of accounts/,
    );
    expect(fx.service.config.datasets[0]!.candidate?.file).toBe(join(fx.dir, "owner-a.yaml"));
  });
});
