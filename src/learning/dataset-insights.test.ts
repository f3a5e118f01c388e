import { describe, expect, it } from "vitest";
import { datasetInsights } from "./dataset-insights.js";
import type { AuditExample, EvidenceRow, EvidenceSnapshot } from "./evidence-rows.js";
import { findHotspots } from "./find-hotspots.js";
import { findPatterns } from "./find-patterns.js";
import { rankReliability } from "./rank-reliability.js";
import { recommend, roundUp } from "./recommend.js";

const DAY = 86_400_000;
const NOW = 20_000 * DAY;

const row = (over: Partial<EvidenceRow>): EvidenceRow => ({
  divergences: 0,
  settled: 0,
  lost: 0,
  personSettled: 0,
  personLost: 0,
  regressions: 0,
  failed: 0,
  rejected: 0,
  repaired: 0,
  selfConverged: 0,
  converged: 0,
  convergedMs: 0,
  noise: 0,
  noiseMax: 0,
  ahead: 0,
  observed: 0,
  behind: 0,
  probed: 0,
  lagMs: 0,
  lastAt: NOW,
  ...over,
});

const snapshot = (over: Partial<EvidenceSnapshot>): EvidenceSnapshot => ({
  dataset: "items",
  replicas: ["a", "b", "c"],
  columns: ["name", "price"],
  segments: 10,
  now: NOW,
  windowMs: 7 * DAY,
  byReplica: [],
  recentBySegment: [],
  twoWindowsBySegment: [],
  recentByColumn: [],
  twoWindowsByColumn: [],
  recentByFacet: [],
  twoWindowsByFacet: [],
  byBucket: [],
  lostBySegment: [],
  recentBySegmentColumn: [],
  audit: [],
  policy: { resolve: "highest-version" },
  ...over,
});

/** a and c are right almost always, b loses 40 of 50. */
const reliabilityRows = [
  row({ replica: "a", column: "", class: "stale", settled: 50, lost: 1 }),
  row({ replica: "b", column: "", class: "stale", settled: 50, lost: 40, regressions: 3, failed: 2 }),
  row({ replica: "c", column: "", class: "stale", settled: 50, lost: 9 }),
  row({ replica: "a", column: "price", class: "stale", settled: 20, lost: 0 }),
  row({ replica: "b", column: "price", class: "stale", settled: 20, lost: 20 }),
];

describe("rankReliability", () => {
  it("ranks by the interval's lower bound, flags a replica wholly below another, keeps the counts", () => {
    const ranked = rankReliability(["a", "b", "c"], ["name", "price"], reliabilityRows);
    expect(ranked.map((r) => [r.name, r.reliability.settled, r.reliability.lost, r.flagged])).toEqual([
      ["a", 50, 1, false],
      ["c", 50, 9, false],
      ["b", 50, 40, true],
    ]);
    expect(ranked[0]!.reliability.score).toBeCloseTo(0.98, 10);
    expect(ranked[2]!.reliability.high).toBeLessThan(ranked[1]!.reliability.low);
    expect(ranked[2]).toMatchObject({ regressions: 3, failed: 2 });
    expect(ranked[2]!.columns.map((c) => [c.column, c.reliability.lost])).toEqual([["price", 20]]);
  });

  it("prefers much evidence to little at the same score, and leaves a replica without evidence at [0, 1]", () => {
    const ranked = rankReliability(
      ["few", "many", "none"],
      [],
      [
        row({ replica: "few", column: "", settled: 2, lost: 0 }),
        row({ replica: "many", column: "", settled: 200, lost: 0 }),
      ],
    );
    expect(ranked.map((r) => r.name)).toEqual(["many", "few", "none"]);
    expect(ranked[2]!.reliability).toEqual({ score: 1, low: 0, high: 1, settled: 0, lost: 0 });
    expect(ranked.some((r) => r.flagged)).toBe(false);
  });
});

