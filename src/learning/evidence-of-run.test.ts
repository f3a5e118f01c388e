import { describe, expect, it } from "vitest";
import type { Divergence } from "../core/classify.js";
import type { Decision } from "../core/decide.js";
import {
  facetOf,
  freshnessCells,
  noiseOf,
  personEvidence,
  placeInSegments,
  planEvidence,
  probeEvidence,
  repairEvidence,
  segmentOfKey,
} from "./evidence-of-run.js";

const shape = {
  key: [{ name: "id", type: "integer" as const }],
  columns: [
    { name: "name", type: "text" as const },
    { name: "price", type: "decimal" as const },
    { name: "region", type: "text" as const },
  ],
};

const div = (id: string, over: Partial<Divergence> = {}): Divergence => ({
  key: [id],
  class: "stale",
  columns: ["name", "price"],
  newest: ["a"],
  regressed: [],
  replicas: {
    a: { present: true, fingerprint: "fa", values: ["x", "2", "eu"] },
    b: { present: true, fingerprint: "fb", values: ["x", "1", "eu"] },
  },
  ...over,
});

const decision = (id: string, over: Partial<Decision> = {}): Decision => ({
  key: [id],
  class: "stale",
  action: "propagate",
  source: "a",
  targets: ["b"],
  record: ["x", "2", "eu"],
  expected: { b: "fb" },
  rule: "resolve: highest-version",
  reason: "",
  ambiguity: 0,
  policyVersion: "v",
  options: [],
  ...over,
});

describe("segmentOfKey", () => {
  it.each([
    [["5"], 0],
    [["10"], 1],
    [["11"], 1],
    [["20"], 2],
    [["999"], 2],
  ])("key %j lies in segment %i of bounds 10, 20 (numeric order)", (key, segment) => {
    expect(segmentOfKey(shape, [["10"], ["20"]], key)).toBe(segment);
  });

  it("is -1 without bounds, 0 with none", () => {
    expect(segmentOfKey(shape, undefined, ["5"])).toBe(-1);
    expect(segmentOfKey(shape, [], ["5"])).toBe(0);
  });
});

describe("facetOf", () => {
  const field = {
    owner: { kind: "field" as const, field: "region", column: 2, map: { eu: "a" } },
    replicas: ["a", "b"],
  };
  it("names the owning field's value when the replicas agree on it", () => {
    expect(facetOf(div("1"), field)).toBe("region=eu");
    const split = div("1", {
      replicas: {
        a: { present: true, values: ["x", "2", "eu"] },
        b: { present: true, values: ["x", "2", "us"] },
      },
    });
    expect(facetOf(split, field)).toBe("");
    expect(facetOf(div("1"), { owner: { kind: "replica", replica: "a" }, replicas: ["a", "b"] })).toBe("");
  });
});

describe("placeInSegments", () => {
  const field = {
    owner: { kind: "field" as const, field: "region", column: 2, map: { eu: "a" } },
    replicas: ["a", "b"],
  };
  it.each([
    ["5", { segment: 0, facet: "region=eu" }],
    ["15", { segment: 1, facet: "region=eu" }],
    ["25", { segment: 2, facet: "region=eu" }],
  ])("places key %s by its segment among bounds 10, 20 and its facet", (id, place) => {
    expect(placeInSegments(shape, [["10"], ["20"]], field)(div(id))).toEqual(place);
  });

  it("is segment -1 without bounds and no facet without a field owner", () => {
    const owner = { owner: { kind: "replica" as const, replica: "a" }, replicas: ["a", "b"] };
    expect(placeInSegments(shape, undefined, owner)(div("5"))).toEqual({ segment: -1, facet: "" });
  });
});

