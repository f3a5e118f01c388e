import { describe, expect, it } from "vitest";
import type { CanonicalValue, ColumnType } from "./canonical.js";
import type { Divergence, ReplicaObservation } from "./classify.js";
import { fingerprintRow } from "./fingerprint.js";
import { compareValues, type MergeResult, mergeRecords } from "./merge.js";
import type { RecordShape } from "./model.js";
import { nativeJson, nativeOf, nativeValueAt, parseNativeJson, withNative } from "./native-values.js";
import { type CompiledPolicy, compilePolicy, type MergeRule, PolicyError } from "./policy.js";

const KEY = ["7"];
const REPLICAS = ["a", "b", "c"] as const;
type Replica = (typeof REPLICAS)[number];

// NaN is kept (not read as 0): a comparison must be a total order.
const sign = (n: number) => (Number.isNaN(n) ? Number.NaN : n < 0 ? -1 : n > 0 ? 1 : 0);

describe("compareValues", () => {
  const cases: [ColumnType, string, string, -1 | 0 | 1][] = [
    ["integer", "1", "2", -1],
    ["integer", "2", "10", -1],
    ["integer", "-1", "-2", 1],
    ["integer", "-10", "2", -1],
    ["integer", "0", "0", 0],
    ["integer", "9223372036854775807", "9223372036854775806", 1],
    ["integer", "-9223372036854775808", "-9223372036854775807", -1],
    ["integer", "123456789012345678901234567890", "99", 1],
    ["integer", "-123456789012345678901234567890", "-99", -1],
    ["decimal", "1.5", "1.25", 1],
    ["decimal", "-1.5", "-1.25", -1],
    ["decimal", "10", "9.99", 1],
    ["decimal", "-2", "-10", 1],
    ["decimal", "-0.5", "0", -1],
    ["decimal", "0", "0.01", -1],
    ["decimal", "0.5", "0", 1],
    ["decimal", "100", "100", 0],
    ["decimal", "2.50000000000000000001", "2.5", 1],
    ["decimal", "12345678901234567890.5", "12345678901234567890.25", 1],
    ["float", "1.5", "2", -1],
    ["float", "-1e+21", "1", -1],
    ["float", "1e-7", "0", 1],
    ["float", "Infinity", "1.7976931348623157e+308", 1],
    ["float", "-Infinity", "-1.7976931348623157e+308", -1],
    ["float", "Infinity", "Infinity", 0],
    ["float", "-Infinity", "-Infinity", 0],
    ["float", "0.1", "0.1", 0],
    ["timestamp", "2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:00.000001Z", -1],
    ["timestamp", "0001-01-01T00:00:00.000000Z", "1970-01-01T00:00:00.000000Z", -1],
    ["timestamp", "1969-12-31T23:59:59.999999Z", "1970-01-01T00:00:00.000000Z", -1],
    ["timestamp", "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z", 0],
    ["timestamp", "2100-01-01T00:00:00.000000Z", "1999-12-31T23:59:59.999999Z", 1],
    ["timestamp", "-000043-03-15T00:00:00.000000Z", "0044-03-15T00:00:00.000000Z", -1],
    ["timestamp", "infinity", "+294276-12-31T23:59:59.999999Z", 1],
    ["timestamp", "-infinity", "-004713-11-24T00:00:00.000000Z", -1],
    ["timestamp", "infinity", "infinity", 0],
    ["decimal", "Infinity", "99999999999999999999", 1],
    ["decimal", "-Infinity", "-99999999999999999999", -1],
    ["decimal", "NaN", "Infinity", 1],
    ["decimal", "NaN", "NaN", 0],
    ["float32", "0.33333334", "0.3", 1],
    ["float32", "3.4028235e+38", "16777216", 1],
    ["time", "10:00:00.000000", "09:59:59.999999", 1],
    ["time", "100:00:00.000000", "99:00:00.000000", 1],
    ["time", "-01:00:00.000000", "00:00:00.000000", -1],
    ["text", "a", "b", -1],
    ["text", "B", "a", -1],
    ["text", "é", "z", 1],
    ["text", "😀", "\uFFFF", 1],
    ["text", "", "a", -1],
    ["text", "ab", "a", 1],
    ["text", "same", "same", 0],
    ["boolean", "f", "t", -1],
  ];
  it.each(cases)("%s: compare(%j, %j) has sign %i, and the reverse the opposite", (type, a, b, expected) => {
    expect(sign(compareValues(type, a, b))).toBe(expected);
    expect(sign(compareValues(type, b, a))).toBe(-expected || 0);
  });

  it("orders NaN consistently (after every number), so max and min do not depend on replica order", () => {
    expect(sign(compareValues("float", "NaN", "NaN"))).toBe(0);
    expect(sign(compareValues("float", "NaN", "Infinity"))).toBe(1);
    expect(sign(compareValues("float", "1", "NaN"))).toBe(-1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// mergeRecords: a shape with one column per type plus version columns.

/** id | n, d, f, t, s, tags, site, ver (counter), ts (timestamp), vv (vector). */
const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "n", type: "integer" },
    { name: "d", type: "decimal" },
    { name: "f", type: "float" },
    { name: "t", type: "timestamp" },
    { name: "s", type: "text" },
    { name: "tags", type: "json" },
    { name: "site", type: "text" },
    { name: "ver", type: "integer" },
    { name: "ts", type: "timestamp" },
    { name: "vv", type: "json" },
  ],
};
const COLUMN = Object.fromEntries(SHAPE.columns.map((c, i) => [c.name, i])) as Record<string, number>;
const VERSIONS = { counter: COLUMN.ver!, timestamp: COLUMN.ts!, vector: COLUMN.vv! };
const T0 = "2024-01-01T00:00:00.000000Z";
const T1 = "2024-01-01T00:00:01.000000Z";
const T2 = "2024-01-01T00:00:02.000000Z";

const BASE: Record<string, CanonicalValue> = {
  n: "1",
  d: "1.5",
  f: "0.5",
  t: T0,
  s: "same",
  tags: '["x"]',
  site: "eu",
  ver: "1",
  ts: T0,
  vv: '{"a":1}',
};

type Patch = Record<string, CanonicalValue> | "absent";

function observation(patch: Patch): ReplicaObservation {
  if (patch === "absent") return { present: false };
  const values = SHAPE.columns.map((c) => (c.name in patch ? patch[c.name]! : BASE[c.name]!));
  return { present: true, values, fingerprint: fingerprintRow(KEY, values) };
}

function divergence(patches: readonly Patch[]): Divergence {
  const replicas: Record<string, ReplicaObservation> = {};
  patches.forEach((p, i) => {
    replicas[REPLICAS[i]!] = observation(p);
  });
  return { key: KEY, replicas, class: "conflict", columns: [], newest: [], regressed: [] };
}

function policy(
  merge: Record<string, MergeRule>,
  replicas: number,
  owner?: Replica,
  versions: CompiledPolicy["versionColumns"] = VERSIONS,
): CompiledPolicy {
  return compilePolicy(
    { merge, resolve: "merge", ...(owner ? { owner } : {}) },
    SHAPE,
    REPLICAS.slice(0, replicas),
    versions,
  );
}

/** Merges and returns the merged value of `column` (or the uncovered result). */
function mergeColumn(
  column: string,
  rule: MergeRule | undefined,
  values: readonly CanonicalValue[],
  owner?: Replica,
): MergeResult {
  const d = divergence(values.map((v) => ({ [column]: v })));
  return mergeRecords(d, SHAPE, policy(rule ? { [column]: rule } : {}, values.length, owner), owner);
}

function merged(result: MergeResult, column: string): CanonicalValue {
  if (result.kind !== "merged") throw new Error(`uncovered: ${result.columns.join(", ")}`);
  return result.values[COLUMN[column]!]!;
}

describe("mergeRecords: max and min per type", () => {
  const cases: [string, string, readonly CanonicalValue[], CanonicalValue, CanonicalValue][] = [
    ["integer, negatives", "n", ["-5", "3", "-10"], "3", "-10"],
    ["integer, numeric not lexicographic", "n", ["2", "10"], "10", "2"],
    [
      "integer, 64-bit bounds",
      "n",
      ["9223372036854775807", "-9223372036854775808"],
      "9223372036854775807",
      "-9223372036854775808",
    ],
    [
      "integer, beyond 64 bits",
      "n",
      ["100000000000000000000000", "99999999999999999999999"],
      "100000000000000000000000",
      "99999999999999999999999",
    ],
    ["integer, null ignored", "n", [null, "-1"], "-1", "-1"],
    ["integer, null ignored among three", "n", ["4", null, "-4"], "4", "-4"],
    ["decimal", "d", ["1.5", "1.25", "-3"], "1.5", "-3"],
    ["decimal, negatives", "d", ["-0.5", "-0.25"], "-0.25", "-0.5"],
    ["decimal, integer part decides", "d", ["10", "9.999"], "10", "9.999"],
    [
      "decimal, beyond double precision",
      "d",
      ["12345678901234567890.1", "12345678901234567890.01"],
      "12345678901234567890.1",
      "12345678901234567890.01",
    ],
    ["float", "f", ["1.5", "-2", "1e+21"], "1e+21", "-2"],
    ["float, tiny", "f", ["1e-7", "0"], "1e-7", "0"],
    ["float, infinities", "f", ["Infinity", "-Infinity", "0"], "Infinity", "-Infinity"],
    ["timestamp", "t", [T1, T0, "1969-12-31T23:59:59.999999Z"], T1, "1969-12-31T23:59:59.999999Z"],
    ["timestamp, microseconds", "t", ["2024-01-01T00:00:00.000001Z", T0], "2024-01-01T00:00:00.000001Z", T0],
    ["text, code point order", "s", ["b", "a", "B"], "b", "B"],
    ["text, astral beyond BMP", "s", ["😀", "\uFFFF"], "😀", "\uFFFF"],
    ["text, empty is not null", "s", ["", "a", null], "a", ""],
  ];
  it.each(cases)("%s", (_name, column, values, max, min) => {
    expect(merged(mergeColumn(column, "max", values), column)).toBe(max);
    expect(merged(mergeColumn(column, "min", values), column)).toBe(min);
  });

  it("gives the same max and min whatever the replica order (float with NaN included)", () => {
    const values = ["1", "NaN", "3"];
    const orders = [values, [...values].reverse(), ["NaN", "3", "1"]];
    for (const rule of ["max", "min"] as const) {
      const results = orders.map((o) => merged(mergeColumn("f", rule, o), "f"));
      expect(new Set(results).size, rule).toBe(1);
    }
  });

  it("keeps equal columns without a rule and null when every holder has null", () => {
    const result = mergeColumn("n", "max", ["3", "4"]);
    expect(result).toEqual({
      kind: "merged",
      tie: false,
      values: SHAPE.columns.map((c) => (c.name === "n" ? "4" : BASE[c.name]!)),
    });
  });
});

describe("mergeRecords: lww", () => {
  const lww = (rows: readonly [CanonicalValue, CanonicalValue][]) =>
    mergeRecords(
      divergence(rows.map(([s, ts]) => ({ s, ts }))),
      SHAPE,
      policy({ s: "lww" }, rows.length),
      undefined,
    );
  const cases: [
    string,
    readonly [CanonicalValue, CanonicalValue][],
    CanonicalValue,
    CanonicalValue,
    boolean,
  ][] = [
    [
      "the later writer wins",
      [
        ["x", T1],
        ["y", T2],
      ],
      "y",
      T2,
      false,
    ],
    [
      "the later writer wins in first position",
      [
        ["x", T2],
        ["y", T1],
      ],
      "x",
      T2,
      false,
    ],
    [
      "equal timestamps tie: the first replica wins",
      [
        ["x", T1],
        ["y", T1],
      ],
      "x",
      T1,
      true,
    ],
    [
      "two newest with the same value are no tie",
      [
        ["x", T1],
        ["y", T2],
        ["y", T2],
      ],
      "y",
      T2,
      false,
    ],
    [
      "two newest with different values tie",
      [
        ["x", T1],
        ["y", T2],
        ["z", T2],
      ],
      "y",
      T2,
      true,
    ],
    [
      "a tie below a newer writer is no tie",
      [
        ["x", T1],
        ["y", T1],
        ["z", T2],
      ],
      "z",
      T2,
      false,
    ],
    [
      "a null timestamp loses",
      [
        ["x", null],
        ["y", T1],
      ],
      "y",
      T1,
      false,
    ],
    [
      // A null timestamp was the instant -1 µs: it beat every timestamp before 1970.
      "a null timestamp loses to one before 1970",
      [
        ["x", null],
        ["y", "1960-05-01T00:00:00.000000Z"],
      ],
      "y",
      "1960-05-01T00:00:00.000000Z",
      false,
    ],
    [
      "a null timestamp is no tie with 1969-12-31T23:59:59.999999Z",
      [
        ["x", "1969-12-31T23:59:59.999999Z"],
        ["y", null],
      ],
      "x",
      "1969-12-31T23:59:59.999999Z",
      false,
    ],
    [
      "-infinity beats a null timestamp",
      [
        ["x", null],
        ["y", "-infinity"],
      ],
      "y",
      "-infinity",
      false,
    ],
    [
      "all timestamps null tie",
      [
        ["x", null],
        ["y", null],
      ],
      "x",
      null,
      true,
    ],
    [
      "a null value written last wins",
      [
        ["x", T1],
        [null, T2],
      ],
      null,
      T2,
      false,
    ],
  ];
  it.each(cases)("%s", (_name, rows, value, ts, tie) => {
    const result = lww(rows);
    expect(result.kind).toBe("merged");
    expect(merged(result, "s")).toBe(value);
    expect(merged(result, "ts")).toBe(ts);
    expect(result.kind === "merged" && result.tie).toBe(tie);
  });

  it("needs a timestamp version column", () => {
    expect(() => policy({ s: "lww" }, 2, undefined, { counter: COLUMN.ver! })).toThrow(PolicyError);
    expect(() => policy({ s: "lww" }, 2, undefined, { counter: COLUMN.ver! })).toThrow(
      'policy.merge.s: rule "lww" needs versions.timestamp',
    );
  });
});

describe("mergeRecords: union of JSON arrays", () => {
  // tags is a json column; s is text, which may hold anything.
  const cases: [string, string, readonly CanonicalValue[], CanonicalValue | "uncovered"][] = [
    ["numbers", "tags", ["[1,2]", "[2,3]"], "[1,2,3]"],
    ["first-seen order over three replicas", "tags", ['["a"]', '["b","a"]', '["c"]'], '["a","b","c"]'],
    ["objects by value", "tags", ['[{"id":1}]', '[{"id":1},{"id":2}]'], '[{"id":1},{"id":2}]'],
    ["empty array", "tags", ["[]", "[1]"], "[1]"],
    ["null is no elements", "tags", [null, '["a"]'], '["a"]'],
    ["duplicates within one replica collapse", "tags", ["[1,1]", "[2]"], "[1,2]"],
    // Exact: elements differing beyond 2^53 or beyond the range of a double stay distinct.
    [
      "numbers beyond 2^53",
      "tags",
      ["[9007199254740993]", "[9007199254740992]"],
      "[9007199254740993,9007199254740992]",
    ],
    ["numbers beyond a double", "tags", ["[1e+400]", "[null]"], "[1e+400,null]"],
    ["JSON arrays in a text column", "s", ['["a"]', '["b"]'], '["a","b"]'],
    ["a JSON object is not covered", "tags", ['{"a":1}', "[1]"], "uncovered"],
    ["a JSON scalar is not covered", "tags", ["3", "[1]"], "uncovered"],
    ["text that is not JSON is not covered (no throw)", "s", ["not json", "[1]"], "uncovered"],
  ];
  it.each(cases)("%s", (_name, column, values, expected) => {
    const result = mergeColumn(column, "union", values);
    if (expected === "uncovered") expect(result).toEqual({ kind: "uncovered", columns: [column] });
    else expect(merged(result, column)).toBe(expected);
  });
});

describe("mergeRecords: owner rule", () => {
  it("takes the owner's value", () => {
    expect(merged(mergeColumn("s", "owner", ["x", "y", "z"], "b"), "s")).toBe("y");
    expect(merged(mergeColumn("s", "owner", ["x", null], "b"), "s")).toBe(null);
  });

  it("is uncovered without an owner, or when the owner lacks the record", () => {
    const d = divergence([{ s: "x" }, { s: "y" }]);
    expect(mergeRecords(d, SHAPE, policy({ s: "owner" }, 2, "b"), undefined)).toEqual({
      kind: "uncovered",
      columns: ["s"],
    });
    const absentOwner = divergence([{ s: "x" }, { s: "y" }, "absent"]);
    expect(mergeRecords(absentOwner, SHAPE, policy({ s: "owner" }, 3, "c"), "c")).toEqual({
      kind: "uncovered",
      columns: ["s"],
    });
  });

  it("cannot be declared without policy.owner", () => {
    expect(() => policy({ s: "owner" }, 2)).toThrow('policy.merge.s: rule "owner" needs policy.owner');
  });
});

describe("mergeRecords: coverage", () => {
  it("lists every differing column no rule covers, in shape order", () => {
    const d = divergence([
      { s: "x", n: "1", d: "1", site: "eu" },
      { s: "y", n: "2", d: "2", site: "us" },
    ]);
    expect(mergeRecords(d, SHAPE, policy({ n: "max" }, 2), undefined)).toEqual({
      kind: "uncovered",
      columns: ["d", "s", "site"],
    });
  });

  it("ignores replicas that lack the record", () => {
    const d = divergence([{ n: "1" }, "absent", { n: "5" }]);
    expect(merged(mergeRecords(d, SHAPE, policy({ n: "min" }, 3), undefined), "n")).toBe("1");
  });

  it("rejects a rule for a column the dataset does not compare", () => {
    expect(() => policy({ nope: "max" }, 2)).toThrow('policy.merge.nope: "nope" is not a compared column');
  });
});

describe("mergeRecords: version columns", () => {
  const cases: [string, readonly Patch[], Record<string, CanonicalValue>][] = [
    [
      "vectors merge pointwise, nodes sorted",
      [{ vv: '{"b":1,"a":2}' }, { vv: '{"a":1,"b":3,"c":1}' }],
      { vv: '{"a":2,"b":3,"c":1}' },
    ],
    [
      "vectors over three replicas, a null vector skipped",
      [{ vv: '{"a":5}' }, { vv: null }, { vv: '{"b":2}' }],
      { vv: '{"a":5,"b":2}' },
    ],
    [
      // Was {"a":9007199254740992}: both entries read as the same double, and the merged vector written
      // back rounded, below what replica one holds.
      "vector entries past 2^53 merge exactly",
      [{ vv: '{"a":9007199254740993,"b":1}' }, { vv: '{"a":9007199254740992,"b":2}' }],
      { vv: '{"a":9007199254740993,"b":2}' },
    ],
    [
      "an entry kept as a string keeps its form; integer-like nodes first, as canonical JSON orders them",
      [{ vv: '{"x":"18446744073709551617","10":1}' }, { vv: '{"x":"18446744073709551616","2":1}' }],
      { vv: '{"2":1,"10":1,"x":"18446744073709551617"}' },
    ],
    ["the counter takes the numeric max", [{ ver: "9" }, { ver: "10" }], { ver: "10" }],
    ["a negative counter", [{ ver: "-3" }, { ver: "-30" }], { ver: "-3" }],
    ["the timestamp takes the latest", [{ ts: T2 }, { ts: T1 }], { ts: T2 }],
  ];
  it.each(cases)("%s (no rule declared)", (_name, patches, expected) => {
    const result = mergeRecords(divergence(patches), SHAPE, policy({ s: "max" }, patches.length), undefined);
    expect(result.kind).toBe("merged");
    for (const [column, value] of Object.entries(expected)) expect(merged(result, column)).toBe(value);
  });

  it("a declared rule overrides the counter's default max", () => {
    const result = mergeRecords(
      divergence([{ ver: "9" }, { ver: "10" }]),
      SHAPE,
      policy({ ver: "min" }, 2),
      undefined,
    );
    expect(merged(result, "ver")).toBe("9");
  });

  it("a counter column that is not declared a version column needs a rule", () => {
    const d = divergence([{ ver: "9" }, { ver: "10" }]);
    expect(mergeRecords(d, SHAPE, policy({ s: "max" }, 2, undefined, {}), undefined)).toEqual({
      kind: "uncovered",
      columns: ["ver"],
    });
  });
});

describe("mergeRecords: native values", () => {
  /** Replica `r`'s observation with its values' native texts attached, read by `store` (type "t<column>"). */
  function read(patch: Record<string, CanonicalValue>, store: string, texts: Record<string, string>) {
    const o = observation(patch);
    const values = o.values!.map((v, i) => texts[SHAPE.columns[i]!.name] ?? v);
    withNative(o.values!, { store, types: SHAPE.columns.map((c) => `t${c.name}`), values });
    return o;
  }

  it("carries, column by column, the native value of the replica it was taken from, with its store", () => {
    const d: Divergence = {
      key: KEY,
      replicas: {
        a: read({ d: "1.5", tags: '["x"]' }, "postgres", { d: "1.50", f: "0.50", tags: '[ "x" ]' }),
        b: read({ d: "2.5", tags: '["y"]' }, "postgres", { d: "2.50", f: "5e-1" }),
        c: read({ d: "2", s: "z", tags: '["x"]' }, "mysql", { s: "z" }),
      },
      class: "conflict",
      columns: [],
      newest: [],
      regressed: [],
    };
    const result = mergeRecords(d, SHAPE, policy({ d: "max", s: "owner", tags: "union" }, 3, "c"), "c");
    if (result.kind !== "merged") throw new Error("uncovered");
    const at = (column: string, store: string) =>
      nativeValueAt(result.values, COLUMN[column]!, store, `t${column}`);
    // max: b's; owner: c's, which only a MariaDB target writes; equal: the first replica's; union: made here.
    expect(at("d", "postgres")).toBe("2.50");
    expect(at("s", "mysql")).toBe("z");
    expect(at("s", "postgres")).toBeUndefined();
    expect(at("f", "postgres")).toBe("0.50");
    expect(at("tags", "postgres")).toBeUndefined();
    expect(result.values[COLUMN.tags!]).toBe('["x","y"]');
    // The ledger's text of such a row gives each column its own store back.
    const back = withNative([...result.values], parseNativeJson(nativeJson(nativeOf(result.values), []))!);
    expect(nativeValueAt(back, COLUMN.s!, "mysql", "ts", (v) => v as string)).toBe("z");
    expect(nativeValueAt(back, COLUMN.s!, "postgres", "ts", (v) => v as string)).toBeUndefined();
  });

  it("carries none when no replica's record came with native values", () => {
    const result = mergeColumn("d", "max", ["1.5", "2.5"]);
    expect(result.kind === "merged" && nativeOf(result.values)).toBeUndefined();
  });
});
