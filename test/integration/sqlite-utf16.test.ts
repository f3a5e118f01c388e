/**
 * A SQLite database that keeps its text in UTF-16 (`PRAGMA encoding` set before its first table) is refused in
 * one line naming the replica, the file and the setting, by scan, repair and the in-SQLite comparison, beside
 * a UTF-8 file or another UTF-16 one, and nothing is written. SQLite orders such text by its UTF-16 bytes
 * (U+0100 before 'a' in UTF-16le), so before a non-ASCII text key failed the scan with "keys are not in binary
 * order", and exact reads compared a TEXT value in a BLOB column by its UTF-16 bytes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { runConcord, tempDir, writeConfig } from "../cli/helpers.js";

/** A table t in `dir/<name>` in `encoding`, holding non-ASCII text keys and a TEXT value in a BLOB column. */
function seed(dir: string, name: string, encoding: string, rows: readonly (readonly unknown[])[]): void {
  const db = new Database(join(dir, name));
  db.pragma(`encoding = '${encoding}'`);
  db.exec("CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT, b BLOB)");
  for (const row of rows) db.prepare("INSERT INTO t VALUES (?, ?, ?)").run(...row);
  db.close();
}

const ROWS = [
  ["a", "x", "é"],
  ["Ā", "ü", "\ufffd"],
  ["é", "z", Buffer.from([0xff])],
  ["😀", "e", "cafe"],
];

describe("SQLite databases in UTF-16", () => {
  it.each([
    ["UTF-16le", "UTF-8", ""],
    ["UTF-16be", "UTF-8", "    detect: { inStore: false }\n"],
    ["UTF-8", "UTF-16le", ""],
    ["UTF-16le", "UTF-16le", ""],
  ])(
    "a in %s, b in %s: scan and repair refuse the UTF-16 replica in one line, writing nothing",
    async (ea, eb, extra) => {
      const dir = tempDir();
      seed(dir, "a.db", ea, ROWS);
      seed(
        dir,
        "b.db",
        eb,
        ROWS.slice(1).map(([id, v, b]) => [id, `${v}!`, b]),
      );
      const cfg = writeConfig(
        dir,
        `state: sqlite:state.db
datasets:
  items:
    key: id
${extra}    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
    policy: { owner: a, resolve: owner }
`,
      );
      const files = () => ["a.db", "b.db"].map((f) => readFileSync(join(dir, f)).toString("hex"));
      const before = files();
      const refused = ea === "UTF-8" ? "b" : "a";
      const encoding = ea === "UTF-8" ? eb : ea;
      for (const command of [["scan"], ["repair"]]) {
        const run = await runConcord([...command, "-c", cfg], { cwd: dir });
        expect(run.code).toBe(2);
        expect(run.stdout).toBe("");
        const lines = run.stderr.trim().split("\n");
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(`items.${refused}: sqlite:`);
        expect(lines[0]).toContain(`${refused}.db keeps its text in ${encoding} (PRAGMA encoding)`);
        expect(lines[0]).not.toContain("binary order");
      }
      expect(files()).toEqual(before);
    },
  );
});