describe("planEvidence", () => {
  it("counts divergences per class and column, settles the decision, the target losing only columns it held differently", () => {
    const out = planEvidence({
      dataset: "items",
      at: 1000,
      shape,
      divergences: [div("1"), div("2", { class: "in-flight" }), div("3", { regressed: ["b"] })],
      decisions: [decision("1"), decision("2", { action: "wait", targets: [] })],
      placeOf: (d) => ({ segment: Number(d.key[0]), facet: "" }),
    });
    const pick = (replica: string, counter: "divergences" | "settled" | "lost" | "regressions") =>
      out
        .filter((i) => i.replica === replica && (i.counts[counter] ?? 0) > 0)
        .map((i) => `${i.segment}/${i.column || "*"}/${i.class}`);
    expect(pick("", "divergences")).toEqual([
      "1/*/stale",
      "1/name/stale",
      "1/price/stale",
      "2/*/in-flight",
      "2/name/in-flight",
      "2/price/in-flight",
      "3/*/stale",
      "3/name/stale",
      "3/price/stale",
    ]);
    expect(pick("b", "regressions")).toEqual(["3/*/stale"]);
    expect(pick("a", "settled")).toEqual(["1/*/stale", "1/name/stale", "1/price/stale"]);
    // b held the same name as the record written: it lost the record and price, not name.
    expect(pick("b", "lost")).toEqual(["1/*/stale", "1/price/stale"]);
    expect(pick("a", "lost")).toEqual([]);
  });
});

describe("planEvidence per cell", () => {
  it("hands the store one increment per cell however many divergences share it", () => {
    const divergences = Array.from({ length: 500 }, (_, i) => div(String(i)));
    const out = planEvidence({
      dataset: "items",
      at: 1000,
      shape,
      divergences,
      decisions: divergences.map((d) => decision(d.key[0]!)),
      placeOf: () => ({ segment: 2, facet: "" }),
    });
    const cells = out.map((i) => `${i.replica}/${i.column || "*"}`);
    expect(new Set(cells).size).toBe(cells.length);
    const at = (replica: string, column: string) =>
      out.find((i) => i.replica === replica && i.column === column)?.counts;
    expect(at("", "")).toEqual({ divergences: 500 });
    expect(at("", "price")).toEqual({ divergences: 500 });
    expect(at("b", "")).toEqual({ settled: 500, lost: 500, observed: 500, behind: 500 });
    expect(at("b", "name")).toEqual({ settled: 500, lost: 0 });
    expect(at("a", "")).toEqual({ settled: 500, lost: 0, observed: 500, ahead: 500 });
  });
});

describe("freshnessCells", () => {
  const three = (over: Partial<Divergence>) =>
    div("1", {
      replicas: {
        a: { present: true, values: ["x", "3", "eu"] },
        b: { present: true, values: ["x", "3", "eu"] },
        c: { present: true, values: ["x", "1", "eu"] },
        d: { present: false },
      },
      ...over,
    });
  const cells = (d: Divergence) => Object.fromEntries(freshnessCells(d).map((c) => [c.replica, c.counts]));
  it.each<[string, Divergence, Record<string, object>]>([
    [
      "one newest replica: it is ahead, the others behind, an absent one not compared",
      three({ newest: ["a"] }),
      { a: { observed: 1, ahead: 1 }, b: { observed: 1, behind: 1 }, c: { observed: 1, behind: 1 } },
    ],
    [
      "two newest replicas: neither alone held it first",
      three({ newest: ["a", "b"] }),
      { a: { observed: 1 }, b: { observed: 1 }, c: { observed: 1, behind: 1 } },
    ],
    ["a conflict says nothing of freshness", three({ class: "conflict", newest: ["a", "b"] }), {}],
    ["a missing record says nothing either", three({ class: "missing", newest: ["a", "b", "c"] }), {}],
  ])("%s", (_name, d, expected) => {
    expect(cells(d)).toEqual(expected);
  });

  it("is part of a plan's evidence, on the record of the divergence's key range", () => {
    const out = planEvidence({
      dataset: "items",
      at: 1000,
      shape,
      divergences: [div("4")],
      decisions: [],
      placeOf: () => ({ segment: 4, facet: "" }),
    });
    expect(out.filter((i) => i.counts.ahead)).toEqual([
      {
        dataset: "items",
        at: 1000,
        segment: 4,
        facet: "",
        replica: "a",
        column: "",
        class: "stale",
        counts: { observed: 1, ahead: 1 },
      },
    ]);
  });
});

