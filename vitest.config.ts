import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Most files wait on servers, child processes and deadlines, not on the CPU: vitest's default on a
    // 2-core machine (one worker) left the CPU idle most of the run.
    maxWorkers: 3,
  },
});
