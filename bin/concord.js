#!/usr/bin/env node
// The concord executable: runs the compiled CLI (npm install builds dist/ through the prepare script).
// dist/bundle/ (scripts/bundle-cli.mjs) is the same CLI in a few files, which loads faster; it runs only
// while every module it was built from is unchanged since, so a later tsc never leaves it stale.
import { readFileSync, statSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

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
// synchronous stretch that runs no callback. A 1M-row / 100k-difference repair: 138-151 -> 125-126 MiB of
// RSS for about 1.14x its CPU (more scavenges, more of each piece promoted). 8 MB (2 x 4 MB) saved another
// 2-10 MiB for 1.1-1.3x; 24 MB half the saving for half the cost (docs/benchmarks.md). A
// --max-semi-space-size given to node is left to rule.
const NEW_SPACE_BYTES = 16 * 1024 * 1024;
if (!/--max-semi-space-size/.test(`${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`)) {
  let factor = 0;
  const steerNewSpace = () => {
    const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
    const next = Math.max(
      1,
      Math.floor(NEW_SPACE_BYTES / Math.max(newSpace?.space_size ?? NEW_SPACE_BYTES, 1)),
    );
    if (next === factor) return;
    factor = next;
    setFlagsFromString(`--semi-space-growth-factor=${next}`);
  };
  steerNewSpace();
  new PerformanceObserver(steerNewSpace).observe({ entryTypes: ["gc"] });
}

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
