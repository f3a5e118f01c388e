import { describe, expect, it } from "vitest";
import type { ColumnType } from "../../core/canonical.js";
import type { MysqlColumn } from "./mysql-column-types.js";
import { UnstorableValueError } from "./mysql-errors.js";
import { writeLiteral } from "./mysql-write-literals.js";

function column(dataType: string, columnType = dataType, fsp: number | null = null): MysqlColumn {
  return {
    name: "c",
    dataType,
    columnType,
    charset: null,
    collation: null,
    fsp,
    nullable: true,
    json: false,
    declared: null,
  };
}

// A value compared as another logical type than its column's own (`types: { n: text }` over an INT column, a
// float beside a DECIMAL) is written as text, which the server converts: '007' into an INT was stored as 7, and
// the repair recorded superseded with the row damaged. The literal is refused unless the column holds it as a
// text that reads as the same value.
describe("writeLiteral: text into a numeric or temporal column", () => {
  it.each<[ColumnType, MysqlColumn, string, RegExp]>([
    ["text", column("int", "int(11)"), "007", /cannot store "007": int\(11\) would hold it as 7/],
    ["text", column("int", "int(11)"), " 5", /cannot store " 5": int\(11\) would hold it as 5/],
    ["text", column("int", "int(11)"), "+3", /would hold it as 3/],
    ["text", column("int", "int(11)"), "1.0", /int\(11\) holds integers only/],
    ["text", column("int", "int(11)"), "abc", /int\(11\) holds integers only/],
    ["text", column("tinyint", "tinyint(4)"), "300", /it holds -128 to 127/],
    ["text", column("decimal", "decimal(10,2)"), "5.5", /decimal\(10,2\) would hold it as 5\.50/],
    ["text", column("decimal", "decimal(10,2)"), "5.555", /it keeps 2 decimals/],
    [
      "text",
      column("datetime", "datetime", 0),
      "2024-01-01T10:00:00Z",
      /would hold it as 2024-01-01 10:00:00/,
    ],
    ["text", column("date", "date"), "2024-1-1", /date holds dates only/],
    ["text", column("time", "time", 0), "1:02:03", /cannot store "1:02:03": time would hold it as 01:02:03/],
    ["text", column("double", "double"), "1e15", /would hold it as 1000000000000000/],
  ])("%s %s %o refused", (type, col, v, message) => {
    expect(() => writeLiteral(type, col, v)).toThrow(UnstorableValueError);
    expect(() => writeLiteral(type, col, v)).toThrow(message);
  });

  it.each<[ColumnType, MysqlColumn, string]>([
    ["text", column("int", "int(11)"), "7"],
    ["text", column("int", "int(11)"), "-12"],
    ["text", column("decimal", "decimal(10,2)"), "5.50"],
    ["text", column("decimal", "decimal(10,0)"), "5"],
    ["text", column("datetime", "datetime(3)", 3), "2024-01-01 10:00:00.500"],
    ["text", column("timestamp", "timestamp(2)", 2), "2024-01-01 00:00:00.25"],
    ["text", column("date", "date"), "2024-02-03"],
    ["text", column("time", "time", 0), "-01:02:03"],
    ["text", column("double", "double"), "0.5"],
    ["float", column("decimal", "decimal(10,2)"), "0.1"],
    ["float", column("int", "int(11)"), "5"],
  ])("%s %s %o written", (type, col, v) => {
    expect(writeLiteral(type, col, v)).toBe(`'${v}'`);
  });
});

// An UNSIGNED DECIMAL, FLOAT or DOUBLE (deprecated, still accepted) holds no negative number: the write failed
// with the server's "Out of range value for column 'd' at row 1", naming neither value nor type.
describe("writeLiteral: UNSIGNED DECIMAL, FLOAT and DOUBLE", () => {
  it.each<[ColumnType, MysqlColumn, string]>([
    ["float", column("double", "double unsigned"), "-1.5"],
    ["float32", column("float", "float unsigned"), "-0.5"],
    ["decimal", column("decimal", "decimal(10,2) unsigned"), "-2.25"],
    ["decimal", column("double", "double unsigned"), "-1"],
  ])("%s into %o: %s refused", (type, col, v) => {
    expect(() => writeLiteral(type, col, v)).toThrow(
      `cannot store ${v}: ${col.columnType} holds no negative numbers`,
    );
  });

  it.each<[ColumnType, MysqlColumn, string]>([
    ["float", column("double", "double unsigned"), "0"],
    ["float", column("double", "double unsigned"), "1.5"],
    ["decimal", column("decimal", "decimal(10,2) unsigned"), "2.25"],
    ["float", column("double", "double"), "-1.5"],
  ])("%s into %o: %s written", (type, col, v) => {
    expect(writeLiteral(type, col, v)).toMatch(/^'?[\d.-]+'?$/);
  });
});
