/**
 * Adaptive focus on the dashboard in real headless Chromium: after a pass of a `focus: adaptive` dataset
 * with drift evidence in one key range, its card says what serve prioritised and why — the plan's sentence,
 * and the hot segment with its drift rate and extra visits; a dataset without focus shows no focus line.
 * Without Chromium the test is skipped with a message, except in CI (CI=true), where it fails.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../../src/core/token-hash.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import { createService, type Service } from "../../src/serve/service.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
const LAUNCH = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
];
const VIEWER = "dashboard-focus-viewer-0123456789";

if (!haveChromium) {
  if (process.env.CI)
    throw new Error(`${CHROMIUM} is missing: CI requires Debian's chromium (apt-get install chromium)`);
  console.warn(`skipping the dashboard focus test: ${CHROMIUM} is missing (apt-get install chromium)`);
}

describe.skipIf(!haveChromium)("adaptive focus on the dashboard in headless Chromium", () => {
  let dir: string;
  let service: Service;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;
  const problems: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "concord-dashboard-focus-"));
    makeItemsReplicas(dir, { rows: 100 });
    // Four segments of 25 rows; `items` is focused, `plain` (the same tables) is not.
    const cfg = itemsConfig(dir, {
      extra: `    checkpointRows: 25
    focus: { window: 2h }
  plain:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    policy: { owner: a, resolve: highest-version }
    checkpointRows: 25
`,
    });
    service = await createService(cfg, { log: () => {} });
    // Segment 2 drifted lately and needed repairs: 8 divergences in the 2 h window, 4 an hour.
    await service.state.addEvidence([
      {
        dataset: "items",
        replica: "",
        column: "",
        segment: 2,
        class: "stale",
        facet: "",
        at: Date.now() - 60_000,
        counts: { divergences: 8, repaired: 8 },
      },
    ]);
    for (const name of ["items", "plain"]) {
      await service.api.trigger(name, "scan");
      await service.idle();
    }
    app = buildHttpApp(service.api, {
      token: [{ name: "eyes", role: "viewer", hash: hashToken(VIEWER, "sha256") }],
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
    await service?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shows what the pass prioritised and why: the hot segment, its drift rate and its extra visits", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
    await page.goto(base);
    await page.fill("#token-input", VIEWER);
    await page.click("#token-submit");
    const card = page.locator('article[data-dataset="items"]');
    const focus = card.locator("dd.focus");
    await focus.waitFor();
    expect(await focus.getAttribute("data-segments")).toBe("4");
    expect(await focus.getAttribute("data-visits")).toBe("8");
    expect(await focus.locator(".focus-reason").textContent()).toBe(
      "8 visits over 4 segments: hot ranges scanned more often: segment 3 5× (8 divergences, 8 repaired); the other 3 once per pass",
    );
    expect(Number(await focus.locator("[data-planned-at]").getAttribute("data-planned-at"))).toBe(
      (await service.api.datasets()).find((d) => d.name === "items")!.focus!.plannedAt,
    );
    const hot = focus.locator(".focus-hot li");
    expect(await hot.count()).toBe(1);
    expect(await hot.first().getAttribute("data-segment")).toBe("2");
    expect(await hot.first().getAttribute("data-extra")).toBe("4");
    expect(await hot.first().getAttribute("data-rate")).toBe("4.00");
    // The replicas agree: its visits found nothing open now (live evidence), so the line says nothing of it.
    expect(await hot.first().getAttribute("data-found")).toBe("0");
    expect(await hot.first().textContent()).toBe(
      "segment 3: 8 divergences (8 repaired) in 2 h, 4.0/h · 5 visits per pass (4 extra)",
    );
    expect(await card.locator("dt", { hasText: "Focus" }).count()).toBe(1);
    // The plan is visible: the list sits under the sentence, inside the card.
    expect((await hot.first().boundingBox())?.height).toBeGreaterThan(5);
    // A dataset that scans uniformly shows no focus line.
    const plain = page.locator('article[data-dataset="plain"]');
    await plain.locator("dd").first().waitFor();
    expect(await plain.locator("dd.focus").count()).toBe(0);
    expect(await plain.locator("dt", { hasText: "Focus" }).count()).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  });
});
