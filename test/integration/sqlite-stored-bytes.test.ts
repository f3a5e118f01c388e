/**
 * SQLite values whose text is not what is stored: a TEXT value that is not UTF-8 (better-sqlite3 decodes it
 * with U+FFFD, so `a\xff` and `a\xfe` were one value) and a TEXT value in a BLOB column (read as hex when it
 * looked like hex, so the text `cafe` equalled the bytes X'cafe'). Both were false "equal"s, in SQLite's own
 * comparison (pairDiff) and in the checksum path alike.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { runConcord, tempDir } from "../cli/helpers.js";

/** Two files `a.db`, `b.db` with `t (id INTEGER PRIMARY KEY, s TEXT, b BLOB, j JSON)`, rows as SQL value lists. */
function replicas(dir: string, a: readonly string[], b: readonly string[]): void {
  for (const [name, rows] of [
    ["a", a],
    ["b", b],
  ] as const) {
    const db = new Database(join(dir, `${name}.db`));
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, b BLOB, j JSON)");
    for (const row of rows) db.exec(`INSERT INTO t VALUES (${row})`);
    db.close();
  }
}

/** Two files `a.db`, `b.db` with `k (id TEXT PRIMARY KEY, v TEXT)`, rows as SQL value lists. */
function textKeyed(dir: string, a: readonly string[], b: readonly string[]): void {
  for (const [name, rows] of [
    ["a", a],
    ["b", b],
  ] as const) {
    const db = new Database(join(dir, `${name}.db`));
    db.exec("CREATE TABLE k (id TEXT PRIMARY KEY, v TEXT)");
    for (const row of rows) db.exec(`INSERT INTO k VALUES (${row})`);
    db.close();
  }
}

/** A config over both files, `a` the owner, compared in SQLite (pairDiff) or by checksums. */
function config(dir: string, inStore: boolean, table = "t"): string {
  const path = join(dir, `concord-${inStore}.yaml`);
  writeFileSync(
    path,
    `state: sqlite:state-${inStore}.db
datasets:
  ${table}:
    key: id
${inStore ? "" : "    detect: { inStore: false }\n"}    replicas:
      a: { url: "sqlite:a.db", table: ${table} }
      b: { url: "sqlite:b.db", table: ${table} }
    policy: { owner: a, resolve: owner }
`,
  );
  return path;
}

const hexOf = (dir: string, file: string, column: string) => {
  const db = new Database(join(dir, file), { readonly: true });
  try {
    return db.prepare(`SELECT id, typeof(${column}) AS kind, hex(${column}) AS hex FROM t ORDER BY id`).all();
  } finally {
    db.close();
  }
};

describe.each([true, false])("SQLite stored bytes (in store: %s)", (inStore) => {
  it("a TEXT value that is not UTF-8 fails the scan naming the column, instead of equalling another", async () => {
    const dir = tempDir();
    // 40 rows of non-ASCII text before it: the lossy one is met mid-read and the read starts again exactly.
    const before = Array.from({ length: 40 }, (_, i) => `${i + 1}, 'é ${i}', NULL, NULL`);
    replicas(
      dir,
      [...before, "41, CAST(x'61ff' AS TEXT), NULL, NULL"],
      [...before, "41, CAST(x'61fe' AS TEXT), NULL, NULL"],
    );
    const r = await runConcord(["scan", "-c", config(dir, inStore)], { cwd: dir });
    expect(r.stderr).toMatch(
      /^concord: t\.[ab]: .*column s at key \["41"\]: bytes 61f[ef] are not UTF-8 text/,
    );
    expect(r.code).toBe(2);
  });

  // Both keys were read as "a\ufffd": SQLite's comparison listed them and found neither (no difference), and
  // checksums reported a duplicate key.
  it("a TEXT key that is not UTF-8 fails naming the key column, instead of equalling or duplicating another", async () => {
    const dir = tempDir();
    const rows = (v: string) => [`CAST(x'61ff' AS TEXT), '${v}'`, "CAST(x'61fe' AS TEXT), 'x'", "'b', 'q'"];
    textKeyed(dir, rows("y"), rows("z"));
    const r = await runConcord(["scan", "-c", config(dir, inStore, "k")], { cwd: dir });
    expect(r.stderr).toMatch(/^concord: k\.[ab]: .*column id: bytes 61f[ef] are not UTF-8 text\n$/);
    expect(r.code).toBe(2);
  });

  it("TEXT keys holding U+FFFD or other non-ASCII characters are compared and repaired exactly", async () => {
    const dir = tempDir();
    const keys = ["'k\ufffd'", "'é'", "'\ufffd'", "'plain'"];
    textKeyed(
      dir,
      keys.map((k) => `${k}, 'a'`),
      keys.map((k, i) => `${k}, '${i % 2 ? "a" : "b"}'`),
    );
    const path = config(dir, inStore, "k");
    const scan = await runConcord(["scan", "--json", "-c", path], { cwd: dir });
    const doc = JSON.parse(scan.stdout) as { datasets: { divergences: { key: unknown[] }[] }[] };
    expect(doc.datasets[0]!.divergences.map((d) => d.key)).toEqual([["k\ufffd"], ["\ufffd"]].sort());
    expect((await runConcord(["repair", "-c", path], { cwd: dir })).code).toBe(0);
    expect((await runConcord(["scan", "-c", path], { cwd: dir })).code).toBe(0);
  });

  it("text and JSON holding U+FFFD itself are read exactly, and compared", async () => {
    const dir = tempDir();
    const rows = (last: string) => [
      "1, 'a\ufffd', NULL, '\"\ufffd\"'",
      "2, 'plain', NULL, '{\"k\":\"\ufffd\"}'",
      "3, 'é', NULL, NULL",
      `4, ${last}, NULL, NULL`,
    ];
    replicas(dir, rows("'x\ufffd'"), rows("'y\ufffd'"));
    const r = await runConcord(["scan", "--json", "-c", config(dir, inStore)], { cwd: dir });
    expect(r.stderr).toBe("");
    const doc = JSON.parse(r.stdout) as { datasets: { divergences: { key: unknown[] }[] }[] };
    expect(doc.datasets[0]!.divergences.map((d) => d.key)).toEqual([[4]]);
  });

  it("a TEXT value in a BLOB column is its stored bytes: the text cafe is not X'cafe', and repairs write it as that TEXT", async () => {
    const dir = tempDir();
    replicas(
      dir,
      ["1, NULL, 'cafe', NULL", "2, NULL, 'é', NULL"],
      ["1, NULL, x'cafe', NULL", "2, NULL, x'c3a9', NULL"],
    );
    const scan = await runConcord(["scan", "--json", "-c", config(dir, inStore)], { cwd: dir });
    const doc = JSON.parse(scan.stdout) as { datasets: { divergences: { key: unknown[] }[] }[] };
    expect(doc.datasets[0]!.divergences.map((d) => d.key)).toEqual([[1]]);
    expect(scan.code).toBe(1);
    const repair = await runConcord(["repair", "-c", config(dir, inStore)], { cwd: dir });
    expect(repair.code).toBe(0);
    // Row 1 as a holds it, a TEXT (a repair between SQLite files keeps the storage class); row 2 was equal.
    expect(hexOf(dir, "b.db", "b")).toEqual([
      { id: 1, kind: "text", hex: "63616665" },
      { id: 2, kind: "blob", hex: "C3A9" },
    ]);
    expect((await runConcord(["scan", "-c", config(dir, inStore)], { cwd: dir })).code).toBe(0);
  });
});
