import { describe, expect, it } from "vitest";
import { canonicalFloatArray, numberArrayElement } from "./postgres-array-text.js";

describe("canonicalFloatArray", () => {
  it.each([
    ["{1e+16,-0,NaN,Infinity,-Infinity}", "{10000000000000000,0,NaN,Infinity,-Infinity}"],
    // Decimals without an exponent, as a numeric[] prints them: a float8[] beside it compares element-wise.
    ["{1.5e-07,0.1,NULL}", "{0.00000015,0.1,NULL}"],
    ["{{1,2},{3,1e+21}}", "{{1,2},{3,1000000000000000000000}}"],
    ["[0:1]={1e+16,2}", "[0:1]={10000000000000000,2}"],
    ["{}", "{}"],
  ])("%s → %s", (raw, canonical) => {
    expect(canonicalFloatArray(raw)).toBe(canonical);
  });

  it("leaves NULL and non-text values alone", () => {
    expect(canonicalFloatArray(null)).toBe(null);
  });
});

describe("numberArrayElement", () => {
  it.each([
    ["_numeric", "decimal"],
    ["_float4", "float"],
    ["_float8", "float"],
    ["_int4", undefined],
    ["_text", undefined],
    ["numeric", undefined],
  ])("%s → %s", (base, element) => {
    expect(numberArrayElement(base)).toBe(element);
  });
});
