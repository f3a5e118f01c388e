import { describe, expect, it } from "vitest";
import { predicateShapeError } from "./predicate-shape.js";

describe("predicateShapeError", () => {
  it.each([
    ["status = 'active'"],
    ["(a = 1 OR b = 2) AND c IN (1, 2)"],
    ["name = 'it''s (not) a paren; -- or comment'"],
    ['"weird "" col)" = 1'],
    ["`x)` = 1"],
    ["doc #>> '{a,b}' = 'x'"],
    ["a - -1 > 0"],
  ])("%s is one predicate", (p) => {
    expect(predicateShapeError(p)).toBeUndefined();
  });

  it.each([
    ["1=1) OR (1=1", /closes a parenthesis it did not open/],
    ["status = 'active') OR (true", /closes a parenthesis/],
    ["(a = 1", /opens a parenthesis it does not close/],
    ["a = 1; DELETE FROM t", /holds a ;/],
    ["a = 1 --", /comment/],
    ["a = 1 /* x */", /comment/],
    ["a = 'x", /opens a quote \('\)/],
  ])("%s is refused", (p, message) => {
    expect(predicateShapeError(p)).toMatch(message);
  });
});
