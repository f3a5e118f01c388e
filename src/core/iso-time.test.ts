import { describe, expect, it } from "vitest";
import { parseIsoTime } from "./iso-time.js";

describe("parseIsoTime", () => {
  it.each([
    ["2024-05-01", Date.UTC(2024, 4, 1)],
    ["2024-05-01T12:00Z", Date.UTC(2024, 4, 1, 12)],
    ["2024-02-29T00:00:00Z", Date.UTC(2024, 1, 29)],
    ["2024-05-01T12:00:00+02:00", Date.UTC(2024, 4, 1, 10)],
  ])("%s is a time", (text, ms) => {
    expect(parseIsoTime(text)).toBe(ms);
  });

  // Date.parse reads these as a day of the next month (2024-02-30 → 2024-03-01).
  it.each([
    "2024-02-30T00:00:00Z",
    "2023-02-29",
    "2024-04-31T00:00Z",
    "2024-13-01",
    "2024-00-10",
    "yesterday",
    "",
  ])("%j is not", (text) => {
    expect(parseIsoTime(text)).toBeNaN();
  });
});
