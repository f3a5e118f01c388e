import { describe, expect, it } from "vitest";
import {
  type AlertCondition,
  evaluateAlert,
  formatAlertCondition,
  type HealthSnapshot,
  observeAlert,
  parseAlertCondition,
  SLOT_RELEASE_HOLD_MS,
} from "./alert-condition.js";

describe("parseAlertCondition: valid", () => {
  it.each<[string, AlertCondition, string]>([
    ["lag > 30s", { kind: "lag", op: ">", thresholdSeconds: 30 }, "lag > 30s"],
    ["lag>=500ms", { kind: "lag", op: ">=", thresholdSeconds: 0.5 }, "lag >= 500ms"],
    ["  lag >  5m ", { kind: "lag", op: ">", thresholdSeconds: 300 }, "lag > 5m"],
    ["lag > 1m30s", { kind: "lag", op: ">", thresholdSeconds: 90 }, "lag > 90s"],
    ["lag > 0s", { kind: "lag", op: ">", thresholdSeconds: 0 }, "lag > 0ms"],
    ["escalations > 0", { kind: "escalations", op: ">", threshold: 0 }, "escalations > 0"],
    ["escalations >= 10", { kind: "escalations", op: ">=", threshold: 10 }, "escalations >= 10"],
    ["repair-failures>3", { kind: "repair-failures", op: ">", threshold: 3 }, "repair-failures > 3"],
    ["replica-down", { kind: "replica-down" }, "replica-down"],
    [" audit-broken ", { kind: "audit-broken" }, "audit-broken"],
    ["canary-rolled-back", { kind: "canary-rolled-back" }, "canary-rolled-back"],
    ["pass-failing", { kind: "pass-failing" }, "pass-failing"],
  ])("%j", (text, expected, canonical) => {
    const c = parseAlertCondition(text);
    expect(c).toEqual(expected);
    expect(formatAlertCondition(c)).toBe(canonical);
    expect(parseAlertCondition(canonical)).toEqual(c);
  });
});

describe("parseAlertCondition: invalid, one line naming the problem", () => {
  const expected =
    "(expected lag, escalations, replica-down, repair-failures, audit-broken, canary-rolled-back, slot-released, pass-failing)";
  it.each<[string, string]>([
    ["lagg > 30s", `unknown condition "lagg > 30s" ${expected}`],
    ["", `empty condition ${expected}`],
    ["   ", `empty condition ${expected}`],
    ["> 30s", `unknown condition "> 30s" ${expected}`],
    ["latency > 1s", `unknown condition "latency > 1s" ${expected}`],
    ["lag", `"lag" needs a threshold, e.g. "lag > 30s"`],
    ["escalations", `"escalations" needs a threshold, e.g. "escalations > 0"`],
    ["lag > 30", `"lag > 30": expected a duration such as 500ms, 30s or 5m after ">", e.g. "lag > 30s"`],
    ["lag >", `"lag >": expected a duration such as 500ms, 30s or 5m after ">", e.g. "lag > 30s"`],
    ["lag > -5s", `"lag > -5s": expected a duration such as 500ms, 30s or 5m after ">", e.g. "lag > 30s"`],
    ["lag < 30s", `unsupported operator "<" in "lag < 30s" (expected > or >=)`],
    ["lag = 30s", `unsupported operator "=" in "lag = 30s" (expected > or >=)`],
    ["escalations > 1.5", `"escalations > 1.5": expected a whole number after ">", e.g. "escalations > 0"`],
    [
      "repair-failures >= ten",
      `"repair-failures >= ten": expected a whole number after ">=", e.g. "repair-failures > 0"`,
    ],
    ["replica-down > 1", `"replica-down" takes no threshold (write just "replica-down")`],
    ["audit-broken >= 0", `"audit-broken" takes no threshold (write just "audit-broken")`],
    [
      "escalations > 1 and lag > 2s",
      `"escalations > 1 and lag > 2s": expected a whole number after ">", e.g. "escalations > 0"`,
    ],
  ])("%j", (text, message) => {
    expect(() => parseAlertCondition(text)).toThrow(new Error(message));
    expect(message).not.toContain("\n");
  });
});

const snapshot: HealthSnapshot = {
  at: 1_700_000_000_000,
  auditOk: true,
  datasets: [
    {
      name: "customers",
      lagSeconds: { reporting: 42, cache: 30, archive: undefined },
      openEscalations: 3,
      replicasDown: ["cache"],
      lastRunFailedRepairs: 0,
    },
    {
      name: "orders",
      lagSeconds: { replica: 0.25 },
      openEscalations: 9,
      replicasDown: [],
      lastRunFailedRepairs: 2,
    },
  ],
};

function incidents(when: string, options: { rule?: number; dataset?: string } = {}, s = snapshot) {
  return evaluateAlert(parseAlertCondition(when), s, options).map((i) => [i.key, i.value, i.summary]);
}

