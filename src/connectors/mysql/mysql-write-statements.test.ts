import { describe, expect, it } from "vitest";
import type { RecordShape } from "../../core/model.js";
import type { MysqlColumn } from "./mysql-column-types.js";
import { UnstorableValueError } from "./mysql-errors.js";
import { MysqlShapeSql } from "./mysql-shape-sql.js";
import { writeStatements } from "./mysql-write-statements.js";

function column(name: string, dataType: string, extra: Partial<MysqlColumn> = {}): MysqlColumn {
  const text = dataType.includes("text") || dataType.includes("char");
  return {
    name,
    dataType,
    columnType: dataType,
    charset: text ? "utf8mb4" : null,
    collation: text ? "utf8mb4_general_ci" : null,
    fsp: null,
    nullable: true,
    json: false,
    declared: null,
    ...extra,
  };
}

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "b", type: "bytes" },
    { name: "t", type: "text" },
    { name: "j", type: "json" },
  ],
};
const s = new MysqlShapeSql(
  SHAPE,
  "tbl",
  new Map([
    ["id", column("id", "int")],
    ["b", column("b", "longblob")],
    ["t", column("t", "longtext")],
    ["j", column("j", "longtext", { json: true })],
  ]),
  "PRIMARY",
);
const bytes = (sql: string) => Buffer.byteLength(sql, "utf8");
const BUDGET = 1000;

describe("writeStatements", () => {
  it("keeps every statement under the budget, packing rows while they fit", () => {
    const inserts = Array.from({ length: 100 }, (_, i) => ({
      key: [String(i)],
      values: ["00ff", "x", "[1]"],
    }));
    const out = writeStatements(s, { deletes: [], updates: [], inserts }, 500, BUDGET);
    expect(out.length).toBeGreaterThan(1);
    expect(out.length).toBeLessThan(10);
    for (const sql of out) expect(bytes(sql)).toBeLessThanOrEqual(BUDGET);
    expect(out.join(" ").match(/\(\d+, X'00ff'/g)).toHaveLength(100);
  });

  it("writes a row too long for one statement in pieces appended to empty values", () => {
    // 450 bytes (900 as hex) and 600 bytes (750 as a literal): each fits the server, not both in one statement.
    const hex = "ab".repeat(450);
    const text = "é'|".repeat(150);
    const out = writeStatements(
      s,
      { deletes: [], updates: [], inserts: [{ key: ["1"], values: [hex, text, "{}"] }] },
      500,
      BUDGET,
    );
    expect(out[0]).toBe("INSERT INTO `tbl` (`id`, `b`, `t`, `j`) VALUES (1, X'', '', '{}')");
    for (const sql of out) expect(bytes(sql)).toBeLessThanOrEqual(BUDGET);
    const pieces = (col: string) =>
      out
        .slice(1)
        .filter((sql) => sql.includes(`SET t.\`${col}\` = CONCAT`))
        .map((sql) => /CONCAT\(t\.`\w+`, (X?'.*')\) WHERE/.exec(sql)![1]!);
    expect(out.length).toBeGreaterThanOrEqual(3);
    expect(
      pieces("b")
        .map((p) => p.slice(2, -1))
        .join(""),
    ).toBe(hex);
    expect(
      pieces("t")
        .map((p) => p.slice(1, -1).replaceAll("\\'", "'"))
        .join(""),
    ).toBe(text);
  });

  it("updates a long row in pieces too", () => {
    const out = writeStatements(
      s,
      { deletes: [], updates: [{ key: ["1"], values: ["cd".repeat(900), null, null] }], inserts: [] },
      500,
      BUDGET,
    );
    expect(out[0]).toMatch(/^UPDATE `tbl` AS t SET t\.`b` = X'', t\.`t` = NULL, t\.`j` = NULL WHERE/);
    expect(out.length).toBeGreaterThan(2);
    for (const sql of out) expect(bytes(sql)).toBeLessThanOrEqual(BUDGET);
  });

  it("refuses a value longer than the server can build, and a long value of a type it cannot append to", () => {
    const insert = (values: (string | null)[]) => () =>
      writeStatements(s, { deletes: [], updates: [], inserts: [{ key: ["1"], values }] }, 500, BUDGET);
    expect(insert(["ab".repeat(1100), null, null])).toThrow(UnstorableValueError);
    expect(insert(["ab".repeat(1100), null, null])).toThrow(
      /^key \["1"\]: column b \(longblob\) holds 0\.0 MB, more than max_allowed_packet \(0\.0 MB\) lets the server build; raise max_allowed_packet$/,
    );
    expect(insert([null, null, `[${"1,".repeat(600)}1]`])).toThrow(
      /^key \["1"\]: column j \(longtext\) makes the row's statement longer than max_allowed_packet \(0\.0 MB\) allows, and cannot be written in parts; raise max_allowed_packet$/,
    );
  });

  it("writes nothing but inserts and deletes for a table of key columns only", () => {
    const keysOnly = new MysqlShapeSql(
      { key: SHAPE.key, columns: [] },
      "k",
      new Map([["id", column("id", "int")]]),
      null,
    );
    const out = writeStatements(
      keysOnly,
      { deletes: [["1"]], updates: [{ key: ["2"], values: [] }], inserts: [{ key: ["3"], values: [] }] },
      500,
      BUDGET,
    );
    expect(out).toEqual(["DELETE t FROM `k` AS t WHERE t.`id` IN (1)", "INSERT INTO `k` (`id`) VALUES (3)"]);
  });
});
