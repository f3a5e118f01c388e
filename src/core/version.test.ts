import { describe, expect, it } from "vitest";
import type { CanonicalValue } from "./canonical.js";
import {
  compareVectors,
  compareVersions,
  compareVersionsBy,
  hasOrdering,
  hasVersion,
  readVersion,
  type Version,
  type VersionOrder,
  type VersionOrdering,
} from "./version.js";

const T1 = "2024-01-01T00:00:00.000000Z";
const T2 = "2024-01-01T00:00:00.000001Z";
const T3 = "2024-06-01T00:00:00.000000Z";

describe("compareVersions", () => {
  it.each<[string, Version, Version, VersionOrder]>([
    // Counters compare numerically, not as text.
    ["counter before", { counter: "1" }, { counter: "2" }, "before"],
    ["counter after", { counter: "10" }, { counter: "9" }, "after"],
    ["counter equal", { counter: "5" }, { counter: "5" }, "equal"],
    ["negative counter", { counter: "-3" }, { counter: "2" }, "before"],
    ["counter beyond 2^53", { counter: "9007199254740993" }, { counter: "9007199254740992" }, "after"],
    // Timestamps compare as instants, to the microsecond.
    ["timestamp before", { timestamp: T1 }, { timestamp: T3 }, "before"],
    ["timestamp after by 1µs", { timestamp: T2 }, { timestamp: T1 }, "after"],
    ["timestamp equal", { timestamp: T1 }, { timestamp: T1 }, "equal"],
    // Counter ties are broken by timestamp; a counter difference wins over the timestamp.
    [
      "counter tie, older timestamp",
      { counter: "3", timestamp: T1 },
      { counter: "3", timestamp: T3 },
      "before",
    ],
    [
      "counter tie, newer timestamp",
      { counter: "3", timestamp: T3 },
      { counter: "3", timestamp: T1 },
      "after",
    ],
    [
      "counter tie, equal timestamp",
      { counter: "3", timestamp: T1 },
      { counter: "3", timestamp: T1 },
      "equal",
    ],
    [
      "higher counter, older timestamp",
      { counter: "4", timestamp: T1 },
      { counter: "3", timestamp: T3 },
      "after",
    ],
    ["counter tie, one timestamp missing", { counter: "3", timestamp: T3 }, { counter: "3" }, "equal"],
    // Vectors: dominance, equality, concurrency.
    ["vector before", { vector: { a: 1, b: 1 } }, { vector: { a: 2, b: 1 } }, "before"],
    ["vector after", { vector: { a: 2, b: 2 } }, { vector: { a: 1, b: 2 } }, "after"],
    ["vector equal", { vector: { a: 1, b: 2 } }, { vector: { b: 2, a: 1 } }, "equal"],
    ["vector concurrent", { vector: { a: 2, b: 1 } }, { vector: { a: 1, b: 2 } }, "concurrent"],
    ["vector missing node counts as 0", { vector: { a: 1 } }, { vector: { a: 1, b: 1 } }, "before"],
    ["vector disjoint nodes", { vector: { a: 1 } }, { vector: { b: 1 } }, "concurrent"],
    ["vector explicit 0 equals absent", { vector: { a: 1, b: 0 } }, { vector: { a: 1 } }, "equal"],
    // A vector on both sides outranks counters and timestamps.
    [
      "vector outranks counter",
      { vector: { a: 1 }, counter: "9" },
      { vector: { a: 2 }, counter: "1" },
      "before",
    ],
    // Metadata in common decides; none in common is "equal".
    [
      "vector on one side only falls back to counter",
      { vector: { a: 5 }, counter: "1" },
      { counter: "2" },
      "before",
    ],
    ["counter vs timestamp only", { counter: "1" }, { timestamp: T1 }, "equal"],
    ["no metadata", {}, {}, "equal"],
  ])("%s", (_name, a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected);
  });
});

describe("compareVectors", () => {
  it.each<[Record<string, number>, Record<string, number>, VersionOrder]>([
    [{}, {}, "equal"],
    [{}, { a: 1 }, "before"],
    [{ a: 1 }, {}, "after"],
    [{ a: 3, b: 0, c: 1 }, { a: 3, c: 2 }, "before"],
    [{ a: 3, c: 1 }, { a: 2, c: 2 }, "concurrent"],
  ])("%j vs %j → %s", (a, b, expected) => {
    expect(compareVectors(a, b)).toBe(expected);
  });
});

