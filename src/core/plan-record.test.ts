import { describe, expect, it } from "vitest";
import { escalationFacets } from "./plan-record.js";

describe("escalationFacets", () => {
  const replicas = ["a", "b", "c"];
  it.each([
    ["one lacks it", { a: "x", b: "x", c: null }, { absent: ["c"], involved: ["c"] }],
    ["two lack it", { a: "x", b: null, c: null }, { absent: ["b", "c"], involved: ["b", "c"] }],
    ["one differs from two", { a: "x", b: "y", c: "x" }, { absent: [], involved: ["b"] }],
    ["all differ", { a: "x", b: "y", c: "z" }, { absent: [], involved: ["a", "b", "c"] }],
    ["a tie beside an absence", { a: "x", b: "y", c: null }, { absent: ["c"], involved: ["a", "b", "c"] }],
    ["an unknown replica counts as absent", { a: "x", b: "x" }, { absent: ["c"], involved: ["c"] }],
  ] as const)("%s", (_, observed, want) => {
    expect(escalationFacets(replicas, observed, ["note"])).toEqual({ columns: ["note"], ...want });
  });

  it("with two replicas that differ, both are concerned", () => {
    expect(escalationFacets(["a", "b"], { a: "x", b: "y" }, []).involved).toEqual(["a", "b"]);
  });
});
