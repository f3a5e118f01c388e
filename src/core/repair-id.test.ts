import { describe, expect, it } from "vitest";
import { episodeId, repairId, repairOf } from "./repair-id.js";

describe("repair episodes", () => {
  const id = repairId("items", ["7"], "b", "f1", "f2");
  it.each([
    [id, id],
    [episodeId(id, 2), id],
    [episodeId(id, 12), id],
  ])("%s belongs to %s", (episode, repair) => {
    expect(repairOf(episode)).toBe(repair);
  });
  it("names later episodes apart", () => {
    expect(episodeId(id, 2)).not.toBe(episodeId(id, 3));
    expect(episodeId(id, 2)).not.toBe(id);
  });
});
