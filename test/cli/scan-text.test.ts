/** `concord scan` without --json (the report for people), and picking datasets with -d. */
import { describe, it } from "vitest";
import {
  itemsConfig,
  makeItemsReplicas,
  makeSeededReplicas,
  parseJson,
  runConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

describe.concurrent("concord scan (text)", () => {
  it("names each dataset, the classes and the divergent keys", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const config = makeSeededReplicas(dir);

    const r = await runConcord(["scan", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    const out = r.stdout;
    expect(out).toMatch(/^items: 8 divergences/m);
    expect(out).toMatch(/^plain: 2 divergences/m);
    expect(out).toMatch(/^pairs: 2 divergences/m);
    // One table row per divergent key: KEY then CLASS.
    for (const [key, cls] of [
      ["10", "missing"],
      ["20", "missing"],
      ["301", "missing"],
      ["30", "stale"],
      ["70", "stale"],
      ["40", "conflict"],
      ["50", "tolerated"],
      ["60", "in-flight"],
      ["k05", "unversioned"],
      ["k17", "unversioned"],
      ["eu,7", "unversioned"],
      ["us,12", "missing"],
    ] as const) {
      expect(out, `row for ${key}`).toMatch(new RegExp(`^ +${key} +${cls} `, "m"));
    }
    expect(out).not.toMatch(/^ +(11|31|41) /m);
  });

  it("-d / --dataset name scans only that dataset", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const config = makeSeededReplicas(dir);

    const text = await runConcord(["scan", "-c", config, "--dataset", "plain"]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^plain: 2 divergences/m);
    expect(text.stdout).not.toContain("items:");
    expect(text.stdout).not.toContain("pairs:");
  });

  it("-d a,b and repeated -d pick several datasets, in config order", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const config = makeSeededReplicas(dir);

    const [comma, repeated] = await Promise.all([
      runConcord(["scan", "--json", "-c", config, "-d", "pairs,plain"]),
      runConcord(["scan", "--json", "-c", config, "-d", "pairs", "-d", "items"]),
    ]);
    expect(comma.code).toBe(1);
    expect(parseJson(comma).datasets.map((d) => d.name)).toEqual(["plain", "pairs"]);
    expect(repeated.code).toBe(1);
    expect(parseJson(repeated).datasets.map((d) => d.name)).toEqual(["items", "pairs"]);
  });
});

describe("concord plan and repair --dry-run (text) at thousands of divergences", () => {
  it("group the digits of action counts, writes and the 'more' line", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, { rows: 1500, sqlB: "DELETE FROM items WHERE id <= 1200" });
    const config = writeConfig(dir, itemsConfig("owner: a"));
    const plan = await runConcord(["plan", "-c", config]);
    expect(plan.stderr).toBe("");
    expect(plan.stdout).toMatch(/1,200 decisions: \S+ 1,200\n/);
    expect(plan.stdout).toContain("… 1,175 more (use --json for all)");
    const dry = await runConcord(["repair", "--dry-run", "-c", config]);
    expect(dry.stdout).toContain("dry run (nothing written): 1,200 conditional writes would be made");
  });
});
