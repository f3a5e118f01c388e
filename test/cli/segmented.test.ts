/**
 * Runs over tables larger than one segment (`checkpointRows`) go segment by segment: the report and the
 * JSON document are the same as one whole-table pass would give, and repair converges the same way.
 */
import { cpSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { makeItemsReplicas, staleOnB, writeItemsConfig } from "../support/sqlite-items.js";
import {
  itemsConfig,
  type PlanJson,
  parseJson,
  runConcord,
  type ScanJson,
  SEEDED_POLICY,
  seededItems,
  tempDir,
  writeConfig,
} from "./helpers.js";

/** Two copies of the seeded replicas: one run whole, one in segments of 40 rows (8 segments). */
function twoSetups(onFinished: Parameters<typeof tempDir>[0]): { whole: string; segmented: string } {
  const one = tempDir(onFinished);
  const two = tempDir(onFinished);
  seededItems(one);
  for (const f of ["a.db", "b.db"]) cpSync(join(one, f), join(two, f));
  return {
    whole: writeConfig(one, itemsConfig(SEEDED_POLICY)),
    segmented: writeConfig(two, itemsConfig(SEEDED_POLICY, "    checkpointRows: 40\n")),
  };
}

/** A document without what differs between two runs of the same thing (run id, timings, query counts). */
function comparable(doc: Record<string, unknown>): unknown {
  const { runId: _, ...rest } = doc;
  return JSON.parse(JSON.stringify(rest, (k, v) => (["stats", "durationMs"].includes(k) ? undefined : v)));
}

describe.concurrent("segmented runs", () => {
  it("scan --json and the text report match a whole-table scan", async ({ expect, onTestFinished }) => {
    const { whole, segmented } = twoSetups(onTestFinished);
    const [a, b] = await Promise.all([
      runConcord(["scan", "--json", "-c", whole]),
      runConcord(["scan", "--json", "-c", segmented]),
    ]);
    expect([a.code, b.code]).toEqual([1, 1]);
    const [docA, docB] = [parseJson<ScanJson>(a), parseJson<ScanJson>(b)];
    expect(docB.datasets[0]!.divergences.length).toBeGreaterThan(5);
    expect(comparable(docB as never)).toEqual(comparable(docA as never));
    // Eight segments of 40 rows are each listed whole (under leafRows) instead of bisected: another query count.
    const stats = (d: ScanJson) => (d.datasets[0] as unknown as { stats: { queries: number } }).stats;
    expect(stats(docB).queries).not.toBe(stats(docA).queries);
    // The same pretty-printed layout too, not only the same values.
    expect(b.stdout.replace(/"runId": "[^"]+"/, "").replace(/"stats": \{[^}]*\}/g, "")).toEqual(
      a.stdout.replace(/"runId": "[^"]+"/, "").replace(/"stats": \{[^}]*\}/g, ""),
    );
    const [ta, tb] = await Promise.all([
      runConcord(["scan", "-c", whole]),
      runConcord(["scan", "-c", segmented]),
    ]);
    const report = (s: string) => s.split("\n").filter((l) => !l.includes("scanned in"));
    expect(report(tb.stdout)).toEqual(report(ta.stdout));
  });

  it("plan and repair give the same decisions and repairs; a second repair finds nothing", async ({
    expect,
    onTestFinished,
  }) => {
    const { whole, segmented } = twoSetups(onTestFinished);
    const [pa, pb] = await Promise.all([
      runConcord(["plan", "--json", "-c", whole]),
      runConcord(["plan", "--json", "-c", segmented]),
    ]);
    expect(comparable(parseJson<PlanJson>(pb) as never)).toEqual(
      comparable(parseJson<PlanJson>(pa) as never),
    );
    const [ra, rb] = await Promise.all([
      runConcord(["repair", "--json", "-c", whole]),
      runConcord(["repair", "--json", "-c", segmented]),
    ]);
    expect(rb.code).toBe(ra.code);
    const [da, db] = [parseJson<PlanJson>(ra).datasets[0]!, parseJson<PlanJson>(rb).datasets[0]!];
    expect(db.summary).toEqual(da.summary);
    const strip = (rs: unknown) =>
      (rs as { key: unknown; target: string; outcome: string }[]).map((r) => [r.key, r.target, r.outcome]);
    expect(strip(db.repairs)).toEqual(strip(da.repairs));
    expect((da.summary as Record<string, number>).applied).toBeGreaterThan(0);
    const again = parseJson<PlanJson>(await runConcord(["repair", "--json", "-c", segmented])).datasets[0]!;
    expect((again.summary as Record<string, number>).applied).toBe(0);
  });
});

describe("dense segments", () => {
  it("repair --json over segments cut into pieces gives the document of the segments held whole", async ({
    expect,
    onTestFinished,
  }) => {
    const one = tempDir(onTestFinished);
    const two = tempDir(onTestFinished);
    const stale = Array.from({ length: 2000 }, (_, i) => i + 1).filter((id) => id % 4 !== 0);
    makeItemsReplicas(one, { rows: 2000, stale });
    makeItemsReplicas(two, { rows: 2000, stale });
    // Segments of 1,000 rows with 750 divergences: cut into pieces of 100 unless blast-radius limits are set.
    const extra = "    checkpointRows: 1000\n";
    const pieces = writeItemsConfig(one, { policy: "owner: a, resolve: highest-version", extra });
    const whole = writeItemsConfig(two, {
      policy: "owner: a, resolve: highest-version, limits: { maxDivergentFraction: 1 }",
      extra,
    });
    const [ra, rb] = await Promise.all([
      runConcord(["repair", "--json", "-c", pieces]),
      runConcord(["repair", "--json", "-c", whole]),
    ]);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const [da, db] = [parseJson<PlanJson>(ra), parseJson<PlanJson>(rb)];
    expect((da.datasets[0]!.summary as Record<string, number>).applied).toBe(stale.length);
    // The two policies differ only in their limits, so only their version does.
    const same = (doc: unknown) =>
      JSON.parse(JSON.stringify(comparable(doc as never), (k, v) => (k === "policyVersion" ? undefined : v)));
    expect(same(da)).toEqual(same(db));
    expect(JSON.stringify(da)).toContain("policyVersion");
    expect(staleOnB(one)).toEqual([]);
  });
});