describe("readVersion", () => {
  it.each<[{ counter?: number; timestamp?: number; vector?: number }, CanonicalValue[], Version]>([
    [{}, ["x", "1"], {}],
    [{ counter: 1 }, ["x", "7"], { counter: "7" }],
    [{ counter: 1 }, ["x", null], {}],
    [{ timestamp: 0 }, [T1], { timestamp: T1 }],
    [{ counter: 0, timestamp: 1 }, ["2", T3], { counter: "2", timestamp: T3 }],
    [{ vector: 0 }, ['{"a":1,"b":2}'], { vector: { a: 1, b: 2 } }],
    // Non-numeric entries are ignored; a non-object vector is empty.
    [{ vector: 0 }, ['{"a":1,"b":"x","c":null}'], { vector: { a: 1 } }],
    [{ vector: 0 }, ["[1,2]"], { vector: {} }],
  ])("%j of %j → %j", (positions, values, expected) => {
    expect(readVersion(positions, values)).toEqual(expected);
  });
});

describe("hasVersion", () => {
  it.each<[Version | undefined, boolean]>([
    [undefined, false],
    [{}, false],
    [{ counter: "0" }, true],
    [{ timestamp: T1 }, true],
    [{ vector: {} }, true],
  ])("%j → %s", (v, expected) => {
    expect(hasVersion(v)).toBe(expected);
  });
});

describe("compareVersionsBy: each ordering reads only its own metadata", () => {
  const JAN = { counter: "5", timestamp: T1, vector: { a: 2 } };
  const JUN = { counter: "3", timestamp: T3, vector: { a: 1, b: 1 } };
  it.each<[VersionOrdering, Version, Version, VersionOrder]>([
    ["timestamp", JAN, JUN, "before"],
    ["counter", JAN, JUN, "after"],
    ["vector", JAN, JUN, "concurrent"],
    // Equal by the ordering is equal, whatever the rest says.
    ["timestamp", { counter: "1", timestamp: T1 }, { counter: "9", timestamp: T1 }, "equal"],
    ["counter", { counter: "4", timestamp: T1 }, { counter: "4", timestamp: T3 }, "equal"],
    ["vector", { vector: { a: 1 }, counter: "1" }, { vector: { a: 1 }, counter: "2" }, "equal"],
    ["counter", { counter: "9007199254740993" }, { counter: "9007199254740992" }, "after"],
    ["timestamp", { timestamp: T2 }, { timestamp: T1 }, "after"],
    // Without the metadata on both sides nothing orders them.
    ["timestamp", { counter: "1" }, { counter: "2", timestamp: T1 }, "equal"],
    ["vector", { counter: "1" }, { counter: "2" }, "equal"],
  ])("%s: %j vs %j → %s", (ordering, a, b, expected) => {
    expect(compareVersionsBy(ordering, a, b)).toBe(expected);
  });

  it.each<[VersionOrdering, Version | undefined, boolean]>([
    ["counter", { counter: "0" }, true],
    ["counter", { timestamp: T1 }, false],
    ["timestamp", { timestamp: T1 }, true],
    ["vector", { vector: {} }, true],
    ["vector", undefined, false],
  ])("hasOrdering(%s, %j) → %s", (ordering, v, expected) => {
    expect(hasOrdering(ordering, v)).toBe(expected);
  });
});

describe("readVersion: values a version column cannot hold", () => {
  it.each<[{ counter?: number; vector?: number }, CanonicalValue[], string]>([
    [{ counter: 0 }, ["y"], 'versions.counter: "y" is not an integer'],
    [{ counter: 0 }, ["1.5"], 'versions.counter: "1.5" is not an integer'],
    [{ vector: 0 }, ["{a:1"], 'versions.vector: "{a:1" is not a JSON object'],
  ])("%j of %j: %s", (positions, values, message) => {
    expect(() => readVersion(positions, values)).toThrow(message);
  });
});
