import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it.each<[string, number]>([
    ["0", 0],
    ["0s", 0],
    ["250ms", 250],
    ["1s", 1000],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["2d", 172_800_000],
    ["1h30m", 5_400_000],
    ["1m30s", 90_000],
    ["1d2h3m4s5ms", 93_784_005],
    ["1.5s", 1500],
    ["0.5h", 1_800_000],
    ["1s500ms", 1500],
    [" 30s ", 30_000],
  ])("%j → %i ms", (text, expected) => {
    expect(parseDuration(text)).toBe(expected);
  });

  it.each<[string]>([
    [""],
    ["   "],
    ["30"],
    ["5 m"],
    ["-5s"],
    ["+5s"],
    ["5S"],
    ["5sec"],
    ["5min"],
    ["1w"],
    ["s"],
    ["ms"],
    ["1h30"],
    ["30s!"],
    ["abc"],
    [".5s"],
    ["1,5s"],
    ["00"],
  ])("%j is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe("formatDuration", () => {
  it.each<[number, string]>([
    [0, "0ms"],
    [340, "340ms"],
    [999.4, "999ms"],
    [1000, "1.00s"],
    [1234, "1.23s"],
    [12_345, "12.3s"],
    [60_000, "1m00s"],
    [185_000, "3m05s"],
    [119_700, "2m00s"],
    [3_599_600, "60m00s"],
  ])("%d ms → %s", (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});
