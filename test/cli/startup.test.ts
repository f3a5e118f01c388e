/**
 * What a `concord` process loads before it works (docs/benchmarks.md "Start-up fixed costs"): bin runs the
 * bundled CLI (dist/bundle/) only while it is current, and it answers as dist/ does; a scan of PostgreSQL
 * replicas never loads Node's fetch implementation (undici), which pg's Cloudflare probe would load on
 * Node 20, and leaves no `navigator` behind; the state store's pg is the replicas' pg.
 */
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { BIN, itemsConfig, REPO, SEEDED_POLICY, seededItems, tempDir, writeConfig } from "./helpers.js";

const available = await serviceAvailable(POSTGRES);
let db: PostgresTestSchema | undefined;

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
  for (const side of ["a", "b"]) {
    await db.admin.query(`CREATE TABLE "${db.name}".items_${side} (id bigint PRIMARY KEY, payload text)`);
    await db.admin.query(
      `INSERT INTO "${db.name}".items_${side} SELECT g, md5(g::text) FROM generate_series(1, 100) g`,
    );
  }
  await db.admin.query(`UPDATE "${db.name}".items_b SET payload = 'x' WHERE id = 7`);
});

afterAll(async () => {
  await db?.drop();
});

/** What a process reports at exit: whether it loaded undici, and `typeof navigator` there. */
const REPORT_AT_EXIT = `data:text/javascript,process.on("exit",()=>process.stderr.write("\\n@@"+JSON.stringify({undici:process.moduleLoadList.some((m)=>m.includes("undici")),navigator:typeof globalThis.navigator})))`;

interface Run {
  code: number;
  stdout: string;
  /** What it wrote on stderr before the report. */
  stderr: string;
  report: { undici: boolean; navigator: string };
}

/** `node --import REPORT_AT_EXIT ...args` in `cwd`, with the report parsed from its stderr. */
function node(args: readonly string[], cwd = REPO): Promise<Run> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ["--import", REPORT_AT_EXIT, ...args],
      { cwd, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") return fail(err);
        const at = stderr.lastIndexOf("\n@@");
        if (at < 0) return fail(new Error(`no report on stderr: ${stderr}`));
        done({
          code: err ? (err.code as number) : 0,
          stdout,
          stderr: stderr.slice(0, at),
          report: JSON.parse(stderr.slice(at + 3)),
        });
      },
    );
  });
}

