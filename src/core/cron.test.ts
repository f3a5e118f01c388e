import { describe, expect, it } from "vitest";
import { CronError, isCron, nextCronTime, parseCron } from "./cron.js";

const at = (iso: string) => Date.parse(iso);
const next = (expr: string, iso: string) => new Date(nextCronTime(parseCron(expr), at(iso))).toISOString();

describe("nextCronTime", () => {
  it.each([
    ["*/5 * * * *", "2024-05-01T12:03:10Z", "2024-05-01T12:05:00.000Z"],
    ["*/5 * * * *", "2024-05-01T12:05:00Z", "2024-05-01T12:10:00.000Z"],
    ["0 * * * *", "2024-05-01T12:00:00Z", "2024-05-01T13:00:00.000Z"],
    ["30 2 * * *", "2024-05-01T03:00:00Z", "2024-05-02T02:30:00.000Z"],
    ["0 9 * * mon-fri", "2024-05-03T10:00:00Z", "2024-05-06T09:00:00.000Z"],
    ["0 0 1 jan *", "2024-05-01T00:00:00Z", "2025-01-01T00:00:00.000Z"],
    ["0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00.000Z"],
    ["0 0 13 * 5", "2024-05-01T00:00:00Z", "2024-05-03T00:00:00.000Z"],
    ["15,45 8-9 * * *", "2024-05-01T08:20:00Z", "2024-05-01T08:45:00.000Z"],
    ["0 0 * * 7", "2024-05-01T00:00:00Z", "2024-05-05T00:00:00.000Z"],
    ["@daily", "2024-05-01T00:00:01Z", "2024-05-02T00:00:00.000Z"],
    ["@hourly", "2024-05-01T23:59:00Z", "2024-05-02T00:00:00.000Z"],
    ["5/20 * * * *", "2024-05-01T00:06:00Z", "2024-05-01T00:25:00.000Z"],
  ])("%s after %s: %s", (expr, after, want) => {
    expect(next(expr, after)).toBe(want);
  });

  it.each([
    ["* * * *", "expected five fields (minute hour day-of-month month day-of-week), got 4"],
    ["60 * * * *", "minute: 60 is outside 0-59"],
    ["* * * * mon-sun", "day of week: range mon-sun runs backwards"],
    ["*/0 * * * *", 'minute: step "0" must be a positive whole number'],
    ["x * * * *", 'minute: "x" is not a number'],
  ])("refuses %s", (expr, message) => {
    expect(() => parseCron(expr)).toThrow(new CronError(message));
  });

  it("tells a cron expression from a duration, and says when one never fires", () => {
    expect([isCron("*/5 * * * *"), isCron("@weekly"), isCron("5m"), isCron("")]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(() => nextCronTime(parseCron("0 0 31 2 *"), 0)).toThrow("never fires");
  });
});
