// Writes dist/bundle/code-cache/ (bin/bundle-loader.js writeCodeCache): run by scripts/bundle-cli.mjs in a
// process of its own, with no V8 flags but those bin/concord.js sets. Usage: bundle-code-cache.mjs DIR [SKIP...]
import { rmSync } from "node:fs";
import { join } from "node:path";
import { writeCodeCache } from "../bin/bundle-loader.js";

const [dir, ...skip] = process.argv.slice(2);
if (!dir) {
  process.stderr.write("usage: bundle-code-cache.mjs DIR [CHUNK...]\n");
  process.exit(2);
}
try {
  writeCodeCache(dir, new Set(skip));
} catch (err) {
  // A partial cache is harmless (each chunk's is checked alone), but a build that failed here says so.
  rmSync(join(dir, "code-cache"), { recursive: true, force: true });
  throw err;
}
