import { describe, expect, it } from "vitest";
import type { CanonicalValue } from "./canonical.js";
import { ValueError } from "./canonical-errors.js";
import {
  compareVectors,
  compareVersions,
  compareVersionsBy,
  hasOrdering,
  hasVersion,
  parseVersionVector,
  readVersion,
  type Version,
  type VersionOrder,
  type VersionOrdering,
  type VersionVector,
  versionFromJson,
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
    ["vector before", { vector: { a: "1", b: "1" } }, { vector: { a: "2", b: "1" } }, "before"],
    ["vector after", { vector: { a: "2", b: "2" } }, { vector: { a: "1", b: "2" } }, "after"],
    ["vector equal", { vector: { a: "1", b: "2" } }, { vector: { b: "2", a: "1" } }, "equal"],
    ["vector concurrent", { vector: { a: "2", b: "1" } }, { vector: { a: "1", b: "2" } }, "concurrent"],
    ["vector missing node counts as 0", { vector: { a: "1" } }, { vector: { a: "1", b: "1" } }, "before"],
    ["vector disjoint nodes", { vector: { a: "1" } }, { vector: { b: "1" } }, "concurrent"],
    ["vector explicit 0 equals absent", { vector: { a: "1", b: "0" } }, { vector: { a: "1" } }, "equal"],
    // A vector on both sides outranks counters and timestamps.
    [
      "vector outranks counter",
      { vector: { a: "1" }, counter: "9" },
      { vector: { a: "2" }, counter: "1" },
      "before",
    ],
    // Metadata in common decides; none in common is "equal".
    [
      "vector on one side only falls back to counter",
      { vector: { a: "5" }, counter: "1" },
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
  it.each<[VersionVector, VersionVector, VersionOrder]>([
    [{}, {}, "equal"],
    [{}, { a: "1" }, "before"],
    [{ a: "1" }, {}, "after"],
    [{ a: "3", b: "0", c: "1" }, { a: "3", c: "2" }, "before"],
    [{ a: "3", c: "1" }, { a: "2", c: "2" }, "concurrent"],
    // Entries compare as integers, exactly: past 2^53 (where doubles merge them) and by length before text.
    [{ a: "9007199254740993" }, { a: "9007199254740992" }, "after"],
    [{ a: "9007199254740993", b: "1" }, { a: "9007199254740992", b: "2" }, "concurrent"],
    [{ a: "18446744073709551617" }, { a: "18446744073709551616" }, "after"],
    [{ a: "10" }, { a: "9" }, "after"],
    [{ a: "100000000000000000000000000001" }, { a: "100000000000000000000000000001" }, "equal"],
  ])("%j vs %j → %s", (a, b, expected) => {
    expect(compareVectors(a, b)).toBe(expected);
  });
});

describe("parseVersionVector: exact, and malformed vectors refused", () => {
  it.each<[string, VersionVector]>([
    ['{"a":1,"b":2}', { a: "1", b: "2" }],
    // Read from the text, never through a double: 2^53 + 1 is not 2^53.
    ['{"a":9007199254740993}', { a: "9007199254740993" }],
    ['{"a":123456789012345678901234567890}', { a: "123456789012345678901234567890" }],
    // Strings of digits (counters kept as strings past 2^53), leading zeros dropped.
    ['{"a":"9007199254740993","b":"007"}', { a: "9007199254740993", b: "7" }],
    // A number of integer value in another spelling is that integer.
    ['{"a":7.0,"b":1e3,"c":0}', { a: "7", b: "1000", c: "0" }],
    ["{}", {}],
    ['{"__proto__":3}', JSON.parse('{"__proto__":"3"}')],
  ])("%s → %j", (text, expected) => {
    const got = parseVersionVector(text);
    expect(got).toEqual(expected);
    expect(Object.keys(got)).toEqual(Object.keys(expected));
  });

  it.each<[string, string]>([
    ['{"a":1,"b":"x"}', 'versions.vector: entry "b" is "x", not a non-negative integer'],
    ['{"a":1,"c":null}', 'versions.vector: entry "c" is null, not a non-negative integer'],
    ['{"a":-1}', 'versions.vector: entry "a" is -1, not a non-negative integer'],
    ['{"a":1.5}', 'versions.vector: entry "a" is 1.5, not a non-negative integer'],
    ['{"a":true}', 'versions.vector: entry "a" is true, not a non-negative integer'],
    ['{"a":{"b":1}}', 'versions.vector: entry "a" is {"b":1}, not a non-negative integer'],
    ['{"a":"-2"}', 'versions.vector: entry "a" is "-2", not a non-negative integer'],
    ['{"a":1e30}', 'versions.vector: entry "a" is 1e+30, not a non-negative integer'],
    ["[1,2]", 'versions.vector: "[1,2]" is not a JSON object'],
    ["7", 'versions.vector: "7" is not a JSON object'],
    ["null", 'versions.vector: "null" is not a JSON object'],
    ["{a:1", 'versions.vector: "{a:1" is not a JSON object'],
  ])("%s: %s", (text, message) => {
    expect(() => parseVersionVector(text)).toThrow(new ValueError(message));
  });
});

