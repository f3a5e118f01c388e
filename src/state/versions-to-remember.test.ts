import { describe, expect, it } from "vitest";
import type { Version } from "../core/version.js";
import { versionsToRemember } from "./versions-to-remember.js";

const JAN: Version = { counter: "5", timestamp: "2026-01-15T00:00:00.000000Z" };
const JUNE: Version = { counter: "3", timestamp: "2026-06-01T00:00:00.000000Z" };

/** What is remembered for key 1 on replica r when `stored` is there and `observed` comes in. */
function remembered(
  stored: Version,
  observed: Version,
  ordering?: "counter" | "timestamp",
): Version | undefined {
  const writes = versionsToRemember(
    [{ key: ["1"], replica: "r", version: observed }],
    () => JSON.stringify(stored),
    false,
    ordering,
  );
  return writes[0] ? (JSON.parse(writes[0].version) as Version) : undefined;
}

describe("versionsToRemember keeps the highest version by the dataset's ordering", () => {
  it.each([
    ["timestamp (lww): a newer timestamp replaces a higher counter", "timestamp", JAN, JUNE, JUNE],
    ["timestamp (lww): an older timestamp is not remembered", "timestamp", JUNE, JAN, undefined],
    ["counter (highest-version): a lower counter is not remembered", "counter", JAN, JUNE, undefined],
    ["counter (highest-version): a higher counter replaces a newer timestamp", "counter", JUNE, JAN, JAN],
  ] as const)("%s", (_, ordering, stored, observed, expected) => {
    expect(remembered(stored, observed, ordering)).toEqual(expected);
  });
});
