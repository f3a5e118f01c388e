/**
 * /metrics as Prometheus reads it: `promtool check metrics` passes (run when Debian's prometheus package
 * is installed; the same rules are checked here in any case), concord_build_info names the version, the
 * series alert rules use exist at zero before anything happened, and the dashboard's convergence rate counts
 * serve's passes only.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/serve/http/app.js";
import type { History } from "../../src/serve/service-api.js";
import { type ServeFixture, startFixture, TOKEN } from "./http-fixture.js";

const PROMTOOL = "/usr/bin/promtool";
const REPO = join(import.meta.dirname, "../..");

let fx: ServeFixture;
let app: FastifyInstance;

beforeAll(async () => {
  fx = await startFixture();
  app = buildHttpApp(fx.service.api, { token: TOKEN });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await fx?.close();
});

const metrics = async () => (await app.inject({ url: "/metrics" })).body;

/**
 * The exposition-format rules promtool's `check metrics` applies, as problems found: every family has HELP
 * and TYPE; names are snake_case; counters end in _total and nothing else does; histograms have buckets
 * ending at +Inf with _sum and _count; units are base units (seconds, bytes), not milli/micro.
 */
function lint(text: string): string[] {
  const problems: string[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (!line) continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") types.set(meta[2]!, meta[3]!);
      else helps.add(meta[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) {
      problems.push(`unparsable line: ${line}`);
      continue;
    }
    samples.set(m[1]!, [...(samples.get(m[1]!) ?? []), line]);
  }
  for (const [name, type] of types) {
    if (!helps.has(name)) problems.push(`${name}: no HELP`);
    if (!/^[a-z][a-z0-9_]*$/.test(name)) problems.push(`${name}: not snake_case`);
    if (type === "counter" && !name.endsWith("_total")) problems.push(`${name}: counter without _total`);
    if (type !== "counter" && name.endsWith("_total"))
      problems.push(`${name}: non-counter metrics should not have "_total" suffix`);
    if (/_(milli|micro|nano)?seconds?_ms|_(ms|millis|milliseconds|microseconds)(_|$)/.test(name))
      problems.push(`${name}: use base units (seconds)`);
    if (type === "histogram") {
      const buckets = samples.get(`${name}_bucket`) ?? [];
      if (buckets.length && !buckets.some((l) => l.includes('le="+Inf"')))
        problems.push(`${name}: no +Inf bucket`);
      if (buckets.length && (!samples.has(`${name}_sum`) || !samples.has(`${name}_count`)))
        problems.push(`${name}: buckets without _sum and _count`);
    }
  }
  for (const name of samples.keys()) {
    const family = name.replace(/_(bucket|sum|count)$/, "");
    if (!types.has(name) && !types.has(family)) problems.push(`${name}: sample without TYPE`);
  }
  return problems;
}

describe("/metrics", () => {
  it("passes the exposition rules (and promtool check metrics, when installed)", async () => {
    const text = await metrics();
    expect(lint(text)).toEqual([]);
    if (!existsSync(PROMTOOL)) {
      console.warn(`skipping promtool: ${PROMTOOL} is missing (apt-get install prometheus)`);
      return;
    }
    const out = execFileSync(PROMTOOL, ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(out).toBe("");
  });

  it("the rules catch what promtool caught before: gauges named like counters", () => {
    expect(
      lint(
        "# HELP nodejs_active_handles_total x\n# TYPE nodejs_active_handles_total gauge\nnodejs_active_handles_total 3\n",
      ),
    ).toEqual(['nodejs_active_handles_total: non-counter metrics should not have "_total" suffix']);
  });

  it("names the build, and has the series alert rules use at zero before any pass", async () => {
    const text = await metrics();
    const version = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
    expect(text).toContain(`concord_build_info{version="${version}",nodejs="${process.version}"} 1`);
    for (const series of [
      'concord_repairs_total{dataset="accounts",replica="b",outcome="failed"} 0',
      'concord_repairs_total{dataset="catalog",replica="a",outcome="applied"} 0',
      'concord_probe_timeouts_total{dataset="accounts",replica="b"} 0',
      'concord_read_after_write_anomalies_total{dataset="accounts",replica="b"} 0',
      'concord_retries_total{dataset="catalog",replica="b"} 0',
      'concord_escalations_total{dataset="accounts",class="conflict"} 0',
      'concord_escalations_open{dataset="accounts"} 0',
      'concord_time_to_convergence_seconds_count{dataset="accounts"} 0',
      'concord_convergence_lag_seconds_count{dataset="accounts",replica="b"} 0',
    ])
      expect(text).toContain(series);
    // A gauge nobody has measured stays absent rather than claiming zero divergence.
    expect(text).not.toMatch(/^concord_divergences\{/m);
  });

  it("counts serve's passes only in the convergence rate, not CLI runs of the same data", async () => {
    await fx.service.api.trigger("catalog", "repair");
    await fx.service.idle();
    // A CLI scan and plan of the dataset, as `concord scan` and `concord plan` record them.
    const now = Date.now();
    for (const [id, command] of [
      ["cli-scan", "scan"],
      ["cli-plan", "plan"],
    ] as const) {
      await fx.service.state.beginRun({ id, dataset: "catalog", command, startedAt: now });
      await fx.service.state.finishRun(id, "catalog", {
        finishedAt: now + 5,
        status: "diverged",
        counts: { stale: 3 },
        stats: {},
      });
    }
    const res = await app.inject({ url: "/api/history", headers: { authorization: `Bearer ${TOKEN}` } });
    const history = res.json() as History;
    expect(history.runs.map((r) => [r.dataset, r.command])).toEqual([["catalog", "serve repair"]]);
    expect(history.summary.passes).toBe(1);
    expect(history.summary.convergenceRate).toBe(1);
    // The runs list still shows every run.
    expect((await fx.service.api.runs({ dataset: "catalog" })).map((r) => r.command).sort()).toEqual([
      "plan",
      "scan",
      "serve repair",
    ]);
  });
});
