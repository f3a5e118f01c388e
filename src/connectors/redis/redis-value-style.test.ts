import { describe, expect, it } from "vitest";
import type { ColumnType } from "../../core/canonical.js";
import { jsonLike, styledLike } from "./redis-value-style.js";

describe("styledLike", () => {
  it.each<[ColumnType, string, string | undefined, string]>([
    ["decimal", "402", "399.00", "402.00"],
    ["decimal", "402.5", "399.00", "402.50"],
    ["decimal", "402.125", "399.00", "402.125"], // more digits than the form keeps: canonical
    ["decimal", "402", "402.00", "402.00"], // already the value: left as it is
    ["decimal", "7", undefined, "7"], // a new field: canonical
    [
      "timestamp",
      "2026-03-01T10:20:30.500000Z",
      "2026-01-01 12:00:00.000+00:00",
      "2026-03-01 10:20:30.500+00:00",
    ],
    ["timestamp", "2026-03-01T10:20:30.000000Z", "2026-01-01T12:00:00Z", "2026-03-01T10:20:30Z"],
    ["timestamp", "2026-03-01T10:20:30.250000Z", "2026-01-01T12:00:00Z", "2026-03-01T10:20:30.250000Z"],
    ["json", '{"a":1,"b":[1,2]}', '{"a": 0, "b": []}', '{"a": 1, "b": [1, 2]}'],
    ["json", '{"a":1,"b":[]}', '{\n  "a": 0\n}', '{\n  "a": 1,\n  "b": []\n}'],
    ["json", '{"a":"x: y, z"}', '{"a": 0}', '{"a": "x: y, z"}'],
    ["text", "hello", "bye", "hello"],
  ])("%s %j written over %j is %j", (type, v, current, want) => {
    expect(styledLike(type, v, current)).toBe(want);
  });

  it("re-spaces only outside strings", () => {
    expect(jsonLike('["a,b",{"c":"d:e"}]', "[1, 2]")).toBe('["a,b", {"c": "d:e"}]');
  });
});
