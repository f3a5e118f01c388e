/**
 * Integer keys past 64 bits (MariaDB's BIGINT UNSIGNED up to 2^64 − 1) beside a SQLite table, whose integers
 * are 64-bit. Before, a range cut at such a key (detection splits on the bigger replica's keys) failed the scan
 * with better-sqlite3's "The bound string, buffer, or bigint is too big", and its repair with the same bare
 * message. Now such keys are missing on SQLite, each fails its own repair in one line naming the key column,
 * and every other row is compared and written.
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

describe.skipIf(!available)("integer keys past 64 bits beside SQLite", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("are missing on SQLite at every cut, fail their own repairs, and leave the rest compared and written", async () => {
    const small = Array.from({ length: 30 }, (_, i) => BigInt(i) * 1000n - 5000n);
    const wide = [2n ** 63n, 2n ** 63n + 1n, 2n ** 64n - 2n, 2n ** 64n - 1n];
    await db.admin.query("CREATE TABLE w (id BIGINT UNSIGNED PRIMARY KEY, v INT)");
    const rows = [...small.filter((k) => k >= 0n), 2n ** 63n - 1n, ...wide];
    for (const k of rows) await db.admin.query("INSERT INTO w VALUES (?, ?)", [k.toString(), Number(k % 7n)]);
    const dir = tempDir();
    const file = new Database(join(dir, "b.db"));
    file.defaultSafeIntegers(true);
    file.exec("CREATE TABLE w (id INTEGER PRIMARY KEY, v INT)");
    // SQLite: the keys MariaDB holds up to 2^63 − 1 but 3000 (missing) and 7000 (changed), and the negative ones.
    for (const k of [...small, 2n ** 63n - 1n].filter((k) => k !== 3000n))
      file.prepare("INSERT INTO w VALUES (?, ?)").run(k, k === 7000n ? 99n : ((k % 7n) + 7n) % 7n);
    file.close();
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    detect: { fanout: 2, leafRows: 2 }
    replicas:
      a: { url: ${JSON.stringify(db.url)}, table: w }
      b: { url: "sqlite:b.db", table: w }
    policy: { owner: a, resolve: owner }
`,
    );
    const keys = (doc: Doc) => doc.datasets[0]!.divergences.map((d) => BigInt(String(d.key[0]))).sort();
    const sorted = (ks: bigint[]) => [...ks].sort();
    const negative = small.filter((k) => k < 0n);
    const scan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
    expect(scan.stderr).toBe("");
    expect(keys(JSON.parse(scan.stdout) as Doc)).toEqual(sorted([...negative, 3000n, 7000n, ...wide]));

    const repair = await runConcord(["repair", "--json", "-c", cfg], { cwd: dir });
    for (const r of (JSON.parse(repair.stdout) as Doc).datasets[0]!.repairs!) {
      const k = BigInt(String(r.key[0]));
      expect([k, r.outcome, r.error]).toEqual(
        wide.includes(k)
          ? [k, "failed", `items.b: key column id (INTEGER) cannot store ${k}: SQLite integers are 64-bit`]
          : [k, "applied", undefined],
      );
    }
    const rescan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
    expect(keys(JSON.parse(rescan.stdout) as Doc)).toEqual(sorted(wide));
  });
});
