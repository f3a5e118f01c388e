/**
 * pgEdge ACE's diff file: `scan --output FILE` writes every divergence with its full rows (JSON lines);
 * `repair --from FILE` repairs only the entries whose replicas still hold what the file says — each write
 * conditional, audited, idempotent — and reports the stale ones (changed since, or agreeing now).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, it } from "vitest";
import { expectOneLineError, makeSqliteTable, runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

const DDL = "id INTEGER PRIMARY KEY, name TEXT, qty INTEGER";
const ROWS = Array.from({ length: 10 }, (_, i) => [i + 1, `n${i + 1}`, i + 1]);

function setUp(dir: string): void {
  makeSqliteTable(join(dir, "a.db"), "t", DDL, ROWS);
  makeSqliteTable(join(dir, "b.db"), "t", DDL, ROWS, {
    sql: "DELETE FROM t WHERE id = 2; UPDATE t SET name = 'x' WHERE id IN (3, 4); INSERT INTO t VALUES (11, 'extra', 0);",
  });
  writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
    policy: { owner: a, resolve: owner }
`,
  );
}

function exec(dir: string, db: string, sql: string): void {
  const d = new Database(join(dir, db));
  d.exec(sql);
  d.close();
}

interface RepairJson {
  datasets: {
    repairs: { key: number[]; outcome: string }[];
    stale: { key: number[]; changed: string[]; converged: boolean }[];
  }[];
}

describe.concurrent("scan --output and repair --from", () => {
  it("writes full rows, then repairs only the entries that still hold, reporting the stale ones", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    setUp(dir);
    const scan = await runConcord(["scan", "--output", "diff.jsonl"], { cwd: dir });
    expect(scan.stderr).toBe("");
    expect(scan.code).toBe(1);
    const lines = readFileSync(join(dir, "diff.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      kind: "concord-diff",
      schemaVersion: 1,
      dataset: "items",
      key: ["id"],
      columns: ["name", "qty"],
      replicas: ["a", "b"],
    });
    expect(lines.slice(1).map((l) => l.key)).toEqual([[2], [3], [4], [11]]);
    expect(lines[2].replicas).toEqual({
      a: {
        present: true,
        fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
        values: { name: "n3", qty: "3" },
      },
      b: {
        present: true,
        fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
        values: { name: "x", qty: "3" },
      },
    });
    expect(lines[1].replicas.b).toEqual({ present: false });
    // concord diff writes the same file for an ad-hoc comparison (its dataset is "diff").
    const adhoc = await runConcord(
      [
        "diff",
        "sqlite:a.db",
        "t",
        "sqlite:b.db",
        "t",
        "-k",
        "id",
        "--names",
        "a,b",
        "--output",
        "adhoc.jsonl",
      ],
      { cwd: dir },
    );
    expect(adhoc.code).toBe(1);
    const adhocLines = readFileSync(join(dir, "adhoc.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(adhocLines[0]).toMatchObject({ kind: "concord-diff", dataset: "diff", replicas: ["a", "b"] });
    expect(adhocLines.slice(1)).toEqual(lines.slice(1));
    // Named after the config's dataset (--dataset), the ad-hoc file is one repair --from applies.
    const named = await runConcord(
      ["diff", "sqlite:a.db", "t", "sqlite:b.db", "t", "-k", "id", "--names", "a,b"].concat([
        "--dataset",
        "items",
        "--output",
        "named.jsonl",
      ]),
      { cwd: dir },
    );
    expect(named.code, named.stderr).toBe(1);
    const namedLines = readFileSync(join(dir, "named.jsonl"), "utf8").trimEnd().split("\n");
    expect(JSON.parse(namedLines[0]!)).toMatchObject({ dataset: "items", replicas: ["a", "b"] });
    const dry = await runConcord(["repair", "--from", "named.jsonl", "--dry-run", "--json"], { cwd: dir });
    expect(dry.stderr).toBe("");
    expect((JSON.parse(dry.stdout) as RepairJson).datasets[0]!.stale).toEqual([]);
    rmSync(join(dir, "named.jsonl"));
    // No temporary file is left beside it.
    expect(readdirSync(dir).filter((f) => f.includes("tmp"))).toEqual([]);

    // Someone changes key 3 on b, and key 4 converges on its own, after the file was written.
    exec(dir, "b.db", "UPDATE t SET qty = 99 WHERE id = 3; UPDATE t SET name = 'n4' WHERE id = 4;");
    const r = await runConcord(["repair", "--from", "diff.jsonl", "--json"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1); // key 3 still diverges
    const doc = JSON.parse(r.stdout) as RepairJson;
    expect(doc.datasets[0]!.repairs.map((x) => [x.key, x.outcome])).toEqual([
      [[2], "applied"],
      [[11], "applied"],
    ]);
    expect(doc.datasets[0]!.stale).toEqual([
      { key: [3], changed: ["b"], converged: false },
      { key: [4], changed: ["a", "b"], converged: true },
    ]);
    // Audited like any repair.
    const audit = await runConcord(["audit", "show", "--json"], { cwd: dir });
    const entries = (JSON.parse(audit.stdout) as { entries: { type: string; key?: unknown }[] }).entries;
    expect(entries.filter((e) => e.type === "applied").length).toBe(2);
    // Idempotent: the same file again writes nothing; everything in it is stale now.
    const again = await runConcord(["repair", "--from", "diff.jsonl"], { cwd: dir });
    expect(again.stdout).toContain(
      "stale: 4 entries of the diff file left alone: 2 (agrees now), 3 (b changed since), 4 (agrees now), 11 (agrees now)",
    );
    expect(again.stdout).not.toContain("applied");
    const b = new Database(join(dir, "b.db"), { readonly: true });
    expect(b.prepare("SELECT id, name, qty FROM t WHERE id IN (2, 3, 11) ORDER BY id").all()).toEqual([
      { id: 2, name: "n2", qty: 2 },
      { id: 3, name: "x", qty: 99 },
    ]);
    b.close();
  });

  it("refuses a file that is not a diff file of these datasets, with one line", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    setUp(dir);
    writeFileSync(
      join(dir, "bad.jsonl"),
      '{"kind":"concord-diff","schemaVersion":1,"dataset":"other","key":["id"],"replicas":[]}\n',
    );
    expect(
      expectOneLineError(await runConcord(["repair", "--from", "bad.jsonl"], { cwd: dir }), expect),
    ).toBe(
      `concord: --from ${join(dir, "bad.jsonl")}:1: dataset other is not in the config (or not picked with -d)`,
    );
    writeFileSync(join(dir, "bad.jsonl"), "not json\n");
    expect(
      expectOneLineError(await runConcord(["repair", "--from", "bad.jsonl"], { cwd: dir }), expect),
    ).toContain("bad.jsonl:1: not a JSON line");
    expect(
      expectOneLineError(await runConcord(["repair", "--from", "missing.jsonl"], { cwd: dir }), expect),
    ).toContain("missing.jsonl: cannot read (ENOENT)");
    expect(existsSync(join(dir, "state.db"))).toBe(false);
    expect(
      expectOneLineError(await runConcord(["scan", "--output", "no/such/dir/d.jsonl"], { cwd: dir }), expect),
    ).toBe(`concord: --output ${join(dir, "no/such/dir/d.jsonl")}: cannot write (ENOENT)`);
    // A directory in the way is found when the complete file is put in place: one line, no temporary left.
    mkdirSync(join(dir, "taken"));
    const taken = await runConcord(["scan", "--output", "taken"], { cwd: dir });
    expect(taken.code).toBe(2);
    expect(expectOneLineError(taken, expect)).toBe(
      `concord: --output ${join(dir, "taken")}: cannot write (EISDIR)`,
    );
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("removes the temporary file a scan killed outright left, and keeps one a running scan writes", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    setUp(dir);
    // A process that has ended (a scan SIGKILLed mid-write) and one still running (a scan writing now).
    const gone = spawnSync("true").pid!;
    const alive = spawn("sleep", ["30"]);
    onTestFinished(() => void alive.kill());
    for (const pid of [gone, alive.pid!])
      writeFileSync(join(dir, `diff.jsonl.${pid}.tmp`), '{"kind":"concord-di');
    writeFileSync(join(dir, "diff.jsonl.notes.tmp"), "not a scan's");
    const scan = await runConcord(["scan", "--output", "diff.jsonl"], { cwd: dir });
    expect([scan.code, scan.stderr]).toEqual([1, ""]);
    expect(
      readdirSync(dir)
        .filter((f) => f.startsWith("diff.jsonl"))
        .sort(),
    ).toEqual(["diff.jsonl", `diff.jsonl.${alive.pid}.tmp`, "diff.jsonl.notes.tmp"].sort());
  });
});

const servers = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(REDIS));

describe.skipIf(!servers)("a diff file from PostgreSQL to a Redis cache", () => {
  let pg: PostgresTestSchema;
  let rd: RedisTestPrefix;
  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    rd = createRedisTestPrefix("diff-file");
  });
  afterAll(async () => {
    await pg?.drop();
    await rd?.drop();
  });

  it("repairs the cache from the file, conditionally", async ({ expect, onTestFinished }) => {
    const t = pg.table("items");
    await pg.admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name text, price numeric(10,2))`);
    for (let i = 1; i <= 5; i++) {
      await pg.admin.query(`INSERT INTO ${t} VALUES ($1, $2, $3)`, [i, `n${i}`, `${i}.25`]);
      if (i !== 2)
        await rd.admin.hset(`${rd.prefix}${i}`, { name: i === 4 ? "old" : `n${i}`, price: `${i}.25` });
    }
    const dir = tempDir(onTestFinished);
    writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${t} }
      cache: { url: "${REDIS.url}", prefix: "${rd.prefix}" }
    policy: { owner: pg, resolve: owner }
`,
    );
    expect((await runConcord(["scan", "--output", "d.jsonl"], { cwd: dir })).code).toBe(1);
    await rd.admin.hset(`${rd.prefix}4`, "name", "newer");
    const r = await runConcord(["repair", "--from", "d.jsonl"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("stale: 1 entry of the diff file left alone: 4 (cache changed since)");
    expect(await rd.admin.hgetall(`${rd.prefix}2`)).toEqual({ id: "2", name: "n2", price: "2.25" });
    expect(await rd.admin.hget(`${rd.prefix}4`, "name")).toBe("newer");
  });
});
