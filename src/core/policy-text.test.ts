import { describe, expect, it } from "vitest";
import type { RecordShape } from "./model.js";
import { compilePolicy } from "./policy.js";
import { policyText } from "./policy-text.js";

const shape: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "balance", type: "decimal" },
    { name: "version", type: "integer" },
  ],
};

describe("policyText", () => {
  it("writes the declaration, sorted, and what it was compiled against", () => {
    const text = policyText(
      {
        resolve: "highest-version",
        owner: "a",
        tolerance: { balance: { kind: "numeric", bound: 0.005 } },
        limits: { maxRepairs: 10, writesPerSecond: undefined },
        merge: {},
        escalateAmbiguity: 0.5,
      },
      shape,
      ["a", "b"],
      { counter: 2 },
    );
    expect(text).toBe(
      [
        "policy:",
        "  escalateAmbiguity: 0.5",
        "  limits:",
        "    maxRepairs: 10",
        "  merge: {}",
        "  owner: a",
        "  resolve: highest-version",
        "  tolerance:",
        "    balance:",
        "      bound: 0.005",
        "      kind: numeric",
        "compared:",
        "  columns: [name:text, balance:decimal, version:integer]",
        "  key: [id]",
        "  replicas: [a, b]",
        "  versions:",
        "    counter: version",
        "",
      ].join("\n"),
    );
  });

  it("quotes what YAML would read as something else, and shows an empty declaration", () => {
    const text = policyText(
      { owner: { field: "region", map: { "eu west": "a", yes: "b", "1": "a" } } },
      shape,
      ["a", "b"],
      {},
    );
    expect(text).toContain('      "1": a\n      "eu west": a\n      "yes": b\n');
    expect(policyText({}, shape, ["a", "b"], {})).toMatch(/^policy: \{\}\ncompared:\n/);
  });

  it("is the same text whenever the compiled version is the same", () => {
    const a = { resolve: "lww" as const, limits: { maxRepairs: 5 } };
    const b = { limits: { maxRepairs: 5 }, resolve: "lww" as const };
    const versions = { timestamp: 1 };
    expect(compilePolicy(a, shape, ["a", "b"], versions).version).toBe(
      compilePolicy(b, shape, ["a", "b"], versions).version,
    );
    expect(policyText(a, shape, ["a", "b"], versions)).toBe(policyText(b, shape, ["a", "b"], versions));
  });
});
