#!/usr/bin/env node
// The concord executable: runs the compiled CLI (npm install builds dist/ through the prepare script).
// dist/bundle/ (scripts/bundle-cli.mjs) is the same CLI in a few CommonJS files, which loads faster; it runs
// only while every module it was built from is unchanged since, so a later tsc never leaves it stale.
// CommonJS (bin/package.json): an ES-module entry makes Node 20 set up its ES module loader first, about a
// tenth of `concord --version`'s CPU; the CLI itself is CommonJS (the bundle) or imported (dist/cli).
"use strict";
const { readFileSync, statSync } = require("node:fs");
const Module = require("node:module");
const { join, sep } = require("node:path");
const { PerformanceObserver } = require("node:perf_hooks");
const { getHeapSpaceStatistics, setFlagsFromString } = require("node:v8");

// The old generation grows to 1.5 times what its last full collection found live, instead of up to 4 times
// (V8's default when collections are cheap): a run's live heap is bounded by its piece, and without this its
// garbage took a 1M-row / 100k-difference repair's RSS from about 130 to 300 MB. A growth factor, not a
// ceiling: a run that needs more heap gets it, collected a little more often (docs/benchmarks.md).
setFlagsFromString("--heap-growing-percent=50");

// The young generation's two semi-spaces double, as objects survive, up to 16 MB each: 32 MB of mostly garbage
// in a run whose live heap is 20-45 MB. Their maximum is read once, from node's command line
// (--max-semi-space-size), which neither `node bin/concord.js` nor npm's shims pass; the growth factor is
// read at every growth. So the factor is set, now and after every collection, to what takes the new space
// to 16 MB (2 x 8 MB) in one growth, and to 1 once it is there: a growth lands on 16 MB even within a
// synchronous stretch that runs no callback (loadBundle also steers between chunks: requiring them is one such
// stretch, long enough for two growths, to 32 MB). A 1M-row / 100k-difference repair: 138-151 -> 125-126 MiB of
// RSS for about 1.14x its CPU (more scavenges, more of each piece promoted). 8 MB (2 x 4 MB) saved another
// 2-10 MiB for 1.1-1.3x; 24 MB half the saving for half the cost (docs/benchmarks.md). A
// --max-semi-space-size given to node is left to rule.
const NEW_SPACE_BYTES = 16 * 1024 * 1024;
/** Sets the growth factor for the new space as it is now (nothing when node was given --max-semi-space-size). */
let steerNewSpace = () => {};
/** The growth factor set last (undefined: never set), which V8's code cache records among the flags. */
let growthFactor;
if (!/--max-semi-space-size/.test(`${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`)) {
  let factor = 0;
  steerNewSpace = () => {
    const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
    const next = Math.max(
      1,
      Math.floor(NEW_SPACE_BYTES / Math.max(newSpace?.space_size ?? NEW_SPACE_BYTES, 1)),
    );
    if (next === factor) return;
    factor = next;
    growthFactor = next;
    setFlagsFromString(`--semi-space-growth-factor=${next}`);
  };
  steerNewSpace();
  new PerformanceObserver(() => steerNewSpace()).observe({ entryTypes: ["gc"] });
}

const dist = join(__dirname, "..", "dist", sep);

// Paths, not URLs: a bundle is built from about 300 modules, and a URL each cost a scan 10-20 ms of CPU.
// Each input is dist/ + a relative path with "/" (which every platform's fs accepts): no path.join a file.
function bundleIsCurrent() {
  try {
    const { builtAt, inputs } = JSON.parse(readFileSync(`${dist}bundle${sep}inputs.json`, "utf8"));
    if (inputs.length === 0) return false;
    for (const f of inputs) if (statSync(dist + f).mtimeMs > builtAt) return false;
    return true;
  } catch {
    return false;
  }
}

/**
 * Requires the bundle's entry; each of its chunks, as Node's loader compiles it (the entry's at once, a
 * command's when it runs), is preceded and followed by `steer`, which the GC observer cannot run within one
 * synchronous stretch of requires.
 */