describe("findHotspots", () => {
  const ranges = [
    // Range 3: 30 divergences this week, 10 the week before, repaired: genuine, rising drift.
    row({ segment: 3, class: "stale", divergences: 30, repaired: 28 }),
    // Range 7: 12 in-flight, all gone by themselves: a transient spike.
    row({ segment: 7, class: "in-flight", divergences: 12 }),
    row({ segment: 7, class: "stale", divergences: 0, selfConverged: 2 }),
    // Range 1: 2 divergences, below the minimum.
    row({ segment: 1, class: "stale", divergences: 2, repaired: 2 }),
    // Tolerated differences are not drift.
    row({ segment: 5, class: "tolerated", divergences: 100 }),
  ];
  const before = [
    row({ segment: 3, class: "stale", divergences: 40, repaired: 38 }),
    row({ segment: 7, class: "in-flight", divergences: 12 }),
    row({ segment: 1, class: "stale", divergences: 2 }),
  ];

  it("finds ranges above the mean with rate and trend, and tells drift from transient spikes", () => {
    const found = findHotspots(snapshot({ recentBySegment: ranges, twoWindowsBySegment: before }));
    expect(
      found.map((h) => [h.kind, h.where, h.divergences, h.previous, h.trend, h.nature, h.segment]),
    ).toEqual([
      ["range", "3", 30, 10, "rising", "drift", 3],
      ["range", "7", 12, 0, "new", "transient", 7],
    ]);
    expect(found[0]!.rate).toBeCloseTo(30 / 7, 10);
    expect(found[0]!.lift).toBeCloseTo(30 / (44 / 10), 10);
  });

  it("finds columns, field values and hours of the day", () => {
    const H = 3_600_000;
    const found = findHotspots(
      snapshot({
        columns: ["name", "price", "qty", "sku"],
        recentByColumn: [
          row({ column: "price", class: "stale", divergences: 20, repaired: 20 }),
          row({ column: "name", class: "stale", divergences: 2 }),
        ],
        twoWindowsByColumn: [row({ column: "price", class: "stale", divergences: 40 })],
        recentByFacet: [
          row({ facet: "region=eu", class: "conflict", divergences: 9 }),
          row({ facet: "region=us", class: "conflict", divergences: 1 }),
          row({ facet: "region=ap", class: "conflict", divergences: 1 }),
        ],
        byBucket: [
          row({ bucket: NOW - DAY + 14 * H, spanHours: 1, class: "stale", divergences: 8 }),
          row({ bucket: NOW - 2 * DAY + 14 * H, spanHours: 1, class: "stale", divergences: 8 }),
          row({ bucket: NOW - 3 * DAY + 3 * H, spanHours: 1, class: "stale", divergences: 1 }),
          // A rolled-up day does not say which hour.
          row({ bucket: NOW - 3 * DAY, spanHours: 24, class: "stale", divergences: 50 }),
        ],
      }),
    );
    expect(found.map((h) => [h.kind, h.where, h.divergences, h.trend])).toEqual([
      ["column", "price", 20, "steady"],
      ["hour", "14:00", 16, "steady"],
      ["field", "region=eu", 9, "new"],
    ]);
  });

  it("finds nothing in an empty or uniform dataset", () => {
    expect(findHotspots(snapshot({}))).toEqual([]);
    const uniform = Array.from({ length: 10 }, (_, i) => row({ segment: i, class: "stale", divergences: 5 }));
    expect(findHotspots(snapshot({ recentBySegment: uniform, twoWindowsBySegment: uniform }))).toEqual([]);
  });
});

describe("findPatterns", () => {
  it("finds a replica that keeps losing a column or range, and people's repeated picks", () => {
    const found = findPatterns(
      snapshot({
        byReplica: [
          row({ replica: "b", column: "price", class: "stale", settled: 20, lost: 19 }),
          row({
            replica: "a",
            column: "price",
            class: "conflict",
            personSettled: 10,
            personLost: 1,
            settled: 10,
            lost: 1,
          }),
          row({
            replica: "b",
            column: "price",
            class: "conflict",
            personSettled: 10,
            personLost: 9,
            settled: 10,
            lost: 9,
          }),
          // Not a pattern: too few, or not one-sided.
          row({ replica: "c", column: "name", class: "stale", settled: 2, lost: 2 }),
          row({ replica: "c", column: "price", class: "stale", settled: 20, lost: 10 }),
        ],
        lostBySegment: [row({ replica: "b", segment: 4, class: "stale", settled: 6, lost: 6 })],
      }),
    );
    expect(found.map((p) => p.summary)).toEqual([
      "stale records on price: b held the losing value in 19 of 20",
      "conflicts on price: b held the losing value in 9 of 10",
      "conflicts on price: people picked replica a in 9 of 10",
      "stale records in range 4: b held the losing value in 6 of 6",
    ]);
  });
});

