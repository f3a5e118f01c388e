import { describe, expect, it } from "vitest";
import { reliability } from "../learning/evidence.js";
import type { CanonicalValue } from "./canonical.js";
import type { Divergence, DivergenceClass } from "./classify.js";
import { decideRepair } from "./decide.js";
import { fingerprintRow } from "./fingerprint.js";
import { inferOwner, type OwnerEvidence } from "./inferred-owner.js";
import type { RecordShape } from "./model.js";
import { compilePolicy, type PolicyDeclaration } from "./policy.js";
import { policyText } from "./policy-text.js";

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "price", type: "integer" },
  ],
};
const KEY = ["7"];
const REPLICAS = ["a", "b", "c"];

/** A divergence where each replica holds `values` (null: absent). */
function divergence(
  cls: DivergenceClass,
  states: Record<string, readonly CanonicalValue[] | null>,
  columns: string[] = [],
): Divergence {
  const replicas: Divergence["replicas"] = Object.fromEntries(
    Object.entries(states).map(([r, v]) => [
      r,
      v ? { present: true, values: v, fingerprint: fingerprintRow(KEY, v) } : { present: false },
    ]),
  );
  return { key: KEY, replicas, class: cls, columns, newest: [], regressed: [] };
}

const CONFLICT = divergence("unversioned", { a: ["x", "1"], b: ["y", "1"], c: ["x", "1"] }, ["name"]);
const MISSING = divergence("missing", { a: ["x", "1"], b: null, c: ["x", "1"] });

/** a lost 40 of 200, b 2 of 200, c nothing settled yet. */
const EVIDENCE: OwnerEvidence = {
  basis: "reliability",
  replicas: { a: reliability(200, 40), b: reliability(200, 2) },
};

function policy(owner: PolicyDeclaration["owner"], extra: Partial<PolicyDeclaration> = {}) {
  return compilePolicy({ owner, ...extra }, SHAPE, REPLICAS, {});
}
const INFERRED = { inferred: "reliability" as const, minConfidence: 0.9 };

describe("inferOwner", () => {
  const cases: {
    name: string;
    d: Divergence;
    evidence: OwnerEvidence | undefined;
    minConfidence?: number;
    fallback?: string;
    expected: { best: string; confident: boolean; owner: string | undefined; columns?: string[] };
  }[] = [
    {
      name: "the best lower bound wins and is confident",
      d: CONFLICT,
      evidence: EVIDENCE,
      expected: { best: "b", confident: true, owner: "b" },
    },
    {
      name: "no evidence at all: nobody is confident, no fallback",
      d: CONFLICT,
      evidence: undefined,
      expected: { best: "a", confident: false, owner: undefined },
    },
    {
      name: "no evidence, a fallback owns it",
      d: CONFLICT,
      evidence: { basis: "reliability", replicas: {} },
      fallback: "c",
      expected: { best: "a", confident: false, owner: "c" },
    },
    {
      name: "little evidence does not outrank much (3 of 3 vs 198 of 200)",
      d: CONFLICT,
      evidence: { basis: "reliability", replicas: { a: reliability(3, 0), b: reliability(200, 2) } },
      expected: { best: "b", confident: true, owner: "b" },
    },
    {
      name: "below minConfidence on the lower bound (0.99 > low of b)",
      d: CONFLICT,
      evidence: EVIDENCE,
      minConfidence: 0.99,
      fallback: "a",
      expected: { best: "b", confident: false, owner: "a" },
    },
    {
      name: "only replicas the divergence names compete",
      d: divergence("unversioned", { a: ["x", "1"], c: ["y", "1"] }, ["name"]),
      evidence: EVIDENCE,
      expected: { best: "a", confident: false, owner: undefined },
    },
    {
      name: "column evidence, when every differing column has it: the weakest column counts",
      d: divergence("unversioned", { a: ["x", "1"], b: ["y", "2"], c: ["x", "1"] }, ["name", "price"]),
      evidence: {
        ...EVIDENCE,
        columns: {
          a: { name: reliability(100, 0), price: reliability(100, 0) },
          b: { name: reliability(100, 0), price: reliability(100, 30) },
        },
      },
      expected: { best: "a", confident: true, owner: "a", columns: ["name", "price"] },
    },
    {
      name: "column evidence missing for one differing column: the whole record's counts",
      d: divergence("unversioned", { a: ["x", "1"], b: ["y", "2"], c: ["x", "1"] }, ["name", "price"]),
      evidence: { ...EVIDENCE, columns: { a: { name: reliability(100, 0) } } },
      expected: { best: "b", confident: true, owner: "b" },
    },
    {
      name: "evidence of another basis is not used",
      d: CONFLICT,
      evidence: { ...EVIDENCE, basis: "latency" },
      expected: { best: "a", confident: false, owner: undefined },
    },
  ];
  it.each(cases)("$name", ({ d, evidence, minConfidence, fallback, expected }) => {
    const choice = inferOwner(
      d,
      { kind: "inferred", basis: "reliability", minConfidence: minConfidence ?? 0.9, fallback },
      REPLICAS,
      evidence,
    );
    expect({
      best: choice.best,
      confident: choice.confident,
      owner: choice.owner,
      ...(choice.columns ? { columns: choice.columns } : {}),
    }).toEqual(expected);
  });

  it("carries the counts and the interval of the winner", () => {
    const choice = inferOwner(CONFLICT, { kind: "inferred", ...base() }, REPLICAS, EVIDENCE);
    const b = reliability(200, 2);
    expect(choice).toMatchObject({ score: b.score, low: b.low, high: b.high, settled: 200, lost: 2 });
  });
});

