import { describe, expect, it } from "vitest";
import { viewTableCandidates } from "./mysql-table-meta.js";

describe("viewTableCandidates", () => {
  it.each([
    // As MariaDB 10.11 stores definitions: tables `db`.`t`, columns `db`.`t`.`c` or `alias`.`c`.
    ["select `db`.`t`.`k` AS `k` from `db`.`t`", [["db", "t"]]],
    [
      "select `x`.`k` AS `k` from `db`.`m` `x` where `x`.`a` > 'it\\'s `a`.`b`'",
      [
        ["x", "k"],
        ["db", "m"],
        ["x", "a"],
      ],
    ],
    [
      "select `db`.`i`.`k` AS `k` from (`db`.`i` join `db`.`m` on(`db`.`i`.`k` = `db`.`m`.`k`))",
      [
        ["db", "i"],
        ["db", "m"],
      ],
    ],
    ["select 1 AS `a` from `d``b`.`t``1` where 'x''`p`.`q`' = ''", [["d`b", "t`1"]]],
    ["select 1 AS `one`", []],
  ] as const)("%s", (definition, expected) => {
    expect(viewTableCandidates(definition)).toEqual(expected);
  });
});