describe("recommend", () => {
  const audit: AuditExample[] = [
    {
      seq: 10,
      ts: NOW,
      type: "detected",
      dataset: "items",
      key: '["7"]',
      runId: "r1",
      data: { class: "stale", columns: ["price"], keyJson: [7] },
    },
    {
      seq: 11,
      ts: NOW,
      type: "decided",
      dataset: "items",
      key: '["7"]',
      runId: "r1",
      data: { source: "a", targets: ["b"] },
    },
    {
      seq: 12,
      ts: NOW,
      type: "detected",
      dataset: "other",
      key: '["8"]',
      runId: "r1",
      data: { class: "stale", columns: [] },
    },
    {
      seq: 20,
      ts: NOW,
      type: "detected",
      dataset: "items",
      key: '["9"]',
      runId: "r2",
      data: { class: "conflict", columns: ["price"], keyJson: [9] },
    },
    {
      seq: 21,
      ts: NOW,
      type: "resolved",
      dataset: "items",
      key: '["9"]',
      runId: "x",
      data: { pick: "a", ok: true, keyJson: [9] },
    },
  ];

  it("recommends no owner while the best interval overlaps another's", () => {
    // a: 49 of 50 is [0.895, 0.996]; c: 41 of 50 is [0.692, 0.902]: they overlap.
    const s = snapshot({ byReplica: reliabilityRows, audit });
    const ranked = rankReliability(s.replicas, s.columns, s.byReplica);
    expect(ranked[0]!.reliability.low).toBeLessThan(ranked[1]!.reliability.high);
    expect(recommend(s, ranked, [], [])).toEqual([]);
  });

  it("owner: only above every other interval, with enough evidence, and not when already the owner", () => {
    const rows = [
      row({ replica: "a", column: "", settled: 60, lost: 0 }),
      row({ replica: "b", column: "", settled: 60, lost: 45 }),
    ];
    const s = snapshot({ replicas: ["a", "b"], byReplica: rows, audit });
    const ranked = rankReliability(s.replicas, s.columns, rows);
    const [rec] = recommend(s, ranked, [], []);
    expect(rec).toMatchObject({
      kind: "owner",
      candidatePolicy: { resolve: "highest-version", owner: "a" },
      changes: [{ path: "datasets.items.policy.owner", from: null, to: "a" }],
      evidence: { counts: { settled: 60, lost: 0, "lost.b": 45 }, exampleKeys: [[7]], auditIds: [10, 11] },
    });
    expect(rec!.evidence.interval!.low).toBeGreaterThan(ranked[1]!.reliability.high);
    expect(rec!.summary).toMatch(/^make a the owner: it held the winning value in 60 of 60/);
    expect(recommend({ ...s, policy: { owner: "a" } }, ranked, [], [])).toEqual([]);
    const thin = rankReliability(s.replicas, s.columns, [
      row({ replica: "a", column: "", settled: 5, lost: 0 }),
      row({ replica: "b", column: "", settled: 5, lost: 5 }),
    ]);
    expect(recommend(s, thin, [], [])).toEqual([]);
    // Same evidence, same id.
    expect(recommend(s, ranked, [], [])[0]!.id).toBe(rec!.id);
  });

  it("merge rule from people's repeated picks; a scan for a genuine hotspot; none for a transient one", () => {
    const s = snapshot({ audit });
    const patterns = findPatterns(
      snapshot({
        byReplica: [
          row({ replica: "a", column: "price", class: "conflict", personSettled: 10, personLost: 1 }),
        ],
      }),
    );
    const hotspots = findHotspots(
      snapshot({
        recentBySegment: [
          row({ segment: 3, class: "stale", divergences: 30, repaired: 30 }),
          row({ segment: 7, class: "in-flight", divergences: 30 }),
        ],
      }),
    );
    const recs = recommend(s, rankReliability(s.replicas, s.columns, []), patterns, hotspots);
    expect(recs.map((r) => [r.kind, r.candidatePolicy, r.changes.map((c) => c.path)])).toEqual([
      [
        "merge-rule",
        { owner: "a", resolve: "merge", merge: { price: "owner" } },
        ["datasets.items.policy.owner", "datasets.items.policy.resolve", "datasets.items.policy.merge.price"],
      ],
      ["scan-hotspot", null, []],
    ]);
    expect(recs[0]!.evidence).toEqual({
      counts: { picked: 9, decisions: 10 },
      exampleKeys: [[9]],
      auditIds: [21],
    });
    expect(recs[0]!.summary).toBe(
      'conflicts on price: people picked replica a in 9 of 10: add the merge rule "price: owner" with a as owner',
    );
    expect(recs[1]!.summary).toMatch(/^scan range 3 more often: 30 divergences/);
  });

  it("tolerance where nearly every difference of a numeric column is noise, unless one covers it", () => {
    const rows = [
      row({
        replica: "",
        column: "price",
        class: "unversioned",
        divergences: 20,
        noise: 19,
        noiseMax: 0.0042,
      }),
      row({ replica: "", column: "price", class: "tolerated", divergences: 50 }),
      row({ replica: "", column: "name", class: "unversioned", divergences: 20, noise: 10, noiseMax: 1 }),
    ];
    const s = snapshot({ byReplica: rows, policy: { owner: "a", tolerance: { qty: 1 } } });
    const recs = recommend(s, rankReliability(s.replicas, s.columns, []), [], []);
    expect(recs.map((r) => [r.kind, r.candidatePolicy, r.changes])).toEqual([
      [
        "tolerance",
        { owner: "a", tolerance: { qty: 1, price: 0.0042 } },
        [{ path: "datasets.items.policy.tolerance.price", from: null, to: 0.0042 }],
      ],
    ]);
    expect(recs[0]!.summary).toBe(
      "tolerate differences up to 0.0042 in price: 19 of its 20 divergences differed only by noise (at most 0.0042)",
    );
    const covered = snapshot({ byReplica: rows, policy: { tolerance: { price: 0.01 } } });
    expect(recommend(covered, [], [], [])).toEqual([]);
  });

  it.each([
    [0.0042, 0.0042],
    [0.00421, 0.0043],
    [123, 130],
    [1, 1],
    [9.99, 10],
  ])("roundUp(%d) is %d", (x, up) => {
    expect(roundUp(x)).toBe(up);
  });

  it("owner of one column under a merge policy", () => {
    const rows = [
      row({ replica: "a", column: "price", settled: 40, lost: 0 }),
      row({ replica: "b", column: "price", settled: 40, lost: 30 }),
      row({ replica: "a", column: "", settled: 40, lost: 10 }),
      row({ replica: "b", column: "", settled: 40, lost: 30 }),
    ];
    const s = snapshot({
      replicas: ["a", "b"],
      byReplica: rows,
      policy: { resolve: "merge", merge: { name: "lww" } },
    });
    const recs = recommend(s, rankReliability(s.replicas, s.columns, rows), [], []);
    expect(recs.map((r) => [r.kind, r.candidatePolicy])).toEqual([
      ["owner", { resolve: "merge", merge: { name: "lww" }, owner: "a" }],
      ["owner", { resolve: "merge", merge: { name: "lww", price: "owner" }, owner: "a" }],
    ]);
  });
});

describe("datasetInsights", () => {
  it("is deterministic for the same snapshot", () => {
    const s = snapshot({
      byReplica: reliabilityRows,
      recentBySegment: [row({ segment: 3, class: "stale", divergences: 30, repaired: 30 })],
    });
    expect(datasetInsights(s)).toEqual(datasetInsights(s));
    expect(datasetInsights(s).replicas.map((r) => r.name)).toEqual(["a", "c", "b"]);
  });

  it("maps drift over ranges × columns for the heat map, declared columns first", () => {
    const s = snapshot({
      segments: 4,
      recentBySegmentColumn: [
        row({ segment: 1, column: "price", divergences: 5 }),
        row({ segment: 2, column: "extra", divergences: 1 }),
        row({ segment: -1, column: "price", divergences: 9 }),
        row({ segment: 3, column: "name", divergences: 0 }),
      ],
    });
    expect(datasetInsights(s).heatmap).toEqual({
      segments: 4,
      columns: ["name", "price", "extra"],
      windowMs: 7 * DAY,
      cells: [
        { segment: 1, column: "price", divergences: 5 },
        { segment: 2, column: "extra", divergences: 1 },
      ],
    });
  });
});
