import { describe, expect, it } from "vitest";
import { EvidenceTally } from "./evidence-tally.js";

describe("EvidenceTally", () => {
  it("adds sums, keeps the largest maximum, and yields one increment per cell in first-counted order", () => {
    const t = new EvidenceTally("items", 7200_000);
    t.add(1, "", "b", "", "stale", { repaired: 1 });
    t.add(1, "", "", "price", "unversioned", { divergences: 1, noise: 1, noiseMax: 0.5 });
    t.add(1, "", "b", "", "stale", { repaired: 1, failed: 0 });
    t.add(1, "", "", "price", "unversioned", { divergences: 1, noise: 1, noiseMax: 0.25 });
    t.add(2, "", "b", "", "stale", { repaired: 1 });
    t.add(1, "region=eu", "b", "", "stale", {});
    expect(t.increments()).toEqual([
      {
        dataset: "items",
        at: 7200_000,
        segment: 1,
        facet: "",
        replica: "b",
        column: "",
        class: "stale",
        counts: { repaired: 2, failed: 0 },
      },
      {
        dataset: "items",
        at: 7200_000,
        segment: 1,
        facet: "",
        replica: "",
        column: "price",
        class: "unversioned",
        counts: { divergences: 2, noise: 2, noiseMax: 0.5 },
      },
      {
        dataset: "items",
        at: 7200_000,
        segment: 2,
        facet: "",
        replica: "b",
        column: "",
        class: "stale",
        counts: { repaired: 1 },
      },
      {
        dataset: "items",
        at: 7200_000,
        segment: 1,
        facet: "region=eu",
        replica: "b",
        column: "",
        class: "stale",
        counts: {},
      },
    ]);
  });

  it("never changes the counts objects it was given", () => {
    const shared = { repaired: 1 };
    const t = new EvidenceTally("items", 0);
    t.add(0, "", "b", "", "stale", shared);
    t.add(0, "", "b", "", "stale", shared);
    expect(shared).toEqual({ repaired: 1 });
    expect(t.increments()[0]!.counts).toEqual({ repaired: 2 });
  });
});
