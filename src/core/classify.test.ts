import { describe, expect, it } from "vitest";
import type { CanonicalValue } from "./canonical.js";
import {
  type ClassifyContext,
  type ClassifyRules,
  classifyDivergence,
  type DivergenceClass,
  type ReplicaObservation,
  type Tolerance,
} from "./classify.js";
import { fingerprintRow } from "./fingerprint.js";
import type { RecordShape } from "./model.js";
import type { Version } from "./version.js";

/** id | name, balance, seen_at, updated_at, version — updated_at (position 3) is the timestamp column. */
const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "balance", type: "decimal" },
    { name: "seen_at", type: "timestamp" },
    { name: "updated_at", type: "timestamp" },
    { name: "version", type: "integer" },
  ],
};
const KEY = ["1"];

const NOW_MS = Date.UTC(2024, 0, 1, 12, 0, 0);
const ts = (secondsBeforeNow: number) =>
  new Date(NOW_MS - secondsBeforeNow * 1000).toISOString().replace("Z", "000Z");
const OLD = ts(3600);
const OLDER = ts(7200);

const UNVERSIONED: ClassifyRules = { tolerance: new Map(), versioned: false };
const COUNTER: ClassifyRules = { tolerance: new Map(), versioned: true, ordering: "counter" };
const VECTOR: ClassifyRules = { tolerance: new Map(), versioned: true, ordering: "vector" };
const TIMESTAMP_ONLY: ClassifyRules = {
  tolerance: new Map(),
  versioned: true,
  ordering: "timestamp",
  timestampColumn: 3,
};
/** Counter and timestamp both declared, resolve lww: the timestamp orders, the counter is only data. */
const LWW: ClassifyRules = { ...TIMESTAMP_ONLY };
const JAN = "2026-01-15T00:00:00.000000Z";
const JUN = "2026-06-01T00:00:00.000000Z";
const WINDOWED: ClassifyRules = { ...TIMESTAMP_ONLY, windowMs: 30_000 };

function rules(base: ClassifyRules, tolerance: Record<string, Tolerance>): ClassifyRules {
  return { ...base, tolerance: new Map(Object.entries(tolerance)) };
}

interface Row {
  name?: string | null;
  balance?: string | null;
  seenAt?: string | null;
  updatedAt?: string | null;
  version?: Version;
}

/** A present replica; its values default to a fixed record so each case states only what differs. */
function held(row: Row = {}): ReplicaObservation {
  const values: CanonicalValue[] = [
    row.name === undefined ? "alice" : row.name,
    row.balance === undefined ? "10" : row.balance,
    row.seenAt === undefined ? OLD : row.seenAt,
    row.updatedAt === undefined ? OLD : row.updatedAt,
    row.version?.counter ?? null,
  ];
  return {
    present: true,
    values,
    fingerprint: fingerprintRow(KEY, values),
    ...(row.version ? { version: row.version } : {}),
  };
}
const ABSENT: ReplicaObservation = { present: false };

interface Case {
  name: string;
  replicas: Record<string, ReplicaObservation>;
  rules: ClassifyRules;
  lastSeen?: Record<string, Version>;
  nowMs?: number;
  expected: { class: DivergenceClass; newest: string[]; regressed?: string[]; columns?: string[] };
}

