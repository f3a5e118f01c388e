import { describe, expect, it } from "vitest";
import { printable } from "./printable.js";

describe("printable", () => {
  it.each([
    ["plain text, é and 漢字 and emoji 🙂", "plain text, é and 漢字 and emoji 🙂"],
    ["\u001b[2J\u001b[31mred", "\\x1b[2J\\x1b[31mred"],
    ["\u001b]0;owned\u0007", "\\x1b]0;owned\\x07"],
    ["\u009b31m", "\\x9b31m"],
    ["line\nforged line", "line\\nforged line"],
    ["a\rb\tc\u0000d\u007f", "a\\rb\\tc\\x00d\\x7f"],
    ["admin\u202e\u2066txt.exe", "admin\\u202e\\u2066txt.exe"],
    ["sep\u2028sep", "sep\\u2028sep"],
  ])("%j → %j", (input, expected) => {
    expect(printable(input)).toBe(expected);
  });
});
