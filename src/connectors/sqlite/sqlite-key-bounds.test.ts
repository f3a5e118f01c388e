import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import type { RecordShape } from "../../core/model.js";
import { openSqliteConnector } from "./sqlite-connector.js";

const dir = mkdtempSync(join(tmpdir(), "concord-bounds-"));
const path = join(dir, "t.db");
const db = new Database(path);
db.exec(`
  CREATE TABLE rowid_key (id INTEGER PRIMARY KEY, v TEXT);
  CREATE TABLE no_index_base (id INTEGER PRIMARY KEY, v TEXT);
  CREATE VIEW no_index AS SELECT id, v FROM no_index_base;
  CREATE TABLE nocase_key (k TEXT PRIMARY KEY COLLATE NOCASE, v TEXT);
  CREATE TABLE pair (k TEXT NOT NULL, n INTEGER NOT NULL, v TEXT, PRIMARY KEY (k, n));
`);
for (const t of ["rowid_key", "no_index_base"])
  db.prepare(`INSERT INTO ${t} SELECT value, 'v' FROM json_each(?)`).run(JSON.stringify([7, -3, 40, 12]));
db.exec(`INSERT INTO nocase_key VALUES ('b', 'v'), ('A', 'v'), ('c', 'v')`);
db.exec(`INSERT INTO pair VALUES ('b', 2, 'v'), ('a', 9, 'v'), ('b', -1, 'v'), ('B', 5, 'v')`);
db.close();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const INT: RecordShape = { key: [{ name: "id", type: "integer" }], columns: [{ name: "v", type: "text" }] };

describe("SqliteConnector.keyBounds", () => {
  it("probes the rowid for the first and last key of a range", async () => {
    const c = openSqliteConnector(path, "rowid_key", { readonly: true });
    expect(await c.keyBounds(INT, { lo: null, hi: null })).toEqual({ first: ["-3"], last: ["40"] });
    expect(await c.keyBounds(INT, { lo: ["0"], hi: ["40"] })).toEqual({ first: ["7"], last: ["12"] });
    expect(await c.keyBounds(INT, { lo: ["41"], hi: null })).toBeNull();
    await c.close();
  });

  it("probes a composite primary key in binary order", async () => {
    const shape: RecordShape = {
      key: [
        { name: "k", type: "text" },
        { name: "n", type: "integer" },
      ],
      columns: [{ name: "v", type: "text" }],
    };
    const c = openSqliteConnector(path, "pair", { readonly: true });
    expect(await c.keyBounds(shape, { lo: null, hi: null })).toEqual({ first: ["B", "5"], last: ["b", "2"] });
    await c.close();
  });

  it("gives none where no index serves the key order (a view, or an index in another collation)", async () => {
    const plain = openSqliteConnector(path, "no_index", { readonly: true });
    expect(await plain.keyBounds(INT, { lo: null, hi: null })).toBeNull();
    await plain.close();
    const nocase = openSqliteConnector(path, "nocase_key", { readonly: true });
    const shape: RecordShape = { key: [{ name: "k", type: "text" }], columns: [{ name: "v", type: "text" }] };
    expect(await nocase.keyBounds(shape, { lo: null, hi: null })).toBeNull();
    await nocase.close();
  });
});
