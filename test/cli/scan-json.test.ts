/** `concord scan --json` on real SQLite replicas: exact divergent keys, classes, counts, stats, exit codes. */
import { describe, it } from "vitest";
import {
  itemsConfig,
  keyClasses,
  makeItemsReplicas,
  makeSeededReplicas,
  parseJson,
  runConcord,
  SEEDED_POLICY,
  sqlTime,
  tempDir,
  writeConfig,
} from "./helpers.js";

describe.concurrent("concord scan --json", () => {
  it("prints exactly the divergent keys with their classes, counts and stats, and exits 1", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const config = makeSeededReplicas(dir);

    const r = await runConcord(["scan", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    const doc = parseJson(r);
    expect(typeof doc.runId).toBe("string");
    expect(doc.datasets.map((d) => d.name)).toEqual(["items", "plain", "pairs"]);
    const [items, plain, pairs] = doc.datasets;

    expect(keyClasses(items!.divergences)).toEqual(
      keyClasses([
        { key: [10], class: "missing" },
        { key: [20], class: "missing" },
        { key: [301], class: "missing" },
        { key: [30], class: "stale" },
        { key: [70], class: "stale" },
        { key: [40], class: "conflict" },
        { key: [50], class: "tolerated" },
        { key: [60], class: "in-flight" },
      ]),
    );
    // Integer keys are JSON numbers, not strings.
    for (const d of items!.divergences) expect(typeof d.key[0]).toBe("number");
    expect(items!.counts).toEqual({ missing: 3, stale: 2, conflict: 1, tolerated: 1, "in-flight": 1 });
    expect(items!.replicas).toEqual({ a: { rows: 299 }, b: { rows: 300 } });

    const byKey = new Map(items!.divergences.map((d) => [JSON.stringify(d.key), d]));
    expect(byKey.get("[10]")!.replicas).toMatchObject({ a: { present: true }, b: { present: false } });
    expect(byKey.get("[20]")!.replicas).toMatchObject({ a: { present: false }, b: { present: true } });
    expect(byKey.get("[30]")!.columns).toEqual(["name", "version"]);
    expect(byKey.get("[40]")!.columns).toEqual(["note"]);
    expect(byKey.get("[50]")!.columns).toEqual(["price"]);

    for (const ds of doc.datasets) {
      for (const field of ["durationMs", "rowsRead", "bytesRead", "queries"]) {
        expect(typeof ds.stats[field], `${ds.name}.stats.${field}`).toBe("number");
      }
    }
    expect(items!.stats.rowsRead as number).toBeGreaterThan(0);
    expect(items!.stats.queries as number).toBeGreaterThan(0);

    expect(keyClasses(plain!.divergences)).toEqual([
      ['["k05"]', "unversioned"],
      ['["k17"]', "unversioned"],
    ]);
    expect(plain!.counts).toEqual({ unversioned: 2 });

    expect(keyClasses(pairs!.divergences)).toEqual([
      ['["eu",7]', "unversioned"],
      ['["us",12]', "missing"],
    ]);
    expect(pairs!.counts).toEqual({ unversioned: 1, missing: 1 });
  });

  it("exits 0 with no divergences on identical replicas", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir);
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));

    const r = await runConcord(["scan", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [items] = parseJson(r).datasets;
    expect(items!.divergences).toEqual([]);
    expect(items!.counts).toEqual({});
    expect(items!.replicas).toEqual({ a: { rows: 300 }, b: { rows: 300 } });
    expect(typeof items!.stats.durationMs).toBe("number");
  });

  it("exits 0 when only tolerated and in-flight divergences exist", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, {
      sqlA: `UPDATE items SET qty = qty + 5, version = version + 1, updated_at = '${sqlTime(Date.now() - 1000)}' WHERE id = 8;`,
      sqlB: "UPDATE items SET price = price - 0.01 WHERE id IN (3, 250);",
    });
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));

    const r = await runConcord(["scan", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [items] = parseJson(r).datasets;
    expect(keyClasses(items!.divergences)).toEqual([
      ["[250]", "tolerated"],
      ["[3]", "tolerated"],
      ["[8]", "in-flight"],
    ]);
    expect(items!.counts).toEqual({ tolerated: 2, "in-flight": 1 });
  });
});
