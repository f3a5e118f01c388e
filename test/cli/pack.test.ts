/**
 * The package as `npm pack` makes it (what `npm install -g ./concord-<version>.tgz` installs) works outside
 * the clone: it holds the compiled CLI, the dashboard and the bin, no sources or tests, and its bin runs
 * from another directory. The build is the one `npm test` made; dependencies come from the clone's
 * node_modules (installing them needs the registry).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { itemsConfig, makeItemsReplicas, REPO, tempDir, writeConfig } from "./helpers.js";

describe("npm pack", () => {
  it("packs bin, dist and dashboard; the unpacked bin prints the version and scans from anywhere", ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], {
        cwd: REPO,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }),
    ) as { filename: string; files: { path: string }[] }[];
    const files = packed[0]!.files.map((f) => f.path);
    for (const f of [
      "bin/concord.js",
      "bin/package.json",
      "dist/cli/main.js",
      "dist/bundle/main.cjs",
      "dist/bundle/inputs.json",
      "dist/index.js",
      "dashboard/index.html",
      "dashboard/dashboard.js",
      "package.json",
      "README.md",
    ])
      expect(files, f).toContain(f);
    expect(files.filter((f) => /^(src|test|bench|scripts)\//.test(f) || /\.test\.js$/.test(f))).toEqual([]);

    execFileSync("tar", ["xzf", join(dir, packed[0]!.filename), "-C", dir]);
    const pkg = join(dir, "package");
    symlinkSync(join(REPO, "node_modules"), join(pkg, "node_modules"));
    const version = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
    const elsewhere = tempDir(onTestFinished);
    const run = (...args: string[]) =>
      execFileSync(process.execPath, [join(pkg, "bin", "concord.js"), ...args], {
        cwd: elsewhere,
        encoding: "utf8",
      });
    // The install directory may be read-only: running the bin writes nothing there.
    const installed = () =>
      ["bin", "dist", "dashboard"].flatMap((d) =>
        readdirSync(join(pkg, d), { recursive: true, encoding: "utf8" }),
      );
    const before = installed();
    expect(run("--version")).toBe(`${version}\n`);
    makeItemsReplicas(elsewhere, { rows: 50 });
    writeConfig(elsewhere, itemsConfig());
    expect(run("scan")).toMatch(/^items: replicas agree {2}\(a 50 rows, b 50 rows\)/);
    expect(installed()).toEqual(before);
    // serve's dashboard files are found in the package, not the clone.
    expect(existsSync(join(pkg, "dashboard", "favicon.svg"))).toBe(true);
    const assets = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const m = await import(${JSON.stringify(join(pkg, "dist/serve/http/dashboard-assets.js"))});
         process.stdout.write(m.DASHBOARD_DIR + " " + m.loadDashboardAssets().length);`,
      ],
      { encoding: "utf8" },
    );
    expect(assets).toBe(`${join(pkg, "dashboard")}/ 6`);
  });
});
