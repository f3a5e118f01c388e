/**
 * Ctrl-C during the read-only commands (`scan`, `plan`, `diff`) through the real binary, on PostgreSQL replicas:
 * the command stops after the statement in flight instead of dying, says so in one line, exits 130, leaves
 * no run `running`, no spill directory and no unfinished `--output` file behind, and never reports an
 * unfinished scan as "replicas agree". The statement in flight is held by a table lock, so the signal lands
 * mid-scan whatever the machine's load.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { type PlanJson, query, type SpawnOptions, spawnConcord, tempDir, writeConfig } from "./helpers.js";

const available = await serviceAvailable(POSTGRES);

let db: PostgresTestSchema | undefined;

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
  for (const side of ["a", "b"]) {
    await db.admin.query(
      `CREATE TABLE "${db.name}".items_${side} (id bigint PRIMARY KEY, name text NOT NULL, version bigint NOT NULL)`,
    );
    await db.admin.query(
      `INSERT INTO "${db.name}".items_${side} SELECT g, 'item ' || g, 1 FROM generate_series(1, 200) g`,
    );
  }
  await db.admin.query(`UPDATE "${db.name}".items_a SET name = 'new', version = 2 WHERE id <= 20`);
});

afterAll(async () => {
  await db?.drop();
});

/** Two datasets over the same tables: the first one's read is held by the lock, the second is never reached. */
function config(schema: string): string {
  const url = JSON.stringify(POSTGRES.url);
  const dataset = (name: string) => `  ${name}:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: ${url}, table: "${schema}.items_a" }
      b: { url: ${url}, table: "${schema}.items_b" }
    policy: { owner: a, resolve: highest-version }
`;
  return `state: sqlite:state.db\ndatasets:\n${dataset("first")}${dataset("second")}`;
}

/**
 * Runs `args` with items_b locked, interrupts it once its read of items_b waits for the lock, then lets the
 * read go on; resolves with the result and the directory's files.
 */
async function interrupted(
  onTestFinished: SpawnOptions["onTestFinished"],
  args: readonly string[] | ((schema: string) => readonly string[]),
  signal: "SIGINT" | "SIGTERM" = "SIGINT",
) {
  const schema = db!.name;
  const dir = tempDir(onTestFinished);
  const file = writeConfig(dir, config(schema));
  const argv = typeof args === "function" ? args(schema) : [...args, "-c", file];
  const lock = await db!.admin.connect();
  try {
    await lock.query("BEGIN");
    await lock.query(`LOCK TABLE "${schema}".items_b IN ACCESS EXCLUSIVE MODE`);
    // TMPDIR: the spill directories land in `dir`, where the test can see whether they were removed.
    const run = spawnConcord(argv, { cwd: dir, env: { TMPDIR: dir }, onTestFinished });
    let exited = false;
    void run.done.then(() => {
      exited = true;
    });
    let waiting = false;
    while (!exited && !waiting) {
      const { rows } = await db!.admin.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query LIKE '%items_b%'`,
      );
      waiting = rows[0].n > 0;
      if (!waiting) await new Promise((r) => setTimeout(r, 40));
    }
    run.child.kill(signal);
    await run.untilStderr(/stopping after the step in flight/).catch(() => undefined);
    await lock.query("ROLLBACK");
    const r = await run.done;
    return { r, dir, files: readdirSync(dir).sort(), state: join(dir, "state.db") };
  } finally {
    await lock.query("ROLLBACK").catch(() => undefined);
    lock.release();
  }
}

describe.skipIf(!available)("read-only commands on PostgreSQL, interrupted", () => {
  it("scan: Ctrl-C mid-read stops, exits 130 with one line, leaves no run running and no partial --output file", {
    timeout: 120_000,
  }, async ({ expect, onTestFinished }) => {
    const { r, files, state } = await interrupted(onTestFinished, ["scan", "--output", "diff.jsonl"]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain(
      "concord: interrupted; no replica was written; diff.jsonl not written (the scan did not finish)",
    );
    expect(r.stdout).not.toContain("replicas agree");
    expect(r.stdout).toContain("interrupted before second: not scanned");
    // Nothing half-written: no diff file, no temporary one, no spill directory.
    expect(files.filter((f) => !/^(concord\.yaml|state\.db(-wal|-shm)?)$/.test(f))).toEqual([]);
    expect(query(state, "SELECT COUNT(*) AS n FROM runs WHERE status = 'running'")).toEqual([{ n: 0 }]);
  });

  it("diff: SIGTERM mid-read stops, exits 143 with one line, leaves no spill directory and no partial --output file", {
    timeout: 120_000,
  }, async ({ expect, onTestFinished }) => {
    const { r, files } = await interrupted(
      onTestFinished,
      (schema) => [
        "diff",
        POSTGRES.url,
        `${schema}.items_a`,
        POSTGRES.url,
        `${schema}.items_b`,
        "-k",
        "id",
        "--output",
        "diff.jsonl",
      ],
      "SIGTERM",
    );
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toContain(
      "concord: interrupted; the differences listed are only those found so far; diff.jsonl not written (the diff did not finish)",
    );
    expect(r.stdout).not.toContain("No differences");
    expect(r.stdout).toContain("interrupted after 0 of ");
    expect(files.filter((f) => f !== "concord.yaml")).toEqual([]);
  });

  it("plan --json: Ctrl-C mid-read prints a valid document marked interrupted, exit 130", {
    timeout: 120_000,
  }, async ({ expect, onTestFinished }) => {
    const { r, files, state } = await interrupted(onTestFinished, ["plan", "--json"]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain("concord: interrupted; no replica was written");
    const doc = JSON.parse(r.stdout) as PlanJson & { interrupted: boolean };
    expect(doc.interrupted).toBe(true);
    expect(doc.datasets.map((d) => d.name)).toEqual(["first"]);
    expect(files.filter((f) => !/^(concord\.yaml|state\.db(-wal|-shm)?)$/.test(f))).toEqual([]);
    expect(query(state, "SELECT COUNT(*) AS n FROM runs WHERE status = 'running'")).toEqual([{ n: 0 }]);
  });

  it("repair: Ctrl-C mid-read writes nothing, and the report does not say there was nothing to do", {
    timeout: 120_000,
  }, async ({ expect, onTestFinished }) => {
    const { r, state } = await interrupted(onTestFinished, ["repair"]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain("concord: interrupted; what was written is in the ledger and the audit log");
    expect(r.stdout).not.toContain("nothing to do");
    expect(r.stdout).toContain("first: interrupted, ");
    expect(r.stdout).toContain("  repair: nothing written before it stopped\n");
    expect(r.stdout).toContain("interrupted before second: not scanned");
    expect(query(state, "SELECT COUNT(*) AS n FROM runs WHERE status = 'running'")).toEqual([{ n: 0 }]);
  });

  it("repair: SIGTERM (docker stop, Kubernetes) stops like Ctrl-C, says so, exits 143 and writes nothing", {
    timeout: 120_000,
  }, async ({ expect, onTestFinished }) => {
    const { r, state } = await interrupted(onTestFinished, ["repair"], "SIGTERM");
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toContain(
      "concord: stopped (SIGTERM); stopping after the step in flight (a second SIGTERM kills)",
    );
    expect(r.stdout).toContain("  repair: nothing written before it stopped\n");
    expect(query(state, "SELECT COUNT(*) AS n FROM runs WHERE status = 'running'")).toEqual([{ n: 0 }]);
  });
});
