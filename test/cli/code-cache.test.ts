/**
 * The bundled CLI's V8 code cache (bin/bundle-loader.js, written by `npm run build`): the bin compiles the
 * bundle's chunks from it, and a cache that is damaged, made for other bytes or under other V8 flags, or
 * missing is ignored — the chunk compiles from its source and the command works as without a cache. Runs
 * against a copy of the built package, so damaging it leaves the clone's build alone.
 */
import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, it } from "vitest";
import { itemsConfig, REPO, SEEDED_POLICY, seededItems, tempDir, writeConfig } from "./helpers.js";

const BUNDLE = join(REPO, "dist", "bundle");
const built = existsSync(join(BUNDLE, "code-cache"));

interface Stats {
  accepted: number;
  rejected: number;
  absent: number;
}

/**
 * `node [nodeArgs] PKG/bin/concord.js args` in `cwd`, with what the loader did with the caches (its
 * codeCacheStats, read at exit from the same module instance the bin imported).
 */
function concord(
  pkg: string,
  args: readonly string[],
  cwd: string,
  nodeArgs: readonly string[] = [],
): Promise<{ code: number; stdout: string; stderr: string; stats: Stats }> {
  const loader = JSON.stringify(pathToFileURL(join(pkg, "bin", "bundle-loader.js")).href);
  const report = `data:text/javascript,import { codeCacheStats } from ${loader}; process.on("exit", () => process.stderr.write("\\n@@" + JSON.stringify(codeCacheStats)));`;
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [...nodeArgs, "--import", report, join(pkg, "bin", "concord.js"), ...args],
      { cwd, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") return fail(err);
        const at = stderr.lastIndexOf("\n@@");
        if (at < 0) return fail(new Error(`no report on stderr: ${stderr}`));
        done({
          code: err ? (err.code as number) : 0,
          stdout,
          stderr: stderr.slice(0, at),
          stats: JSON.parse(stderr.slice(at + 3)) as Stats,
        });
      },
    );
  });
}

/** A copy of the built package (bin, dist, dashboard) in a temp dir, its bundle current. */
function copyPackage(onFinished: (fn: () => void) => void): string {
  const pkg = tempDir(onFinished);
  for (const part of ["bin", "dist", "dashboard", "package.json"])
    cpSync(join(REPO, part), join(pkg, part), { recursive: true });
  symlinkSync(join(REPO, "node_modules"), join(pkg, "node_modules"));
  // The copies are newer than the build: say it was built after them.
  const inputs = join(pkg, "dist", "bundle", "inputs.json");
  const { inputs: modules } = JSON.parse(readFileSync(inputs, "utf8")) as { inputs: string[] };
  writeFileSync(inputs, JSON.stringify({ builtAt: Date.now() + 1000, inputs: modules }));
  return pkg;
}

/** The seeded SQLite items pair and its config in a fresh temp dir. */
function seededDir(onFinished: (fn: () => void) => void): string {
  const dir = tempDir(onFinished);
  seededItems(dir);
  writeConfig(dir, itemsConfig(SEEDED_POLICY));
  return dir;
}

const SEEDED_COUNTS = { missing: 3, stale: 2, conflict: 1 };
const countsOf = (stdout: string) =>
  (JSON.parse(stdout) as { datasets: { counts: Record<string, number> }[] }).datasets[0]!.counts;

describe.skipIf(!built)("the bundle's code cache", () => {
  it("every chunk a scan loads compiles from the cache the build wrote", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = seededDir(onTestFinished);
    const r = await concord(REPO, ["scan", "--json", "-c", "concord.yaml"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(countsOf(r.stdout)).toMatchObject(SEEDED_COUNTS);
    expect(r.stats.rejected).toBe(0);
    expect(r.stats.absent).toBe(0);
    expect(r.stats.accepted).toBeGreaterThan(5);
  });

  it("a damaged, foreign or missing cache is ignored and the chunk compiles from its source", async ({
    expect,
    onTestFinished,
  }) => {
    const pkg = copyPackage(onTestFinished);
    const dir = seededDir(onTestFinished);
    const caches = join(pkg, "dist", "bundle", "code-cache");
    const names = readdirSync(caches).sort();
    const main = join(caches, "main.cjs.bin");
    const errors = join(caches, names.find((n) => n.startsWith("errors-"))!);
    const config = join(caches, names.find((n) => n.startsWith("load-config-"))!);
    // One flipped bit in V8's data (V8 checks no checksum of it in release builds), a truncated file, and
    // another chunk's cache under this chunk's name.
    const bytes = readFileSync(main);
    bytes[bytes.length >> 1]! ^= 1;
    writeFileSync(main, bytes);
    truncateSync(errors, 100);
    cpSync(main, config);
    const r = await concord(pkg, ["scan", "--json", "-c", "concord.yaml"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(countsOf(r.stdout)).toMatchObject(SEEDED_COUNTS);
    expect(r.stats).toMatchObject({ rejected: 0, absent: 3 });
    expect(r.stats.accepted).toBeGreaterThan(0);

    rmSync(caches, { recursive: true });
    const none = await concord(pkg, ["scan", "--json", "-c", "concord.yaml"], dir);
    expect(none.code).toBe(1);
    expect(countsOf(none.stdout)).toMatchObject(SEEDED_COUNTS);
    expect(none.stats.accepted).toBe(0);
  });

  it("a chunk edited to the same length runs its new code, not the cached old one", async ({
    expect,
    onTestFinished,
  }) => {
    const pkg = copyPackage(onTestFinished);
    const main = join(pkg, "dist", "bundle", "main.cjs");
    // Text built at main.cjs's top level (the help's epilogue), which the cache holds compiled.
    const old = "usage, configuration or connection error";
    const source = readFileSync(main, "utf8");
    expect(source).toContain(old);
    writeFileSync(main, source.replace(old, old.toUpperCase()));
    const r = await concord(pkg, ["--help"], pkg);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(old.toUpperCase());
    expect(r.stats.accepted).toBeGreaterThan(0);
  });

  it("under other V8 flags V8 rejects the cache and the scan runs as without one", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = seededDir(onTestFinished);
    const r = await concord(REPO, ["scan", "--json", "-c", "concord.yaml"], dir, [
      "--max-semi-space-size=16",
    ]);
    expect(r.code).toBe(1);
    expect(countsOf(r.stdout)).toMatchObject(SEEDED_COUNTS);
    expect(r.stats.accepted).toBe(0);
    expect(r.stats.rejected).toBeGreaterThan(5);
  });
});
