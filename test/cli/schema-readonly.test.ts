/** Schema divergence is reported (not thrown), and scan never changes a replica's bytes. */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  keyClasses,
  makeItemsReplicas,
  makeSqliteTable,
  parseJson,
  runConcord,
  sha256,
  sqlTime,
  tempDir,
  writeConfig,
} from "./helpers.js";

describe.concurrent("concord scan: schema divergence", () => {
  it("reports a missing column and an incompatible type as schema entries and still compares the rest", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const rows = itemRows(200);
    // a has an extra column; b declares qty as TEXT (incompatible with INTEGER).
    makeSqliteTable(
      join(dir, "a.db"),
      "items",
      `${ITEMS_DDL}, extra TEXT`,
      rows.map((r) => [...r, "x"]),
    );
    makeSqliteTable(join(dir, "b.db"), "items", ITEMS_DDL.replace("qty INTEGER", "qty TEXT"), rows, {
      sql: `UPDATE items SET name = 'moved on', version = version + 1 WHERE id = 5;
            UPDATE items SET qty = 'lots' WHERE id = 6;`,
    });
    const config = writeConfig(dir, itemsConfig());

    const r = await runConcord(["scan", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    const [items] = parseJson(r).datasets;
    const schema = items!.divergences.filter((d) => d.class === "schema");
    expect(schema.map((s) => s.key)).toEqual([[], []]);
    expect(schema.map((s) => s.column).sort()).toEqual(["extra", "qty"]);
    expect(schema.find((s) => s.column === "extra")!.detail).toContain("missing on b");
    expect(schema.find((s) => s.column === "qty")!.detail).toContain("incompatible types");
    // Row 5 differs in a compared column; row 6 only in the excluded qty column.
    expect(keyClasses(items!.divergences.filter((d) => d.class !== "schema"))).toEqual([["[5]", "stale"]]);
    expect(items!.counts).toEqual({ schema: 2, stale: 1 });
  });

  it("exits 1 on schema divergence alone", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const rows = itemRows(50);
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, rows);
    makeSqliteTable(join(dir, "b.db"), "items", ITEMS_DDL.replace(", note TEXT", ""), rows.map(dropNote));
    const config = writeConfig(dir, itemsConfig());

    const r = await runConcord(["scan", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    const [items] = parseJson(r).datasets;
    expect(items!.divergences).toEqual([
      { key: [], class: "schema", column: "note", detail: expect.stringContaining("missing on b") },
    ]);
  });
});

function dropNote(row: readonly unknown[]): unknown[] {
  return row.filter((_, i) => i !== 4);
}

describe.concurrent("concord scan is read-only", () => {
  for (const wal of [false, true]) {
    it(`leaves the replica files' bytes unchanged (${wal ? "WAL" : "rollback journal"})`, async ({
      expect,
      onTestFinished,
    }) => {
      const dir = tempDir(onTestFinished);
      const { a, b } = makeItemsReplicas(dir, {
        wal,
        sqlA: "DELETE FROM items WHERE id = 3; UPDATE items SET version = version + 1 WHERE id = 9;",
        sqlB: `UPDATE items SET note = 'x' WHERE id = 12;
               UPDATE items SET updated_at = '${sqlTime(Date.now())}', version = version + 1 WHERE id = 13;`,
      });
      const config = writeConfig(dir, itemsConfig("tolerance: { price: 0.01 }\nwindow: 1m"));
      const before = { a: sha256(a), b: sha256(b) };
      const filesBefore = readdirSync(dir).sort();

      // Both output paths read the same way; each journal mode runs one of them.
      const r = await runConcord(wal ? ["scan", "-c", config] : ["scan", "--json", "-c", config]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(1);
      if (wal) expect(r.stdout).toMatch(/^items: 4 divergences/m);
      else expect(parseJson(r).datasets[0]!.divergences.length).toBe(4);

      expect({ a: sha256(a), b: sha256(b) }).toEqual(before);
      const added = readdirSync(dir)
        .filter((f) => !filesBefore.includes(f))
        .sort();
      if (wal) {
        // A read-only connection to a WAL database may leave empty -wal/-shm files; the log stays empty.
        for (const f of added) expect(f).toMatch(/^(state\.db.*|[ab]\.db-(wal|shm))$/);
        for (const p of [`${a}-wal`, `${b}-wal`]) if (existsSync(p)) expect(statSync(p).size).toBe(0);
      } else {
        for (const f of added) expect(f).toMatch(/^state\.db/);
      }
    });
  }
});
