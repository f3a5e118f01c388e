/**
 * bin/concord.js keeps V8's code cache of the bundle's chunks in the user's cache folder (CONCORD_CODE_CACHE
 * names another): a run leaves one for each chunk it compiled without one, and a cache V8 refuses (damaged,
 * or made by another V8) only costs a compile and is made again.
 */
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { BIN, REPO, tempDir } from "./helpers.js";

const version = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version as string;

describe("the bundle's code cache", () => {
  it("is left by a run, and a damaged one is refused, compiled past and made again", ({
    expect,
    onTestFinished,
  }) => {
    const cache = join(tempDir(onTestFinished), "v8");
    const runVersion = () =>
      execFileSync(process.execPath, [BIN, "--version"], {
        encoding: "utf8",
        env: { ...process.env, CONCORD_CODE_CACHE: cache },
      }).trim();
    const mainCaches = () => readdirSync(cache).filter((f) => /^main\.cjs\..+\.v8$/.test(f));
    expect(runVersion()).toBe(version);
    const files = mainCaches();
    expect(files.length).toBeGreaterThan(0);
    const damaged = Buffer.alloc(4096, 0x5a);
    for (const f of files) writeFileSync(join(cache, f), damaged);
    expect(runVersion()).toBe(version);
    for (const f of mainCaches()) expect(readFileSync(join(cache, f)).equals(damaged), f).toBe(false);
  });

  it("runs a chunk's new code when it changes, even to a text of the same length", ({
    expect,
    onTestFinished,
  }) => {
    // A copy of the package whose entry chunk is edited: V8 checks a cache's source only by its length.
    const root = tempDir(onTestFinished);
    for (const d of ["bin", "dist"]) cpSync(join(REPO, d), join(root, d), { recursive: true });
    // The copies are newer than the bundle says it was built: bin would run dist/cli instead.
    const inputs = join(root, "dist", "bundle", "inputs.json");
    writeFileSync(
      inputs,
      JSON.stringify({ ...JSON.parse(readFileSync(inputs, "utf8")), builtAt: Date.now() + 1e9 }),
    );
    cpSync(join(REPO, "package.json"), join(root, "package.json"));
    symlinkSync(join(REPO, "node_modules"), join(root, "node_modules"));
    const cache = join(root, "v8");
    const help = () =>
      execFileSync(process.execPath, [join(root, "bin", "concord.js"), "--help"], {
        encoding: "utf8",
        env: { ...process.env, CONCORD_CODE_CACHE: cache },
      });
    const before = "Keeps replicas of the same data in agreement";
    const after = "KEEPS REPLICAS OF THE SAME DATA IN AGREEMENT";
    expect(help()).toContain(before);
    expect(readdirSync(cache).some((f) => f.startsWith("main.cjs."))).toBe(true);
    const main = join(root, "dist", "bundle", "main.cjs");
    writeFileSync(main, readFileSync(main, "utf8").replace(before, after));
    expect(help()).toContain(after);
  });
});
