// Loads the bundled CLI (dist/bundle/, CommonJS) with the V8 code cache `npm run build` wrote beside it, so a
// process deserialises each chunk's compiled code instead of parsing and compiling it. Reads only, never writes:
// a cache that is missing, damaged, or made for other source, another Node or other V8 flags is ignored and the
// chunk compiles as it would without one (docs/benchmarks.md "A scan's fixed cost: compiling the CLI").
import { hash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { basename, dirname, join, sep } from "node:path";
import { setFlagsFromString } from "node:v8";
import { Script } from "node:vm";

/**
 * The V8 flags bin/concord.js sets before it loads anything. V8 accepts a code cache only under the flags it
 * was made with (they are hashed into it), so the build sets exactly these when it writes the cache.
 */
export const V8_FLAGS = ["--heap-growing-percent=50"];

/**
 * The `--semi-space-growth-factor` chunks compile under, with or without a cache. bin/concord.js steers that
 * flag while the process runs (16, 8, ... on the way to its new-space size, then 1); V8 hashes it into a cache
 * like any flag, so each chunk compiles with it set to 1, which the build writes the cache under, and the
 * steering's value is set again after. 1, not V8's default: a collection during a compile then grows nothing.
 */
const COMPILE_GROWTH_FACTOR = 1;

/** What the chunks this process loaded did with their caches (tests read it). */
export const codeCacheStats = { accepted: 0, rejected: 0, absent: 0 };

// The function CommonJS wraps a module in, on the module's first line, as Node's own loader has it.
const WRAP_HEAD = "(function (exports, require, module, __filename, __dirname) { ";
const WRAP_TAIL = "\n});";
// A cache file: SHA-256 of the chunk file's bytes, SHA-256 of V8's data, then the data. V8 itself checks only
// the source's length and, in release builds, no checksum of the data: a chunk edited to the same length would
// run its old code, and damaged data could crash the process.
const DIGEST = 32;

const sha256 = (data) => hash("sha256", data, "buffer");

/** Where the build writes the cache of the chunk `file` (an absolute path in dist/bundle/). */
export function codeCachePath(file) {
  return join(dirname(file), "code-cache", `${basename(file)}.bin`);
}

/**
 * V8's cached data for the chunk file `chunk` if its cache file is sound and was made from the chunk's present
 * bytes, else undefined. The chunk's bytes are read again (from the page cache): hashing them costs a fraction
 * of hashing the decoded source, which is mostly text with a non-ASCII character, held two bytes a character.
 */
function readCodeCache(chunk) {
  let file;
  let bytes;
  try {
    file = readFileSync(codeCachePath(chunk));
    bytes = readFileSync(chunk);
  } catch {
    return undefined;
  }
  if (file.length <= 2 * DIGEST) return undefined;
  const data = file.subarray(2 * DIGEST);
  const sound =
    sha256(bytes).equals(file.subarray(0, DIGEST)) && sha256(data).equals(file.subarray(DIGEST, 2 * DIGEST));
  return sound ? data : undefined;
}

function compile(source, filename, cachedData) {
  return new Script(`${WRAP_HEAD}${source}${WRAP_TAIL}`, { filename, cachedData });
}

/**
 * Requires `dir`/main.cjs with every chunk of `dir` that has a sound cache compiled from it; the others (and
 * every file outside `dir`) go through Node's own loader. A chunk with a dynamic `import()` never has a cache:
 * a vm.Script cannot import on Node 20 without --experimental-vm-modules. `steer` is bin/concord.js's
 * new-space steering, called before and after each chunk (loading them is one synchronous stretch, which its
 * GC observer does not interrupt); it returns the `--semi-space-growth-factor` it set (0: the steering is off,
 * because node was given --max-semi-space-size, under which no cache is accepted anyway).
 */
export function loadBundle(dir, steer) {
  const inside = dir.endsWith(sep) ? dir : `${dir}${sep}`;
  const compileModule = Module.prototype._compile;
  Module.prototype._compile = function compileWithCache(content, filename) {
    if (!filename.startsWith(inside) || !filename.endsWith(".cjs"))
      return compileModule.call(this, content, filename);
    const cachedData = readCodeCache(filename);
    if (cachedData === undefined) {
      codeCacheStats.absent++;
      steer();
      const result = compileModule.call(this, content, filename);
      steer();
      return result;
    }
    const factor = steer();
    const steered = factor !== 0 && factor !== COMPILE_GROWTH_FACTOR;
    if (steered) setFlagsFromString(`--semi-space-growth-factor=${COMPILE_GROWTH_FACTOR}`);
    let script;
    try {
      script = compile(content, filename, cachedData);
    } finally {
      if (steered) setFlagsFromString(`--semi-space-growth-factor=${factor}`);
    }
    if (script.cachedDataRejected) codeCacheStats.rejected++;
    else codeCacheStats.accepted++;
    const wrapper = script.runInThisContext({ displayErrors: true });
    const require = createRequire(filename);
    const result = wrapper.call(this.exports, this.exports, require, this, filename, dirname(filename));
    steer();
    return result;
  };
  return createRequire(import.meta.url)(join(dir, "main.cjs"));
}

/**
 * Writes the code cache of every chunk of `dir` but those named in `skip`: what `npm run build` runs, in a
 * process of its own with no V8 flags but V8_FLAGS (scripts/bundle-cli.mjs). Only each chunk's top level is
 * compiled (its functions compile lazily when first called, as without a cache). Returns how many chunks got
 * a cache.
 */
export function writeCodeCache(dir, skip = new Set()) {
  for (const flag of [...V8_FLAGS, `--semi-space-growth-factor=${COMPILE_GROWTH_FACTOR}`])
    setFlagsFromString(flag);
  mkdirSync(join(dir, "code-cache"), { recursive: true });
  let written = 0;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(".cjs") || skip.has(name)) continue;
    const filename = join(dir, name);
    const bytes = readFileSync(filename);
    const data = compile(bytes.toString("utf8"), filename).createCachedData();
    writeFileSync(codeCachePath(filename), Buffer.concat([sha256(bytes), sha256(data), data]));
    written++;
  }
  return written;
}
