/**
 * Commands that only read state (escalations list/show, insights, policy history/show/diff, plan --candidate)
 * on a state store that does not exist yet: they answer that there is nothing yet (exit 0, the usual JSON
 * document with empty lists; a lookup of one thing exits 2) and create nothing: no SQLite file or folder, no
 * PostgreSQL schema. So do commands that write but find nothing to do there (recheck, rollback, checkpoint drop).
 */
import { randomUUID } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { POSTGRES, serviceAvailable, TEST_PREFIX } from "../support/services.js";
import { makeItemsReplicas, runConcord, tempDir, writeConfig } from "./helpers.js";

const pgAvailable = await serviceAvailable(POSTGRES);

interface Case {
  readonly args: readonly string[];
  readonly code: number;
  /** What stdout is (JSON: parsed), or what stderr's one line says. */
  readonly stdout?: unknown;
  readonly stderr?: RegExp;
}

/** Each read-only command and what it answers before anything has run. `absent` matches the reason given. */
function cases(absent: string): Case[] {
  const nothing = (what: string) => `No ${what} yet: nothing has run with this config (${absent}).\n`;
  return [
    { args: ["escalations", "list"], code: 0, stdout: nothing("open escalations") },
    { args: ["escalations", "list", "--all", "--group"], code: 0, stdout: nothing("escalations") },
    {
      args: ["escalations", "list", "--json"],
      code: 0,
      stdout: { schemaVersion: 1, escalations: [], total: 0 },
    },
    { args: ["escalations", "list", "--group", "--json"], code: 0, stdout: { schemaVersion: 1, groups: [] } },
    {
      args: ["escalations", "list", "-d", "nosuch"],
      code: 2,
      stderr: /^concord: -d nosuch: no dataset named "nosuch" in the config/,
    },
    {
      args: ["escalations", "show", "e0000000000000000000"],
      code: 2,
      stderr: /no escalation with id e0000000000000000000/,
    },
    {
      args: ["policy", "history"],
      code: 0,
      stdout: "No policy history yet: a dataset's policy is recorded by its first repair run.\n",
    },
    { args: ["policy", "history", "--json"], code: 0, stdout: { schemaVersion: 1, datasets: [] } },
    { args: ["policy", "show"], code: 2, stderr: /policy show: items has no policy history yet/ },
    { args: ["policy", "diff"], code: 2, stderr: /policy diff: items has no policy history yet/ },
    {
      args: ["insights", "--json"],
      code: 0,
      stdout: {
        schemaVersion: 1,
        datasets: [
          {
            name: "items",
            replicas: [],
            hotspots: [],
            patterns: [],
            recommendations: [],
            heatmap: {
              segments: 0,
              columns: ["name", "price", "version"],
              windowMs: 7 * 24 * 3_600_000,
              cells: [],
            },
          },
        ],
      },
    },
    { args: ["plan", "--candidate", "candidate.yaml", "--json"], code: 1 },
    { args: ["plan", "--candidate", "candidate.yaml", "--run", "r1"], code: 2, stderr: /--run r1: no run/ },
    // Commands that write, but find nothing to do where there is no state: they create none to say so.
    { args: ["recheck", "--run", "r1"], code: 2, stderr: /--run r1: no run with this id/ },
    { args: ["recheck", "--run", "r1", "--repair"], code: 2, stderr: /--run r1: no run with this id/ },
    {
      args: ["rollback", "--run", "r1"],
      code: 2,
      stderr: /rollback --run r1: no applied repairs in that run/,
    },
    { args: ["checkpoint", "drop", "items"], code: 0, stdout: "dataset items has no checkpoint\n" },
    {
      args: ["checkpoint", "drop", "items", "--json"],
      code: 0,
      stdout: { schemaVersion: 1, dataset: "items", dropped: false, runId: null, runFailed: false },
    },
  ];
}

function setUp(state: string): { dir: string; cfg: string } {
  const dir = tempDir();
  makeItemsReplicas(dir, { rows: 20, sqlB: "UPDATE items SET name = 'other' WHERE id = 3" });
  const cfg = writeConfig(
    dir,
    `state: ${state}
datasets:
  items:
    key: id
    columns: [name, price, version]
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    policy: { resolve: highest-version }
`,
  );
  writeFileSync(join(dir, "candidate.yaml"), "owner: a\nresolve: owner\n");
  return { dir, cfg };
}

async function expectCase(c: Case, cfg: string, dir: string): Promise<void> {
  const r = await runConcord([...c.args, "-c", cfg], { cwd: dir });
  const what = c.args.join(" ");
  expect(r.code, `${what}: ${r.stderr}`).toBe(c.code);
  if (c.stderr) expect(r.stderr, what).toMatch(c.stderr);
  else if (c.code === 0) expect(r.stderr, what).toBe("");
  if (c.stdout !== undefined)
    expect(typeof c.stdout === "string" ? r.stdout : JSON.parse(r.stdout), what).toEqual(c.stdout);
}

describe("commands that read state, before anything has run", () => {
  it("on a SQLite state file that does not exist: nothing yet, and no file or folder created", async () => {
    const { dir, cfg } = setUp("sqlite:.concord/state.db");
    const state = join(dir, ".concord", "state.db");
    for (const c of cases(`the state file ${state} does not exist`)) {
      await expectCase(c, cfg, dir);
      expect(existsSync(join(dir, ".concord")), c.args.join(" ")).toBe(false);
    }
  });

  it.skipIf(!pgAvailable)(
    "on a PostgreSQL state schema that does not exist: nothing yet, and no schema created",
    async () => {
      const schema = `${TEST_PREFIX}_ro_${randomUUID().slice(0, 8)}`;
      const { dir, cfg } = setUp(`"${POSTGRES.url}?schema=${schema}"`);
      const admin = new pg.Pool({ connectionString: POSTGRES.url, max: 1 });
      try {
        // The texts are checked on SQLite; here the documents, exit codes, and the one text below.
        for (const c of cases("")) {
          await expectCase({ ...c, stdout: typeof c.stdout === "string" ? undefined : c.stdout }, cfg, dir);
          const { rows } = await admin.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
          expect(rows, c.args.join(" ")).toEqual([]);
        }
        // The text says why there is nothing, naming the schema.
        const r = await runConcord(["escalations", "list", "-c", cfg], { cwd: dir });
        expect(r.stdout).toMatch(
          new RegExp(
            `^No open escalations yet: nothing has run with this config \\(the state schema "${schema}" of postgres://.* does not exist\\)\\.\\n$`,
          ),
        );
      } finally {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end();
      }
    },
  );
});
