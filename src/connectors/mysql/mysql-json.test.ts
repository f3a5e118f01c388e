import { describe, expect, it } from "vitest";
import { numberMysqlJsonChanges } from "./mysql-json.js";

describe("numberMysqlJsonChanges", () => {
  it.each<[string, string | null]>([
    ['{"id":9007199254740993}', null],
    ['{"u":18446744073709551615,"i":-9223372036854775808}', null],
    ['[0.1,1e+21,-2.5,"0.30000000000000001"]', null],
    ['{"u":18446744073709551616}', "18446744073709551616"],
    ['{"a":[1,{"p":0.30000000000000001}]}', "0.30000000000000001"],
    ['{"x":1e+400}', "1e+400"],
    ["9007199254740993.5", "9007199254740993.5"],
    ["null", null],
  ])("%s → %s", (text, found) => {
    expect(numberMysqlJsonChanges(text)).toBe(found);
  });
});