describe("versionFromJson: versions kept as JSON by earlier releases", () => {
  it.each<[unknown, Version]>([
    [
      { counter: "3", timestamp: T1 },
      { counter: "3", timestamp: T1 },
    ],
    [{ vector: { a: "9007199254740993" } }, { vector: { a: "9007199254740993" } }],
    // Entries kept as numbers: exact ones become digits; a vector with any other is dropped, not shrunk.
    [{ vector: { a: 2, b: 0 } }, { vector: { a: "2", b: "0" } }],
    [{ counter: "1", vector: { a: 9007199254740992, b: 1 } }, { counter: "1" }],
    [{ vector: { a: 1.5 } }, {}],
    [null, {}],
  ])("%j → %j", (stored, expected) => {
    expect(versionFromJson(stored)).toEqual(expected);
  });
});

describe("readVersion", () => {
  it.each<[{ counter?: number; timestamp?: number; vector?: number }, CanonicalValue[], Version]>([
    [{}, ["x", "1"], {}],
    [{ counter: 1 }, ["x", "7"], { counter: "7" }],
    [{ counter: 1 }, ["x", null], {}],
    [{ timestamp: 0 }, [T1], { timestamp: T1 }],
    [{ counter: 0, timestamp: 1 }, ["2", T3], { counter: "2", timestamp: T3 }],
    [{ vector: 0 }, ['{"a":1,"b":2}'], { vector: { a: "1", b: "2" } }],
    [{ vector: 0 }, ['{"a":9007199254740993}'], { vector: { a: "9007199254740993" } }],
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
  const JAN = { counter: "5", timestamp: T1, vector: { a: "2" } };
  const JUN = { counter: "3", timestamp: T3, vector: { a: "1", b: "1" } };
  it.each<[VersionOrdering, Version, Version, VersionOrder]>([
    ["timestamp", JAN, JUN, "before"],
    ["counter", JAN, JUN, "after"],
    ["vector", JAN, JUN, "concurrent"],
    // Equal by the ordering is equal, whatever the rest says.
    ["timestamp", { counter: "1", timestamp: T1 }, { counter: "9", timestamp: T1 }, "equal"],
    ["counter", { counter: "4", timestamp: T1 }, { counter: "4", timestamp: T3 }, "equal"],
    ["vector", { vector: { a: "1" }, counter: "1" }, { vector: { a: "1" }, counter: "2" }, "equal"],
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
    // Was read as {"a":1} (entries that are not numbers dropped) and [1,2] as {}: smaller vectors, not refusals.
    [{ vector: 0 }, ['{"a":1,"b":"x"}'], 'versions.vector: entry "b" is "x", not a non-negative integer'],
    [{ vector: 0 }, ["[1,2]"], 'versions.vector: "[1,2]" is not a JSON object'],
  ])("%j of %j: %s", (positions, values, message) => {
    expect(() => readVersion(positions, values)).toThrow(message);
  });
});
