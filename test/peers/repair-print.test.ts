/**
 * pt-table-sync's `--print`: `concord repair --print` prints, per target, the exact statements (SQL in the
 * target's dialect, Redis commands) each conditional write would run, with their values, and runs none.
 * The printed SQL, run by hand, brings the tables to the owner's state; its guards keep it conditional.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runConcord, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

const available =
  (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL)) && (await serviceAvailable(REDIS));

const ROWS = Array.from({ length: 10 }, (_, i) => ({
  id: i + 1,
  name: `item ${i + 1}`,
  price: `${i + 1}.50`,
}));

let pg: PostgresTestSchema;
let my: MysqlTestDatabase;
let rd: RedisTestPrefix;
let dir: string;
let config: string;

async function load(): Promise<void> {
  const t = pg.table("items");
  await pg.admin.query(`DROP TABLE IF EXISTS ${t}`);
  await pg.admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2))`);
  await my.admin.query("DROP TABLE IF EXISTS items");
  await my.admin.query(
    "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, price DECIMAL(10,2))",
  );
  const lite = new Database(join(dir, "lite.db"));
  lite.exec(
    "DROP TABLE IF EXISTS items; CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price DECIMAL(10,2))",
  );
  const old = await rd.admin.keys(`${rd.prefix}*`);
  if (old.length) await rd.admin.del(...old);
  for (const r of ROWS) {
    await pg.admin.query(`INSERT INTO ${t} VALUES ($1, $2, $3)`, [r.id, r.name, r.price]);
    await my.admin.query("INSERT INTO items VALUES (?, ?, ?)", [r.id, r.name, r.price]);
    lite.prepare("INSERT INTO items VALUES (?, ?, ?)").run(r.id, r.name, r.price);
    await rd.admin.hset(`${rd.prefix}${r.id}`, { name: r.name, price: r.price });
  }
  // MariaDB: one row changed (with a quote), one missing, one extra. SQLite and Redis: one each.
  await my.admin.query("UPDATE items SET name = 'it''s 3' WHERE id = 3");
  await my.admin.query("DELETE FROM items WHERE id = 4");
  await my.admin.query("INSERT INTO items VALUES (77, 'extra', NULL)");
  lite.exec("UPDATE items SET price = 9.99 WHERE id = 5");
  lite.close();
  await rd.admin.hset(`${rd.prefix}6`, "name", "stale name");
}

async function scanKeys(): Promise<unknown[]> {
  const r = await runConcord(["scan", "--json", "-c", config]);
  if (r.code > 1) throw new Error(`scan exit ${r.code}: ${r.stderr}`);
  return (
    JSON.parse(r.stdout) as { datasets: { divergences: { key: unknown[] }[] }[] }
  ).datasets[0]!.divergences.map((d) => d.key).sort();
}

beforeAll(async () => {
  if (!available) return;
  pg = await createPostgresTestSchema();
  my = await createMysqlTestDatabase();
  rd = createRedisTestPrefix("print");
  dir = mkdtempSync(join(tmpdir(), "concord-print-"));
  config = writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      maria: { url: "${my.url}", table: items }
      lite:  { url: "sqlite:lite.db", table: items }
      cache: { url: "${REDIS.url}", prefix: "${rd.prefix}", format: hash }
    policy: { owner: pg, resolve: owner }
`,
  );
});

afterAll(async () => {
  if (!available) return;
  await pg.drop();
  await my.drop();
  await rd.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!available)("repair --print", () => {
  beforeEach(load);

  it("prints each target's statements with their values in its own dialect, and executes none", async () => {
    const before = await scanKeys();
    expect(before).toEqual([[3], [4], [5], [6], [77]]);
    const r = await runConcord(["repair", "--print", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    const out = r.stdout;
    const key = `${rd.prefix}6`;
    // Each target in its own dialect and quoting, the values inlined, the condition it runs under as a comment.
    expect(out.replace(/\b[0-9a-f]{16}\b/g, "FP")).toBe(
      [
        "-- items → maria",
        "-- key 3: propagate",
        "-- only if the row's fingerprint is still FP (checked under SELECT … FOR UPDATE, in one transaction)",
        "UPDATE `items` AS t SET t.`name` = CASE WHEN t.`id` IN (3) THEN 'item 3' END, t.`price` = CASE WHEN t.`id` IN (3) THEN '3.5' END WHERE t.`id` IN (3);",
        "-- key 4: propagate",
        "-- only if the row is still absent (checked under SELECT … FOR UPDATE, in one transaction)",
        "INSERT INTO `items` (`id`, `name`, `price`) VALUES (4, 'item 4', '4.5');",
        "-- key 77: delete",
        "-- only if the row's fingerprint is still FP (checked under SELECT … FOR UPDATE, in one transaction)",
        "DELETE t FROM `items` AS t WHERE t.`id` IN (77);",
        "-- items → lite",
        "-- key 5: propagate",
        "-- only if the row's fingerprint is still FP (checked in the same BEGIN IMMEDIATE transaction)",
        `UPDATE "items" SET "name" = 'item 5', "price" = 5.5 WHERE "id" = 5;`,
        "# items → cache",
        "# key 6: propagate",
        `# only if ${key} still holds what was read (fingerprint FP; compare-and-set script, one atomic step)`,
        `HSET ${key} id 6 name "item 6" price 6.5`,
        "-- items: 5 conditional writes printed, none executed",
        "",
      ].join("\n"),
    );
    // Nothing was written anywhere.
    expect(await scanKeys()).toEqual(before);

    // The printed SQL is what runs: executed by hand, it brings MariaDB and SQLite to the owner's state.
    const blocks = out.split(/\n(?=(?:--|#) items → )/);
    const sqlOf = (target: string) =>
      blocks
        .find((b) => b.startsWith(`-- items → ${target}`))!
        .split("\n")
        .filter((l) => !l.startsWith("--"))
        .join("\n");
    for (const stmt of sqlOf("maria")
      .split(/;\n?/)
      .filter((s) => s.trim()))
      await my.admin.query(stmt);
    const lite = new Database(join(dir, "lite.db"));
    lite.exec(sqlOf("lite"));
    lite.close();
    expect(await scanKeys()).toEqual([[6]]);
  });

  it("spells control, line-breaking and bidi characters as SQL expressions: inert when printed, exact when run", async () => {
    // ESC (a terminal sequence), U+202E (reverses what follows), a newline, a tab, C1 NEL, a quote, a backslash.
    const weird = "a\u001b[31mred\u202eevil\nline\ttab\u0085it's \\ end";
    const cfg = (owner: string) =>
      writeConfig(
        dir,
        `state: sqlite:state-weird.db
datasets:
  items:
    key: id
    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      lite:  { url: "sqlite:lite.db", table: items }
    policy: { owner: ${owner}, resolve: owner }
`,
        `weird-${owner}.yaml`,
      );
    const lite = () => new Database(join(dir, "lite.db"));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    const unsafe = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/;
    const sqlOf = (out: string) =>
      out
        .split("\n")
        .filter((l) => !l.startsWith("--"))
        .join("\n");
    // SQLite itself differs on key 5 (load); made equal first, so only the weird values differ.
    const l0 = lite();
    l0.exec("UPDATE items SET price = 5.50 WHERE id = 5");
    l0.close();

    // PostgreSQL owns a weird name: the SQLite statement spells it with char(N).
    await pg.admin.query(`UPDATE ${pg.table("items")} SET name = $1 WHERE id = 8`, [weird]);
    const toLite = await runConcord(["repair", "--print", "-c", cfg("pg")]);
    expect(toLite.stderr).toBe("");
    expect(toLite.stdout).not.toMatch(unsafe);
    expect(toLite.stdout).toContain("char(27)");
    // One statement line per write: the value's newline is not a line of the output.
    expect(sqlOf(toLite.stdout).trim().split("\n")).toHaveLength(1);
    const l1 = lite();
    l1.exec(sqlOf(toLite.stdout));
    expect(l1.prepare("SELECT name FROM items WHERE id = 8").pluck().get()).toBe(weird);
    l1.close();

    // SQLite owns another: the PostgreSQL statement spells it as an escape string.
    const l2 = lite();
    l2.prepare("UPDATE items SET name = ? WHERE id = 9").run(`${weird}!`);
    l2.close();
    const toPg = await runConcord(["repair", "--print", "-c", cfg("lite")]);
    expect(toPg.stderr).toBe("");
    expect(toPg.stdout).not.toMatch(unsafe);
    expect(toPg.stdout).toContain("E'a\\u001B[31mred\\u202Eevil\\u000Aline\\u0009tab\\u0085it''s \\\\ end!'");
    await pg.admin.query(sqlOf(toPg.stdout));
    const back = await pg.admin.query(`SELECT name FROM ${pg.table("items")} WHERE id = 9`);
    expect(back.rows[0].name).toBe(`${weird}!`);
    // Both now agree on every key.
    const check = await runConcord(["scan", "--json", "-c", cfg("pg")]);
    expect(check.code).toBe(0);
  });

  it("puts each planned write's statement in the JSON, and guards PostgreSQL writes with the fingerprint", async () => {
    await pg.admin.query(`UPDATE ${pg.table("items")} SET price = NULL WHERE id = 2`);
    // Make pg the one that differs: owner maria for this run.
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      maria: { url: "${my.url}", table: items }
      pg:    { url: "${POSTGRES.url}", table: ${pg.table("items")} }
    policy: { owner: maria, resolve: owner }
`,
      "maria-owner.yaml",
    );
    const r = await runConcord(["repair", "--print", "--json", "-c", cfg]);
    expect(r.stderr).toBe("");
    const doc = JSON.parse(r.stdout) as {
      datasets: {
        repairs: { key: number[]; target: string; outcome: string; action: string; statement: string }[];
      }[];
    };
    const repairs = doc.datasets[0]!.repairs;
    expect(repairs.map((x) => [x.key, x.target, x.outcome, x.action])).toEqual([
      [[2], "pg", "planned", "propagate"],
      [[3], "pg", "planned", "propagate"],
      [[4], "pg", "planned", "delete"],
      [[77], "pg", "planned", "propagate"],
    ]);
    const t = `"${pg.name}"."items"`;
    expect(repairs[0]!.statement).toMatch(
      new RegExp(
        `^UPDATE ${t.replace(/[."]/g, "\\$&")} AS t SET "name" = CAST\\('item 2' AS text\\), "price" = CAST\\('2\\.5' AS numeric\\(10,2\\)\\) WHERE t\\."id" = '2'::int8 AND left\\(md5\\(.*\\), 16\\) = '[0-9a-f]{16}';$`,
      ),
    );
    expect(repairs[3]!.statement).toBe(
      `INSERT INTO ${t} AS t ("id", "name", "price") VALUES (CAST('77' AS integer), CAST('extra' AS text), NULL) ON CONFLICT DO NOTHING;`,
    );
    // Conditional when run by hand: the guarded UPDATE changes nothing once the row is not what was seen.
    await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'changed meanwhile' WHERE id = 2`);
    expect((await pg.admin.query(repairs[0]!.statement)).rowCount).toBe(0);
    expect((await pg.admin.query(repairs[2]!.statement)).rowCount).toBe(1);
    expect((await pg.admin.query(repairs[2]!.statement)).rowCount).toBe(0);
  });
});
