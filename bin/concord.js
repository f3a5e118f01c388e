#!/usr/bin/env node
// The concord executable: runs the compiled CLI (npm install builds dist/ through the prepare script).
// dist/bundle/ (scripts/bundle-cli.mjs) is the same CLI in a few files, which loads faster; it runs only
// while every module it was built from is unchanged since, so a later tsc never leaves it stale.
import { readFileSync, statSync } from "node:fs";

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
