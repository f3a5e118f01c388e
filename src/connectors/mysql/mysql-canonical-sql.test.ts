import fc from "fast-check";
import { escape as mysql2Escape } from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { mysqlCanonicalSql, stringLiteral } from "./mysql-canonical-sql.js";
import type { MysqlColumn } from "./mysql-column-types.js";

describe("stringLiteral", () => {
  const chars = fc.constantFrom(
    "a",
    "é",
    "😀",
    "\0",
    "\b",
    "\t",
    "\n",
    "\r",
    "\x1a",
    '"',
    "'",
    "\\",
    "%",
    "_",
    " ",
  );

  it("writes what mysql2's escape writes", () => {
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 40 }), (parts) => {
        const v = parts.join("");
        expect(stringLiteral(v)).toBe(mysql2Escape(v));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (v) => {
        expect(stringLiteral(v)).toBe(mysql2Escape(v));
      }),
    );
  });

  it("writes long values (escaped over their UTF-8 bytes) alike", () => {
    fc.assert(
      fc.property(fc.array(chars, { minLength: 1, maxLength: 20 }), (parts) => {
        const v = parts.join("").repeat(Math.ceil(70000 / parts.join("").length));
        expect(stringLiteral(v)).toBe(mysql2Escape(v));
      }),
      { numRuns: 50 },
    );
    const text = "é|\\'".repeat(3 * 1024 * 1024);
    expect(stringLiteral(text)).toBe(`'${"é|\\\\\\'".repeat(3 * 1024 * 1024)}'`);
  });
});

describe("mysqlCanonicalSql for JSON", () => {
  const column = (over: Partial<MysqlColumn>): MysqlColumn => ({
    name: "doc",
    dataType: "longtext",
    columnType: "longtext",
    charset: "utf8mb4",
    collation: "utf8mb4_bin",
    fsp: null,
    nullable: true,
    json: true,
    declared: null,
    ...over,
  });

  it.each([
    ["MariaDB's JSON on MariaDB ≥ 10.7", column({}), true, true],
    ["MariaDB's JSON before 10.7 (no JSON_NORMALIZE)", column({}), false, false],
    ["MySQL 8's JSON type", column({ dataType: "json", columnType: "json", json: false }), true, false],
    ["JSON text in another character set", column({ charset: "latin1" }), true, false],
  ])("%s: in SQL %s", (_, col, jsonInSql, inSql) => {
    const sql = mysqlCanonicalSql("json", col, "t.doc", jsonInSql);
    expect(sql !== null).toBe(inSql);
    if (sql) expect(sql).toContain("JSON_NORMALIZE");
  });
});
