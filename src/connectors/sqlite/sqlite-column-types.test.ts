import { describe, expect, it } from "vitest";
import { canonicalValue } from "../../core/canonical.js";
import { formatTimestamp, timestampStyleOf } from "./sqlite-connector.js";

describe("SQLite timestamp styles: repairs write the format the column already uses", () => {
  it.each([
    ["2024-01-01 00:01:00", "2024-03-04T05:06:07.000000Z", "2024-03-04 05:06:07"],
    ["2024-01-01 00:01:00", "2024-03-04T05:06:07.120000Z", "2024-03-04 05:06:07.12"],
    ["2024-01-01 00:01:00.000", "2024-03-04T05:06:07.000000Z", "2024-03-04 05:06:07.000"],
    ["2024-01-01T00:01:00Z", "2024-03-04T05:06:07.000001Z", "2024-03-04T05:06:07.000001Z"],
    ["2024-01-01T00:01:00.000000+00:00", "2024-03-04T05:06:07.000000Z", "2024-03-04T05:06:07.000000+00:00"],
    ["2024-01-01", "2024-03-04T00:00:00.000000Z", "2024-03-04"],
    ["2024-01-01", "2024-03-04T05:06:07.000000Z", "2024-03-04 05:06:07"],
    [1704067200, "2024-03-04T05:06:07.000000Z", 1709528767],
    [1704067200, "2024-03-04T05:06:07.500000Z", 1709528767.5],
    [1704067200, "1969-12-31T23:59:59.500000Z", -0.5],
    [1704067200, "infinity", "infinity"],
    [1704067200, "+010000-01-01T00:00:00.000000Z", "+010000-01-01T00:00:00.000000Z"],
    ["2024-01-01 00:01:00", "-000043-03-15T00:00:00.000000Z", "-000043-03-15T00:00:00.000000Z"],
    ["2024-01-01", "-infinity", "-infinity"],
    ["not a timestamp", "2024-03-04T05:06:07.000000Z", "2024-03-04T05:06:07.000000Z"],
    [null, "2024-03-04T05:06:07.000000Z", "2024-03-04T05:06:07.000000Z"],
  ] as const)("sample %j: %s is written as %j", (sample, canonical, written) => {
    const out = formatTimestamp(canonical, timestampStyleOf(sample));
    expect(out).toBe(written);
    // Whatever the style, the written value reads back as the same instant.
    expect(canonicalValue("timestamp", out)).toBe(canonical);
  });
});
