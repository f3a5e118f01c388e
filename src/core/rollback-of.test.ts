import { describe, expect, it } from "vitest";
import { episodeId, repairId } from "./repair-id.js";
import { checkUndoes, rollbackId, type UndoneRepair } from "./rollback-of.js";

const repair: UndoneRepair = {
  id: "r1",
  dataset: "users",
  key: ["7"],
  target: "b",
  nextFingerprint: "0123456789abcdef",
  before: ["alice", null],
};
const undo = rollbackId(repair);

describe("checkUndoes", () => {
  it.each<[string, { id: string; undoes?: string }, UndoneRepair | undefined, string]>([
    ["a row naming none", { id: "x" }, undefined, "ok"],
    ["the repair's rollback", { id: undo, undoes: "r1" }, repair, "ok"],
    ["a later episode of its rollback", { id: episodeId(undo, 3), undoes: "r1" }, repair, "ok"],
    ["a repair the ledger does not hold", { id: undo, undoes: "r1" }, undefined, "unknown"],
    ["another row given for the name", { id: undo, undoes: "r9" }, repair, "unknown"],
    ["a row that is not its rollback", { id: "x", undoes: "r1" }, repair, "not-its-rollback"],
    [
      "the rollback of an edited before image",
      { id: undo, undoes: "r1" },
      { ...repair, before: ["mallory", null] },
      "not-its-rollback",
    ],
  ])("%s", (_name, row, undone, verdict) => {
    expect(checkUndoes(row, undone)).toBe(verdict);
  });

  it("a rollback's id is the write from what the repair wrote back to its before image (a delete without one)", () => {
    expect(rollbackId({ ...repair, before: null })).toBe(
      repairId("users", ["7"], "b", "0123456789abcdef", null),
    );
  });
});
