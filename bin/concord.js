#!/usr/bin/env node
// The concord executable: runs the compiled CLI (npm install builds dist/ through the prepare script).
import { run } from "../dist/cli/main.js";

run(process.argv);
