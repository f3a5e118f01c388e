/**
 * The dashboard's run control and drill-down in real headless Chromium (Debian's /usr/bin/chromium through
 * playwright-core): Pause on a running pass holds it after the segment in flight, Resume and Abort appear
 * on a held one, Abort asks first and ends the pass (recorded failed, aborted), and a run's id opens its
 * segment groups. A write lock held on a replica keeps the pass running while the test clicks Pause.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { FastifyInstance } from "fastify";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { type ServeFixture, startFixture, TOKEN } from "../serve/http-fixture.js";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
const LAUNCH = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
];

if (!haveChromium && process.env.CI)
  throw new Error(`${CHROMIUM} is missing: CI requires Debian's chromium (apt-get install chromium)`);

describe.skipIf(!haveChromium)("dashboard: pause, resume, abort and the run drill-down", () => {
  let fx: ServeFixture;
  let app: FastifyInstance;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    fx = await startFixture({ datasets: ["catalog"] });
    app = buildHttpApp(fx.service.api, { token: TOKEN });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    if (!address || typeof address === "string") throw new Error("no TCP address");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
    await page.goto(`http://127.0.0.1:${address.port}`);
    await page.fill("#token-input", TOKEN);
    await page.click("#token-submit");
    await page.waitForSelector('[data-dataset="catalog"]');
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await fx?.close();
  });

  it("pauses a running pass from its card, then aborts it after asking", async () => {
    const card = page.locator('article[data-dataset="catalog"]');
    // b's write lock keeps the repair pass running (waiting to write) while Pause is clicked.
    const lock = new Database(join(fx.dir, "b.db"));
    lock.exec("BEGIN IMMEDIATE");
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      lock.exec("ROLLBACK");
      lock.close();
    };
    try {
      await card.getByRole("button", { name: "Repair now" }).click();
      await card.locator('button[data-control="pause"]').click();
      await expect
        .poll(() => card.locator(".note").textContent())
        .toContain("pausing after the segment in flight");
    } finally {
      release();
    }
    await expect.poll(() => card.locator(".badge.paused").count(), { timeout: 20_000 }).toBe(1);
    expect(await card.locator('button[data-control="resume"]').count()).toBe(1);
    expect(await card.locator('button[data-control="pause"]').count()).toBe(0);
    const runId = (await fx.service.api.datasets())[0]!.progress!.runId;

    await card.locator('button[data-control="abort"]').click();
    await expect.poll(() => page.locator("#confirm-dialog").isVisible()).toBe(true);
    expect(await page.textContent("#confirm-body")).toContain(`Pass ${runId} stops after the step in flight`);
    await page.click("#confirm-ok");
    await fx.service.idle();
    const [run] = await fx.service.api.run(runId);
    expect(run).toMatchObject({ status: "failed", stats: { aborted: 1 } });
    await expect.poll(() => card.locator(".badge.idle").count()).toBe(1);
    expect(await card.locator("button[data-control]").count()).toBe(0);
  });

  it("resumes a held pass from its card, and opens a run's segments from the runs table", async () => {
    const card = page.locator('article[data-dataset="catalog"]');
    const { runId } = await fx.service.api.trigger("catalog", "scan");
    await fx.service.api.control("catalog", "pause");
    await page.click("#refresh");
    await expect.poll(() => card.locator('button[data-control="resume"]').count()).toBe(1);
    await card.locator('button[data-control="resume"]').click();
    await fx.service.idle();
    const [run] = await fx.service.api.run(runId);
    expect(run!.status).not.toBe("running");

    await page.click("#refresh");
    await page.locator(`tr[data-run-id="${runId}"] button.link`).click();
    await page.waitForSelector("#segment-table");
    const segments = await fx.service.api.segments(runId);
    expect(segments.length).toBeGreaterThan(1);
    const shown = await page
      .locator("#segment-table tbody tr")
      .evaluateAll((rows) =>
        rows.map((r) => [r.getAttribute("data-from"), r.getAttribute("data-to")].map(Number)),
      );
    expect(shown).toEqual(segments.map((s) => [s.from, s.to]));
    expect(await page.textContent("#run-detail")).toContain(`Run ${runId}`);
    expect(problems).toEqual([]);
  });
});
