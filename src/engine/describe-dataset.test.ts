import { describe, expect, it } from "vitest";
import type { DatasetConfig } from "../config/load-config.js";
import type { TableDescription } from "../connectors/connector.js";
import { MemoryConnector, MemoryTable } from "../connectors/memory/memory-connector.js";
import { resolveShape } from "../detect/resolve-shape.js";
import { describeDataset, describedFingerprint } from "./describe-dataset.js";

function dataset(tolerance: DatasetConfig["policy"]["tolerance"] = {}): DatasetConfig {
  return {
    name: "items",
    key: ["id"],
    types: {},
    versions: { counter: "version" },
    replicas: [
      { name: "a", url: "memory:a" },
      { name: "b", url: "memory:b" },
    ],
    detect: {},
    mode: "repair",
    intensity: 1,
    checkpointRows: 100_000,
    policy: { merge: {}, tolerance, limits: {} },
  };
}

const COLUMNS: TableDescription["columns"] = [
  { name: "id", type: "integer", nativeType: "INTEGER" },
  { name: "price", type: "decimal", nativeType: "DECIMAL(10,2)" },
  { name: "version", type: "integer", nativeType: "INTEGER" },
];

/** The fingerprint of a and b described as given (both default to COLUMNS). */
function print(b: TableDescription["columns"] = COLUMNS, ds = dataset(), a = COLUMNS): string {
  return describedFingerprint(
    resolveShape(
      ds,
      new Map([
        ["a", { columns: a }],
        ["b", { columns: b }],
      ]),
    ),
  );
}

describe("describedFingerprint", () => {
  it.each([
    ["the same description", () => print(), true],
    [
      "a column added on one replica (a schema issue)",
      () => print([...COLUMNS, { name: "note", type: "text", nativeType: "TEXT" }]),
      false,
    ],
    [
      "a numeric tolerance (a Map in the rules)",
      () => print(COLUMNS, dataset({ price: { kind: "numeric", bound: 0.01 } })),
      false,
    ],
    [
      "a duration tolerance (a bigint in the rules)",
      () => {
        const timed = [...COLUMNS, { name: "at", type: "timestamp" as const, nativeType: "TIMESTAMP" }];
        return print(timed, dataset({ at: { kind: "duration", ms: 1500 } }), timed);
      },
      false,
    ],
  ])("%s → equal: %s", (_, other, equal) => {
    expect(other() === print()).toBe(equal);
  });

  it("describeDataset's covers the replicas' tables, and changes with them", async () => {
    const table = (extra: boolean) =>
      new MemoryTable(
        [{ name: "id", type: "integer" }],
        [
          { name: "price", type: "decimal" },
          { name: "version", type: "integer" },
          ...(extra ? [{ name: "note", type: "text" as const }] : []),
        ],
      );
    const described = (extra: boolean) =>
      describeDataset(dataset(), [
        { name: "a", connector: new MemoryConnector(table(false)) },
        { name: "b", connector: new MemoryConnector(table(extra)) },
      ]);
    const [same, again, changed] = [await described(false), await described(false), await described(true)];
    expect(same.fingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(describedFingerprint(same)).toBe(same.fingerprint);
    expect(again.fingerprint).toBe(same.fingerprint);
    expect(changed.fingerprint).not.toBe(same.fingerprint);
  });
});