function base() {
  return { basis: "reliability" as const, minConfidence: 0.9 };
}

describe("decideRepair with an inferred owner", () => {
  it("propagates the confident owner's record, its evidence in the reason and the decision", () => {
    const d = decideRepair(CONFLICT, SHAPE, policy(INFERRED), { evidence: EVIDENCE });
    expect(d).toMatchObject({
      action: "propagate",
      source: "b",
      targets: ["a", "c"],
      rule: "resolve: owner",
    });
    expect(d.reason).toMatch(
      /owner b's record wins; owner inferred by reliability of b 0\.990 \(95% interval 0\.96\d–0\.99\d over 200 settled, 2 lost\)/,
    );
    expect(d.evidence).toMatchObject({ best: "b", owner: "b", settled: 200, lost: 2, confident: true });
    // Ambiguity is what the interval's lower bound leaves.
    expect(d.ambiguity).toBeCloseTo(1 - reliability(200, 2).low, 3);
  });

  it("escalates below minConfidence without a fallback, naming the evidence and the bound", () => {
    const d = decideRepair(CONFLICT, SHAPE, policy({ ...INFERRED, minConfidence: 0.995 }), {
      evidence: EVIDENCE,
    });
    expect(d).toMatchObject({ action: "escalate", rule: "resolve: owner", options: ["a", "b", "c"] });
    expect(d.reason).toContain("lower bound is below minConfidence 0.995");
    expect(d.evidence).toMatchObject({ best: "b", confident: false });
    expect(d.evidence?.owner).toBeUndefined();
  });

  it("uses the fallback below minConfidence, and says so", () => {
    const d = decideRepair(MISSING, SHAPE, policy({ ...INFERRED, minConfidence: 0.995, fallback: "b" }), {
      evidence: EVIDENCE,
    });
    expect(d).toMatchObject({ action: "delete", source: "b", targets: ["a", "c"] });
    expect(d.reason).toContain("fallback owner, since reliability of b");
  });

  it("escalates when the run read no evidence", () => {
    expect(decideRepair(CONFLICT, SHAPE, policy(INFERRED)).action).toBe("escalate");
  });

  it("under a versioned strategy, orders stale copies by version and leaves the owner to ties", () => {
    const shape = SHAPE;
    const p = compilePolicy({ owner: INFERRED, resolve: "highest-version" }, shape, REPLICAS, { counter: 1 });
    const stale: Divergence = { ...divergence("stale", { a: ["x", "2"], b: ["y", "1"] }, ["name", "price"]) };
    const d = decideRepair({ ...stale, newest: ["a"] }, shape, p, { evidence: EVIDENCE });
    expect(d).toMatchObject({ action: "propagate", source: "a", rule: "resolve: highest-version" });
    expect(d.evidence).toBeUndefined();
    const tie = decideRepair(CONFLICT, shape, p, { evidence: EVIDENCE });
    expect(tie).toMatchObject({ source: "b", rule: "unversioned: owner" });
  });

  it("is deterministic for the same evidence and policy version", () => {
    const p = policy(INFERRED);
    const first = decideRepair(CONFLICT, SHAPE, p, { evidence: EVIDENCE });
    expect(decideRepair(CONFLICT, SHAPE, policy(INFERRED), { evidence: { ...EVIDENCE } })).toEqual(first);
  });

  it("puts the inferred declaration in the policy version and text", () => {
    const a = policy(INFERRED);
    expect(policy({ ...INFERRED, minConfidence: 0.8 }).version).not.toBe(a.version);
    expect(policy({ ...INFERRED, fallback: "a" }).version).not.toBe(a.version);
    expect(policy("b").version).not.toBe(a.version);
    const text = policyText({ owner: { ...INFERRED, fallback: "a" } }, SHAPE, REPLICAS, {});
    expect(text).toContain("  owner:\n    fallback: a\n    inferred: reliability\n    minConfidence: 0.9\n");
  });
});

