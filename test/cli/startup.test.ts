/**
 * What a `concord` process loads before it works (docs/benchmarks.md "Start-up fixed costs"): a scan of
 * PostgreSQL replicas never loads Node's fetch implementation (undici), which pg's Cloudflare probe would
 * load on Node 20, and leaves no `navigator` behind; the state store's pg is the replicas' pg.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { BIN, REPO, tempDir, writeConfig } from "./helpers.js";

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
        done({ code: err ? (err.code as number) : 0, stdout, report: JSON.parse(stderr.slice(at + 3)) });
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
