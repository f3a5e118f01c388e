#!/usr/bin/env node
// The concord executable: runs the compiled CLI (npm install builds dist/ through the prepare script).
import { setFlagsFromString } from "node:v8";
import { run } from "../dist/cli/main.js";

// The old generation grows to 1.5 times what its last full collection found live, instead of up to 4 times
// (V8's default when collections are cheap): a run's live heap is bounded by its piece, and without this its
// garbage took a 1M-row / 100k-difference repair's RSS from about 130 to 300 MB. A growth factor, not a
// ceiling: a run that needs more heap gets it, collected a little more often (docs/benchmarks.md).
setFlagsFromString("--heap-growing-percent=50");

run(process.argv);
