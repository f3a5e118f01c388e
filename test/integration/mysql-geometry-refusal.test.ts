/**
 * A repair writing bytes MariaDB refuses into a spatial column (GEOMETRY, POINT) fails that row only, in one
 * line naming the dataset and replica, the table, the column, the value and the key, not MariaDB's bare
 * "Cannot get geometry object from data you send to the GEOMETRY field"; the other rows are written.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);

/** SRID 0, then WKB: POINT(1 2) and LINESTRING(0 1), as MariaDB stores them. */
const POINT_1_2 = "000000000101000000000000000000f03f0000000000000040";
const LINESTRING = "000000000102000000010000000000000000000000000000000000f03f";

describe.skipIf(!available)("MariaDB spatial columns refusing a repair's bytes", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("names the dataset, table, column, value and key of each refused row, and writes the others", async () => {
    await db.admin.query("CREATE TABLE places (id INT PRIMARY KEY, g GEOMETRY NULL, p POINT NULL)");
    const dir = tempDir();
    const file = new Database(join(dir, "a.db"));
    file.exec("CREATE TABLE places (id INTEGER PRIMARY KEY, g BLOB, p BLOB)");
    const rows: [number, string | null, string | null][] = [
      [1, POINT_1_2, "0102"], // p is no geometry; g is one
      [2, "0102", null], // g is no geometry
      [3, null, LINESTRING], // a geometry, but not a point
      [4, LINESTRING, POINT_1_2], // stored
    ];
    for (const [id, g, p] of rows)
      file
        .prepare("INSERT INTO places VALUES (?, ?, ?)")
        .run(id, g && Buffer.from(g, "hex"), p && Buffer.from(p, "hex"));
    file.close();
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  places:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: places }
      b: { url: ${JSON.stringify(db.url)}, table: places }
    policy: { owner: a, resolve: owner }
`,
    );
    const repair = await runConcord(["repair", "--json", "-c", cfg], { cwd: dir });
    expect(repair.code).toBe(1);
    const doc = JSON.parse(repair.stdout) as {
      datasets: { repairs: { key: unknown[]; outcome: string; error?: string }[] }[];
    };
    const byKey = Object.fromEntries(doc.datasets[0]!.repairs.map((r) => [String(r.key[0]), r]));
    expect(byKey["4"]!.outcome).toBe("applied");
    const refused = (column: string, type: string, hex: string, key: string, why: string) =>
      `places.b: conditional write refused: table \`places\`: column ${column} (${type}) cannot store X'${hex}' at key ["${key}"]: ${why}`;
    const notGeometry = "Cannot get geometry object from data you send to the GEOMETRY field";
    expect(byKey["1"]!.error).toBe(refused("p", "point", "0102", "1", notGeometry));
    expect(byKey["2"]!.error).toBe(refused("g", "geometry", "0102", "2", notGeometry));
    expect(byKey["3"]!.error).toMatch(
      new RegExp(
        `^places\\.b: conditional write refused: table \`places\`: column p \\(point\\) cannot store X'${LINESTRING.slice(0, 48)}…' at key \\["3"\\]: Incorrect POINT value: 'LINESTRING\\(0 1\\)' for column`,
      ),
    );
    const [stored] = await db.admin.query("SELECT id, HEX(g) AS g, HEX(p) AS p FROM places ORDER BY id");
    expect(stored).toEqual([{ id: 4, g: LINESTRING.toUpperCase(), p: POINT_1_2.toUpperCase() }]);
  });
});
