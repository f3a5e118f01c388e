/**
 * The dashboard's insights panel in real headless Chromium: reliability with its intervals (the replica that
 * keeps losing flagged), the drift heat map over key ranges × columns, recommendations with their evidence,
 * and "Export candidate policy", whose download is a file `plan --candidate` reads.
 * Without Chromium the test is skipped with a message, except in CI (CI=true), where it fails.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadCandidatePolicy } from "../../src/config/load-candidate.js";
import { hashToken } from "../../src/core/token-hash.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import type { EvidenceIncrement } from "../../src/state/state-store.js";
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
const VIEWER = "dashboard-insights-viewer-0123456789";

if (!haveChromium) {
  if (process.env.CI)
    throw new Error(`${CHROMIUM} is missing: CI requires Debian's chromium (apt-get install chromium)`);
  console.warn(`skipping the dashboard insights test: ${CHROMIUM} is missing (apt-get install chromium)`);
}

describe.skipIf(!haveChromium)("dashboard insights in headless Chromium", () => {
  let fx: ServeFixture;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;
  const problems: string[] = [];

  beforeAll(async () => {
    fx = await startFixture({ datasets: ["accounts"] });
    await fx.service.api.trigger("accounts", "repair");
    await fx.service.idle();
    // More history than one pass makes (3 stale keys): b lost 30 more of 40 settled decisions, drift piled up in range 2 on name.
    const at = Date.now();
    const inc = (over: Partial<EvidenceIncrement>): EvidenceIncrement => ({
      dataset: "accounts",
      replica: "",
      column: "",
      segment: 0,
      class: "stale",
      facet: "",
      at,
      counts: {},
      ...over,
    });
    await fx.service.state.addEvidence([
      inc({ replica: "a", counts: { settled: 40 } }),
      inc({ replica: "b", counts: { settled: 40, lost: 30 } }),
      inc({ column: "name", segment: 2, counts: { divergences: 9, repaired: 9 } }),
      inc({ segment: 2, counts: { divergences: 9, repaired: 9 } }),
      inc({ column: "balance", segment: 1, counts: { divergences: 1 } }),
      // A little drift everywhere else, so that range 2 stands out of a wide key space.
      ...[3, 4, 5, 6, 7, 8, 9].map((segment) => inc({ segment, counts: { divergences: 1 } })),
    ]);
    app = buildHttpApp(fx.service.api, {
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
    await fx?.close();
  });

  it("shows reliability intervals, the heat map and recommendations, and exports a candidate policy", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
    await page.goto(base);
    await page.fill("#token-input", VIEWER);
    await page.click("#token-submit");
    const panel = page.locator('[data-insights-dataset="accounts"]');
    await panel.waitFor();

    const rows = panel.locator("tr[data-replica]");
    expect(await rows.count()).toBe(2);
    expect([
      await rows.nth(0).getAttribute("data-replica"),
      await rows.nth(1).getAttribute("data-replica"),
    ]).toEqual(["a", "b"]);
    expect(await panel.locator('tr[data-replica="b"]').getAttribute("class")).toBe("flagged");
    expect(await panel.locator('tr[data-replica="b"]').textContent()).toContain("unreliable");
    const a = panel.locator('tr[data-replica="a"] .interval');
    const b = panel.locator('tr[data-replica="b"] .interval');
    expect(Number(await b.getAttribute("data-high"))).toBeLessThan(Number(await a.getAttribute("data-low")));
    // The interval is drawn: its shaded range has a width (styles set through the CSSOM pass the CSP).
    const box = await panel.locator('tr[data-replica="b"] .interval-range').boundingBox();
    expect(box?.width).toBeGreaterThan(5);

    const heat = panel.locator('[data-heatmap-of="accounts"]');
    expect(await heat.locator('td[data-column="name"][data-range="2"]').getAttribute("data-count")).toBe("9");
    expect(await heat.locator('td[data-column="balance"][data-range="1"]').getAttribute("data-count")).toBe(
      "1",
    );
    const shade = await page.evaluate(
      `getComputedStyle(document.querySelector('[data-heatmap-of="accounts"] td[data-column="name"][data-range="2"]')).backgroundColor`,
    );
    expect(shade).toMatch(/^rgba?\(201, 42, 42/);
    expect(await panel.locator('[data-hotspot="range:2"]').textContent()).toContain("9 divergences");

    const owner = panel.locator('li[data-kind="owner"]');
    expect(await owner.textContent()).toContain("make a the owner");
    expect(await owner.locator(".evidence").textContent()).toMatch(
      /settled 43, lost 0, lost\.b 33 · interval/,
    );
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      owner.locator("button[data-export]").click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^candidate-accounts-[0-9a-f]{12}\.yaml$/);
    const saved = join(fx.dir, "candidate.yaml");
    await download.saveAs(saved);
    const text = readFileSync(saved, "utf8");
    expect(text).toMatch(/^# Candidate policy for dataset accounts: make a the owner/);
    expect(parse(text)).toEqual({ resolve: "highest-version", owner: "a" });
    // The file is a candidate policy the CLI's sandbox accepts for this dataset.
    const loaded = loadCandidatePolicy(saved, join(fx.dir, "concord.yaml"), ["accounts"], {}, fx.dir);
    expect(loaded.get("accounts")).toMatchObject({ owner: "a", resolve: "highest-version" });
    expect(problems).toEqual([]);
    await page.close();
  });
});
