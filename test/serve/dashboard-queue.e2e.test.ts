/**
 * The dashboard's "Workers and queue" panel in real headless Chromium against a coordinator's service (its
 * queue in memory): the failed attempts `/api/queue` reports are listed newest first with the worker, the
 * segment, the run, the attempt (the last one marked), the error as text and the time; a coordinator with
 * none says so. Without Chromium the test is skipped with a message, except in CI (CI=true), where it fails.
 */
import { existsSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/serve/http/app.js";
import type { QueueStatus } from "../../src/serve/service-api.js";
import { type ServeFixture, startFixture, TOKEN } from "./http-fixture.js";
import { InlineQueue } from "./inline-queue.js";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
const LAUNCH = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
];

if (!haveChromium) {
  if (process.env.CI)
    throw new Error(`${CHROMIUM} is missing: CI requires Debian's chromium (apt-get install chromium)`);
  console.warn(`skipping the dashboard queue test: ${CHROMIUM} is missing (apt-get install chromium)`);
}

describe.skipIf(!haveChromium)("the dashboard's workers and queue panel in headless Chromium", () => {
  let fx: ServeFixture;
  let app: FastifyInstance;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    fx = await startFixture({ datasets: ["accounts"], queue: new InlineQueue() });
    app = buildHttpApp(fx.service.api, { token: TOKEN, log: () => {} });
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
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await fx?.close();
  });

  it("says when no attempt failed", async () => {
    await expect.poll(() => page.locator("#workers-panel").isVisible()).toBe(true);
    await expect.poll(() => page.textContent("#failures")).toContain("No failed attempt");
    expect(await page.textContent("#failure-count")).toBe("");
  });

  it("lists the failed attempts /api/queue reports, newest first, the last attempt marked", async () => {
    const failures = [
      {
        dataset: "accounts",
        runId: "pass-1",
        index: 3,
        worker: "host-w:7:ww",
        error: "replica b: connection refused",
        attempt: 2,
        final: false,
      },
      {
        dataset: "accounts",
        runId: "pass-1",
        index: undefined,
        worker: undefined,
        error: "<b>not markup</b>",
        attempt: 5,
        final: true,
      },
    ];
    for (const f of failures) fx.service.segmentFailed(f);
    const status = (await (
      await app.inject({ url: "/api/queue", headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as QueueStatus;
    expect(status.failures).toHaveLength(2);
    // The dashboard reads the API again on its own schedule; a reload shows it at once.
    await page.reload();
    const rows = page.locator("#failures tr[data-failure]");
    await expect.poll(() => rows.count()).toBe(2);
    const cells = async (i: number) =>
      (await rows.nth(i).locator("td").allTextContents()).map((t) => t.trim());
    const newest = await cells(0);
    expect(newest.slice(0, 6)).toEqual([
      "unknown",
      "accounts",
      "–",
      "pass-1",
      "5 (last)",
      "<b>not markup</b>",
    ]);
    expect(await rows.nth(0).getAttribute("data-final")).toBe("true");
    // The error is text, never markup.
    expect(await page.locator("#failures td b").count()).toBe(0);
    const older = await cells(1);
    expect(older.slice(0, 6)).toEqual([
      "host-w:7:ww",
      "accounts",
      "4",
      "pass-1",
      "2",
      "replica b: connection refused",
    ]);
    expect(older[6]).toMatch(/just now|ago/);
    expect(await rows.nth(1).locator("time").getAttribute("datetime")).toBe(
      new Date(status.failures[0]!.at).toISOString(),
    );
    expect(await page.textContent("#failure-count")).toBe("2");
    const headers = await page.locator("#failures th").allTextContents();
    expect(headers).toEqual(["worker", "dataset", "segment", "run", "attempt", "error", "time"]);
    expect(problems).toEqual([]);
  });
});
