/**
 * reladiff / data-diff and pt-table-sync habits: `where:` per dataset (or per SQL replica) and `--where`
 * limit the rows compared and repaired; `--min-age` / `--max-age` keep rows by the dataset's timestamp
 * column; a replica that cannot apply an SQL predicate (Redis) is refused with one line.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneLineError, makeSqliteTable, runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

const DDL = "id INTEGER PRIMARY KEY, region TEXT NOT NULL, name TEXT, updated_at TIMESTAMP";
const HOUR = 3_600_000;
const NOW = Date.now();

/** Rows 1…20: odd ids in eu, even in us; row i last updated i hours ago. */
function rows(): (string | number)[][] {
  return Array.from({ length: 20 }, (_, i) => [
    i + 1,
    (i + 1) % 2 ? "eu" : "us",
    `n${i + 1}`,
    new Date(NOW - (i + 1) * HOUR).toISOString(),
  ]);
}

interface ScanJson {
  datasets: { divergences: { key: number[] }[] }[];
}

const keysOf = (stdout: string) =>
  (JSON.parse(stdout) as ScanJson).datasets[0]!.divergences.map((d) => d.key[0]);

function sqliteReplicas(dir: string): void {
  makeSqliteTable(join(dir, "a.db"), "items", DDL, rows());
  // b differs on ids 3, 4, 7, 8 (values), lacks 11 and 12, and holds an extra 21 (us) and 23 (eu).
  makeSqliteTable(join(dir, "b.db"), "items", DDL, rows(), {
    sql: `UPDATE items SET name = 'x' WHERE id IN (3, 4, 7, 8); DELETE FROM items WHERE id IN (11, 12);
          INSERT INTO items VALUES (21, 'us', 'n21', '${new Date(NOW).toISOString()}'), (23, 'eu', 'n23', '${new Date(NOW).toISOString()}');`,
  });
}

const CONFIG = (where: string) => `state: sqlite:state.db
datasets:
  items:
    key: id
    columns: [region, name]
    versions: { timestamp: updated_at }
${where}    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    policy: { owner: a, resolve: owner }
`;

