/** Regression detection across runs through the state store, and `concord demo`. */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  execSql,
  expectOneLineError,
  itemsConfig,
  keyClasses,
  makeItemsReplicas,
  parseJson,
  runConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

describe.concurrent("concord scan: regression", () => {
  it("classifies a version that went backwards since the last scan as regression", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { b } = makeItemsReplicas(dir, {
      sqlB: "UPDATE items SET qty = 1000, version = version + 2 WHERE id = 7;",
    });
    const config = writeConfig(dir, itemsConfig());

    const first = await runConcord(["scan", "--json", "-c", config]);
    expect(first.code).toBe(1);
    const [before] = parseJson(first).datasets;
    expect(keyClasses(before!.divergences)).toEqual([["[7]", "stale"]]);
    expect(existsSync(join(dir, "state.db"))).toBe(true);

    // b is restored from an old backup: its version drops below what the first scan saw (and below a's).
    execSql(b, "UPDATE items SET qty = 3, version = version - 3 WHERE id = 7;");
    // The same replicas with a fresh state store: nothing was seen before, so it is only stale.
    const fresh = writeConfig(dir, itemsConfig().replace("sqlite:state.db", "sqlite:fresh.db"), "fresh.yaml");
    const [second, control] = await Promise.all([
      runConcord(["scan", "--json", "-c", config]),
      runConcord(["scan", "--json", "-c", fresh]),
    ]);

    expect(second.code).toBe(1);
    const [after] = parseJson(second).datasets;
    expect(keyClasses(after!.divergences)).toEqual([["[7]", "regression"]]);
    expect(after!.divergences[0]!.regressed).toEqual(["b"]);
    expect(after!.counts).toEqual({ regression: 1 });

    expect(control.code).toBe(1);
    expect(keyClasses(parseJson(control).datasets[0]!.divergences)).toEqual([["[7]", "stale"]]);
  });
});

describe.concurrent("concord demo", () => {
  it("reports every class it seeds and leaves a config that scan can use", async ({
    expect,
    onTestFinished,
  }) => {
    // Run from a working directory of its own: the default --dir .concord/demo is relative to it.
    const dir = tempDir(onTestFinished);
    const demo = await runConcord(["demo"], { cwd: dir });
    expect(demo.stderr).toBe("");
    expect(demo.code).toBe(0);
    for (const cls of [
      "missing",
      "stale",
      "conflict",
      "regression",
      "in-flight",
      "tolerated",
      "lww-tie",
      "unversioned",
      "schema",
    ]) {
      expect(demo.stdout, cls).toContain(cls);
    }
    for (const ds of ["customers:", "products:", "settings:"]) expect(demo.stdout).toContain(ds);
    // The paths it prints are relative to where it ran, as a user would type them.
    expect(demo.stdout).toContain(".concord/demo/primary.db and .concord/demo/replica.db:");
    expect(demo.stdout).toContain("npx concord scan -c .concord/demo/concord.yaml\n");

    // The demo may repair what its policies allow; scan reports whatever is left (exit 1 while any remains).
    const scan = await runConcord(["scan", "--json", "-c", ".concord/demo/concord.yaml"], { cwd: dir });
    expect(scan.stderr).toBe("");
    expect([0, 1]).toContain(scan.code);
    const doc = parseJson(scan);
    expect(doc.datasets.map((d) => d.name)).toEqual(["customers", "products", "settings"]);
    const remaining = doc.datasets.flatMap((d) => d.divergences);
    expect(scan.code).toBe(remaining.some((d) => d.class !== "tolerated" && d.class !== "in-flight") ? 1 : 0);
    for (const ds of doc.datasets) expect(typeof ds.stats.durationMs).toBe("number");
  });

  it("demo --dir where no directory can be made: one line naming the flag, exit 2", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    writeFileSync(join(dir, "file"), "");
    const r = await runConcord(["demo", "--dir", "file/demo"], { cwd: dir });
    expect(expectOneLineError(r, expect)).toMatch(
      /^concord: demo --dir file\/demo: cannot create the demo there \(ENOTDIR: not a directory, mkdir '.*file\/demo'\)$/,
    );
  });
});