function loadBundle(dir, steer) {
  const inside = `${dir}${sep}`;
  const compile = Module.prototype._compile;
  const cache = codeCache();
  Module.prototype._compile = function compileSteered(content, filename) {
    if (!filename.startsWith(inside)) return compile.call(this, content, filename);
    steer();
    try {
      // A chunk with a dynamic import() is compiled as Node compiles it: a function V8 restores from a code
      // cache has no callback for import() ("A dynamic import callback was not specified").
      return cache && !content.includes("import(")
        ? cache.run(this, content, filename)
        : compile.call(this, content, filename);
    } finally {
      steer();
    }
  };
  return require(join(dir, "main.cjs"));
}

/** How many chunk caches the code cache folder keeps (a command loads up to about 45 chunks). */
const CACHES_KEPT = 400;

/**
 * V8's code cache for the bundle's chunks, which takes compiling off a run's fixed cost (a small scan: 0.85-0.90
 * of its wall and CPU, docs/benchmarks.md "V8's code cache for the bundle"). A chunk compiles from its cache when V8 accepts it (same source, same V8, same
 * flags); a chunk that had none, or one V8 refused, leaves one at exit holding every function the run
 * compiled in it. V8 checks the flags as they were when the cache was made against those at compile time,
 * and steerNewSpace changes one of them as a run goes: each cache is made under, and named after, the growth
 * factor its chunk was compiled under. Kept in the user's own cache folder (CONCORD_CODE_CACHE names another;
 * `off` keeps none), never in the install folder, which may be read-only, nor in a shared one (a cache is
 * code); chunks' names carry a hash of their content, so installs of other versions share it without clashing.
 * Undefined when the folder cannot be made; a file error just means compiling as without it.
 */
function codeCache() {
  const { mkdirSync, writeFileSync, renameSync, readdirSync, statSync: stat, rmSync } = require("node:fs");
  // Loaded by every command that works anyway (fingerprints, the audit chain): here only a little sooner.
  const { hash } = require("node:crypto");
  const { Script } = require("node:vm");
  const { basename, dirname } = require("node:path");
  const { homedir } = require("node:os");
  const named = process.env.CONCORD_CODE_CACHE;
  if (named === "off") return undefined;
  let dir;
  try {
    dir = named || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "concord", "v8");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch {
    return undefined;
  }
  const fresh = [];
  process.once("exit", () => {
    if (fresh.length === 0) return;
    for (const { file, script, factor } of fresh) {
      try {
        if (factor !== undefined) setFlagsFromString(`--semi-space-growth-factor=${factor}`);
        const tmp = `${file}.${process.pid}`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, file);
      } catch {
        // Not written: the next run compiles again.
      }
    }
    // Rebuilds and upgrades leave caches of chunks no longer run: the folder keeps the newest CACHES_KEPT.
    try {
      const files = readdirSync(dir).map((f) => join(dir, f));
      if (files.length <= CACHES_KEPT) return;
      const byAge = files.map((f) => [stat(f).mtimeMs, f]).sort((a, b) => a[0] - b[0]);
      for (const [, f] of byAge.slice(0, files.length - CACHES_KEPT)) rmSync(f, { force: true });
    } catch {
      // Pruned next time.
    }
  });
  return {
    run(module, content, filename) {
      // Named by the chunk's content: V8 checks a cache's source only by its length, so a chunk rebuilt to
      // the same length (main.cjs naming new chunks) would run the old code. And one cache per growth factor
      // the chunk is compiled under (commands and data reach it at different points of the steering).
      const file = join(
        dir,
        `${basename(filename)}.${hash("sha1", content).slice(0, 20)}.${growthFactor ?? "n"}.v8`,
      );
      let cachedData;
      try {
        cachedData = readFileSync(file);
      } catch {}
      const script = new Script(Module.wrap(content), { filename, cachedData });
      if (cachedData === undefined || script.cachedDataRejected)
        fresh.push({ file, script, factor: growthFactor });
      const fn = script.runInThisContext({ displayErrors: true });
      const req = (id) => module.require(id);
      req.resolve = (request, options) => Module._resolveFilename(request, module, false, options);
      req.main = require.main;
      req.cache = Module._cache;
      return fn.call(module.exports, module.exports, req, module, filename, dirname(filename));
    },
  };
}

if (bundleIsCurrent()) loadBundle(join(dist, "bundle"), steerNewSpace).run(process.argv);
// A dist/ that cannot be imported fails as an unhandled rejection: Node prints it and exits 1, as before.
else void import("../dist/cli/main.js").then(({ run }) => run(process.argv));
