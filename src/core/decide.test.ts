import { describe, expect, it } from "vitest";
import type { CanonicalValue } from "./canonical.js";
import {
  type ClassifyRules,
  classifyDivergence,
  type Divergence,
  type DivergenceClass,
  type ReplicaObservation,
} from "./classify.js";
import { type Decision, type DecisionAction, decidePick, decideRepair, WRITE_ACTIONS } from "./decide.js";
import { fingerprintRow } from "./fingerprint.js";
import type { RecordShape } from "./model.js";
import {
  type CompiledPolicy,
  compilePolicy,
  type PolicyDeclaration,
  type ResolveStrategy,
  versionOrdering,
} from "./policy.js";
import { readVersion } from "./version.js";

/** id | name, tags, site, ver (counter), ts (timestamp), vv (vector). */
const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "tags", type: "json" },
    { name: "site", type: "text" },
    { name: "ver", type: "integer" },
    { name: "ts", type: "timestamp" },
    { name: "vv", type: "json" },
  ],
};
const ALL_VERSIONS = { counter: 3, timestamp: 4, vector: 5 };
const KEY = ["42"];
const T1 = "2024-01-01T00:00:01.000000Z";
const T2 = "2024-01-01T00:00:02.000000Z";

type Values = readonly CanonicalValue[];
interface Rec {
  name?: CanonicalValue;
  tags?: CanonicalValue;
  site?: CanonicalValue;
  ver?: CanonicalValue;
  ts?: CanonicalValue;
  vv?: CanonicalValue;
}
function rec(r: Rec = {}): Values {
  const pick = (v: CanonicalValue | undefined, d: CanonicalValue) => (v === undefined ? d : v);
  return [
    pick(r.name, "alice"),
    pick(r.tags, '["t1"]'),
    pick(r.site, "eu"),
    pick(r.ver, "1"),
    pick(r.ts, T1),
    pick(r.vv, '{"a":1,"b":1}'),
  ];
}
const NEW = rec({ name: "new", ver: "2", ts: T2, vv: '{"a":2,"b":1}' });
const OLD = rec({ name: "old" });
/** Concurrent writes at the same counter and timestamp: x on a, y on b. */
const X = rec({ name: "x", ver: "2", ts: T2, vv: '{"a":2,"b":1}' });
const Y = rec({ name: "y", ver: "2", ts: T2, vv: '{"a":1,"b":2}' });

const fp = (values: Values | null) => (values ? fingerprintRow(KEY, values) : null);
function held(values: Values): ReplicaObservation {
  return { present: true, values, fingerprint: fp(values)!, version: readVersion(ALL_VERSIONS, values) };
}
const ABSENT: ReplicaObservation = { present: false };

type N = 2 | 3;
const NAMES = ["a", "b", "c"] as const;
type Name = (typeof NAMES)[number];
const names = (n: N) => NAMES.slice(0, n);

/** State per replica a, b, c (null: absent); for two replicas c is dropped. */
function divergence(
  cls: DivergenceClass,
  n: N,
  states: readonly [Values | null, Values | null, Values | null],
  extra: { columns?: string[]; newest?: Name[]; regressed?: Name[] } = {},
): Divergence {
  const replicas: Record<string, ReplicaObservation> = {};
  for (const [i, r] of names(n).entries()) replicas[r] = states[i] ? held(states[i]!) : ABSENT;
  return {
    key: KEY,
    replicas,
    class: cls,
    columns: extra.columns ?? [],
    newest: (extra.newest ?? []).filter((r) => r in replicas),
    regressed: extra.regressed ?? [],
  };
}

// ---------------------------------------------------------------------------------------------------------
// Policies: resolve × owner. The owner is b (not the first replica, so it never coincides with a
// first-replica tie-break); site-based ownership maps every record's site "eu" to b.

type Resolve = ResolveStrategy | undefined;
type OwnerKind = "none" | "static" | "field";
const RESOLVES: readonly Resolve[] = [
  "owner",
  "lww",
  "highest-version",
  "version-vector",
  "merge",
  undefined,
];
const OWNERS: readonly OwnerKind[] = ["none", "static", "field"];

/** The version columns a dataset using each strategy would declare (none for undefined: unversioned). */
function versionsFor(resolve: Resolve): CompiledPolicy["versionColumns"] {
  switch (resolve) {
    case "lww":
      return { timestamp: 4 };
    case "highest-version":
    case "owner":
    case "replay":
      return { counter: 3 };
    case "version-vector":
      return { vector: 5 };
    case "merge":
      return ALL_VERSIONS;
    case undefined:
      return {};
  }
}

function ownerDecl(owner: OwnerKind, n: N): PolicyDeclaration["owner"] {
  if (owner === "none") return undefined;
  if (owner === "static") return "b";
  return { field: "site", map: n === 3 ? { eu: "b", us: "c", apac: "a" } : { eu: "b", us: "a" } };
}

