import { describe, expect, it } from "vitest";
import { diffLines, formatDiff } from "./line-diff.js";

describe("diffLines", () => {
  it.each([
    ["", "", []],
    ["a\n", "", ["- a"]],
    ["", "a\nb\n", ["+ a", "+ b"]],
    ["a\nb\nc\n", "a\nb\nc\n", ["  a", "  b", "  c"]],
    ["a\nb\nc\n", "a\nB\nc\n", ["  a", "- b", "+ B", "  c"]],
    ["a\nb\n", "a\nb\nc\n", ["  a", "  b", "+ c"]],
    ["x\na\nb\n", "a\nb\n", ["- x", "  a", "  b"]],
    ["a\nb\nc\nd\n", "a\nc\nd\ne\n", ["  a", "- b", "  c", "  d", "+ e"]],
  ])("%j → %j", (before, after, expected) => {
    expect(formatDiff(diffLines(before, after)).split("\n").filter(Boolean)).toEqual(expected);
  });

  it("keeps every line of both texts, in order", () => {
    const before = "p\nq\nr\ns\nt\n";
    const after = "q\nx\ns\nt\nu\n";
    const d = diffLines(before, after);
    expect(d.filter((l) => l.op !== "+").map((l) => l.text)).toEqual(["p", "q", "r", "s", "t"]);
    expect(d.filter((l) => l.op !== "-").map((l) => l.text)).toEqual(["q", "x", "s", "t", "u"]);
    expect(formatDiff(d, true)).toBe("- p\n- r\n+ x\n+ u");
  });
});
