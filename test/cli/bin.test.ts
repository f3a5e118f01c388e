/**
 * The executable itself, as a process: `bin/concord.js` runs the built CLI, writes to the process's own
 * streams, reads its environment and working directory, and exits with the command's code. Every other
 * CLI test calls `main()` in-process; this one keeps the bin entry (`run()`) honest.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { describe, it } from "vitest";
import {
  BIN,
  execConcord,
  expectOneLineError,
  itemsConfig,
  parseJson,
  REPO,
  SEEDED_POLICY,
  seededItems,
  tempDir,
  writeConfig,
} from "./helpers.js";

describe.concurrent("bin/concord.js", () => {
  it("--version prints the package version and exits 0", async ({ expect }) => {
    const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
    expect(await execConcord(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("scans with -c relative to its working directory and ${VAR} from its environment; exit 1 on divergence", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    writeConfig(dir, itemsConfig(SEEDED_POLICY).replace("sqlite:b.db", "sqlite:${CONCORD_TEST_REPLICA_B}"));
    const r = await execConcord(["scan", "--json", "-c", "concord.yaml"], {
      cwd: dir,
      env: { CONCORD_TEST_REPLICA_B: "b.db" },
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(parseJson(r).datasets[0]!.counts).toMatchObject({ missing: 3, stale: 2, conflict: 1 });
  });

  it("exits 2 with one line on stderr for bad input", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const line = expectOneLineError(await execConcord(["scan"], { cwd: dir }), expect);
    expect(line).toMatch(/^concord: concord\.yaml: cannot read config file \(not found/);
  });

  it("a reader that goes away ends the output quietly: scan --json | head -c 200 exits with the scan's code", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    // Enough divergence that the document is far larger than a pipe's buffer.
    const config = twoTables(dir, 20_000);
    const child = spawn(process.execPath, [BIN, "scan", "--json", "-c", config], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    let got = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      got += chunk.length;
      // What `head -c 200` does: read a little, then close the pipe.
      if (got >= 200) child.stdout.destroy();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect(stderr).toBe("");
    expect(code).toBe(1);
  });

  it("keeps the young generation at 16 MB (2 x 8 MB semi-spaces) unless node is given --max-semi-space-size", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const config = twoTables(dir, 20_000);
    // Preloaded into the CLI's process: the largest new space seen after any collection, printed at exit.
    const probe = join(dir, "probe.mjs");
    writeFileSync(
      probe,
      `import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";
let max = 0;
const sample = () => {
  max = Math.max(max, getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size);
};
new PerformanceObserver(sample).observe({ entryTypes: ["gc"] });
process.on("exit", () => {
  sample();
  process.stderr.write(\`new_space \${max}\\n\`);
});
`,
    );
    const newSpace = async (nodeOptions: string) => {
      const r = await execConcord(["scan", "--json", "-c", config], {
        cwd: dir,
        env: { NODE_OPTIONS: `--import ${pathToFileURL(probe).href} ${nodeOptions}` },
      });
      expect(r.code).toBe(1);
      return Number(/^new_space (\d+)$/m.exec(r.stderr)?.[1]);
    };
    // The same scan grows it to 32 MB when node is told to allow that: the cap is what holds it.
    expect(await newSpace("--max-semi-space-size=16")).toBeGreaterThan(16 * 1024 * 1024);
    expect(await newSpace("")).toBeLessThanOrEqual(16 * 1024 * 1024);
  });
});

/** Two SQLite tables `t` in `dir` (a.db, b.db) of `rows` rows, every value different; returns the config. */
function twoTables(dir: string, rows: number): string {
  for (const [name, shift] of [
    ["a.db", 0],
    ["b.db", 1],
  ] as const) {
    const db = new Database(join(dir, name));
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO t VALUES (?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) insert.run(i, `value ${i + shift}`);
    })();
    db.close();
  }
  return writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  t:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
`,
  );
}
