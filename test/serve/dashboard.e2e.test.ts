/**
 * The dashboard end to end in real headless Chromium (Debian's /usr/bin/chromium through playwright-core,
 * never a downloaded browser) against a live service and HTTP server over diverged SQLite replicas: asks
 * for the token, shows the numbers the API reports, resolves an escalation through the UI, verifies the
 * audit chain; saves test-output/dashboard.png (and a narrow-screen one). Without Chromium the test is
 * skipped with a message, except in CI (CI=true), where it fails.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/serve/http/app.js";
import type { DatasetStatus, EscalationView } from "../../src/serve/service-api.js";
import { type ServeFixture, startFixture, TOKEN } from "./http-fixture.js";

const CHROMIUM = "/usr/bin/chromium";
const OUTPUT = join(import.meta.dirname, "../../test-output");
const haveChromium = existsSync(CHROMIUM);

if (!haveChromium) {
  if (process.env.CI)
    throw new Error(`${CHROMIUM} is missing: CI requires Debian's chromium (apt-get install chromium)`);
  console.warn(`skipping the dashboard end-to-end test: ${CHROMIUM} is missing (apt-get install chromium)`);
}

describe.skipIf(!haveChromium)("dashboard in headless Chromium", () => {
  let fx: ServeFixture;
  let app: FastifyInstance;
  let browser: Browser;
  let page: Page;
  let base: string;
  const problems: string[] = [];

  const api = async <T>(url: string): Promise<T> =>
    (await app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } })).json() as T;

  beforeAll(async () => {
    fx = await startFixture({ probe: true });
    // Real passes and probes (over a replication link), spread over the last hour through the service's
    // clock, so the charts have points apart in time.
    const stop = fx.replicate(60);
    const steps: readonly (readonly ["accounts" | "catalog", "scan" | "repair"] | "probe")[] = [
      "probe",
      ["accounts", "repair"],
      ["catalog", "repair"],
      "probe",
      ["catalog", "scan"],
      "probe",
      ["accounts", "scan"],
      "probe",
    ];
    for (const [i, step] of steps.entries()) {
      fx.clockOffsetMs = -(steps.length - i) * 6 * 60_000;
      if (step === "probe") await fx.service.runner("accounts").probeOnce();
      else {
        await fx.service.api.trigger(...step);
        await fx.service.idle();
      }
    }
    fx.clockOffsetMs = 0;
    stop();
    app = buildHttpApp(fx.service.api, { token: TOKEN });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    if (!address || typeof address === "string") throw new Error("no TCP address");
    base = `http://127.0.0.1:${address.port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await fx?.close();
  });

  it("asks for the token, rejects a wrong one, then shows what the API reports", async () => {
    await page.goto(base);
    const dialog = page.locator("#token-dialog");
    await expect.poll(() => dialog.isVisible()).toBe(true);
    await page.fill("#token-input", "not-the-token-at-all");
    await page.click("#token-submit");
    await expect.poll(() => page.textContent("#token-message")).toContain("rejected");
    // The 401 the wrong token earned is the only expected console error.
    problems.splice(0);

    await page.fill("#token-input", TOKEN);
    await page.click("#token-submit");
    await page.waitForSelector('[data-dataset="accounts"] .chip[data-class="conflict"]');
    expect(await dialog.isVisible()).toBe(false);

    const { datasets } = await api<{ datasets: DatasetStatus[] }>("/api/datasets");
    expect(datasets.map((d) => d.name)).toEqual(["accounts", "catalog"]);
    const accounts = datasets.find((d) => d.name === "accounts")!;
    // The last pass of accounts was the scan after the repair: the escalated keys remain.
    expect(accounts.counts).toEqual({ conflict: 2, missing: 1 });
    expect(accounts.openEscalations).toBe(3);
    for (const d of datasets) {
      const card = page.locator(`article[data-dataset="${d.name}"]`);
      const shown: Record<string, number> = {};
      for (const chip of await card.locator(".facts .chip").all()) {
        shown[(await chip.getAttribute("data-class"))!] = Number(await chip.locator(".n").textContent());
      }
      expect(shown, d.name).toEqual(d.counts);
      expect(await card.locator("[data-open-escalations]").getAttribute("data-open-escalations")).toBe(
        String(d.openEscalations),
      );
      expect(await card.locator("tr[data-replica]").count()).toBe(d.replicas.length);
    }
    expect(await page.textContent('[data-figure="open-escalations"] .figure-value')).toBe("3");
    await expect.poll(() => page.locator("#chart-divergences .uplot").count()).toBe(1);
    await expect.poll(() => page.locator("#chart-lag .uplot").count()).toBe(1);
    expect(await page.locator("#escalation-table tbody tr").count()).toBe(3);
  });

  it("resolves an escalation through the UI and sees it leave the queue", async () => {
    const { escalations } = await api<{ escalations: EscalationView[] }>("/api/escalations?status=open");
    const target = escalations.find((e) => e.class === "conflict" && e.key[0] === 10)!;
    expect(target.options).toEqual(["a", "b"]);
    const row = page.locator(`tr[data-escalation-id="${target.id}"]`);
    await row.locator('button[data-pick="a"]').click();
    await row.waitFor({ state: "detached" });
    await expect.poll(() => page.locator("#escalation-table tbody tr").count()).toBe(2);
    await expect
      .poll(() => page.textContent("#escalations"))
      .toContain("resolved (pick a, 1 repair applied)");

    const open = await api<{ escalations: EscalationView[] }>("/api/escalations?status=open");
    expect(open.escalations.map((e) => e.id)).not.toContain(target.id);
    const resolved = await api<{ escalations: EscalationView[] }>("/api/escalations?status=resolved");
    expect(resolved.escalations.map((e) => e.id)).toContain(target.id);
    expect(fx.row("b", "accounts", 10)).toEqual(fx.row("a", "accounts", 10));
    await expect.poll(() => page.textContent('[data-figure="open-escalations"] .figure-value')).toBe("2");
  });

  it("verifies the audit chain from the page, and looks right on a wide and a narrow screen", async () => {
    await page.click("#verify");
    await page.waitForSelector('[data-verified="ok"]');
    expect(await page.textContent("#verify-result")).toMatch(/chain intact · \d+ entries/);
    expect(await page.locator("#audit tbody tr").count()).toBeGreaterThan(0);

    mkdirSync(OUTPUT, { recursive: true });
    await page.evaluate("window.scrollTo(0, 0)");
    await page.screenshot({ path: join(OUTPUT, "dashboard.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    await page.evaluate("window.scrollTo(0, 0)");
    const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"));
    expect(overflow, "no horizontal scrolling of the page on a narrow screen").toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(OUTPUT, "dashboard-narrow.png"), fullPage: true });
    expect(problems).toEqual([]);
  });
});
