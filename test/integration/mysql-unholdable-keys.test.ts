/**
 * Text keys a MariaDB key column's character set cannot hold (an emoji beside `utf8mb3`, `ā` beside `latin1`),
 * from another store. Before, a repair batch holding one failed its read of the batch's keys ("Illegal mix of
 * collations"), the failed read of that key made the batch look like the replica's failure, and every row of
 * the batch failed with that message, the ones MariaDB could hold never written. Now such keys are missing on
 * MariaDB, each fails its own repair in one line naming the column and why, and every other row is written.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);

interface Doc {
  datasets: {
    divergences: { key: unknown[] }[];
    repairs?: { key: unknown[]; outcome: string; error?: string }[];
  }[];
}

describe.skipIf(!available)("MariaDB key columns beside keys their character set cannot hold", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it.each<[string, string, string, (k: string) => string]>([
    ["utf8mb3", "utf8mb3_bin", "😀", (k: string) => `${k}: utf8mb3 holds no 4-byte characters (use utf8mb4)`],
    [
      "latin1",
      "latin1_bin",
      "ā",
      (k: string) =>
        `${JSON.stringify(k)} at key ${JSON.stringify([k])}: its character set latin1 has no "ā" (U+0101); MariaDB would refuse it or store "?"`,
    ],
  ])(
    "%s: missing there, each fails its own repair, and the rest are written",
    async (charset, collation, odd, why) => {
      const table = `k_${charset}`;
      await db.admin.query(
        `CREATE TABLE ${table} (id VARCHAR(20) CHARACTER SET ${charset} COLLATE ${collation} PRIMARY KEY, v INT)`,
      );
      const plain = Array.from({ length: 20 }, (_, i) => `m${i}`);
      const unholdable = [`${odd}`, `m${odd}`, `m5${odd}`, `z${odd}z`];
      for (const k of plain)
        await db.admin.query(`INSERT INTO ${table} VALUES (?, ?)`, [k, k === "m7" ? 0 : 1]);
      await db.admin.query(`INSERT INTO ${table} VALUES ('zz', 1)`);
      const dir = tempDir();
      const file = new Database(join(dir, "a.db"));
      file.exec("CREATE TABLE t (id TEXT PRIMARY KEY, v INT)");
      for (const k of [...plain.filter((k) => k !== "m3"), ...unholdable, "m3x"])
        file.prepare("INSERT INTO t VALUES (?, 1)").run(k);
      file.close();
      const cfg = writeConfig(
        dir,
        `state: sqlite:state.db
datasets:
  items:
    key: id
    detect: { fanout: 2, leafRows: 2 }
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: ${JSON.stringify(db.url)}, table: ${table} }
    policy: { owner: a, resolve: owner }
`,
      );
      const keys = (doc: Doc) => doc.datasets[0]!.divergences.map((d) => String(d.key[0])).sort();
      const scan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
      expect(scan.stderr).toBe("");
      expect(keys(JSON.parse(scan.stdout) as Doc)).toEqual(["m3", "m3x", "m7", "zz", ...unholdable].sort());
      const repair = await runConcord(["repair", "--json", "-c", cfg], { cwd: dir });
      for (const r of (JSON.parse(repair.stdout) as Doc).datasets[0]!.repairs!) {
        const k = String(r.key[0]);
        expect([k, r.outcome, r.error]).toEqual(
          unholdable.includes(k)
            ? [k, "failed", `items.b: column id (varchar(20)) cannot store ${why(k)}`]
            : [k, "applied", undefined],
        );
      }
      const rescan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
      expect(keys(JSON.parse(rescan.stdout) as Doc)).toEqual([...unholdable].sort());
    },
  );
});