describe.skipIf(!available)("start-up of a PostgreSQL scan", () => {
  it("finds the divergence without loading undici, and leaves navigator as Node has it", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const url = JSON.stringify(POSTGRES.url);
    writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: ${url}, table: ${db!.table("items_a")} }
      b: { url: ${url}, table: ${db!.table("items_b")} }
`,
    );
    const [scan, bare] = await Promise.all([
      node([BIN, "scan", "--json", "-c", "concord.yaml"], dir),
      node(["-e", ""]),
    ]);
    expect(scan.code).toBe(1);
    const doc = JSON.parse(scan.stdout) as { datasets: { divergences: { key: unknown[] }[] }[] };
    expect(doc.datasets[0]!.divergences.map((d) => d.key)).toEqual([[7]]);
    expect(scan.report).toEqual({ undici: false, navigator: bare.report.navigator });
  });

  it("the state store's pg is the connectors' pg, loaded without undici", async ({ expect }) => {
    const dist = (path: string) => JSON.stringify(pathToFileURL(join(REPO, "dist", path)).href);
    const r = await node([
      "--input-type=module",
      "-e",
      `const a = await import(${dist("connectors/postgres/node-postgres.js")});
       const b = await import(${dist("state/postgres/node-postgres.js")});
       const c = new a.pg.Client(${JSON.stringify(POSTGRES.url)});
       await c.connect();
       const { rows } = await c.query("SELECT 1 AS one");
       await c.end();
       console.log(JSON.stringify({ same: a.pg === b.pg, one: rows[0].one }));`,
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ same: true, one: 1 });
    expect(r.report.undici).toBe(false);
  });
});

describe("bin/concord.js and the bundle", () => {
  it("runs dist/bundle while no module it was built from is newer, else dist/cli", async ({
    expect,
    onTestFinished,
  }) => {
    // A stand-in package: bin/concord.js itself, with a bundle (CommonJS) and a dist/cli that say which ran.
    const dir = tempDir(onTestFinished);
    for (const sub of ["bin", "dist/cli", "dist/bundle"]) mkdirSync(join(dir, sub), { recursive: true });
    copyFileSync(BIN, join(dir, "bin", "concord.js"));
    copyFileSync(join(REPO, "bin", "package.json"), join(dir, "bin", "package.json"));
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    const says = (what: string) => `function run() { process.stdout.write("${what}"); }\n`;
    writeFileSync(join(dir, "dist/cli/main.js"), `export ${says("dist")}`);
    writeFileSync(join(dir, "dist/bundle/main.cjs"), `${says("bundle")}exports.run = run;\n`);
    const inputs = (list: string[]) =>
      writeFileSync(
        join(dir, "dist/bundle/inputs.json"),
        JSON.stringify({ builtAt: 2_000_000_000_000, inputs: list }),
      );
    const at = (seconds: number) => utimesSync(join(dir, "dist/cli/main.js"), seconds, seconds);
    const ran = async () => (await node([join(dir, "bin", "concord.js")], dir)).stdout;

    inputs(["cli/main.js"]);
    at(1_000_000_000);
    expect(await ran()).toBe("bundle");
    at(2_100_000_000); // rebuilt by tsc after the bundle
    expect(await ran()).toBe("dist");
    at(1_000_000_000);
    inputs(["cli/main.js", "cli/gone.js"]); // a module the bundle holds is gone
    expect(await ran()).toBe("dist");
    inputs([]);
    expect(await ran()).toBe("dist");
  });

  it.skipIf(!existsSync(join(REPO, "dist/bundle/inputs.json")))(
    "neither --version nor a scan --json sets up Node's ES module jobs, readline or rimraf (a CommonJS bin, loaded on use)",
    async ({ expect, onTestFinished }) => {
      const dir = tempDir(onTestFinished);
      seededItems(dir);
      writeConfig(dir, itemsConfig(SEEDED_POLICY));
      // A CommonJS preload (an --import would set up the ES module loader itself) reporting at exit.
      const hook = join(dir, "report.cjs");
      writeFileSync(
        hook,
        'process.on("exit", () => process.stderr.write("\\n@@" + JSON.stringify(process.moduleLoadList)));\n',
      );
      const loaded = (args: string[]) =>
        new Promise<{ code: number; stdout: string; modules: string[] }>((done, fail) => {
          execFile(
            process.execPath,
            ["--require", hook, BIN, ...args],
            { cwd: dir },
            (err, stdout, stderr) => {
              if (err && typeof err.code !== "number") return fail(err);
              const at = stderr.lastIndexOf("\n@@");
              if (at < 0) return fail(new Error(`no report on stderr: ${stderr}`));
              done({
                code: err ? (err.code as number) : 0,
                stdout,
                modules: JSON.parse(stderr.slice(at + 3)),
              });
            },
          );
        });
      const unwanted = (modules: string[]) =>
        modules.filter((m) =>
          /^NativeModule (internal\/modules\/esm\/(module_job|translators)|readline|internal\/fs\/rimraf)$/.test(
            m,
          ),
        );
      const version = await loaded(["--version"]);
      expect(version.code).toBe(0);
      expect(unwanted(version.modules)).toEqual([]);
      const scan = await loaded(["scan", "--json", "-c", "concord.yaml"]);
      expect(scan.code).toBe(1);
      expect(JSON.parse(scan.stdout).datasets[0].counts).toMatchObject({ missing: 3, stale: 2, conflict: 1 });
      expect(unwanted(scan.modules)).toEqual([]);
    },
  );

  it.skipIf(!existsSync(join(REPO, "dist/bundle/inputs.json")))(
    "the bundle scans, fails and helps as dist/cli does",
    async ({ expect, onTestFinished }) => {
      const dir = tempDir(onTestFinished);
      seededItems(dir);
      writeConfig(dir, itemsConfig(SEEDED_POLICY));
      writeConfig(dir, "state: sqlite:x.db\ndatasets: { d: { key: id } }\n", "bad.yaml");
      const unbundled = `import(${JSON.stringify(pathToFileURL(join(REPO, "dist", "cli", "main.js")).href)}).then((m) => m.run([process.argv[0], "concord", ...process.argv.slice(1)]))`;
      const both = async (...args: string[]) => {
        const runs = await Promise.all(
          [["--input-type=module", "-e", unbundled, "--"], [BIN]].map(async (entry) => {
            const r = await node([...entry, ...args], dir);
            const varies = /"runId": "[^"]+"|"durationMs": \d+|run \S+Z-\w+|in \d+ ?ms\b/g;
            return { code: r.code, stdout: r.stdout.replace(varies, ""), stderr: r.stderr };
          }),
        );
        expect(runs[1]).toEqual(runs[0]);
        return runs[0]!;
      };
      expect((await both("scan", "--json", "-c", "concord.yaml")).code).toBe(1);
      expect((await both("plan", "--json", "-c", "concord.yaml")).code).toBe(1);
      expect((await both("scan", "-c", "bad.yaml")).code).toBe(2);
      expect((await both("scan", "--help")).stdout).toMatch(/--limit <n>/);
      expect((await both("--version")).code).toBe(0);
    },
  );
});
