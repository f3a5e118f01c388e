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
import { leafHash } from "../../src/core/segment-tree.js";
import { buildHttpApp } from "../../src/serve/http/app.js";
import type { DatasetStatus, EscalationView } from "../../src/serve/service-api.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { QUEUE, type ServeFixture, startFixture, TOKEN } from "./http-fixture.js";

const CHROMIUM = "/usr/bin/chromium";
const OUTPUT = join(import.meta.dirname, "../../test-output");
const haveChromium = existsSync(CHROMIUM);

const LAUNCH = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

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
    // Segment trees as a watched dataset's dirty-segment passes leave them (one segment, hashed alike on both
    // replicas), written through a second store on the same file as another process would.
    const state = await openStateStore(fx.config.state);
    await state.putSegmentSummary({
      dataset: "catalog",
      keyColumns: [{ name: "sku", type: "text" }],
      bounds: [],
      verifiedAt: Date.now(),
      runId: "r",
      invalid: undefined,
      invalidAt: undefined,
      sweepCursor: 0,
    });
    for (const r of ["a", "b"])
      await state.putSegmentHashes(
        "catalog",
        r,
        1,
        [{ segment: 0, hash: leafHash({ count: 3, xor: "00000000000000ff" }) }],
        Date.now(),
      );
    await state.close();
    app = buildHttpApp(fx.service.api, { token: TOKEN });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    if (!address || typeof address === "string") throw new Error("no TCP address");
    base = `http://127.0.0.1:${address.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH });
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
    // Segment trees: shown for the dataset that has them, and only there.
    const trees = page.locator('article[data-dataset="catalog"] dd.trees');
    expect(await trees.getAttribute("data-agree")).toBe("true");
    expect(await trees.textContent()).toMatch(/^roots agree · 0 dirty of 1 · complete (just now|\d)/);
    expect(await page.locator('article[data-dataset="accounts"] dd.trees').count()).toBe(0);
    expect(await page.textContent('[data-figure="open-escalations"] .figure-value')).toBe("3");
    await expect.poll(() => page.locator("#chart-divergences .uplot").count()).toBe(1);
    await expect.poll(() => page.locator("#chart-lag .uplot").count()).toBe(1);
    expect(await page.locator("#escalation-table tr[data-escalation-id]").count()).toBe(3);
  });

  it("resolves an escalation through the UI and sees it leave the queue", async () => {
    const { escalations } = await api<{ escalations: EscalationView[] }>("/api/escalations?status=open");
    const target = escalations.find((e) => e.class === "conflict" && e.key[0] === 10)!;
    expect(target.options).toEqual(["a", "b"]);
    const row = page.locator(`tr[data-escalation-id="${target.id}"]`);
    // A pick asks first, showing what each replica holds now; cancelling writes nothing.
    await row.locator('button[data-pick="a"]').click();
    const confirm = page.locator("#confirm-dialog");
    await expect.poll(() => confirm.isVisible()).toBe(true);
    await page.waitForSelector('#confirm-body [data-values-state="diverged"]');
    expect(await page.textContent("#confirm-title")).toBe("Make a's state win for accounts 10?");
    expect(await page.textContent("#confirm-ok")).toBe("Pick a");
    await page.click("#confirm-cancel");
    await expect.poll(() => confirm.isVisible()).toBe(false);
    expect(fx.row("b", "accounts", 10)).not.toEqual(fx.row("a", "accounts", 10));
    await row.locator('button[data-pick="a"]').click();
    await page.waitForSelector('#confirm-body [data-values-state="diverged"]');
    await page.click("#confirm-ok");
    await row.waitFor({ state: "detached" });
    await expect.poll(() => page.locator("#escalation-table tr[data-escalation-id]").count()).toBe(2);
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

  it("draws steps between passes, shows the latest values in the legend, keeps axis labels apart", async () => {
    await expect.poll(() => page.locator("#chart-divergences .uplot").count()).toBe(1);
    // Unhovered, the legend shows the last pass's values, not "--".
    await page.mouse.move(5, 5);
    const legend = await page
      .locator("#chart-divergences .u-legend .u-series:not(:first-child) .u-value")
      .allTextContents();
    expect(legend.length).toBeGreaterThan(0);
    for (const v of legend) expect(v).toMatch(/^\d+$/);
    // A step: between two passes whose counts differ, the line stays at the first count (no slope).
    const step = (await page.evaluate(`(() => {
      for (const id of ["chart-divergences", "chart-repairs"]) {
        const u = document.getElementById(id).uplot;
        if (!u) continue;
        const ctx = u.ctx;
        const px = uPlot.pxRatio;
        for (let s = 1; s < u.series.length; s++) {
          const ys = u.data[s];
          for (let i = 0; i + 1 < ys.length; i++) {
            if (ys[i] === null || ys[i + 1] === null || ys[i] === ys[i + 1]) continue;
            const x0 = u.valToPos(u.data[0][i], "x", true);
            const x1 = u.valToPos(u.data[0][i + 1], "x", true);
            if (x1 - x0 < 12 * px) continue;
            const xm = Math.round((x0 + x1) / 2);
            const yFirst = u.valToPos(ys[i], "y", true);
            const ySlope = (yFirst + u.valToPos(ys[i + 1], "y", true)) / 2;
            // Another series' step runs level across this interval: one passing near the slope's point would ink it.
            let crossed = false;
            for (let t = 1; t < u.series.length; t++) {
              const v = u.data[t][i];
              if (t !== s && v !== null && Math.abs(u.valToPos(v, "y", true) - ySlope) <= 8 * px) crossed = true;
            }
            if (crossed) continue;
            const ink = (y) => {
              let a = 0;
              for (let d = -2; d <= 2; d++) a = Math.max(a, ctx.getImageData(xm, Math.round(y) + d, 1, 1).data[3]);
              return a;
            };
            return { id, atFirst: ink(yFirst), onSlope: Math.abs(ySlope - yFirst) > 6 * px ? ink(ySlope) : 0 };
          }
        }
      }
      return null;
    })()`)) as { id: string; atFirst: number; onSlope: number } | null;
    expect(step, "two passes with different counts to check").not.toBeNull();
    expect(step!.atFirst, `${step!.id}: line at the first value`).toBeGreaterThan(0);
    expect(step!.onSlope, `${step!.id}: nothing where a slope would be`).toBe(0);
    // x-axis labels at 1280 px: each clear of the next.
    for (const id of ["chart-divergences", "chart-lag"]) {
      const ticks = JSON.parse((await page.getAttribute(`#${id}`, "data-x-ticks")) ?? "[]") as {
        x: number;
        w: number;
      }[];
      expect(ticks.length, id).toBeGreaterThan(1);
      for (let i = 1; i < ticks.length; i++)
        expect(ticks[i]!.x - ticks[i - 1]!.x, `${id}: labels ${i - 1} and ${i}`).toBeGreaterThanOrEqual(
          (ticks[i]!.w + ticks[i - 1]!.w) / 2 + 8,
        );
    }
    expect(await page.textContent('[data-figure="convergence-rate"] .figure-hint')).toMatch(
      /^of \d+ serve pass(es)?$/,
    );
    expect(await page.textContent("#service")).toContain("· 2 datasets");
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
    const header = Number(await page.evaluate("document.querySelector('.topbar').offsetHeight"));
    expect(header, "the top bar on a phone: two short lines at most").toBeLessThanOrEqual(90);
    await page.screenshot({ path: join(OUTPUT, "dashboard-narrow.png"), fullPage: true });
    expect(problems).toEqual([]);
  });
});

