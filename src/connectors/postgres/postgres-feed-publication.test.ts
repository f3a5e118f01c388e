/** publishedColumns: what a feed's publication carries, by replica identity and server version. */
import { describe, expect, it } from "vitest";
import { publishedColumns } from "./postgres-feed-publication.js";

describe("publishedColumns", () => {
  it.each([
    // key, identity kind, identity columns, server version, published (undefined: the whole row)
    [["id"], "d", ["id"], 150020, ["id"]],
    [["a", "b"], "d", ["b", "a"], 160000, ["a", "b"]],
    [["code"], "i", ["code", "region"], 150000, ["code", "region"]], // the identity is covered too
    [["id"], "f", [], 150020, undefined], // FULL: a list would have to name every column
    [["id"], "d", ["id"], 140011, undefined], // no column lists before 15
  ] as const)("key %j, identity %s %j, server %d → %j", (key, kind, columns, version, want) => {
    expect(publishedColumns(key, { kind, columns }, version)).toEqual(want);
  });
});