describe("evaluateAlert", () => {
  it.each<[string, { rule?: number; dataset?: string }, [string, number | boolean, string][]]>([
    [
      "lag > 30s",
      {},
      [['[0,"customers","reporting"]', 42, "customers/reporting: convergence lag 42.0s (alert when > 30s)"]],
    ],
    [
      "lag >= 30s",
      { rule: 2 },
      [
        ['[2,"customers","reporting"]', 42, "customers/reporting: convergence lag 42.0s (alert when >= 30s)"],
        ['[2,"customers","cache"]', 30, "customers/cache: convergence lag 30.0s (alert when >= 30s)"],
      ],
    ],
    [
      "lag > 200ms",
      { dataset: "orders" },
      [['[0,"orders","replica"]', 0.25, "orders/replica: convergence lag 250ms (alert when > 200ms)"]],
    ],
    ["escalations > 10", {}, [["[0,null]", 12, "all datasets: 12 open escalations (alert when > 10)"]]],
    ["escalations > 12", {}, []],
    ["escalations >= 12", {}, [["[0,null]", 12, "all datasets: 12 open escalations (alert when >= 12)"]]],
    [
      "escalations > 5",
      { dataset: "orders" },
      [['[0,"orders"]', 9, "orders: 9 open escalations (alert when > 5)"]],
    ],
    ["escalations > 5", { dataset: "customers" }, []],
    [
      "replica-down",
      { rule: 1 },
      [['[1,"customers","cache"]', true, "customers/cache: replica unreachable on its last contact"]],
    ],
    ["replica-down", { dataset: "orders" }, []],
    [
      "repair-failures > 0",
      {},
      [['[0,"orders"]', 2, "orders: 2 failed repairs in the last run (alert when > 0)"]],
    ],
    ["repair-failures > 2", {}, []],
    ["audit-broken", {}, []],
    ["lag > 1s", { dataset: "nonexistent" }, []],
  ])("%j %j", (when, options, expected) => {
    expect(incidents(when, options)).toEqual(expected);
  });

  it("canary-rolled-back holds for a dataset whose rollout rolled back, and only for it", () => {
    const s: HealthSnapshot = {
      ...snapshot,
      datasets: snapshot.datasets.map((d, i) => ({ ...d, canaryRolledBack: i === 0 })),
    };
    const first = snapshot.datasets[0]!.name;
    expect(incidents("canary-rolled-back", {}, s)).toEqual([
      [`[0,${JSON.stringify(first)}]`, true, `${first}: the canary rollout rolled back`],
    ]);
    expect(incidents("canary-rolled-back", {}, snapshot)).toEqual([]);
    expect(() => parseAlertCondition("canary-rolled-back > 0")).toThrow(/takes no threshold/);
  });

  it("slot-released holds per replica for SLOT_RELEASE_HOLD_MS after a release, then resolves", () => {
    const first = snapshot.datasets[0]!.name;
    const at = snapshot.at;
    const s = (releasedAt: number): HealthSnapshot => ({
      ...snapshot,
      datasets: snapshot.datasets.map((d, i) => (i === 0 ? { ...d, slotReleases: { pg: releasedAt } } : d)),
    });
    expect(incidents("slot-released", {}, s(at - 60_000))).toEqual([
      [
        `[0,${JSON.stringify(first)},"pg"]`,
        true,
        `${first}/pg: change feed's replication slot released for lagging 60s ago (more WAL than maxLagBytes); a whole pass covers the changes it dropped`,
      ],
    ]);
    expect(incidents("slot-released", {}, s(at - SLOT_RELEASE_HOLD_MS))).toEqual([]);
    const obs = observeAlert(parseAlertCondition("slot-released"), s(at - SLOT_RELEASE_HOLD_MS));
    expect(obs.map((o) => [o.replica, o.active])).toEqual([["pg", false]]);
    expect(incidents("slot-released", {}, snapshot)).toEqual([]);
    expect(() => parseAlertCondition("slot-released > 0")).toThrow(/takes no threshold/);
  });

  it("pass-failing holds per dataset while its last pass did not start or stopped, naming why", () => {
    const first = snapshot.datasets[0]!.name;
    const why = `${first}: cannot read its checkpoint: it was edited or damaged`;
    const s: HealthSnapshot = {
      ...snapshot,
      datasets: snapshot.datasets.map((d, i) => (i === 0 ? { ...d, passError: why } : d)),
    };
    expect(incidents("pass-failing", {}, s)).toEqual([[`[0,${JSON.stringify(first)}]`, true, why]]);
    expect(incidents("pass-failing", {}, snapshot)).toEqual([]);
    expect(() => parseAlertCondition("pass-failing > 0")).toThrow(/takes no threshold/);
  });

  it("audit-broken holds when verification failed, and is unknown before any verification", () => {
    expect(incidents("audit-broken", {}, { ...snapshot, auditOk: false })).toEqual([
      ["[0,null]", true, "audit chain verification failed"],
    ]);
    expect(incidents("audit-broken", {}, { at: 0, datasets: [] })).toEqual([]);
  });

  it("observes values that do not hold too, so a resolution can say where things stand", () => {
    const obs = observeAlert(parseAlertCondition("lag > 30s"), snapshot);
    expect(obs.map((o) => [o.replica, o.active])).toEqual([
      ["reporting", true],
      ["cache", false],
      ["replica", false],
    ]);
  });

  it("gives an unbounded lag (a canary that never arrived) a readable summary", () => {
    const s: HealthSnapshot = {
      at: 0,
      datasets: [
        {
          name: "d",
          lagSeconds: { r: Number.POSITIVE_INFINITY },
          openEscalations: 0,
          replicasDown: [],
          lastRunFailedRepairs: 0,
        },
      ],
    };
    expect(incidents("lag > 1h", {}, s)).toEqual([
      ['[0,"d","r"]', Number.POSITIVE_INFINITY, "d/r: convergence lag unbounded (alert when > 1h)"],
    ]);
  });

  it("keys stay distinct when names contain separators", () => {
    const s: HealthSnapshot = {
      at: 0,
      datasets: [
        { name: "a/b", lagSeconds: {}, openEscalations: 0, replicasDown: ["c"], lastRunFailedRepairs: 0 },
        { name: "a", lagSeconds: {}, openEscalations: 0, replicasDown: ["b/c"], lastRunFailedRepairs: 0 },
      ],
    };
    const keys = evaluateAlert({ kind: "replica-down" }, s).map((i) => i.key);
    expect(new Set(keys).size).toBe(2);
  });
});
