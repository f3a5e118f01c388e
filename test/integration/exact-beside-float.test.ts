/**
 * An exact number (PostgreSQL numeric, bigint) beside a float (SQLite REAL, PostgreSQL double precision and
 * real, MariaDB DOUBLE) through the CLI: compared as an exact decimal, a double equals a decimal only when its
 * shortest text is that decimal. Compared as doubles, bigint 9007199254740993 equalled REAL 9007199254740992
 * and numeric 0.1000000000000000000001 equalled 0.1: differences missed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJson, runConcord, type ScanJson, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);
const mysql = available && (await serviceAvailable(MYSQL));

let pg: PostgresTestSchema;
let my: MysqlTestDatabase | undefined;
let dir: string;

beforeAll(async () => {
  if (!available) return;
  pg = await createPostgresTestSchema();
  if (mysql) my = await createMysqlTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "concord-exact-float-"));
});
afterAll(async () => {
  await pg?.drop();
  await my?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Dataset = ScanJson["datasets"][number] & { notes?: string[] };

function config(name: string, a: string, b: string, owner: "a" | "b"): string {
  return writeConfig(
    dir,
    `state: sqlite:${name}-state.db
datasets:
  ${name}:
    key: k
    replicas:
      a: ${a}
      b: ${b}
    policy: { owner: ${owner}, resolve: owner }
`,
    `${name}-${owner}.yaml`,
  );
}

async function scan(path: string): Promise<Dataset> {
  const r = await runConcord(["scan", "--json", "-c", path]);
  if (r.code > 1) throw new Error(`scan exit ${r.code}: ${r.stderr}`);
  return parseJson(r).datasets[0]!;
}

const divergent = (d: Dataset) => Object.fromEntries(d.divergences.map((x) => [String(x.key[0]), x.columns]));

async function repair(path: string): Promise<Record<string, string>> {
  const r = await runConcord(["repair", "--json", "-c", path]);
  const doc = JSON.parse(r.stdout) as {
    datasets: { repairs?: { key: unknown[]; outcome: string; error?: string }[] }[];
  };
  return Object.fromEntries(
    (doc.datasets[0]?.repairs ?? []).map((x) => [String(x.key[0]), x.error ?? x.outcome]),
  );
}

describe.skipIf(!available)("exact numbers beside floats", () => {
  it("PostgreSQL numeric and bigint beside SQLite REAL: differences a double cannot hold are found, and repairs are exact or refused", async () => {
    const t = pg.table("xf");
    await pg.admin.query(`CREATE TABLE ${t} (k int PRIMARY KEY, n numeric, b bigint)`);
    await pg.admin.query(
      `INSERT INTO ${t} VALUES (1, 0.1000000000000000000001, 5), (2, 0.1, 9007199254740993), (3, 0.1, 5), (4, 1e21, 0), (5, 1.10, -7)`,
    );
    const file = join(dir, "xf.db");
    const db = new Database(file);
    db.exec("CREATE TABLE xf (k INTEGER PRIMARY KEY, n REAL, b REAL)");
    db.exec(
      "INSERT INTO xf VALUES (1, 0.1, 5.0), (2, 0.1, 9007199254740992), (3, 0.1, 5), (4, 1e21, -0.0), (5, 1.1, -7)",
    );
    db.close();
    const a = `{ url: "${POSTGRES.url}", table: ${t} }`;
    const b = `{ url: "sqlite:${file}", table: xf }`;
    const toLite = config("xf", a, b, "a");
    const first = await scan(toLite);
    expect(divergent(first)).toEqual({ "1": ["n"], "2": ["b"] });
    expect(first.notes).toContain(
      "column n is compared as an exact decimal (numeric on a, REAL on b): a float equals a decimal only when its shortest text is that decimal (0.1 is, 0.1000000000000000000001 and 9007199254740993 are no double); declare types: { n: float } to compare as doubles",
    );
    // Into the REAL column neither fits: refused, the file as it was.
    expect(await repair(toLite)).toEqual({
      "1": expect.stringContaining("column n (REAL) cannot store 0.1000000000000000000001"),
      "2": expect.stringContaining("column b (REAL) cannot store 9007199254740993"),
    });
    // From SQLite the doubles are written digit for digit, and the replicas then agree.
    const toPg = config("xf", a, b, "b");
    expect(await repair(toPg)).toEqual({ "1": "applied", "2": "applied" });
    const rows = await pg.admin.query<string[]>({
      text: `SELECT k::text, n::text, b::text FROM ${t} ORDER BY k`,
      rowMode: "array",
    });
    expect(rows.rows.slice(0, 2)).toEqual([
      ["1", "0.1", "5"],
      ["2", "0.1", "9007199254740992"],
    ]);
    expect((await scan(toPg)).divergences).toEqual([]);
  });

  it("numeric beside double precision and real: writes the decimals a float gives back as themselves, refuses the rest", async () => {
    const [ta, tb] = [pg.table("fa"), pg.table("fb")];
    await pg.admin.query(`CREATE TABLE ${ta} (k int PRIMARY KEY, d numeric, r numeric)`);
    await pg.admin.query(`CREATE TABLE ${tb} (k int PRIMARY KEY, d double precision, r real)`);
    await pg.admin.query(
      `INSERT INTO ${ta} VALUES (1, 0.1, 0.5), (2, 9007199254740993, NULL), (3, 1e-400, NULL), (4, NULL, 0.10000000149011612), (5, NULL, 0.1), (6, 'NaN', 'Infinity')`,
    );
    const path = config(
      "ff",
      `{ url: "${POSTGRES.url}", table: ${ta} }`,
      `{ url: "${POSTGRES.url}", table: ${tb} }`,
      "a",
    );
    expect(await repair(path)).toEqual({
      "1": "applied",
      "2": expect.stringContaining(
        "column d (double precision) cannot store 9007199254740993: double precision would hold it as 9007199254740992",
      ),
      "3": expect.stringContaining("double precision would hold it as 0"),
      "4": "applied",
      "5": expect.stringContaining(
        "column r (real) cannot store 0.1: real (single precision) would round it",
      ),
      "6": "applied",
    });
    const rows = await pg.admin.query<string[]>({
      text: `SELECT k::text, d::text, r::float8::text FROM ${tb} ORDER BY k`,
      rowMode: "array",
    });
    expect(rows.rows).toEqual([
      ["1", "0.1", "0.5"],
      ["4", null, "0.10000000149011612"],
      ["6", "NaN", "Infinity"],
    ]);
  });

  // A known gap before: the elements' texts were compared, so a double printed with an exponent (1e+21,
  // 1e-07) differed from the numeric's digits.
  it("numeric[] beside double precision[]: element by element as exact decimals", async () => {
    const [ta, tb] = [pg.table("aa"), pg.table("ab")];
    await pg.admin.query(`CREATE TABLE ${ta} (k int PRIMARY KEY, v numeric[])`);
    await pg.admin.query(`CREATE TABLE ${tb} (k int PRIMARY KEY, v double precision[])`);
    await pg.admin.query(
      `INSERT INTO ${ta} VALUES (1, '{1000000000000000000000,0.0000001,0.10,NaN}'), (2, '{9007199254740993}'), (3, '{{1.50,NULL},{-0,2}}'), (4, '{0.1000000000000000000001}')`,
    );
    await pg.admin.query(
      `INSERT INTO ${tb} VALUES (1, '{1e21,1e-7,0.1,NaN}'), (2, '{9007199254740992}'), (3, '{{1.5,NULL},{0,2}}'), (4, '{0.1}')`,
    );
    const path = config(
      "arr",
      `{ url: "${POSTGRES.url}", table: ${ta} }`,
      `{ url: "${POSTGRES.url}", table: ${tb} }`,
      "a",
    );
    expect(divergent(await scan(path))).toEqual({ "2": ["v"], "4": ["v"] });
    expect(await repair(path)).toEqual({
      "2": expect.stringContaining('double precision[] would hold it as "{9007199254740992}"'),
      "4": expect.stringContaining('double precision[] would hold it as "{0.1}"'),
    });
  });

  it.skipIf(!mysql)(
    "numeric beside MariaDB DOUBLE: 9007199254740993 differs from 9007199254740992",
    async () => {
      const t = pg.table("md");
      await pg.admin.query(`CREATE TABLE ${t} (k int PRIMARY KEY, n numeric)`);
      await pg.admin.query(`INSERT INTO ${t} VALUES (1, 9007199254740993), (2, 0.3), (3, 1e21)`);
      await my!.admin.query("CREATE TABLE md (k INT PRIMARY KEY, n DOUBLE)");
      await my!.admin.query("INSERT INTO md VALUES (1, 9007199254740992), (2, 0.3), (3, 1e21)");
      const path = config(
        "md",
        `{ url: "${POSTGRES.url}", table: ${t} }`,
        `{ url: "${my!.url}", table: md }`,
        "a",
      );
      expect(divergent(await scan(path))).toEqual({ "1": ["n"] });
    },
  );
});
