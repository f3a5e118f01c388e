import { describe, expect, it } from "vitest";
import { canonicalValue } from "./canonical.js";
import { nativeJson, nativeOf, nativeValueAt, parseNativeJson, withNative } from "./native-values.js";

describe("native values", () => {
  it("ride on the canonical values array, invisible to JSON and equality, and only for the same store and type", () => {
    const values = withNative(["1.5", null], {
      store: "postgres",
      types: ["numeric", "json"],
      values: ["1.50", null],
    });
    expect(JSON.stringify(values)).toBe('["1.5",null]');
    expect(values).toEqual(["1.5", null]);
    expect(nativeValueAt(values, 0, "postgres", "numeric")).toBe("1.50");
    expect(nativeValueAt(values, 0, "postgres", "numeric(10,2)")).toBeUndefined();
    expect(nativeValueAt(values, 0, "mysql", "numeric")).toBeUndefined();
    expect(nativeValueAt([...values], 0, "postgres", "numeric")).toBeUndefined();
  });

  it("go through the ledger's JSON with SQLite's storage classes, and are written back only where they read as the vouched value", () => {
    const values = withNative(["7", "1", '{"a":1.5}', "ab"], {
      store: "sqlite",
      types: ["", "REAL", "JSON", "BLOB"],
      values: [7n, 1, '{"a": 1.50}', Buffer.from("ab", "hex")],
    });
    const back = parseNativeJson(nativeJson(nativeOf(values), values))!;
    expect(back.values).toEqual([7n, 1, '{"a": 1.50}', Buffer.from("ab", "hex")]);
    expect(back.unchecked).toBe(true);
    const read = withNative([...values], back);
    const check = (type: "integer" | "float" | "json") => (raw: unknown) => canonicalValue(type, raw);
    expect(nativeValueAt(read, 0, "sqlite", "", check("integer"))).toBe(7n);
    expect(nativeValueAt(read, 2, "sqlite", "JSON", check("json"))).toBe('{"a": 1.50}');
    // A ledger row whose native text says another value than its (audited) canonical one: not written.
    const tampered = withNative(["7", "1", '{"a":2}', "ab"], back);
    expect(nativeValueAt(tampered, 2, "sqlite", "JSON", check("json"))).toBeUndefined();
    expect(nativeValueAt(tampered, 2, "sqlite", "JSON")).toBeUndefined();
    expect(parseNativeJson("not json")).toBeUndefined();
    expect(parseNativeJson(null)).toBeUndefined();
  });

  it("are kept in the ledger only where a text store's spelling differs from the canonical text", () => {
    const pg = (native: unknown[]) =>
      withNative(["abc", "4", "1.5"], {
        store: "postgres",
        types: ["text", "bigint", "numeric"],
        values: native,
      });
    // Spelt as the canonical text, or not read natively: nothing to keep, no JSON at all.
    expect(nativeJson(nativeOf(pg(["abc", "4", "1.5"])), pg([]))).toBeNull();
    expect(nativeJson(nativeOf(pg(["abc", undefined, undefined])), pg([]))).toBeNull();
    // 1.50 is kept, the others are not repeated.
    const kept = parseNativeJson(nativeJson(nativeOf(pg(["abc", "4", "1.50"])), pg([])))!;
    expect(kept.values).toEqual([undefined, undefined, "1.50"]);
    // SQLite's text is kept even when it spells the canonical value: its storage class is what it keeps.
    const lite = withNative(["1.5"], { store: "sqlite", types: [""], values: ["1.5"] });
    expect(parseNativeJson(nativeJson(nativeOf(lite), lite))!.values).toEqual(["1.5"]);
  });
});
