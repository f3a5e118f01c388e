#!/usr/bin/env node
// The concord executable: runs the compiled CLI (npm install builds dist/ through the prepare script).
// dist/bundle/ (scripts/bundle-cli.mjs) is the same CLI in a few files, which loads faster; it runs only
// while every module it was built from is unchanged since, so a later tsc never leaves it stale.
import { readFileSync, statSync } from "node:fs";
import { setFlagsFromString } from "node:v8";

// The old generation grows to 1.5 times what its last full collection found live, instead of up to 4 times
// (V8's default when collections are cheap): a run's live heap is bounded by its piece, and without this its
// garbage took a 1M-row / 100k-difference repair's RSS from about 130 to 300 MB. A growth factor, not a
// ceiling: a run that needs more heap gets it, collected a little more often (docs/benchmarks.md).
setFlagsFromString("--heap-growing-percent=50");

const dist = new URL("../dist/", import.meta.url);

function bundleIsCurrent() {
  try {
    const { builtAt, inputs } = JSON.parse(readFileSync(new URL("bundle/inputs.json", dist), "utf8"));
    return inputs.length > 0 && inputs.every((f) => statSync(new URL(f, dist)).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}

const { run } = await import(bundleIsCurrent() ? "../dist/bundle/main.js" : "../dist/cli/main.js");
run(process.argv);