describe("inferOwner by recent-activity", () => {
  // Over the dataset b held 30 of 40 changes first; in key range 2 a held all 25.
  const ACTIVITY: OwnerEvidence = {
    basis: "recent-activity",
    replicas: { a: reliability(40, 30), b: reliability(40, 10), c: reliability(40, 40) },
    segments: {
      2: { a: reliability(25, 0), b: reliability(25, 25), c: reliability(25, 25) },
      5: { a: reliability(0, 0) },
    },
    windowMs: 24 * 3_600_000,
  };
  const ownership = (minConfidence: number, fallback?: string) =>
    ({ kind: "inferred", basis: "recent-activity", minConfidence, fallback }) as const;

  it.each<
    [
      string,
      number | undefined,
      number,
      string | undefined,
      { best: string; owner?: string; segment?: number },
    ]
  >([
    [
      "the key range's evidence decides when it has some",
      2,
      0.8,
      undefined,
      { best: "a", owner: "a", segment: 2 },
    ],
    ["a range without evidence: the dataset's (b is not confident at 0.9)", 5, 0.9, undefined, { best: "b" }],
    [
      "no range known: the dataset's, below minConfidence the fallback",
      undefined,
      0.9,
      "c",
      { best: "b", owner: "c" },
    ],
    ["the dataset's, confident at a lower bound it reaches", -1, 0.5, undefined, { best: "b", owner: "b" }],
  ])("%s", (_name, segment, minConfidence, fallback, expected) => {
    const choice = inferOwner(CONFLICT, ownership(minConfidence, fallback), REPLICAS, ACTIVITY, segment);
    expect({
      best: choice.best,
      ...(choice.owner ? { owner: choice.owner } : {}),
      ...(choice.segment !== undefined ? { segment: choice.segment } : {}),
    }).toEqual(expected);
  });

  it("decides a conflict by the range's writer, with the evidence in the reason and the decision", () => {
    const p = policy({ inferred: "recent-activity", minConfidence: 0.8 });
    const d = decideRepair(CONFLICT, SHAPE, p, { evidence: ACTIVITY, segmentOf: () => 2 });
    expect(d).toMatchObject({ action: "propagate", source: "a", targets: ["b"] });
    expect(d.reason).toMatch(
      /owner inferred by recent-activity of a 1\.000 \(95% interval 0\.86\d–1\.000: first to hold 25 of 25 changes seen in the last 24 h, in key range 2\)/,
    );
    expect(d.evidence).toMatchObject({
      basis: "recent-activity",
      best: "a",
      owner: "a",
      settled: 25,
      lost: 0,
      segment: 2,
      windowMs: 24 * 3_600_000,
      confident: true,
    });
  });

  it("escalates when no replica took enough of the writes and no fallback is declared", () => {
    const d = decideRepair(CONFLICT, SHAPE, policy({ inferred: "recent-activity", minConfidence: 0.9 }), {
      evidence: ACTIVITY,
      segmentOf: () => 7,
    });
    expect(d.action).toBe("escalate");
    expect(d.reason).toContain("recent-activity of b 0.750");
    expect(d.reason).toContain("first to hold 30 of 40 changes seen in the last 24 h)");
  });

  it("is deterministic for the same evidence, key range and policy version", () => {
    const p = policy({ inferred: "recent-activity", minConfidence: 0.8 });
    const ctx = { evidence: ACTIVITY, segmentOf: () => 2 };
    expect(decideRepair(CONFLICT, SHAPE, p, ctx)).toEqual(decideRepair(CONFLICT, SHAPE, p, { ...ctx }));
  });
});

describe("inferOwner by latency", () => {
  // a was behind in 2 of 300 comparisons, b in 90 of 300, c never compared.
  const LATENCY: OwnerEvidence = {
    basis: "latency",
    replicas: { a: { ...reliability(300, 2), meanLagMs: 4 }, b: { ...reliability(300, 90), meanLagMs: 850 } },
    windowMs: 24 * 3_600_000,
  };

  it("makes the replica least behind the owner, its mean probe lag in the reason", () => {
    const d = decideRepair(MISSING, SHAPE, policy({ inferred: "latency", minConfidence: 0.95 }), {
      evidence: LATENCY,
    });
    expect(d).toMatchObject({ action: "propagate", source: "a", targets: ["b"] });
    expect(d.reason).toMatch(
      /owner inferred by latency of a 0\.993 \(95% interval 0\.97\d–0\.99\d: behind in 2 of 300 observations in the last 24 h; mean probe lag 4 ms\)/,
    );
    expect(d.evidence).toMatchObject({ basis: "latency", best: "a", settled: 300, lost: 2, meanLagMs: 4 });
  });

  it("below minConfidence: the fallback, or an escalation", () => {
    const strict = { inferred: "latency" as const, minConfidence: 0.995 };
    expect(decideRepair(CONFLICT, SHAPE, policy(strict), { evidence: LATENCY }).action).toBe("escalate");
    const d = decideRepair(CONFLICT, SHAPE, policy({ ...strict, fallback: "b" }), { evidence: LATENCY });
    expect(d).toMatchObject({ action: "propagate", source: "b" });
    expect(d.reason).toContain("fallback owner, since latency of a");
  });

  it("does not decide by evidence of another basis", () => {
    const choice = inferOwner(
      CONFLICT,
      { kind: "inferred", basis: "latency", minConfidence: 0.5 },
      REPLICAS,
      { ...LATENCY, basis: "recent-activity" },
    );
    expect(choice.confident).toBe(false);
  });
});