function policyFor(resolve: Resolve, owner: OwnerKind, n: N, extra: Partial<PolicyDeclaration> = {}) {
  return compilePolicy(
    {
      owner: ownerDecl(owner, n),
      resolve,
      ...(resolve === "merge" ? { merge: { name: "max", tags: "union" } } : {}),
      ...extra,
    },
    SHAPE,
    names(n),
    versionsFor(resolve),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Scenarios: one divergence per class, and who wins under each kind of rule.

type Kind = "owner" | "newest" | "merged" | "escalate" | "wait" | "ignore";
/** `$` in a rule stands for the resolve strategy. */
interface Outcome {
  readonly kind: Kind;
  readonly rule: string;
}

interface Scenario {
  readonly name: string;
  readonly cls: DivergenceClass;
  readonly build: (n: N) => Divergence;
  /** Under lww / highest-version / version-vector / merge with an owner declared (static or by field). */
  readonly withOwner: Outcome;
  /** Under lww / highest-version / version-vector without an owner (no merge rules declared). */
  readonly versionedNoOwner: Outcome;
  /** Under merge (rules name: max, tags: union) without an owner. */
  readonly mergeNoOwner: Outcome;
  /** No resolve and no owner on an unversioned dataset. */
  readonly noStrategy: Outcome;
  /** The newest replica, and the merged record, where those outcomes occur. */
  readonly newest?: Name;
  readonly merged?: (n: N) => Values;
  /** Expected write targets per winner and replica count. */
  readonly targets: Partial<Record<"owner" | "newest" | "merged", Record<N, Name[]>>>;
}

const ESC = (rule: string): Outcome => ({ kind: "escalate", rule });

const SCENARIOS: readonly Scenario[] = [
  {
    name: "missing, the owner lacks the record",
    cls: "missing",
    build: (n) => divergence("missing", n, [OLD, null, OLD], { newest: ["a", "c"] }),
    withOwner: { kind: "owner", rule: "missing: owner" },
    versionedNoOwner: ESC("missing: no owner"),
    mergeNoOwner: ESC("missing: no owner"),
    noStrategy: ESC("missing: no owner"),
    targets: { owner: { 2: ["a"], 3: ["a", "c"] } },
  },
  {
    name: "missing, the owner holds the record",
    cls: "missing",
    build: (n) => divergence("missing", n, [null, OLD, null], { newest: ["b"] }),
    withOwner: { kind: "owner", rule: "missing: owner" },
    versionedNoOwner: ESC("missing: no owner"),
    mergeNoOwner: ESC("missing: no owner"),
    noStrategy: ESC("missing: no owner"),
    targets: { owner: { 2: ["a"], 3: ["a", "c"] } },
  },
  {
    name: "stale, the owner is behind",
    cls: "stale",
    build: (n) =>
      divergence("stale", n, [NEW, OLD, OLD], { newest: ["a"], columns: ["name", "ver", "ts", "vv"] }),
    withOwner: { kind: "newest", rule: "resolve: $" },
    versionedNoOwner: { kind: "newest", rule: "resolve: $" },
    mergeNoOwner: { kind: "newest", rule: "resolve: merge" },
    noStrategy: ESC("no strategy"),
    newest: "a",
    targets: { owner: { 2: ["a"], 3: ["a"] }, newest: { 2: ["b"], 3: ["b", "c"] } },
  },
  {
    name: "stale, the owner is newest",
    cls: "stale",
    build: (n) =>
      divergence("stale", n, [OLD, NEW, OLD], { newest: ["b"], columns: ["name", "ver", "ts", "vv"] }),
    withOwner: { kind: "newest", rule: "resolve: $" },
    versionedNoOwner: { kind: "newest", rule: "resolve: $" },
    mergeNoOwner: { kind: "newest", rule: "resolve: merge" },
    noStrategy: ESC("no strategy"),
    newest: "b",
    targets: { owner: { 2: ["a"], 3: ["a", "c"] }, newest: { 2: ["a"], 3: ["a", "c"] } },
  },
  {
    name: "regression of the owner",
    cls: "regression",
    build: (n) =>
      divergence("regression", n, [NEW, OLD, OLD], {
        newest: ["a"],
        regressed: ["b"],
        columns: ["name", "ver", "ts", "vv"],
      }),
    withOwner: { kind: "newest", rule: "resolve: $" },
    versionedNoOwner: { kind: "newest", rule: "resolve: $" },
    mergeNoOwner: { kind: "newest", rule: "resolve: merge" },
    noStrategy: ESC("no strategy"),
    newest: "a",
    targets: { owner: { 2: ["a"], 3: ["a"] }, newest: { 2: ["b"], 3: ["b", "c"] } },
  },
  {
    name: "regression with two newest replicas that disagree",
    cls: "regression",
    // b went back from a version seen before to one equal to a's but with other values; c is behind.
    build: (n) =>
      divergence("regression", n, [X, Y, OLD], {
        newest: ["a", "b"],
        regressed: ["b"],
        columns: ["name", "ver", "ts", "vv"],
      }),
    withOwner: { kind: "owner", rule: "regression: owner" },
    versionedNoOwner: ESC("regression: escalate"),
    mergeNoOwner: { kind: "merged", rule: "policy.merge" },
    noStrategy: ESC("no strategy"),
    merged: () => rec({ name: "y", ver: "2", ts: T2, vv: '{"a":2,"b":2}' }),
    targets: { owner: { 2: ["a"], 3: ["a", "c"] }, merged: { 2: ["a", "b"], 3: ["a", "b", "c"] } },
  },
  {
    name: "conflict (concurrent versions)",
    cls: "conflict",
    build: (n) => divergence("conflict", n, [X, Y, X], { newest: ["a", "b", "c"], columns: ["name", "vv"] }),
    withOwner: { kind: "owner", rule: "conflict: owner" },
    versionedNoOwner: ESC("conflict: escalate"),
    mergeNoOwner: { kind: "merged", rule: "policy.merge" },
    noStrategy: ESC("conflict: escalate"),
    merged: () => rec({ name: "y", ver: "2", ts: T2, vv: '{"a":2,"b":2}' }),
    targets: { owner: { 2: ["a"], 3: ["a", "c"] }, merged: { 2: ["a", "b"], 3: ["a", "b", "c"] } },
  },
  {
    name: "lww-tie (equal timestamps, different values)",
    cls: "lww-tie",
    build: (n) =>
      divergence(
        "lww-tie",
        n,
        [rec({ name: "x", ts: T2 }), rec({ name: "y", ts: T2 }), rec({ name: "x", ts: T2 })],
        {
          newest: ["a", "b", "c"],
          columns: ["name"],
        },
      ),
    withOwner: { kind: "owner", rule: "lww-tie: owner" },
    versionedNoOwner: ESC("lww-tie: escalate"),
    mergeNoOwner: { kind: "merged", rule: "policy.merge" },
    noStrategy: ESC("lww-tie: escalate"),
    merged: () => rec({ name: "y", ts: T2 }),
    targets: { owner: { 2: ["a"], 3: ["a", "c"] }, merged: { 2: ["a"], 3: ["a", "c"] } },
  },
  {
    name: "unversioned (nothing orders the values)",
    cls: "unversioned",
    build: (n) =>
      divergence(
        "unversioned",
        n,
        [
          rec({ name: "x", tags: '["t1"]' }),
          rec({ name: "y", tags: '["t2"]' }),
          rec({ name: "x", tags: '["t3"]' }),
        ],
        { columns: ["name", "tags"] },
      ),
    withOwner: { kind: "owner", rule: "unversioned: owner" },
    versionedNoOwner: ESC("unversioned: escalate"),
    mergeNoOwner: { kind: "merged", rule: "policy.merge" },
    noStrategy: ESC("unversioned: escalate"),
    merged: (n) => rec({ name: "y", tags: n === 3 ? '["t1","t2","t3"]' : '["t1","t2"]' }),
    targets: { owner: { 2: ["a"], 3: ["a", "c"] }, merged: { 2: ["a", "b"], 3: ["a", "b", "c"] } },
  },
  {
    name: "in-flight",
    cls: "in-flight",
    build: (n) => divergence("in-flight", n, [NEW, OLD, null], { newest: ["a", "b"] }),
    withOwner: { kind: "wait", rule: "policy.window" },
    versionedNoOwner: { kind: "wait", rule: "policy.window" },
    mergeNoOwner: { kind: "wait", rule: "policy.window" },
    noStrategy: { kind: "wait", rule: "policy.window" },
    targets: {},
  },
  {
    name: "tolerated",
    cls: "tolerated",
    build: (n) => divergence("tolerated", n, [rec({ name: "x" }), OLD, OLD], { columns: ["name"] }),
    withOwner: { kind: "ignore", rule: "policy.tolerance" },
    versionedNoOwner: { kind: "ignore", rule: "policy.tolerance" },
    mergeNoOwner: { kind: "ignore", rule: "policy.tolerance" },
    noStrategy: { kind: "ignore", rule: "policy.tolerance" },
    targets: {},
  },
  {
    name: "schema",
    cls: "schema",
    build: (n) => divergence("schema", n, [OLD, NEW, OLD]),
    withOwner: ESC("schema"),
    versionedNoOwner: ESC("schema"),
    mergeNoOwner: ESC("schema"),
    noStrategy: ESC("schema"),
    targets: {},
  },
  {
    name: "read-after-write",
    cls: "read-after-write",
    build: (n) => divergence("read-after-write", n, [OLD, NEW, OLD]),
    withOwner: { kind: "ignore", rule: "probe" },
    versionedNoOwner: { kind: "ignore", rule: "probe" },
    mergeNoOwner: { kind: "ignore", rule: "probe" },
    noStrategy: { kind: "ignore", rule: "probe" },
    targets: {},
  },
];

/** Which of the scenario's outcomes applies: resolve owner (explicit, or the default with an owner) first. */
function outcomeFor(s: Scenario, resolve: Resolve, owner: OwnerKind): Outcome {
  const passive = s.cls === "in-flight" || s.cls === "tolerated" || s.cls === "read-after-write";
  const ownerResolves = resolve === "owner" || (resolve === undefined && owner !== "none");
  if (ownerResolves && !passive && s.cls !== "schema") {
    return owner === "none" ? ESC("resolve: owner") : { kind: "owner", rule: "resolve: owner" };
  }
  if (resolve === undefined) return s.noStrategy;
  if (owner !== "none") return s.withOwner;
  return resolve === "merge" ? s.mergeNoOwner : s.versionedNoOwner;
}

const ACTION: Record<Exclude<Kind, "owner" | "newest" | "merged">, DecisionAction> = {
  escalate: "escalate",
  wait: "wait",
  ignore: "ignore",
};

interface Row {
  scenario: Scenario;
  n: N;
  resolve: Resolve;
  owner: OwnerKind;
  label: string;
}
const ROWS: Row[] = SCENARIOS.flatMap((scenario) =>
  ([2, 3] as const).flatMap((n) =>
    RESOLVES.flatMap((resolve) =>
      OWNERS.map((owner) => ({
        scenario,
        n,
        resolve,
        owner,
        label: `${scenario.name} | ${n} replicas | resolve ${resolve ?? "(none)"} | owner ${owner}`,
      })),
    ),
  ),
);

/** Checks the parts every decision shares: policy version, ambiguity range, one-sentence reason, options. */
function expectWellFormed(decision: Decision, d: Divergence, policy: CompiledPolicy): void {
  expect(decision.key).toEqual(d.key);
  expect(decision.class).toBe(d.class);
  expect(decision.policyVersion).toBe(policy.version);
  expect(decision.policyVersion).toMatch(/^[0-9a-f]{12}$/);
  expect(decision.ambiguity).toBeGreaterThanOrEqual(0);
  expect(decision.ambiguity).toBeLessThanOrEqual(1);
  expect(decision.reason.length).toBeGreaterThan(0);
  expect(decision.reason).not.toMatch(/\n|\.\s+[A-Z]/);
  expect(decision.options).toEqual(decision.action === "escalate" ? Object.keys(d.replicas) : []);
  if (WRITE_ACTIONS.has(decision.action)) {
    expect(decision.recordFingerprint).toBe(fp(decision.record ?? null));
    expect(decision.expected).toEqual(
      Object.fromEntries(
        decision.targets.map((t) => [t, d.replicas[t]!.present ? d.replicas[t]!.fingerprint! : null]),
      ),
    );
  } else {
    expect(decision.targets).toEqual([]);
    expect(decision.record).toBeUndefined();
    expect(decision.expected).toEqual({});
  }
}

describe("decideRepair: class × resolve × owner × replica count", () => {
  it.each(ROWS.map((r) => [r.label, r] as const))("%s", (_label, { scenario, n, resolve, owner }) => {
    const d = scenario.build(n);
    const policy = policyFor(resolve, owner, n);
    const decision = decideRepair(d, SHAPE, policy);
    const outcome = outcomeFor(scenario, resolve, owner);
    expectWellFormed(decision, d, policy);
    expect(decision.rule).toBe(outcome.rule.replace("$", resolve ?? ""));

    switch (outcome.kind) {
      case "owner": {
        const ownerState = d.replicas.b!.present ? d.replicas.b!.values! : null;
        expect(decision.action).toBe(ownerState ? "propagate" : "delete");
        expect(decision.source).toBe("b");
        expect(decision.record).toEqual(ownerState);
        expect(decision.targets).toEqual(scenario.targets.owner![n]);
        break;
      }
      case "newest": {
        expect(decision.action).toBe("propagate");
        expect(decision.source).toBe(scenario.newest);
        expect(decision.record).toEqual(d.replicas[scenario.newest!]!.values);
        expect(decision.targets).toEqual(scenario.targets.newest![n]);
        break;
      }
      case "merged": {
        expect(decision.action).toBe("merge");
        expect(decision.source).toBeUndefined();
        expect(decision.record).toEqual(scenario.merged!(n));
        expect(decision.targets).toEqual(scenario.targets.merged![n]);
        break;
      }
      default:
        expect(decision.action).toBe(ACTION[outcome.kind]);
        expect(decision.source).toBeUndefined();
    }
  });

  it("covers every class of the taxonomy", () => {
    expect(new Set(SCENARIOS.map((s) => s.cls))).toEqual(
      new Set([
        "missing",
        "stale",
        "conflict",
        "lww-tie",
        "regression",
        "unversioned",
        "in-flight",
        "tolerated",
        "schema",
        "read-after-write",
      ]),
    );
  });
});

describe("decideRepair: merge rules under versioned strategies", () => {
  // A tie goes to the owner first, then to merge rules that cover every differing column, else it escalates.
  const ties = SCENARIOS.filter((s) => ["conflict", "lww-tie", "unversioned"].includes(s.cls));
  const rows = ties.flatMap((scenario) =>
    (["lww", "highest-version", "version-vector"] as const).flatMap((resolve) =>
      (
        [
          ["covering", { name: "max", tags: "union" }, "merged"],
          ["partial (tags only)", { tags: "union" }, "escalate"],
        ] as const
      ).map(([what, merge, kind]) => ({ scenario, resolve, what, merge, kind })),
    ),
  );
  it.each(rows)(
    "$scenario.name | resolve $resolve | merge rules $what",
    ({ scenario, resolve, merge, kind }) => {
      const d = scenario.build(3);
      // Version vectors of the conflict differ too: a dataset with only a counter has no rule for vv.
      const policy = compilePolicy({ resolve, merge }, SHAPE, names(3), ALL_VERSIONS);
      const decision = decideRepair(d, SHAPE, policy);
      expectWellFormed(decision, d, policy);
      if (kind === "merged") {
        expect(decision).toMatchObject({
          action: "merge",
          rule: "policy.merge",
          targets: scenario.targets.merged![3],
        });
        expect(decision.record).toEqual(scenario.merged!(3));
      } else {
        expect(decision).toMatchObject({ action: "escalate", rule: `${scenario.cls}: escalate` });
        expect(decision.reason).toContain("no merge rule covers");
      }
    },
  );

  it("an owner beats a covering merge rule", () => {
    const d = SCENARIOS.find((s) => s.cls === "conflict")!.build(2);
    const policy = compilePolicy(
      { owner: "b", resolve: "merge", merge: { name: "max" } },
      SHAPE,
      names(2),
      ALL_VERSIONS,
    );
    expect(decideRepair(d, SHAPE, policy)).toMatchObject({
      action: "propagate",
      source: "b",
      rule: "conflict: owner",
    });
  });

  it("an lww merge rule that ties is more ambiguous than one that does not", () => {
    const d = divergence("unversioned", 2, [rec({ name: "x" }), rec({ name: "y" }), null], {
      columns: ["name"],
    });
    const policy = compilePolicy({ resolve: "merge", merge: { name: "lww" } }, SHAPE, names(2), ALL_VERSIONS);
    const decision = decideRepair(d, SHAPE, policy);
    expect(decision).toMatchObject({
      action: "merge",
      record: rec({ name: "x" }),
      targets: ["b"],
      ambiguity: 0.7,
    });
    expect(decision.reason).toContain("tied");
  });
});

describe("decideRepair: site-based ownership", () => {
  const conflict = (n: N, sites: readonly CanonicalValue[]) =>
    divergence(
      "conflict",
      n,
      [
        rec({ name: "x", site: sites[0] }),
        rec({ name: "y", site: sites[1] }),
        rec({ name: "x", site: sites[2] }),
      ],
      { columns: ["name"] },
    );
  const cases: {
    name: string;
    n: N;
    sites: readonly CanonicalValue[];
    resolve: ResolveStrategy;
    expected: Partial<Decision>;
    reason?: string;
  }[] = [
    {
      name: "eu maps to b",
      n: 3,
      sites: ["eu", "eu", "eu"],
      resolve: "owner",
      expected: { action: "propagate", source: "b", targets: ["a", "c"] },
    },
    {
      name: "us maps to c",
      n: 3,
      sites: ["us", "us", "us"],
      resolve: "owner",
      expected: { action: "propagate", source: "c", targets: ["b"] },
    },
    {
      name: "apac maps to a",
      n: 3,
      sites: ["apac", "apac", "apac"],
      resolve: "owner",
      expected: { action: "propagate", source: "a", targets: ["b"] },
    },
    {
      name: "replicas disagree on the field",
      n: 3,
      sites: ["eu", "us", "eu"],
      resolve: "owner",
      expected: { action: "escalate", rule: "resolve: owner" },
      reason: "the replicas disagree on site",
    },
    {
      name: "an unmapped value",
      n: 2,
      sites: ["mars", "mars"],
      resolve: "owner",
      expected: { action: "escalate", rule: "resolve: owner" },
      reason: 'site = "mars" maps to no owner',
    },
    {
      name: "a null field",
      n: 2,
      sites: [null, null],
      resolve: "owner",
      expected: { action: "escalate", rule: "resolve: owner" },
      reason: "site = null maps to no owner",
    },
    {
      name: "an undecidable owner under highest-version escalates the conflict",
      n: 2,
      sites: ["eu", "us"],
      resolve: "highest-version",
      expected: { action: "escalate", rule: "conflict: escalate" },
    },
    {
      name: "an undecidable owner under merge falls to the merge rules",
      n: 2,
      sites: ["mars", "mars"],
      resolve: "merge",
      expected: {
        action: "merge",
        rule: "policy.merge",
        record: rec({ name: "y", site: "mars" }),
        targets: ["a"],
      },
    },
  ];
  it.each(cases)("$name", ({ n, sites, resolve, expected, reason }) => {
    const d = conflict(n, sites);
    const policy = policyFor(resolve, "field", n);
    const decision = decideRepair(d, SHAPE, policy);
    expectWellFormed(decision, d, policy);
    expect(decision).toMatchObject(expected);
    if (reason) expect(decision.reason).toContain(reason);
  });

  it("reads the field from the replicas that hold the record (missing)", () => {
    // Only a holds it, its site maps to b, which lacks it: deleted on a.
    const d = divergence("missing", 3, [rec({ site: "eu" }), null, null], { newest: ["a"] });
    expect(decideRepair(d, SHAPE, policyFor("owner", "field", 3))).toMatchObject({
      action: "delete",
      source: "b",
      targets: ["a"],
      record: null,
    });
    // Its site maps to a itself: propagated to b and c.
    const own = divergence("missing", 3, [rec({ site: "apac" }), null, null], { newest: ["a"] });
    expect(decideRepair(own, SHAPE, policyFor("owner", "field", 3))).toMatchObject({
      action: "propagate",
      source: "a",
      targets: ["b", "c"],
    });
  });
});

describe("decideRepair: escalate.ambiguity", () => {
  const stale = SCENARIOS.find((s) => s.name === "stale, the owner is behind")!;
  const regression = SCENARIOS.find((s) => s.name === "regression of the owner")!;
  const missing = SCENARIOS.find((s) => s.name === "missing, the owner lacks the record")!;
  const conflict = SCENARIOS.find((s) => s.cls === "conflict")!;
  const unversioned = SCENARIOS.find((s) => s.cls === "unversioned")!;
  const inFlight = SCENARIOS.find((s) => s.cls === "in-flight")!;
  const tolerated = SCENARIOS.find((s) => s.cls === "tolerated")!;
  const cases: [string, Scenario, Resolve, OwnerKind, number, DecisionAction, number][] = [
    ["stale by counter at its ambiguity", stale, "highest-version", "none", 0.1, "propagate", 0.1],
    ["stale by counter above the threshold", stale, "highest-version", "none", 0.05, "escalate", 0.1],
    ["stale by timestamp only", stale, "lww", "none", 0.25, "escalate", 0.3],
    ["stale by timestamp only at its ambiguity", stale, "lww", "none", 0.3, "propagate", 0.3],
    ["regression", regression, "highest-version", "none", 0.35, "escalate", 0.4],
    ["regression under resolve owner", regression, "owner", "static", 0.35, "propagate", 0.2],
    ["missing decided by the owner", missing, "highest-version", "static", 0.15, "escalate", 0.2],
    [
      "missing decided by the owner at its ambiguity",
      missing,
      "highest-version",
      "static",
      0.2,
      "delete",
      0.2,
    ],
    ["conflict decided by the owner", conflict, "highest-version", "static", 0.3, "propagate", 0.3],
    [
      "conflict decided by the owner, threshold 0.29",
      conflict,
      "highest-version",
      "field",
      0.29,
      "escalate",
      0.3,
    ],
    ["merge", unversioned, "merge", "none", 0.49, "escalate", 0.5],
    ["merge at its ambiguity", unversioned, "merge", "none", 0.5, "merge", 0.5],
    ["resolve owner is certain", stale, "owner", "static", 0, "propagate", 0],
    ["in-flight is never escalated on ambiguity", inFlight, "lww", "none", 0, "wait", 0],
    ["tolerated is never escalated on ambiguity", tolerated, "merge", "none", 0, "ignore", 0],
  ];
  it.each(cases)("%s (threshold %#)", (_name, scenario, resolve, owner, threshold, action, ambiguity) => {
    const d = scenario.build(3);
    const policy = policyFor(resolve, owner, 3, { escalateAmbiguity: threshold });
    const decision = decideRepair(d, SHAPE, policy);
    expectWellFormed(decision, d, policy);
    expect(decision.action).toBe(action);
    expect(decision.ambiguity).toBe(ambiguity);
    if (action === "escalate") {
      expect(decision.rule).toBe("escalate.ambiguity");
      expect(decision.reason).toContain(`ambiguity ${ambiguity} is above the threshold ${threshold}`);
    }
  });
});

describe("decideRepair: determinism", () => {
  const withReversedReplicas = (d: Divergence): Divergence => ({
    ...d,
    replicas: Object.fromEntries(Object.entries(d.replicas).reverse()),
  });
  it.each(ROWS.filter((r) => r.n === 3).map((r) => [r.label, r] as const))(
    "%s",
    (_label, { scenario, resolve, owner }) => {
      const policy = policyFor(resolve, owner, 3);
      const first = decideRepair(scenario.build(3), SHAPE, policy);
      expect(decideRepair(scenario.build(3), SHAPE, policyFor(resolve, owner, 3))).toEqual(first);
      // Replica order comes from the policy (dataset order), not from the observation.
      expect(decideRepair(withReversedReplicas(scenario.build(3)), SHAPE, policy)).toEqual(first);
    },
  );
});

describe("decideRepair: classified end to end", () => {
  const NOW = Date.parse("2024-01-01T00:10:00Z");
  const rules = (versions: CompiledPolicy["versionColumns"]): ClassifyRules => ({
    tolerance: new Map(),
    versioned: Object.keys(versions).length > 0,
    ordering: versionOrdering(undefined, versions),
    ...(versions.timestamp !== undefined ? { timestampColumn: versions.timestamp } : {}),
  });
  const observe = (states: readonly (Values | null)[], versions: CompiledPolicy["versionColumns"]) => ({
    key: KEY,
    replicas: Object.fromEntries(
      states.map((s, i) => [
        NAMES[i]!,
        s ? { present: true, values: s, fingerprint: fp(s)!, version: readVersion(versions, s) } : ABSENT,
      ]),
    ),
  });
  const cases: [
    string,
    CompiledPolicy["versionColumns"],
    Resolve,
    (Values | null)[],
    DivergenceClass,
    Partial<Decision>,
  ][] = [
    [
      "counter: newest wins",
      { counter: 3 },
      "highest-version",
      [OLD, NEW],
      "stale",
      { action: "propagate", source: "b", targets: ["a"] },
    ],
    [
      "timestamp: newest wins",
      { timestamp: 4 },
      "lww",
      [NEW, OLD, OLD],
      "stale",
      { action: "propagate", source: "a", targets: ["b", "c"] },
    ],
    [
      "vector: dominating wins",
      { vector: 5 },
      "version-vector",
      [OLD, NEW],
      "stale",
      { action: "propagate", source: "b" },
    ],
    [
      "vector: concurrent escalates",
      { vector: 5 },
      "version-vector",
      [X, Y],
      "conflict",
      { action: "escalate", rule: "conflict: escalate" },
    ],
    [
      "counter: equal counters escalate",
      { counter: 3 },
      "highest-version",
      [rec({ name: "p" }), rec({ name: "q" })],
      "conflict",
      { action: "escalate" },
    ],
    [
      "timestamp: equal timestamps tie",
      { timestamp: 4 },
      "lww",
      [rec({ name: "p" }), rec({ name: "q" })],
      "lww-tie",
      { action: "escalate", rule: "lww-tie: escalate" },
    ],
    [
      "unversioned: escalates",
      {},
      undefined,
      [rec({ name: "p" }), rec({ name: "q" })],
      "unversioned",
      { action: "escalate", rule: "unversioned: escalate" },
    ],
    [
      "missing: escalates without an owner",
      { counter: 3 },
      "highest-version",
      [OLD, null],
      "missing",
      { action: "escalate", rule: "missing: no owner" },
    ],
  ];
  it.each(cases)("%s", (_name, versions, resolve, states, cls, expected) => {
    const d = classifyDivergence(observe(states, versions), {
      shape: SHAPE,
      rules: rules(versions),
      nowMs: NOW,
    });
    expect(d.class).toBe(cls);
    const policy = compilePolicy({ resolve }, SHAPE, names(states.length as N), versions);
    expect(decideRepair(d, SHAPE, policy)).toMatchObject(expected);
  });
});

describe("decideRepair: records that were not fetched", () => {
  const unfetched = (d: Divergence, r: Name): Divergence => ({
    ...d,
    replicas: { ...d.replicas, [r]: { present: true, fingerprint: d.replicas[r]!.fingerprint! } },
  });
  it("never turns a winning record it cannot see into a delete", () => {
    const stale = unfetched(divergence("stale", 2, [NEW, OLD, null], { newest: ["a"] }), "a");
    expect(decideRepair(stale, SHAPE, policyFor("highest-version", "none", 2)).action).toBe("escalate");
    const owned = unfetched(divergence("conflict", 2, [X, Y, null]), "b");
    expect(decideRepair(owned, SHAPE, policyFor("owner", "static", 2)).action).toBe("escalate");
    expect(decideRepair(owned, SHAPE, policyFor("lww", "static", 2)).action).toBe("escalate");
    expect(decidePick(stale, policyFor("highest-version", "none", 2), "a").action).toBe("escalate");
  });
});

describe("decidePick", () => {
  const byName = (name: string) => SCENARIOS.find((s) => s.name === name)!;
  const cases: [string, string, Name, Partial<Decision>][] = [
    [
      "stale, the owner is behind",
      "pick the stale replica",
      "c",
      { action: "propagate", source: "c", record: OLD, targets: ["a"] },
    ],
    [
      "stale, the owner is behind",
      "pick the newest",
      "a",
      { action: "propagate", source: "a", record: NEW, targets: ["b", "c"] },
    ],
    [
      "missing, the owner lacks the record",
      "pick the replica without it",
      "b",
      { action: "delete", source: "b", record: null, targets: ["a", "c"] },
    ],
    [
      "missing, the owner lacks the record",
      "pick a holder",
      "c",
      { action: "propagate", source: "c", record: OLD, targets: ["b"] },
    ],
    [
      "conflict (concurrent versions)",
      "pick one side",
      "b",
      { action: "propagate", source: "b", record: Y, targets: ["a", "c"] },
    ],
    [
      "unversioned (nothing orders the values)",
      "pick one side",
      "c",
      { action: "propagate", source: "c", targets: ["a", "b"] },
    ],
  ];
  it.each(cases)("%s: %s", (scenario, _what, pick, expected) => {
    const d = byName(scenario).build(3);
    // A person's pick is never escalated again on ambiguity, whatever the policy's threshold.
    const policy = policyFor("highest-version", "none", 3, { escalateAmbiguity: 0 });
    const decision = decidePick(d, policy, pick);
    expectWellFormed(decision, d, policy);
    expect(decision).toMatchObject({ ...expected, rule: "escalation: pick", ambiguity: 0 });
    expect(decision.reason).toBe(`a person picked ${pick}'s state`);
  });

  it("picking the state every replica would reach writes nothing", () => {
    const d = divergence("conflict", 2, [X, X, null]);
    expect(decidePick(d, policyFor("merge", "none", 2), "a")).toMatchObject({
      action: "ignore",
      targets: [],
    });
  });
});

describe("compilePolicy: version", () => {
  const base: PolicyDeclaration = {
    owner: { field: "site", map: { eu: "b", us: "a" } },
    resolve: "highest-version",
    merge: { name: "max", tags: "union" },
    tolerance: { ts: { kind: "duration", ms: 1000 } },
    windowMs: 30_000,
    escalateAmbiguity: 0.5,
    limits: { maxRepairs: 10, maxDivergentFraction: 0.2 },
  };
  const compile = (
    decl: PolicyDeclaration = base,
    shape: RecordShape = SHAPE,
    replicas: readonly string[] = ["a", "b"],
    versions: CompiledPolicy["versionColumns"] = { counter: 3 },
  ) => compilePolicy(decl, shape, replicas, versions).version;

  it("is the same for the same policy, whatever the order of its members", () => {
    expect(compile()).toBe(compile());
    expect(
      compile({
        limits: { maxDivergentFraction: 0.2, maxRepairs: 10 },
        escalateAmbiguity: 0.5,
        windowMs: 30_000,
        tolerance: { ts: { ms: 1000, kind: "duration" } },
        merge: { tags: "union", name: "max" },
        resolve: "highest-version",
        owner: { map: { us: "a", eu: "b" }, field: "site" },
      }),
    ).toBe(compile());
    expect(compile({ ...base, limits: { ...base.limits, writesPerSecond: undefined } })).toBe(compile());
  });

  const changes: [string, () => string][] = [
    ["owner", () => compile({ ...base, owner: "a" })],
    ["owner map", () => compile({ ...base, owner: { field: "site", map: { eu: "a", us: "b" } } })],
    ["resolve", () => compile({ ...base, resolve: "lww" })],
    ["a merge rule", () => compile({ ...base, merge: { name: "min", tags: "union" } })],
    ["a merge column", () => compile({ ...base, merge: { name: "max" } })],
    ["tolerance", () => compile({ ...base, tolerance: { ts: { kind: "duration", ms: 2000 } } })],
    ["window", () => compile({ ...base, windowMs: 60_000 })],
    ["escalate.ambiguity", () => compile({ ...base, escalateAmbiguity: 0.4 })],
    ["limits", () => compile({ ...base, limits: { maxRepairs: 11, maxDivergentFraction: 0.2 } })],
    ["the replicas", () => compile(base, SHAPE, ["a", "b", "c"])],
    ["the replica order", () => compile(base, SHAPE, ["b", "a"])],
    [
      "a column type",
      () =>
        compile(base, {
          ...SHAPE,
          columns: SHAPE.columns.map((c) => (c.name === "name" ? { ...c, type: "json" } : c)),
        }),
    ],
    ["the compared columns", () => compile(base, { ...SHAPE, columns: SHAPE.columns.slice(0, 5) })],
    ["the key", () => compile(base, { ...SHAPE, key: [{ name: "uid", type: "integer" }] })],
  ];
  it.each(changes)("changes with %s", (_name, changed) => {
    expect(changed()).not.toBe(compile());
    expect(changed()).toMatch(/^[0-9a-f]{12}$/);
  });

  it("changes with the version columns, which decide the default strategy, merge defaults and ambiguity", () => {
    const withVersions = (versions: CompiledPolicy["versionColumns"]) =>
      compile({}, SHAPE, ["a", "b"], versions);
    const all = [{}, { counter: 3 }, { timestamp: 4 }, { vector: 5 }, { counter: 4 }, ALL_VERSIONS].map(
      withVersions,
    );
    expect(new Set(all).size).toBe(all.length);
  });

  it("a decision names the version of the policy that made it", () => {
    const d = SCENARIOS[2]!.build(2);
    const a = decideRepair(
      d,
      SHAPE,
      compilePolicy({ resolve: "highest-version" }, SHAPE, ["a", "b"], { counter: 3 }),
    );
    const b = decideRepair(
      d,
      SHAPE,
      compilePolicy({ resolve: "highest-version" }, SHAPE, ["a", "b"], { counter: 3 }),
    );
    const c = decideRepair(d, SHAPE, compilePolicy({ resolve: "lww" }, SHAPE, ["a", "b"], { timestamp: 4 }));
    expect(a.policyVersion).toBe(b.policyVersion);
    expect(c.policyVersion).not.toBe(a.policyVersion);
  });

  it("defaults the strategy: owner, else the one ordering by the strongest version declared, else none", () => {
    const compiled = (decl: PolicyDeclaration, versions: CompiledPolicy["versionColumns"]) => {
      const p = compilePolicy(decl, SHAPE, ["a", "b"], versions);
      return [p.resolve, p.ordering];
    };
    expect(compiled({ owner: "a" }, { counter: 3 })).toEqual(["owner", "counter"]);
    expect(compiled({}, { counter: 3 })).toEqual(["highest-version", "counter"]);
    expect(compiled({}, { counter: 3, timestamp: 4 })).toEqual(["highest-version", "counter"]);
    expect(compiled({}, { timestamp: 4 })).toEqual(["lww", "timestamp"]);
    expect(compiled({}, ALL_VERSIONS)).toEqual(["version-vector", "vector"]);
    expect(compiled({}, {})).toEqual([undefined, undefined]);
    // An explicit strategy orders by what it names, or by nothing when that column is not compared.
    expect(compiled({ resolve: "lww" }, ALL_VERSIONS)).toEqual(["lww", "timestamp"]);
    expect(compiled({ resolve: "highest-version" }, ALL_VERSIONS)).toEqual(["highest-version", "counter"]);
    expect(compiled({ resolve: "lww" }, { counter: 3 })).toEqual(["lww", undefined]);
    expect(compiled({ resolve: "merge", merge: { name: "max" } }, { timestamp: 4 })).toEqual([
      "merge",
      "timestamp",
    ]);
  });

  it("rejects an owner field the dataset does not compare", () => {
    expect(() => compile({ owner: { field: "region", map: {} } })).toThrow(
      'policy.owner.field: "region" is not a compared column',
    );
  });
});

describe("decideRepair: regression where a replica also lacks the record", () => {
  const d = divergence("regression", 3, [NEW, OLD, null], { newest: ["a"], regressed: ["b"] });
  it.each([
    [
      "no owner: escalated like missing (copying could resurrect a deletion)",
      "none",
      "escalate",
      "missing: no owner",
    ],
    ["static owner b holds it: b's state wins everywhere", "static", "propagate", "missing: owner"],
  ] as const)("%s", (_, owner, action, rule) => {
    const decision = decideRepair(d, SHAPE, policyFor("highest-version", owner, 3));
    expect(decision.action).toBe(action);
    expect(decision.rule).toBe(rule);
    if (action === "propagate") {
      expect(decision.source).toBe("b");
      expect(decision.record).toEqual(OLD);
      expect([...decision.targets].sort()).toEqual(["a", "c"]);
    }
  });
});

describe("decideRepair: each strategy orders by what it names", () => {
  const JAN = "2026-01-15T00:00:00.000000Z";
  const JUN = "2026-06-01T00:00:00.000000Z";
  /** a wrote last in January with counter 5; b in June with counter 3; the vectors say b saw a's write. */
  const A = rec({ name: "from-a", ver: "5", ts: JAN, vv: '{"a":1}' });
  const B = rec({ name: "from-b", ver: "3", ts: JUN, vv: '{"a":1,"b":1}' });
  const observe = (states: readonly (Values | null)[]) => ({
    key: KEY,
    replicas: Object.fromEntries(
      states.map((s, i) => [
        NAMES[i]!,
        s ? { present: true, values: s, fingerprint: fp(s)!, version: readVersion(ALL_VERSIONS, s) } : ABSENT,
      ]),
    ),
  });
  const decide = (resolve: ResolveStrategy, states: readonly (Values | null)[]) => {
    const policy = compilePolicy({ resolve }, SHAPE, names(states.length as N), ALL_VERSIONS);
    const d = classifyDivergence(observe(states), {
      shape: SHAPE,
      rules: { tolerance: new Map(), versioned: true, ordering: policy.ordering, timestampColumn: 4 },
      nowMs: Date.parse("2026-07-01T00:00:00Z"),
    });
    return { d, decision: decideRepair(d, SHAPE, policy) };
  };

  it.each<[ResolveStrategy, (Values | null)[], DivergenceClass, Partial<Decision>, string]>([
    [
      "lww",
      [A, B],
      "stale",
      { action: "propagate", source: "b", targets: ["a"], rule: "resolve: lww", ambiguity: 0.3 },
      `timestamp ${JUN} on b is newer than ${JAN} on a`,
    ],
    [
      "highest-version",
      [A, B],
      "stale",
      { action: "propagate", source: "a", targets: ["b"], rule: "resolve: highest-version", ambiguity: 0.1 },
      "counter 5 on a is higher than 3 on b",
    ],
    [
      "version-vector",
      [A, B],
      "stale",
      { action: "propagate", source: "b", targets: ["a"], rule: "resolve: version-vector", ambiguity: 0.1 },
      'version vector {"a":1,"b":1} on b dominates {"a":1} on a',
    ],
    [
      "lww",
      [A, B, rec({ name: "old", ver: "9", ts: null })],
      "stale",
      { action: "propagate", source: "b", targets: ["a", "c"] },
      `timestamp ${JUN} on b is newer than ${JAN} on a, no timestamp on c`,
    ],
    [
      "highest-version",
      [A, A, B],
      "stale",
      { action: "propagate", source: "a", targets: ["c"] },
      "counter 5 on a and b is higher than 3 on c",
    ],
    [
      "highest-version",
      [A, B, B],
      "stale",
      { action: "propagate", source: "a", targets: ["b", "c"] },
      "counter 5 on a is higher than 3 on b and c",
    ],
    // Equal by what the strategy names, different values: a tie of the strategy's own kind.
    [
      "lww",
      [A, rec({ name: "other", ver: "7", ts: JAN, vv: '{"a":2}' })],
      "lww-tie",
      { action: "escalate", rule: "lww-tie: escalate" },
      "equal timestamps with different values",
    ],
    [
      "highest-version",
      [A, rec({ name: "other", ver: "5", ts: JUN, vv: '{"a":2}' })],
      "conflict",
      { action: "escalate", rule: "conflict: escalate" },
      "concurrent versions",
    ],
    [
      "version-vector",
      [A, rec({ name: "other", ver: "9", ts: JUN, vv: '{"b":1}' })],
      "conflict",
      { action: "escalate", rule: "conflict: escalate" },
      "concurrent versions",
    ],
  ])("%s over %j: %s", (resolve, states, cls, expected, reason) => {
    const { d, decision } = decide(resolve, states);
    expect(d.class).toBe(cls);
    expect(decision).toMatchObject(expected);
    expect(decision.reason).toContain(reason);
  });

  it("names the replica that went back in a regression's reason", () => {
    const policy = compilePolicy({ resolve: "lww" }, SHAPE, names(2), ALL_VERSIONS);
    const d = classifyDivergence(observe([A, B]), {
      shape: SHAPE,
      rules: { tolerance: new Map(), versioned: true, ordering: "timestamp", timestampColumn: 4 },
      nowMs: Date.parse("2026-07-01T00:00:00Z"),
      lastSeen: { a: { counter: "1", timestamp: JUN } },
    });
    expect(d).toMatchObject({ class: "regression", newest: ["b"], regressed: ["a"] });
    expect(decideRepair(d, SHAPE, policy)).toMatchObject({
      action: "propagate",
      source: "b",
      ambiguity: 0.4,
      reason: `timestamp ${JUN} on b is newer than ${JAN} on a; a went back from a version seen before`,
    });
  });

  it("escalates a stale divergence when the strategy's version column is not compared", () => {
    const policy = compilePolicy({ resolve: "lww" }, SHAPE, names(2), { counter: 3 });
    const d = divergence("stale", 2, [NEW, OLD, null], { newest: ["a"] });
    expect(decideRepair(d, SHAPE, policy)).toMatchObject({
      action: "escalate",
      rule: "resolve: lww",
      reason: "no version column orders the records",
    });
  });
});

describe("decideRepair: resolve replay copies only what the owner's change log explains", () => {
  const policy = compilePolicy({ owner: "b", resolve: "replay" }, SHAPE, names(2), ALL_VERSIONS);
  it.each<
    [string, DivergenceClass, [Values | null, Values | null, Values | null], boolean, Partial<Decision>]
  >([
    [
      "a logged change the replica missed: the owner's record",
      "stale",
      [OLD, NEW, null],
      true,
      { action: "propagate", source: "b", targets: ["a"], rule: "resolve: replay", ambiguity: 0 },
    ],
    [
      "a logged delete the replica missed: deleted",
      "missing",
      [OLD, null, null],
      true,
      { action: "delete", source: "b", targets: ["a"], rule: "resolve: replay" },
    ],
    [
      "a logged insert the replica missed: inserted",
      "missing",
      [null, NEW, null],
      true,
      { action: "propagate", source: "b", targets: ["a"] },
    ],
    [
      "a regression the log does not explain: escalated",
      "regression",
      [NEW, OLD, null],
      false,
      { action: "escalate", targets: [], rule: "resolve: replay", options: ["a", "b"] },
    ],
    [
      "a missing row the log does not explain: escalated",
      "missing",
      [OLD, null, null],
      false,
      { action: "escalate", rule: "resolve: replay" },
    ],
  ])("%s", (_what, cls, states, logged, expected) => {
    const decision = decideRepair(divergence(cls, 2, states), SHAPE, policy, { logged });
    expect(decision).toMatchObject(expected);
    if (!logged) expect(decision.reason).toContain("change log does not explain");
  });

  it("escalates when no single owner is declared", () => {
    const none = compilePolicy({ resolve: "replay" }, SHAPE, names(2), ALL_VERSIONS);
    const decision = decideRepair(divergence("stale", 2, [OLD, NEW, null]), SHAPE, none, { logged: true });
    expect(decision).toMatchObject({ action: "escalate", rule: "resolve: replay" });
  });
});