describe("probeEvidence", () => {
  it("observes the source and every polled replica; behind unless there on the first read", () => {
    const out = probeEvidence("items", {
      at: 9000,
      source: "a",
      lag: { b: 0.004, c: 1.25, d: null },
      firstRead: ["b"],
      anomalies: [],
    });
    expect(Object.fromEntries(out.map((i) => [i.replica, i.counts]))).toEqual({
      a: { observed: 1, behind: 0, probed: 1 },
      b: { observed: 1, behind: 0, probed: 1, lagMs: 4 },
      c: { observed: 1, behind: 1, probed: 1, lagMs: 1250 },
      d: { observed: 1, behind: 1 },
    });
    expect(out.every((i) => i.segment === -1 && i.column === "" && i.at === 9000)).toBe(true);
  });

  it("counts the source behind when it did not read its own write", () => {
    const out = probeEvidence("items", {
      at: 1,
      source: "a",
      lag: {},
      anomalies: [{ replica: "a" }],
    });
    expect(out).toMatchObject([{ replica: "a", counts: { observed: 1, behind: 1, probed: 0 } }]);
  });
});

describe("repairEvidence", () => {
  it("counts outcomes per target, and a key converged only when every repair verified", () => {
    const divs = new Map([
      ["1", div("1")],
      ["2", div("2")],
    ]);
    const out = repairEvidence({
      dataset: "items",
      at: 5000,
      decidedAt: 1000,
      results: [
        { key: ["1"], target: "b", outcome: "applied" },
        { key: ["2"], target: "b", outcome: "applied" },
        { key: ["2"], target: "c", outcome: "superseded" },
        { key: ["9"], target: "b", outcome: "failed" },
      ],
      divergenceOf: (k) => divs.get(k[0]!),
      placeOf: () => ({ segment: 0, facet: "" }),
    });
    // Added up per cell: the two repairs on b in segment 0 are one increment.
    expect(out.filter((i) => i.replica !== "").map((i) => [i.replica, i.counts])).toEqual([
      ["b", { repaired: 2 }],
      ["c", { rejected: 1 }],
    ]);
    expect(out.filter((i) => i.replica === "" && i.column === "").map((i) => i.counts)).toEqual([
      { repaired: 1, converged: 1, convergedMs: 4000 },
    ]);
  });
});

describe("personEvidence", () => {
  it("settles every option that is a replica, the others than the pick lost by a person", () => {
    const out = personEvidence(
      {
        dataset: "items",
        key: ["1"],
        class: "conflict",
        columns: ["price"],
        options: ["a", "b", "note"],
        createdAt: 0,
      },
      "a",
      ["a", "b"],
      60_000,
      { segment: -1, facet: "" },
    );
    expect(out.map((i) => [i.replica, i.column, i.counts])).toEqual([
      ["a", "", { settled: 1, lost: 0, personSettled: 1, personLost: 0 }],
      ["a", "price", { settled: 1, lost: 0, personSettled: 1, personLost: 0 }],
      ["b", "", { settled: 1, lost: 1, personSettled: 1, personLost: 1 }],
      ["b", "price", { settled: 1, lost: 1, personSettled: 1, personLost: 1 }],
      ["", "", { repaired: 1, converged: 1, convergedMs: 60_000 }],
      ["", "price", { repaired: 1, converged: 1, convergedMs: 60_000 }],
    ]);
  });
});

describe("noiseOf", () => {
  const numeric = (a: string, b: string, over: Partial<Divergence> = {}) =>
    div("1", {
      class: "unversioned",
      columns: ["price"],
      replicas: {
        a: { present: true, values: ["x", a, "eu"] },
        b: { present: true, values: ["x", b, "eu"] },
      },
      ...over,
    });
  it.each([
    ["1000.00", "1000.05", 0.05],
    ["0.1", "0.10000000000000002", 1.3877787807814457e-17],
  ])("%s vs %s is noise of %d", (a, b, diff) => {
    expect(noiseOf(numeric(a, b), shape.columns)?.get("price")).toBeCloseTo(diff, 10);
  });
  it("is not noise: a large difference, a text column, a tolerated or missing record", () => {
    expect(noiseOf(numeric("100", "101"), shape.columns)).toBeUndefined();
    expect(noiseOf(numeric("1", "1.00001", { columns: ["name", "price"] }), shape.columns)).toBeUndefined();
    expect(noiseOf(numeric("1", "1.00001", { class: "tolerated" }), shape.columns)).toBeUndefined();
    expect(noiseOf(numeric("1", "1.00001", { class: "missing" }), shape.columns)).toBeUndefined();
  });
});