describe.skipIf(!haveChromium)("the escalation queue at scale in the dashboard", () => {
  let fx: ServeFixture;
  let app: FastifyInstance;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  const rows = () => page.locator("#escalation-table tr[data-escalation-id]");
  const pagerText = () => page.textContent("#esc-pager [data-pager-text]");

  beforeAll(async () => {
    // 60 conflicts in label (b holds another) and 10 records b lacks: 70 escalations, two patterns.
    fx = await startFixture({ datasets: ["queue"] });
    await fx.service.api.trigger("queue", "repair");
    await fx.service.idle();
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
    await page.waitForSelector("#escalation-table");
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await fx?.close();
  });

  it("pages the queue, 25 at a time, and keeps the page short on wide and narrow screens", async () => {
    const total = QUEUE.conflict + QUEUE.missing;
    expect(await page.textContent("#service")).toMatch(/· 1 dataset$/);
    expect(await page.textContent('[data-figure="open-escalations"] .figure-value')).toBe(String(total));
    expect(await rows().count()).toBe(25);
    expect(await pagerText()).toBe(`1–25 of ${total}`);
    await page.click('#esc-pager [data-page="next"]');
    await expect.poll(pagerText).toBe(`26–50 of ${total}`);
    await page.click('#esc-pager [data-page="next"]');
    await expect.poll(pagerText).toBe(`51–70 of ${total}`);
    expect(await rows().count()).toBe(20);
    expect(await page.isDisabled('#esc-pager [data-page="next"]')).toBe(true);
    await page.click('#esc-pager [data-page="prev"]');
    await expect.poll(pagerText).toBe(`26–50 of ${total}`);
    const section = async () =>
      Number(await page.evaluate("document.querySelector('#escalations').closest('section').offsetHeight"));
    expect(await section(), "the queue's section at 1280 px").toBeLessThan(2200);
    // A narrow screen shows 10 a page: each escalation is a block of its own there.
    await page.setViewportSize({ width: 390, height: 844 });
    await expect.poll(pagerText).toBe(`1–10 of ${total}`);
    expect(await section(), "the queue's section at 390 px").toBeLessThan(4000);
    const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"));
    expect(overflow, "no horizontal scrolling on a narrow screen").toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("filters by class and replica, and groups by pattern", async () => {
    await page.selectOption("#esc-class", "missing");
    await expect.poll(pagerText).toBe(`1–${QUEUE.missing} of ${QUEUE.missing}`);
    expect(await rows().count()).toBe(QUEUE.missing);
    for (const text of await rows().locator(".pattern").allTextContents()) expect(text).toBe("absent on b");
    await page.selectOption("#esc-class", "");
    await page.selectOption("#esc-replica", "a");
    await expect.poll(pagerText).toBe(`1–25 of ${QUEUE.conflict}`);
    await page.selectOption("#esc-replica", "");
    await expect.poll(pagerText).toBe(`1–25 of ${QUEUE.conflict + QUEUE.missing}`);

    await page.click("#esc-view-groups");
    const groups = page.locator("#group-table tr[data-group-id]");
    await expect.poll(() => groups.count()).toBe(2);
    expect(await groups.locator("td.num").allTextContents()).toEqual([
      String(QUEUE.conflict),
      String(QUEUE.missing),
    ]);
    expect(await groups.locator("td.pattern").allTextContents()).toEqual(["differs in label", "absent on b"]);
    await groups.nth(1).locator("button[data-show-group]").click();
    await expect.poll(pagerText).toBe(`1–${QUEUE.missing} of ${QUEUE.missing}`);
    expect(await page.textContent("[data-group-filter]")).toContain("group: queue · missing · absent on b");
    await page.click("[data-group-filter] button");
    await expect.poll(pagerText).toBe(`1–25 of ${QUEUE.conflict + QUEUE.missing}`);
  });

  it("shows a key's values on every replica side by side, read when asked", async () => {
    const first = rows().first();
    await first.locator("button[data-values]").click();
    const values = page.locator("tr.values-row table.side-by-side");
    await values.waitFor();
    expect(await values.locator("thead th").allTextContents()).toEqual(["column", "a", "b"]);
    const label = values.locator('tr[data-column="label"]');
    expect(await label.locator("td").allTextContents()).toEqual(["label 1", "label 1 on b"]);
    expect(await label.locator("td.differs").count()).toBe(2);
    // Read now: a change on b shows on the next read, flagged as changed since escalated.
    fx.sql("b", "UPDATE queue SET label = 'changed meanwhile' WHERE id = 1");
    await first.locator("button[data-values]").click();
    await first.locator("button[data-values]").click();
    await expect.poll(() => label.locator("td").allTextContents()).toEqual(["label 1", "changed meanwhile"]);
    expect(await page.textContent("tr.values-row")).toContain("Changed since it was escalated");
    await first.locator("button[data-values]").click();
  });

  it("resolves all like this after a confirmation that says how many, each write conditional", async () => {
    await page.click("#esc-view-groups");
    const missing = page.locator('#group-table tr[data-group-id]:has(td.pattern:text-is("absent on b"))');
    await missing.locator("button[data-resolve-group]").click();
    await page.waitForSelector("#group-choice option[value=a]", { state: "attached" });
    expect(await page.isDisabled("#confirm-ok")).toBe(true);
    await page.selectOption("#group-choice", "a");
    await page.waitForSelector(`.confirm-count[data-matched="${QUEUE.missing}"]`);
    expect(await page.textContent(".confirm-count")).toContain(
      `${QUEUE.missing} escalations will have a's state written to the other replicas`,
    );
    // The first of the group's values, as the replicas hold them now: b lacks it.
    expect(await page.locator("#confirm-body td.absent").count()).toBeGreaterThan(0);
    await page.click("#confirm-ok");
    await expect
      .poll(() => page.textContent("#escalations"))
      .toContain(
        `queue · absent on b: ${QUEUE.missing} resolved, 0 rejected, 0 left open (${QUEUE.missing} repairs applied).`,
      );
    for (let id = QUEUE.conflict + 1; id <= QUEUE.conflict + QUEUE.missing; id++)
      expect(fx.row("b", "queue", id)).toEqual(fx.row("a", "queue", id));
    await expect.poll(() => page.locator("#group-table tr[data-group-id]").count()).toBe(1);
    expect(await page.textContent('[data-figure="open-escalations"] .figure-value')).toBe(
      String(QUEUE.conflict),
    );

    // The label group, with one record changed on b since (row 1 above): that one stays open, unwritten.
    await page.locator("#group-table button[data-resolve-group]").click();
    await page.waitForSelector("#group-choice option[value=a]", { state: "attached" });
    await page.selectOption("#group-choice", "a");
    await page.waitForSelector(`.confirm-count[data-matched="${QUEUE.conflict}"]`);
    await page.click("#confirm-ok");
    await expect
      .poll(() => page.textContent("#escalations"))
      .toContain(`queue · differs in label: ${QUEUE.conflict - 1} resolved, 0 rejected, 1 left open`);
    expect(fx.row("b", "queue", 1)).toMatchObject({ label: "changed meanwhile" });
    expect(fx.row("b", "queue", 2)).toEqual(fx.row("a", "queue", 2));
    const resolved = (
      await app.inject({
        url: "/api/escalations?status=resolved&limit=1",
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).json() as { escalations: EscalationView[] };
    expect(resolved.escalations[0]).toMatchObject({ resolvedBy: "api", pick: "a" });
    mkdirSync(OUTPUT, { recursive: true });
    await page.click("#esc-view-list");
    await page.screenshot({ path: join(OUTPUT, "dashboard-queue.png"), fullPage: true });
    expect(problems).toEqual([]);
  });
});
