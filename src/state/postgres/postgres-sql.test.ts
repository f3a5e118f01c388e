import { describe, expect, it } from "vitest";
import { storedText } from "../prepared-audit.js";
import {
  columnNames,
  conditions,
  describeError,
  noLimitIfNegative,
  type RecordsetColumn,
  recordset,
  recordsetJson,
  splitSchema,
  textListJson,
} from "./postgres-sql.js";

describe("splitSchema", () => {
  it.each<[string, string, string | undefined]>([
    ["postgres://u:p@h/db", "postgres://u:p@h/db", undefined],
    ["postgres://u:p@h/db?schema=ops", "postgres://u:p@h/db", "ops"],
    [
      "postgres://h/db?sslmode=require&schema=a%20b&application_name=x",
      "postgres://h/db?sslmode=require&application_name=x",
      "a b",
    ],
    ["postgresql://h/db?options=-c%20x%3Dy+z", "postgresql://h/db?options=-c%20x%3Dy+z", undefined],
    ["postgres://h/db?schemas=x", "postgres://h/db?schemas=x", undefined],
  ])("%s", (url, connectionString, schema) => {
    expect(splitSchema(url)).toEqual({ connectionString, schema });
  });
});

describe("conditions", () => {
  it("numbers the placeholders of the conditions given, in order", () => {
    expect(conditions([])).toEqual({ sql: "", params: [] });
    expect(
      conditions([
        ["a", undefined],
        ["b", "x"],
        ["seq", 4, ">="],
      ]),
    ).toEqual({ sql: " WHERE b = $1 AND seq >= $2", params: ["x", 4] });
  });
});

describe("small conversions", () => {
  it("maps a negative or missing limit to none", () => {
    expect([
      noLimitIfNegative(undefined),
      noLimitIfNegative(-1),
      noLimitIfNegative(0),
      noLimitIfNegative(5),
    ]).toEqual([null, null, 0, 5]);
  });

  it("replaces lone surrogates as UTF-8 encoding does", () => {
    expect(storedText("a\uD800b\uDC00")).toBe("a\uFFFDb\uFFFD");
    expect(storedText("😀")).toBe("😀");
    expect(storedText(null)).toBeNull();
    expect(Buffer.from("a\uD800b", "utf8").toString("utf8")).toBe(storedText("a\uD800b"));
  });

  it("describes errors on one line, credentials redacted", () => {
    expect(describeError(new Error("boom\nstack"))).toBe("boom");
    expect(describeError(new Error("no postgres://u:pw@h/db"))).toBe("no postgres://u:***@h/db");
    expect(describeError(new AggregateError([new Error("a"), new Error("b")], ""))).toBe("a; b");
    expect(describeError(Object.assign(new Error(""), { code: "ECONNRESET" }))).toBe("ECONNRESET");
  });
});

describe("recordset", () => {
  const columns: readonly RecordsetColumn[] = [
    ["id", "bigint"],
    ["note", "text"],
  ];

  it("names the columns and types the recordset", () => {
    expect(columnNames(columns)).toBe("id, note");
    expect(recordset(columns, 2)).toBe("json_to_recordset($2::json) AS r(id bigint, note text)");
  });

  it.each<[string, string | null, string | null]>([
    ["plain text as is", 'a "quoted" \\ b', 'a "quoted" \\ b'],
    ["null as null", null, null],
    ["a lone surrogate replaced", "x\uD800y", "x\uFFFDy"],
    ["a pair kept", "😀", "😀"],
    ["text that only looks like an escape kept", "\\ud800", "\\ud800"],
  ])("sends %s", (_name, note, sent) => {
    expect(JSON.parse(recordsetJson(columns, [{ id: 1, note }]))).toEqual([{ id: 1, note: sent }]);
  });

  it("sends only the columns named, missing ones as null, and numbers with no JSON form as text", () => {
    const rows = [
      { id: 1, note: "a", extra: true },
      { id: Number.NaN },
      { id: Number.POSITIVE_INFINITY, note: null },
    ];
    expect(JSON.parse(recordsetJson(columns, rows))).toEqual([
      { id: 1, note: "a" },
      { id: "NaN", note: null },
      { id: "Infinity", note: null },
    ]);
  });
});

describe("textListJson", () => {
  it("sends texts as a JSON array, lone surrogates replaced", () => {
    expect(JSON.parse(textListJson(['["1"]', 'a"b', "c\\ud800"]))).toEqual(['["1"]', 'a"b', "c\\ud800"]);
    expect(JSON.parse(textListJson(["x\uDC00"]))).toEqual(["x\uFFFD"]);
  });
});
