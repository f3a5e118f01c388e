/**
 * A PostgreSQL replica's row filter where the server reads '…' literals with backslash escapes
 * (standard_conforming_strings off, for the session through the URL's options or as a role's default): a
 * filter with a backslash in a plain literal is refused in one line naming the dataset and replica, since the
 * server would read its quotes (and so its parentheses and comments) other than the check did; an E'…'
 * literal, which reads the same either way, is used. With the setting on, the plain literal is fine.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneLineError, makeSqliteTable, runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable, TEST_PREFIX } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);

/** Rows 1…6; names 2, 4 and 6 hold a backslash (`C:\dir`). */
const ROWS: [number, string][] = [1, 2, 3, 4, 5, 6].map((id) => [id, id % 2 ? `n${id}` : "C:\\dir"]);

describe.skipIf(!available)("where: on PostgreSQL with standard_conforming_strings off", () => {
  let pg: PostgresTestSchema;
  const role = `${TEST_PREFIX}_noticed_scs_${process.pid}`;
  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    await pg.admin.query(`CREATE TABLE ${pg.table("items")} (id int PRIMARY KEY, name text NOT NULL)`);
    for (const [id, name] of ROWS)
      await pg.admin.query(`INSERT INTO ${pg.table("items")} VALUES ($1, $2)`, [id, name]);
    // A role whose sessions default to the setting off (as ALTER DATABASE … SET would for a database).
    await pg.admin.query(`DROP ROLE IF EXISTS ${role}`);
    await pg.admin.query(`CREATE ROLE ${role} LOGIN`);
    await pg.admin.query(`ALTER ROLE ${role} SET standard_conforming_strings = off`);
    await pg.admin.query(`GRANT USAGE ON SCHEMA "${pg.name}" TO ${role}`);
    await pg.admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA "${pg.name}" TO ${role}`);
  });
  afterAll(async () => {
    await pg?.admin.query(`REVOKE ALL ON ALL TABLES IN SCHEMA "${pg.name}" FROM ${role}`);
    await pg?.admin.query(`REVOKE ALL ON SCHEMA "${pg.name}" FROM ${role}`);
    await pg?.drop();
    const { default: pgLib } = await import("pg");
    const admin = new pgLib.Client({ connectionString: POSTGRES.url });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  /** The URL as another role, or with the session setting in its options. */
  const urls = () => {
    const asRole = new URL(POSTGRES.url);
    asRole.username = role;
    asRole.password = "";
    const withOption = new URL(POSTGRES.url);
    withOption.searchParams.set("options", "-c standard_conforming_strings=off");
    return { role: asRole.toString(), session: withOption.toString(), on: POSTGRES.url };
  };

  /** pg (the URL given) beside a SQLite copy of the table, each with its own where (YAML double-quoted). */
  const config = (dir: string, url: string, pgWhere: string, sqliteWhere: string) => {
    if (!existsSync(join(dir, "s.db")))
      makeSqliteTable(join(dir, "s.db"), "items", "id INTEGER PRIMARY KEY, name TEXT NOT NULL", ROWS);
    return writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      pg: { url: ${JSON.stringify(url)}, table: ${pg.table("items")}, where: ${JSON.stringify(pgWhere)} }
      lite: { url: "sqlite:s.db", table: items, where: ${JSON.stringify(sqliteWhere)} }
    policy: { owner: pg, resolve: owner }
`,
    );
  };

  interface ScanJson {
    datasets: { replicas: Record<string, { rows: number }>; divergences: unknown[] }[];
  }

  // Standard reading: two strings, '\' and ') --'. With the setting off: one string (', ') and then `) --`,
  // which closes the filter's parentheses and comments out the key range after it.
  const tricky = "name IN ('\\', ') --')";

  for (const how of ["session", "role"] as const)
    it(`refuses a backslash in a plain literal, naming the dataset and replica (setting off for the ${how})`, async ({
      onTestFinished,
    }) => {
      const dir = tempDir(onTestFinished);
      const url = urls()[how];
      config(dir, url, tricky, tricky);
      const error = expectOneLineError(await runConcord(["scan", "--json"], { cwd: dir }));
      expect(error).toBe(
        "concord: items.pg: where: it holds a backslash in a plain '…' literal, which this server reads as an escape (standard_conforming_strings is off) where the check does not; write the literal as E'…'",
      );
      // Written as E'…' it reads the same either way: the rows holding a backslash are compared.
      config(dir, url, "name <> E'C:\\\\dir'", "name <> 'C:\\dir'");
      const scan = await runConcord(["scan", "--json"], { cwd: dir });
      expect(scan.code, scan.stderr).toBe(0);
      const doc = JSON.parse(scan.stdout) as ScanJson;
      expect(doc.datasets[0]!.replicas).toEqual({ pg: { rows: 3 }, lite: { rows: 3 } });
      expect(doc.datasets[0]!.divergences).toEqual([]);
    });

  it("keeps a plain literal's backslash where the setting is on (the default)", async ({
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    config(dir, urls().on, "name <> 'C:\\dir'", "name <> 'C:\\dir'");
    const scan = await runConcord(["scan", "--json"], { cwd: dir });
    expect(scan.code, scan.stderr).toBe(0);
    const doc = JSON.parse(scan.stdout) as ScanJson;
    expect(doc.datasets[0]!.replicas).toEqual({ pg: { rows: 3 }, lite: { rows: 3 } });
    expect(doc.datasets[0]!.divergences).toEqual([]);
  });
});