describe.concurrent("where: and --where on SQLite", () => {
  it("compares only the rows the dataset's where holds; --where narrows it further", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    sqliteReplicas(dir);
    writeConfig(dir, CONFIG(`    where: "region = 'eu'"\n`));
    const eu = await runConcord(["scan", "--json"], { cwd: dir });
    expect(eu.stderr).toBe("");
    expect(keysOf(eu.stdout)).toEqual([3, 7, 11, 23]);
    const narrowed = await runConcord(["scan", "--json", "--where", "id < 10"], { cwd: dir });
    expect(keysOf(narrowed.stdout)).toEqual([3, 7]);
    // Repair writes only what was compared; the us rows stay as they are.
    const repair = await runConcord(["repair", "--where", "id < 10"], { cwd: dir });
    expect(repair.stderr).toBe("");
    expect(repair.code).toBe(0);
    writeConfig(dir, CONFIG(""));
    const all = await runConcord(["scan", "--json"], { cwd: dir });
    expect(keysOf(all.stdout)).toEqual([4, 8, 11, 12, 21, 23]);
  });

  it("keeps rows by the age of the timestamp column with --min-age and --max-age", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    sqliteReplicas(dir);
    writeConfig(dir, CONFIG(""));
    // Ids 21 and 23 were updated just now, id i i hours ago.
    const young = await runConcord(["scan", "--json", "--max-age", "5h"], { cwd: dir });
    expect(young.stderr).toBe("");
    expect(keysOf(young.stdout)).toEqual([3, 4, 21, 23]);
    const old = await runConcord(["scan", "--json", "--min-age", "5h"], { cwd: dir });
    expect(keysOf(old.stdout)).toEqual([7, 8, 11, 12]);
    const band = await runConcord(["scan", "--json", "--min-age", "5h", "--max-age", "10h"], { cwd: dir });
    expect(keysOf(band.stdout)).toEqual([7, 8]);
  });

  it("reads a key whole before deciding: a row that left the filter on one side is updated, never deleted", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const at = (hours: number) => new Date(NOW - hours * HOUR).toISOString();
    // Row 5 is us on the owner and eu on b; row 6 the other way round; row 2 was updated 10 minutes ago on
    // the owner (b still holds its 3-hour-old version).
    makeSqliteTable(join(dir, "a.db"), "items", DDL, [
      [1, "eu", "n1", at(3)],
      [2, "eu", "n2 new", at(1 / 6)],
      [5, "us", "n5", at(3)],
      [6, "eu", "n6", at(3)],
    ]);
    makeSqliteTable(join(dir, "b.db"), "items", DDL, [
      [1, "eu", "n1", at(3)],
      [2, "eu", "n2", at(3)],
      [5, "eu", "n5", at(3)],
      [6, "us", "n6", at(3)],
    ]);
    writeConfig(dir, CONFIG(`    where: "region = 'eu'"\n`));
    // --min-age 1h leaves the owner's row 2 out (too young), not b's: each side lists keys the other holds
    // outside its filter. They are read by key, and b gets the owner's records; nothing is deleted.
    const r = await runConcord(["repair", "--json", "--min-age", "1h"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const actions = (
      JSON.parse(r.stdout) as { datasets: { decisions: { key: number[]; action: string }[] }[] }
    ).datasets[0]!.decisions.map((d) => [d.key[0], d.action]);
    expect(actions).toEqual([
      [2, "propagate"],
      [5, "propagate"],
      [6, "propagate"],
    ]);
    writeConfig(dir, CONFIG(""));
    const all = await runConcord(["scan", "--json"], { cwd: dir });
    expect(all.stderr).toBe("");
    expect(keysOf(all.stdout)).toEqual([]);
  });

  it("refuses bad filters with one line and exit 2", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    sqliteReplicas(dir);
    writeConfig(dir, CONFIG(""));
    expect(expectOneLineError(await runConcord(["scan", "--min-age", "soon"], { cwd: dir }), expect)).toBe(
      "concord: --min-age soon: expected a duration such as 30m, 12h or 7d",
    );
    expect(
      expectOneLineError(
        await runConcord(["scan", "--min-age", "2h", "--max-age", "1h"], { cwd: dir }),
        expect,
      ),
    ).toBe("concord: --min-age 2h --max-age 1h: no row can be older than the one and younger than the other");
    expect(
      expectOneLineError(await runConcord(["scan", "--where", "no_such_column = 1"], { cwd: dir }), expect),
    ).toMatch(/^concord: items\.a: .*no such column: no_such_column/);
    // SQLite reads [x'] as an identifier, then a comment: the dialect-free reading saw a quoted ' -- '.
    expect(
      expectOneLineError(await runConcord(["scan", "--where", "name = [x'] -- ']"], { cwd: dir }), expect),
    ).toBe(
      "concord: --where: it holds a comment, which would cut off what follows it in the statement (replica items.a)",
    );
    writeConfig(dir, CONFIG("").replace("    versions: { timestamp: updated_at }\n", ""));
    expect(expectOneLineError(await runConcord(["plan", "--max-age", "1h"], { cwd: dir }), expect)).toBe(
      "concord: --max-age: dataset items declares no timestamp column to measure age by (versions.timestamp)",
    );
  });

  it("refuses a where a Redis replica would have to apply, in the config and on the command line", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    sqliteReplicas(dir);
    const withCache = (where: string, cacheWhere = "") => `state: sqlite:state.db
datasets:
  items:
    key: id
${where}    replicas:
      a: { url: "sqlite:a.db", table: items }
      cache: { url: "redis://127.0.0.1:6379/0", prefix: "item:"${cacheWhere} }
`;
    writeConfig(dir, withCache(`    where: "region = 'eu'"\n`));
    expect(expectOneLineError(await runConcord(["scan"], { cwd: dir }), expect)).toContain(
      "datasets.items.where: replica cache (redis:) cannot apply an SQL predicate; put the where on each SQL replica instead (replicas.<name>.where), and cache is compared whole",
    );
    writeConfig(dir, withCache("", `, where: "region = 'eu'"`));
    expect(expectOneLineError(await runConcord(["scan"], { cwd: dir }), expect)).toContain(
      "datasets.items.replicas.cache.where: a Redis replica cannot apply an SQL predicate",
    );
    writeConfig(dir, withCache(""));
    expect(expectOneLineError(await runConcord(["scan", "--where", "id < 3"], { cwd: dir }), expect)).toBe(
      "concord: --where: replica items.cache (redis:) cannot apply an SQL predicate; its records would all look missing elsewhere (leave out dataset items with -d)",
    );
  });

  it("applies --where on both sides of concord diff", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    sqliteReplicas(dir);
    const r = await runConcord(
      [
        "diff",
        "sqlite:a.db",
        "items",
        "sqlite:b.db",
        "items",
        "-k",
        "id",
        "--columns",
        "name",
        "--where",
        "region = 'us' AND id < 10",
      ],
      { cwd: dir },
    );
    expect(r.stderr).toBe("");
    // The flag is named, not the config path the arguments are laid out in (was datasets.diff.where).
    const bad = (where: string, right = "sqlite:b.db") =>
      runConcord(["diff", "sqlite:a.db", "items", right, "items", "-k", "id", "--where", where], {
        cwd: dir,
      });
    expect(expectOneLineError(await bad("1=1) OR (1=1"), expect)).toBe(
      "concord: --where: it closes a parenthesis it did not open, which would take it out of the parentheses it is combined in",
    );
    expect(expectOneLineError(await bad("id < 3", "redis://127.0.0.1:6379/0"), expect)).toMatch(
      /^concord: --where: replica right \(redis:\) cannot apply an SQL predicate/,
    );
    expect(r.stdout).toBe(
      "note: diff.left reads through a row filter (where:): compared with range checksums and fingerprints computed in the engine instead of inside the store\n" +
        "- 4  name=n4\n+ 4  name=x\n- 8  name=n8\n+ 8  name=x\n2 rows differ: 0 only in left (-), 0 only in right (+), 2 with other values (left 4 rows, right 4 rows).\n",
    );
  });
});