const cases: Case[] = [
  // missing
  {
    name: "missing: absent on one of two replicas",
    replicas: { a: held(), b: ABSENT },
    rules: UNVERSIONED,
    expected: { class: "missing", newest: ["a"], columns: [] },
  },
  {
    name: "missing: absent on one of three replicas",
    replicas: { a: held(), b: ABSENT, c: held() },
    rules: COUNTER,
    expected: { class: "missing", newest: ["a", "c"] },
  },
  {
    name: "missing: present on one of three",
    replicas: { a: ABSENT, b: held({ version: { counter: "1" } }), c: ABSENT },
    rules: COUNTER,
    expected: { class: "missing", newest: ["b"] },
  },
  // stale
  {
    name: "stale: counter 2 vs 1",
    replicas: { a: held({ name: "bob", version: { counter: "2" } }), b: held({ version: { counter: "1" } }) },
    rules: COUNTER,
    expected: { class: "stale", newest: ["a"], columns: ["name", "version"] },
  },
  {
    name: "stale: counters compare numerically (10 after 9)",
    replicas: {
      a: held({ version: { counter: "9" } }),
      b: held({ name: "bob", version: { counter: "10" } }),
    },
    rules: COUNTER,
    expected: { class: "stale", newest: ["b"] },
  },
  {
    name: "stale: two of three replicas agree on the newest",
    replicas: {
      a: held({ name: "bob", version: { counter: "2" } }),
      b: held({ version: { counter: "1" } }),
      c: held({ name: "bob", version: { counter: "2" } }),
    },
    rules: COUNTER,
    expected: { class: "stale", newest: ["a", "c"] },
  },
  {
    name: "stale: three replicas at three versions",
    replicas: {
      a: held({ name: "x", version: { counter: "1" } }),
      b: held({ name: "y", version: { counter: "3" } }),
      c: held({ name: "z", version: { counter: "2" } }),
    },
    rules: COUNTER,
    expected: { class: "stale", newest: ["b"] },
  },
  {
    // Was "stale: counter tie broken by timestamp": highest-version orders by the counter alone.
    name: "conflict: equal counters are not ordered by their timestamps",
    replicas: {
      a: held({ name: "bob", updatedAt: OLD, version: { counter: "2", timestamp: OLD } }),
      b: held({ updatedAt: OLDER, version: { counter: "2", timestamp: OLDER } }),
    },
    rules: COUNTER,
    expected: { class: "conflict", newest: ["a", "b"] },
  },
  {
    name: "stale by counter: counter 5 in January beats counter 3 in June",
    replicas: {
      a: held({ name: "bob", updatedAt: JAN, version: { counter: "5", timestamp: JAN } }),
      b: held({ updatedAt: JUN, version: { counter: "3", timestamp: JUN } }),
    },
    rules: COUNTER,
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "stale by timestamp (lww): June beats January whatever the counters",
    replicas: {
      a: held({ name: "bob", updatedAt: JAN, version: { counter: "5", timestamp: JAN } }),
      b: held({ updatedAt: JUN, version: { counter: "3", timestamp: JUN } }),
    },
    rules: LWW,
    expected: { class: "stale", newest: ["b"] },
  },
  {
    name: "lww-tie: equal timestamps are not ordered by their counters",
    replicas: {
      a: held({ name: "bob", updatedAt: JAN, version: { counter: "5", timestamp: JAN } }),
      b: held({ updatedAt: JAN, version: { counter: "3", timestamp: JAN } }),
    },
    rules: LWW,
    expected: { class: "lww-tie", newest: ["a", "b"] },
  },
  {
    name: "stale by timestamp: a replica without a timestamp loses, whatever its counter",
    replicas: {
      a: held({ name: "bob", updatedAt: null, version: { counter: "9" } }),
      b: held({ updatedAt: JAN, version: { counter: "1", timestamp: JAN } }),
    },
    rules: LWW,
    expected: { class: "stale", newest: ["b"] },
  },
  {
    name: "stale by vector: a dominating vector wins over a higher counter",
    replicas: {
      a: held({ name: "bob", version: { vector: { n1: "2" }, counter: "1" } }),
      b: held({ version: { vector: { n1: "1" }, counter: "7" } }),
    },
    rules: VECTOR,
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "conflict: equal vectors with different values",
    replicas: {
      a: held({ name: "bob", version: { vector: { n1: "1", n2: "1" }, counter: "2" } }),
      b: held({ version: { vector: { n1: "1", n2: "1" }, counter: "1" } }),
    },
    rules: VECTOR,
    expected: { class: "conflict", newest: ["a", "b"] },
  },
  {
    name: "stale: timestamp only, different timestamps",
    replicas: {
      a: held({ updatedAt: OLDER, version: { timestamp: OLDER } }),
      b: held({ name: "bob", updatedAt: OLD, version: { timestamp: OLD } }),
    },
    rules: TIMESTAMP_ONLY,
    expected: { class: "stale", newest: ["b"] },
  },
  {
    name: "stale: vector dominates",
    replicas: {
      a: held({ name: "bob", version: { vector: { n1: "2", n2: "1" } } }),
      b: held({ version: { vector: { n1: "1", n2: "1" } } }),
    },
    rules: VECTOR,
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "stale: a replica without a version loses to one with a version",
    replicas: { a: held({ name: "bob" }), b: held({ version: { counter: "1" } }) },
    rules: COUNTER,
    expected: { class: "stale", newest: ["b"] },
  },
  // conflict
  {
    name: "conflict: equal counters, different values",
    replicas: { a: held({ name: "bob", version: { counter: "2" } }), b: held({ version: { counter: "2" } }) },
    rules: COUNTER,
    expected: { class: "conflict", newest: ["a", "b"], columns: ["name"] },
  },
  {
    name: "conflict: concurrent vectors",
    replicas: {
      a: held({ name: "bob", version: { vector: { n1: "2", n2: "1" } } }),
      b: held({ version: { vector: { n1: "1", n2: "2" } } }),
    },
    rules: VECTOR,
    expected: { class: "conflict", newest: ["a", "b"] },
  },
  {
    // Was "conflict: concurrent vectors even when only timestamps are declared": a vector never stands in
    // for the ordering's metadata, and these records carry no timestamp.
    name: "unversioned: vectors do not order records when timestamps do",
    replicas: {
      a: held({ name: "bob", version: { vector: { n1: "1" } } }),
      b: held({ version: { vector: { n2: "1" } } }),
    },
    rules: TIMESTAMP_ONLY,
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "unversioned: the counter does not order records when the vector does",
    replicas: {
      a: held({ name: "bob", version: { counter: "2" } }),
      b: held({ version: { counter: "1" } }),
    },
    rules: VECTOR,
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "unversioned: a versioned dataset whose ordering column is not compared",
    replicas: {
      a: held({ name: "bob", version: { counter: "2" } }),
      b: held({ version: { counter: "1" } }),
    },
    rules: { tolerance: new Map(), versioned: true },
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "conflict: two of three concurrent, the third behind both",
    replicas: {
      a: held({ name: "x", version: { vector: { n1: "2", n2: "1" } } }),
      b: held({ name: "y", version: { vector: { n1: "1", n2: "2" } } }),
      c: held({ name: "z", version: { vector: { n1: "1", n2: "1" } } }),
    },
    rules: VECTOR,
    expected: { class: "conflict", newest: ["a", "b"] },
  },
  // lww-tie
  {
    name: "lww-tie: equal timestamps, different values, timestamp only",
    replicas: {
      a: held({ name: "bob", version: { timestamp: OLD } }),
      b: held({ version: { timestamp: OLD } }),
    },
    rules: TIMESTAMP_ONLY,
    expected: { class: "lww-tie", newest: ["a", "b"] },
  },
  {
    name: "lww-tie: two of three tie on the newest timestamp",
    replicas: {
      a: held({ name: "x", version: { timestamp: OLD } }),
      b: held({ name: "y", version: { timestamp: OLDER } }),
      c: held({ name: "z", version: { timestamp: OLD } }),
    },
    rules: TIMESTAMP_ONLY,
    expected: { class: "lww-tie", newest: ["a", "c"] },
  },
  // regression
  {
    name: "regression: a replica's counter went back from what was seen",
    replicas: { a: held({ name: "bob", version: { counter: "3" } }), b: held({ version: { counter: "5" } }) },
    rules: COUNTER,
    lastSeen: { a: { counter: "4" }, b: { counter: "5" } },
    expected: { class: "regression", newest: ["b"], regressed: ["a"] },
  },
  {
    name: "regression: a replica's timestamp went back, three replicas",
    replicas: {
      a: held({ version: { timestamp: OLD } }),
      b: held({ version: { timestamp: OLD } }),
      c: held({ name: "bob", version: { timestamp: OLDER } }),
    },
    rules: TIMESTAMP_ONLY,
    lastSeen: { c: { timestamp: OLD } },
    expected: { class: "regression", newest: ["a", "b"], regressed: ["c"] },
  },
  {
    name: "regression by timestamp (lww): the timestamp went back though the counter went up",
    replicas: {
      a: held({ name: "bob", updatedAt: JAN, version: { counter: "9", timestamp: JAN } }),
      b: held({ updatedAt: JUN, version: { counter: "3", timestamp: JUN } }),
    },
    rules: LWW,
    lastSeen: { a: { counter: "4", timestamp: JUN } },
    expected: { class: "regression", newest: ["b"], regressed: ["a"] },
  },
  {
    name: "no regression by timestamp (lww) when only the counter went back",
    replicas: {
      a: held({ name: "bob", updatedAt: JUN, version: { counter: "1", timestamp: JUN } }),
      b: held({ updatedAt: JAN, version: { counter: "3", timestamp: JAN } }),
    },
    rules: LWW,
    lastSeen: { a: { counter: "4", timestamp: JAN } },
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "regression by vector: a vector dominated by the one seen before",
    replicas: {
      a: held({ name: "bob", version: { vector: { n1: "1" } } }),
      b: held({ version: { vector: { n1: "2" } } }),
    },
    rules: VECTOR,
    lastSeen: { a: { vector: { n1: "2" } } },
    expected: { class: "regression", newest: ["b"], regressed: ["a"] },
  },
  {
    name: "regression takes precedence over missing",
    replicas: { a: held({ version: { counter: "1" } }), b: ABSENT },
    rules: COUNTER,
    lastSeen: { a: { counter: "2" } },
    expected: { class: "regression", newest: ["a"], regressed: ["a"] },
  },
  {
    name: "no regression when the last seen version is not newer",
    replicas: { a: held({ name: "bob", version: { counter: "2" } }), b: held({ version: { counter: "1" } }) },
    rules: COUNTER,
    lastSeen: { a: { counter: "2" }, b: { counter: "1" } },
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "no regression without version columns, even with a last seen version",
    replicas: { a: held({ name: "bob", version: { counter: "1" } }), b: held({ version: { counter: "1" } }) },
    rules: UNVERSIONED,
    lastSeen: { a: { counter: "9" } },
    expected: { class: "unversioned", newest: [] },
  },
  // unversioned
  {
    name: "unversioned: no version columns declared",
    replicas: { a: held({ name: "bob" }), b: held() },
    rules: UNVERSIONED,
    expected: { class: "unversioned", newest: [], columns: ["name"] },
  },
  {
    name: "unversioned: version columns declared but null on every replica",
    replicas: { a: held({ name: "bob", version: {} }), b: held({ version: {} }) },
    rules: COUNTER,
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "unversioned: three replicas, all different",
    replicas: { a: held({ name: "x" }), b: held({ name: "y" }), c: held({ name: "z" }) },
    rules: UNVERSIONED,
    expected: { class: "unversioned", newest: [] },
  },
  // in-flight
  {
    name: "in-flight: newest write 10s ago, window 30s",
    replicas: {
      a: held({ name: "bob", updatedAt: ts(10), version: { timestamp: ts(10) } }),
      b: held({ updatedAt: OLD, version: { timestamp: OLD } }),
    },
    rules: WINDOWED,
    expected: { class: "in-flight", newest: ["a", "b"] },
  },
  {
    name: "in-flight takes precedence over missing",
    replicas: {
      a: held({ updatedAt: ts(1), version: { timestamp: ts(1) } }),
      b: ABSENT,
      c: held({ updatedAt: ts(1) }),
    },
    rules: WINDOWED,
    expected: { class: "in-flight", newest: ["a", "c"] },
  },
  {
    name: "not in flight: newest write 31s ago, window 30s",
    replicas: {
      a: held({ name: "bob", updatedAt: ts(31), version: { timestamp: ts(31) } }),
      b: held({ updatedAt: OLD, version: { timestamp: OLD } }),
    },
    rules: WINDOWED,
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "not in flight: exactly the window old",
    replicas: {
      a: held({ name: "bob", updatedAt: ts(30), version: { timestamp: ts(30) } }),
      b: held({ updatedAt: OLD, version: { timestamp: OLD } }),
    },
    rules: WINDOWED,
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "in-flight depends on nowMs: the same write an hour later is stale",
    replicas: {
      a: held({ name: "bob", updatedAt: ts(10), version: { timestamp: ts(10) } }),
      b: held({ updatedAt: OLD, version: { timestamp: OLD } }),
    },
    rules: WINDOWED,
    nowMs: NOW_MS + 3_600_000,
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "in flight: a timestamp ahead of now by less than the window (a clock a little fast)",
    replicas: {
      a: held({ name: "bob", updatedAt: ts(-10), version: { timestamp: ts(-10) } }),
      b: held({ updatedAt: OLD, version: { timestamp: OLD } }),
    },
    rules: WINDOWED,
    expected: { class: "in-flight", newest: ["a", "b"] },
  },
  {
    // A timestamp further ahead than the window is no recent write (a clock years fast, a sentinel): judged
    // by the versions, instead of waiting until then (for infinity, forever, with repair exiting 0).
    name: "not in flight: a timestamp a year ahead of now",
    replicas: {
      a: held({ name: "bob", updatedAt: ts(-365 * 86_400), version: { timestamp: ts(-365 * 86_400) } }),
      b: held({ updatedAt: OLD, version: { timestamp: OLD } }),
    },
    rules: WINDOWED,
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "not in flight: a timestamp of infinity",
    replicas: {
      a: held({ name: "bob", updatedAt: "infinity", version: { timestamp: "infinity" } }),
      b: held({ updatedAt: OLD, version: { timestamp: OLD } }),
    },
    rules: WINDOWED,
    expected: { class: "stale", newest: ["a"] },
  },
  {
    name: "not in flight: a record one replica lacks, the other's timestamp in the far future",
    replicas: { a: held({ updatedAt: "+010000-01-01T00:00:00.000000Z" }), b: ABSENT },
    rules: WINDOWED,
    expected: { class: "missing", newest: ["a"] },
  },
  {
    name: "not in flight: a window without a timestamp column never applies",
    replicas: { a: held({ name: "bob", updatedAt: ts(1) }), b: held() },
    rules: { ...UNVERSIONED, windowMs: 30_000 },
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "not in flight: null timestamps give no age",
    replicas: { a: held({ name: "bob", updatedAt: null }), b: held({ updatedAt: null }) },
    rules: { ...UNVERSIONED, windowMs: 30_000, timestampColumn: 3 },
    expected: { class: "unversioned", newest: [] },
  },
  // tolerated
  {
    name: "tolerated: numeric difference under the bound",
    replicas: { a: held({ balance: "10.004" }), b: held({ balance: "10" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.005 } }),
    expected: { class: "tolerated", newest: [], columns: ["balance"] },
  },
  {
    name: "tolerated: numeric difference exactly at the bound",
    replicas: { a: held({ balance: "10.005" }), b: held({ balance: "10" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.005 } }),
    expected: { class: "tolerated", newest: [] },
  },
  {
    name: "tolerated: numeric difference exactly at the bound, large values",
    replicas: { a: held({ balance: "1000000.02" }), b: held({ balance: "1000000.01" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.01 } }),
    expected: { class: "tolerated", newest: [] },
  },
  {
    name: "not tolerated: numeric difference over the bound",
    replicas: { a: held({ balance: "10.006" }), b: held({ balance: "10" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.005 } }),
    expected: { class: "unversioned", newest: [], columns: ["balance"] },
  },
  {
    name: "not tolerated: numeric difference just over the bound, large values",
    replicas: { a: held({ balance: "1000000.03" }), b: held({ balance: "1000000.01" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.01 } }),
    expected: { class: "unversioned", newest: [] },
  },
  {
    // Through doubles with an epsilon scaled by the values, 10^13 + 0.01 passed a 0.005 bound.
    name: "not tolerated: 13-digit balances a cent apart, bound half a cent",
    replicas: { a: held({ balance: "10000000000000.01" }), b: held({ balance: "10000000000000" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.005 } }),
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "not tolerated: 19-digit integers 4000 apart, bound 1",
    replicas: { a: held({ balance: "9000000000000004000" }), b: held({ balance: "9000000000000000000" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 1 } }),
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "not tolerated: integers past 2^53 one apart, bound 0.5 (one double apart from neither)",
    replicas: { a: held({ balance: "9007199254740993" }), b: held({ balance: "9007199254740992" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.5 } }),
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "tolerated: integers past 2^53 one apart, bound 1",
    replicas: { a: held({ balance: "9007199254740993" }), b: held({ balance: "9007199254740992" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 1 } }),
    expected: { class: "tolerated", newest: [] },
  },
  {
    name: "tolerated: float texts with exponents, exactly the bound apart",
    replicas: { a: held({ balance: "1.0000000000000001e+21" }), b: held({ balance: "1e+21" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 1e5 } }),
    expected: { class: "tolerated", newest: [] },
  },
  {
    name: "not tolerated: tiny floats past a tiny bound",
    replicas: { a: held({ balance: "3e-7" }), b: held({ balance: "1e-7" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 1e-7 } }),
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "not tolerated: Infinity beside a number, NaN beside NaN-free values",
    replicas: { a: held({ balance: "Infinity" }), b: held({ balance: "1e+308" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 1e308 } }),
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "tolerated: three replicas, spread within the bound",
    replicas: { a: held({ balance: "10.002" }), b: held({ balance: "9.998" }), c: held({ balance: "10" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.005 } }),
    expected: { class: "tolerated", newest: [] },
  },
  {
    name: "not tolerated: three replicas, each pair within the bound of the middle but not of each other",
    replicas: { a: held({ balance: "10.004" }), b: held({ balance: "9.996" }), c: held({ balance: "10" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.005 } }),
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "not tolerated: another differing column has no tolerance",
    replicas: { a: held({ name: "bob", balance: "10.001" }), b: held({ balance: "10" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.005 } }),
    expected: { class: "unversioned", newest: [], columns: ["name", "balance"] },
  },
  {
    name: "not tolerated: null against a number",
    replicas: { a: held({ balance: null }), b: held({ balance: "0" }) },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 100 } }),
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "tolerated: timestamps 500ms apart, tolerance 1s",
    replicas: {
      a: held({ seenAt: "2024-01-01T00:00:00.500000Z" }),
      b: held({ seenAt: "2024-01-01T00:00:00.000000Z" }),
    },
    rules: rules(UNVERSIONED, { seen_at: { kind: "duration", micros: 1_000_000n } }),
    expected: { class: "tolerated", newest: [], columns: ["seen_at"] },
  },
  {
    name: "tolerated: timestamps exactly 1s apart, tolerance 1s",
    replicas: {
      a: held({ seenAt: "2024-01-01T00:00:01.000000Z" }),
      b: held({ seenAt: "2024-01-01T00:00:00.000000Z" }),
    },
    rules: rules(UNVERSIONED, { seen_at: { kind: "duration", micros: 1_000_000n } }),
    expected: { class: "tolerated", newest: [] },
  },
  {
    name: "not tolerated: timestamps 1s and 1µs apart, tolerance 1s",
    replicas: {
      a: held({ seenAt: "2024-01-01T00:00:01.000001Z" }),
      b: held({ seenAt: "2024-01-01T00:00:00.000000Z" }),
    },
    rules: rules(UNVERSIONED, { seen_at: { kind: "duration", micros: 1_000_000n } }),
    expected: { class: "unversioned", newest: [] },
  },
  {
    name: "tolerance comes before versions: a tolerated difference is not stale",
    replicas: {
      a: held({ balance: "10.001", version: { counter: "2" } }),
      b: held({ balance: "10", version: { counter: "2" } }),
    },
    rules: rules(COUNTER, { balance: { kind: "numeric", bound: 0.005 } }),
    expected: { class: "tolerated", newest: [] },
  },
  {
    name: "not tolerated: missing is classified first",
    replicas: { a: held({ balance: "10.001" }), b: ABSENT },
    rules: rules(UNVERSIONED, { balance: { kind: "numeric", bound: 0.005 } }),
    expected: { class: "missing", newest: ["a"] },
  },
];

describe("classifyDivergence", () => {
  it.each(cases)("$name", (c) => {
    const ctx: ClassifyContext = {
      shape: SHAPE,
      rules: c.rules,
      nowMs: c.nowMs ?? NOW_MS,
      ...(c.lastSeen ? { lastSeen: c.lastSeen } : {}),
    };
    const d = classifyDivergence({ key: KEY, replicas: c.replicas }, ctx);
    expect(d.class).toBe(c.expected.class);
    expect([...d.newest].sort()).toEqual(c.expected.newest);
    expect(d.regressed).toEqual(c.expected.regressed ?? []);
    if (c.expected.columns) expect(d.columns).toEqual(c.expected.columns);
    expect(d.key).toEqual(KEY);
    expect(d.replicas).toBe(c.replicas);
  });

  it("is deterministic: the same observation and context give the same divergence", () => {
    const c = cases.find((x) => x.name.startsWith("conflict: two of three"))!;
    const ctx: ClassifyContext = { shape: SHAPE, rules: c.rules, nowMs: NOW_MS };
    const obs = { key: KEY, replicas: c.replicas };
    expect(classifyDivergence(obs, ctx)).toEqual(classifyDivergence(obs, ctx));
  });
});
