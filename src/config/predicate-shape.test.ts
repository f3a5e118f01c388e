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

describe("predicateShapeError: MariaDB/MySQL", () => {
  it.each([
    ["status = 'active'"],
    ["name = 'a # in quotes'"],
    ['name = "a # in double quotes"'],
    ["`odd#col` = 1"],
    ["path = 'C:\\\\dir'"],
  ])("%s is one predicate", (p) => {
    expect(predicateShapeError(p, "mysql")).toBeUndefined();
  });

  it.each([
    // Was accepted: `#` comments out the key range ANDed after it in MariaDB/MySQL.
    ["id > 0 # ", /holds a # outside quotes, a comment in MariaDB\/MySQL/],
    ["1=1 #) AND (id BETWEEN 1 AND 5", /holds a # outside quotes/],
    // A string then a comment with backslash escapes (the default), a string holding `#` without them.
    ["name = 'x\\'' # '", /holds a # outside quotes/],
    ["name = 'x\\'' -- '", /comment/],
    ["name = 'x\\') OR (1=1 -- '", /closes a parenthesis|comment/],
    // Without backslash escapes (NO_BACKSLASH_ESCAPES) the string ends at \' and the # is a comment.
    ["name = 'it\\'s # quoted'", /holds a # outside quotes/],
  ])("%s is refused", (p, message) => {
    expect(predicateShapeError(p, "mysql")).toMatch(message);
  });

  it("keeps # for the other stores: PostgreSQL's JSON path operators", () => {
    expect(predicateShapeError("doc #>> '{a,b}' = 'x'")).toBeUndefined();
    expect(predicateShapeError("doc #>> '{a,b}' = 'x'", "standard")).toBeUndefined();
    expect(predicateShapeError("doc #>> '{a,b}' = 'x'", "mysql")).toMatch(/holds a #/);
  });
});

describe("predicateShapeError: PostgreSQL and SQLite quotes", () => {
  it.each<[string, "postgres" | "sqlite"]>([
    ["name = $$it's (odd)$$", "postgres"],
    ["name = $q$a $$ -- ; $q$ AND id > $1", "postgres"],
    ["name = E'it\\'s -- fine'", "postgres"],
    ["path = 'C:\\'", "postgres"],
    ["doc #>> '{a}' = 'x' AND (id # 1) > 0", "postgres"],
    ["a$b$ = 1", "postgres"],
    ["[odd ) col] = 1", "sqlite"],
  ])("%s is one predicate (%s)", (p, dialect) => {
    expect(predicateShapeError(p, dialect)).toBeUndefined();
  });

  it.each<[string, "postgres" | "sqlite", RegExp]>([
    // Was accepted: the standard reading sees a quoted ' -- ', the store a string and then a comment.
    ["name = $$ ' $$ -- '", "postgres", /comment/],
    ["name = $t$ x", "postgres", /opens a quote \(\$t\$\)/],
    ["name = E'x\\'' -- '", "postgres", /comment/],
    ["name = [x'] -- ']", "sqlite", /comment/],
    ["[x'] = 1) OR (1=1 ']", "sqlite", /closes a parenthesis/],
  ])("%s is refused (%s)", (p, dialect, message) => {
    expect(predicateShapeError(p)).toBeUndefined();
    expect(predicateShapeError(p, dialect)).toMatch(message);
  });
});

describe("predicateShapeError: PostgreSQL with standard_conforming_strings off", () => {
  const off = { standardConformingStrings: false } as const;

  it.each([
    ["name = 'plain'"],
    ["name = E'it\\'s -- fine'"],
    ["name = E'C:\\\\dir'"],
    ['"odd\\col" = 1'],
    ["name = $$C:\\dir$$"],
  ])("%s reads the same either way: one predicate", (p) => {
    expect(predicateShapeError(p, "postgres", off)).toBeUndefined();
    expect(predicateShapeError(p, "postgres")).toBeUndefined();
  });

  it.each([
    // Standard: two strings, '\' and ') --'. The server with the setting off: one string, then `) --`.
    ["note IN ('\\', ') --')"],
    ["path = 'C:\\'"],
    ["path = 'C:\\\\dir'"],
  ])("%s is refused: a backslash in a plain literal", (p) => {
    expect(predicateShapeError(p, "postgres")).toBeUndefined();
    expect(predicateShapeError(p, "postgres", off)).toMatch(
      /holds a backslash in a plain '…' literal, which this server reads as an escape \(standard_conforming_strings is off\)/,
    );
    // The setting on (or not known) and the other dialects: as before.
    expect(predicateShapeError(p, "postgres", { standardConformingStrings: true })).toBeUndefined();
    expect(predicateShapeError(p, "sqlite", off)).toBeUndefined();
  });
});
