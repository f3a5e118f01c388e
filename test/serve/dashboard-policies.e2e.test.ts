/**
 * The dashboard's policy panel in real headless Chromium: each dataset's policy versions and the last
 * change's diff, the shadow candidate's agreement and disagreements by rule, and buttons by the token's
 * role: a viewer sees no reload button and no resolve buttons; an admin reloads the config from the page.
 * Without Chromium the test is skipped with a message, except in CI (CI=true), where it fails.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../../src/core/token-hash.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { type ServeFixture, startFixture } from "./http-fixture.js";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
const LAUNCH = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
];
const VIEWER = "dashboard-viewer-token-0123456789";
const ADMIN = "dashboard-admin-token-0123456789";

if (!haveChromium) {
  if (process.env.CI)
    throw new Error(`${CHROMIUM} is missing: CI requires Debian's chromium (apt-get install chromium)`);
  console.warn(`skipping the dashboard policy test: ${CHROMIUM} is missing (apt-get install chromium)`);
}

describe.skipIf(!haveChromium)("dashboard policies in headless Chromium", () => {
  let fx: ServeFixture;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;
  const problems: string[] = [];

  beforeAll(async () => {
    fx = await startFixture({ datasets: ["accounts"] });
    // One pass under highest-version, then a changed policy with a candidate in shadow, and a pass under it.
    await fx.service.api.trigger("accounts", "repair");
    await fx.service.idle();
    writeFileSync(join(fx.dir, "owner-a.yaml"), "owner: a\nresolve: owner\n");
    const path = join(fx.dir, "concord.yaml");
    writeFileSync(
      path,
      readFileSync(path, "utf8").replace(
        "policy: { resolve: highest-version }",
        "policy: { resolve: highest-version, limits: { maxRepairs: 900 } }\n    candidate: { policy: owner-a.yaml, mode: shadow }",
      ),
    );
    await fx.service.api.reload("test");
    await fx.service.api.trigger("accounts", "repair");
    await fx.service.idle();
    app = buildHttpApp(fx.service.api, {
      token: [
        { name: "eyes", role: "viewer", hash: hashToken(VIEWER, "sha256") },
        { name: "root", role: "admin", hash: hashToken(ADMIN, "sha256") },
      ],
      log: () => {},
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    if (!address || typeof address === "string") throw new Error("no TCP address");
    base = `http://127.0.0.1:${address.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await fx?.close();
  });

  async function signIn(token: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
    await page.goto(base);
    await page.fill("#token-input", token);
    await page.click("#token-submit");
    await page.waitForSelector('[data-policy-dataset="accounts"]');
    return page;
  }

  it("shows the versions, the diff and the candidate's agreement; a viewer gets no buttons that act", async () => {
    const page = await signIn(VIEWER);
    const panel = page.locator('[data-policy-dataset="accounts"]');
    expect(await panel.locator("tr[data-version]").count()).toBe(2);
    expect(await panel.locator("tr[data-version]").nth(1).textContent()).toContain("(current)");
    const diff = await panel.locator('[data-diff-of="accounts"]').textContent();
    expect(diff).toContain("+     maxRepairs: 900");
    expect(await panel.locator("pre.diff .add").count()).toBeGreaterThan(0);
    // The first pass repaired the stale rows: what remains (conflicts, a missing row) the candidate would
    // decide otherwise.
    await expect.poll(() => panel.locator("[data-agreement]").textContent()).toBe("0.0% agreement");
    expect(await panel.locator('[data-candidate-of="accounts"] p').textContent()).toContain(
      "(0 agree, 3 disagree over 1 pass; would have made 3 writes)",
    );
    expect(await panel.locator('[data-candidate-of="accounts"] tbody tr').count()).toBeGreaterThan(0);
    // A viewer: no reload, and the queue's resolve buttons are not shown.
    expect(await page.locator("#reload").isVisible()).toBe(false);
    await page.waitForSelector("#escalation-table tr[data-escalation-id]");
    expect(await page.locator("#escalation-table button[data-pick]").first().isVisible()).toBe(false);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("offers Promote to live to approvers only, and promotes the shadow candidate from the page", async () => {
    const viewer = await signIn(VIEWER);
    await viewer.waitForSelector('[data-candidate-of="accounts"]');
    expect(await viewer.locator("button[data-promote]").count()).toBe(0);
    await viewer.close();
    const admin = await signIn(ADMIN);
    await admin.click('button[data-promote="accounts"]');
    // One approval is all this candidate needs: it is live, and no candidate is left in shadow.
    await expect.poll(() => admin.locator('[data-candidate-of="accounts"]').count()).toBe(0);
    const { body } = await app.inject({
      url: "/api/audit?limit=1000",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const promoted = (
      JSON.parse(body) as { entries: { type: string; data: { approvers: string[] } }[] }
    ).entries.filter((e) => e.type === "candidate-promoted");
    expect(promoted.map((e) => e.data.approvers)).toEqual([["token:root"]]);
    expect(problems).toEqual([]);
    await admin.close();
  });

  it("shows a canary rollout, with Approve for approvers only, and promotes it from the page", async () => {
    const path = join(fx.dir, "concord.yaml");
    writeFileSync(
      path,
      readFileSync(path, "utf8").replace("mode: shadow }", "mode: canary, steps: [0.5, 1], passes: 1 }"),
    );
    await fx.service.api.reload("test");
    await fx.service.api.trigger("accounts", "repair");
    await fx.service.idle();
    const viewer = await signIn(VIEWER);
    const block = viewer.locator('[data-candidate-of="accounts"]');
    await expect.poll(() => block.getAttribute("data-canary-status")).toBe("awaiting-approval");
    expect(await block.locator("[data-canary]").textContent()).toBe("awaiting-approval, 50% of keys");
    expect(await block.locator("button[data-approve]").count()).toBe(0);
    await viewer.close();

    const admin = await signIn(ADMIN);
    await admin.click('button[data-approve="accounts"]');
    await expect
      .poll(() => admin.locator('[data-candidate-of="accounts"] [data-canary]').textContent())
      .toBe("running, 100% of keys");
    expect(problems).toEqual([]);
    await admin.close();
  });

  it("lets an admin reload the config from the page", async () => {
    const page = await signIn(ADMIN);
    await expect.poll(() => page.locator("#reload").isVisible()).toBe(true);
    expect(await page.getAttribute("body", "data-role")).toBe("admin");
    await page.click("#reload");
    await expect.poll(() => page.textContent("#reload-result")).toBe("Reloaded: nothing changed");
    const { body } = await app.inject({
      url: "/api/audit?limit=1000",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const reloads = (
      JSON.parse(body) as { entries: { type: string; data: { by: string } }[] }
    ).entries.filter((e) => e.type === "config-reloaded");
    expect(reloads.map((e) => e.data.by)).toEqual(["test", "test", "token:root"]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("holds a reloaded policy under policyApprovals, with Approve policy change for approvers only", async () => {
    const path = join(fx.dir, "concord.yaml");
    writeFileSync(
      path,
      readFileSync(path, "utf8").replace(
        "limits: { maxRepairs: 900 } }",
        "limits: { maxRepairs: 800 } }\n    policyApprovals: 1",
      ),
    );
    await fx.service.api.reload("test");
    const viewer = await signIn(VIEWER);
    const held = viewer.locator('[data-approval-of="accounts"]');
    await expect.poll(() => held.getAttribute("data-approval-kind")).toBe("reload");
    expect(await held.locator("[data-approvals]").textContent()).toBe("approvals 0 of 1");
    expect(await held.locator("button[data-approve-policy]").count()).toBe(0);
    await viewer.close();
    const admin = await signIn(ADMIN);
    await admin.click('button[data-approve-policy="accounts"]');
    await expect.poll(() => admin.locator('[data-approval-of="accounts"]').count()).toBe(0);
    expect(await fx.service.api.approval("accounts")).toBeNull();
    expect(problems).toEqual([]);
    await admin.close();
  });
});