const servers =
  (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL)) && (await serviceAvailable(REDIS));

describe.skipIf(!servers)("where: a # is a comment in MariaDB/MySQL only", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
    await pg.admin.query(
      `CREATE TABLE ${pg.table("items")} (id int PRIMARY KEY, region text NOT NULL, name text)`,
    );
    await my.admin.query(
      "CREATE TABLE items (id INT PRIMARY KEY, region CHAR(2) NOT NULL, name VARCHAR(20))",
    );
    for (const [id, region, name] of rows()) {
      await pg.admin.query(`INSERT INTO ${pg.table("items")} VALUES ($1, $2, $3)`, [id, region, name]);
      await my.admin.query("INSERT INTO items VALUES (?, ?, ?)", [
        id,
        region,
        id === 3 || id === 4 ? "x" : name,
      ]);
    }
  });
  afterAll(async () => {
    await pg?.drop();
    await my?.drop();
  });

  const config = (where: string, pgWhere: string, myWhere: string) => `state: sqlite:state.db
datasets:
  items:
    key: id
    columns: [name]
${where}    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${pg.table("items")}${pgWhere} }
      maria: { url: "${my.url}", table: items${myWhere} }
    policy: { owner: pg, resolve: owner }
`;

  it("refuses a # outside quotes in a MariaDB replica's where, --where and diff --where, naming it", async ({
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    // MariaDB would read `# …` as a comment to the end of the line, cutting off the key range ANDed after it.
    writeConfig(dir, config("", "", `, where: "region = 'eu' #"`));
    expect(expectOneLineError(await runConcord(["scan"], { cwd: dir }))).toContain(
      "datasets.items.replicas.maria.where: it holds a # outside quotes, a comment in MariaDB/MySQL, which would cut off what follows it in the statement",
    );
    writeConfig(dir, config(`    where: "id > 0 #"\n`, "", ""));
    expect(expectOneLineError(await runConcord(["scan"], { cwd: dir }))).toContain(
      "datasets.items.where: it holds a # outside quotes, a comment in MariaDB/MySQL, which would cut off what follows it in the statement (replica maria)",
    );
    // A string then a comment under MariaDB's default backslash escapes: refused, though the quotes balance.
    writeConfig(dir, config("", "", `, where: "name = 'x\\\\'' # '"`));
    expect(expectOneLineError(await runConcord(["scan"], { cwd: dir }))).toContain(
      "datasets.items.replicas.maria.where: it holds a # outside quotes",
    );
    // PostgreSQL's dollar quotes and E'…' strings: a string, then a comment.
    writeConfig(dir, config("", `, where: "name = $$ ' $$ -- '"`, ""));
    expect(expectOneLineError(await runConcord(["scan"], { cwd: dir }))).toContain(
      "datasets.items.replicas.pg.where: it holds a comment, which would cut off what follows it in the statement",
    );
    writeConfig(dir, config(`    where: "name = E'x\\\\'' -- '"\n`, "", ""));
    expect(expectOneLineError(await runConcord(["scan"], { cwd: dir }))).toContain(
      "datasets.items.where: it holds a comment, which would cut off what follows it in the statement (replica pg)",
    );
    writeConfig(dir, config("", "", ""));
    expect(expectOneLineError(await runConcord(["scan", "--where", "id > 0 # "], { cwd: dir }))).toBe(
      "concord: --where: it holds a # outside quotes, a comment in MariaDB/MySQL, which would cut off what follows it in the statement (replica items.maria)",
    );
    expect(
      expectOneLineError(
        await runConcord(
          ["diff", POSTGRES.url, pg.table("items"), my.url, "items", "-k", "id", "--where", "id > 0 #"],
          {
            cwd: dir,
          },
        ),
      ),
    ).toBe(
      "concord: --where: it holds a # outside quotes, a comment in MariaDB/MySQL, which would cut off what follows it in the statement (replica right)",
    );
  });

  it("keeps # where it is an operator (PostgreSQL's XOR) and inside MariaDB quotes", async ({
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    writeConfig(
      dir,
      config("", `, where: "region = 'eu' AND (id # 1) <> id + 1"`, `, where: "region <> '#'"`),
    );
    // PostgreSQL runs its filter (id # 1 is XOR: id + 1 for even ids, so it keeps the odd, eu, ids); MariaDB
    // keeps every row, and its rows outside PostgreSQL's filter are read there by key: 3 and 4 differ.
    const r = await runConcord(["scan", "--json"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(keysOf(r.stdout)).toEqual([3, 4]);
  });
});

describe.skipIf(!servers)("where: per replica on PostgreSQL and MariaDB", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await pg?.drop();
    await my?.drop();
  });

  it("filters each replica by its own predicate and by age, in its own dialect", async ({
    onTestFinished,
  }) => {
    const t = pg.table("items");
    await pg.admin.query(
      `CREATE TABLE ${t} (id int PRIMARY KEY, region text NOT NULL, name text, updated_at timestamptz NOT NULL)`,
    );
    // MariaDB spells the region as a zone code: each replica gets its own where.
    await my.admin.query(
      "CREATE TABLE items (id INT PRIMARY KEY, zone CHAR(2) NOT NULL, name VARCHAR(20), updated_at DATETIME(6) NOT NULL)",
    );
    for (const [id, region, name, at] of rows()) {
      const ts = new Date(at as string);
      await pg.admin.query(`INSERT INTO ${t} VALUES ($1, $2, $3, $4)`, [id, region, name, ts]);
      await my.admin.query("INSERT INTO items VALUES (?, ?, ?, ?)", [
        id,
        region === "eu" ? "E" : "U",
        id === 3 || id === 4 || id === 9 ? "x" : name,
        ts.toISOString().replace("T", " ").replace("Z", ""),
      ]);
    }
    const dir = tempDir(onTestFinished);
    writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    columns: [name]
    versions: { timestamp: updated_at }
    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${t}, where: "region = 'eu'" }
      maria: { url: "${my.url}", table: items, where: "zone = 'E'" }
    policy: { owner: pg, resolve: owner }
`,
    );
    const eu = await runConcord(["scan", "--json"], { cwd: dir });
    expect(eu.stderr).toBe("");
    expect(keysOf(eu.stdout)).toEqual([3, 9]);
    const young = await runConcord(["scan", "--json", "--max-age", "6h"], { cwd: dir });
    expect(keysOf(young.stdout)).toEqual([3]);
    const old = await runConcord(["scan", "--json", "--min-age", "6h", "--where", "id > 0"], { cwd: dir });
    expect(keysOf(old.stdout)).toEqual([9]);
    // Rows outside the filters are not repaired: us row 4 stays as it is.
    expect((await runConcord(["repair"], { cwd: dir })).code).toBe(0);
    const [fixed] = await my.admin.query(
      "SELECT id, name FROM items WHERE id IN (3, 4, 5, 6, 9) ORDER BY id",
    );
    expect(fixed).toEqual([
      { id: 3, name: "n3" },
      { id: 4, name: "x" },
      { id: 5, name: "n5" },
      { id: 6, name: "n6" },
      { id: 9, name: "n9" },
    ]);
  });
});

describe.skipIf(!servers)("where: on two PostgreSQL tables (native row hashes)", () => {
  let pg: PostgresTestSchema;
  beforeAll(async () => {
    pg = await createPostgresTestSchema();
  });
  afterAll(async () => {
    await pg?.drop();
  });

  it("compares only the filtered rows, through the store-native checksums", async ({ onTestFinished }) => {
    for (const name of ["left_t", "right_t"]) {
      await pg.admin.query(
        `CREATE TABLE ${pg.table(name)} (id int PRIMARY KEY, region text NOT NULL, name text)`,
      );
      await pg.admin.query(
        `INSERT INTO ${pg.table(name)} SELECT g, CASE WHEN g % 2 = 1 THEN 'eu' ELSE 'us' END, 'n' || g FROM generate_series(1, 5000) g`,
      );
    }
    await pg.admin.query(`UPDATE ${pg.table("right_t")} SET name = 'x' WHERE id IN (11, 12, 4001, 4002)`);
    const dir = tempDir(onTestFinished);
    writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    where: "region = 'eu'"
    replicas:
      l: { url: "${POSTGRES.url}", table: ${pg.table("left_t")} }
      r: { url: "${POSTGRES.url}", table: ${pg.table("right_t")} }
`,
    );
    const eu = await runConcord(["scan", "--json"], { cwd: dir });
    expect(eu.stderr).toBe("");
    expect(keysOf(eu.stdout)).toEqual([11, 4001]);
    const doc = JSON.parse(eu.stdout) as { datasets: { replicas: Record<string, { rows: number }> }[] };
    expect(doc.datasets[0]!.replicas).toEqual({ l: { rows: 2500 }, r: { rows: 2500 } });
  });
});

describe.concurrent("scan --limit", () => {
  it("lists at most n divergences in text, and refuses a bad n", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    sqliteReplicas(dir);
    writeConfig(dir, CONFIG(""));
    const two = await runConcord(["scan", "--limit", "2"], { cwd: dir });
    expect(two.stderr).toBe("");
    expect(two.stdout).toContain("  4    lww-tie");
    expect(two.stdout).not.toContain("  7    lww-tie");
    expect(two.stdout).toContain("… 6 more (use --json for all)");
    const json = await runConcord(["scan", "--limit", "2", "--json"], { cwd: dir });
    expect(keysOf(json.stdout)).toHaveLength(8);
    expect(expectOneLineError(await runConcord(["scan", "--limit", "0"], { cwd: dir }), expect)).toBe(
      'concord: --limit: expected a positive whole number, got "0"',
    );
  });
});
