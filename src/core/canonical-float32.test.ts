import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalValue, ValueError } from "./canonical.js";
import { float32AsDouble, shortestFloat32 } from "./canonical-float32.js";

/** A float32 from its bit pattern. */
function fromBits(word: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, word >>> 0);
  return view.getFloat32(0);
}

describe("shortestFloat32", () => {
  it.each<[number, string]>([
    [Math.fround(1 / 3), "0.33333334"],
    [Math.fround(0.1), "0.1"],
    [Math.fround(1.0000012), "1.0000012"],
    [16777216, "16777216"],
    [16777218, "16777218"],
    [Math.fround(3.4028234663852886e38), "3.4028235e+38"],
    [fromBits(1), "1e-45"],
    [fromBits(0x00800000), "1.1754944e-38"],
    [fromBits(0x007fffff), "1.1754942e-38"],
    [-Math.fround(2.5), "-2.5"],
    [1, "1"],
    [Math.fround(1e10), "10000000000"],
    [Math.fround(123456.7), "123456.7"],
    [-0, "0"],
    [0, "0"],
  ])("%d → %s", (x, text) => {
    expect(shortestFloat32(x)).toBe(text);
  });

  it("reads back as the same float32, and no shorter text does", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (word) => {
        const x = fromBits(word);
        if (!Number.isFinite(x) || x === 0) return;
        const text = shortestFloat32(x);
        expect(Math.fround(Number(text))).toBe(x);
        const digits = text
          .replace(/^-/, "")
          .replace(/e.*$/, "")
          .replace(".", "")
          .replace(/^0+/, "")
          .replace(/0+$/, "");
        // toPrecision with one digit fewer never reads back (up to a double's own rounding, far finer).
        if (digits.length > 1) {
          const shorter = Math.abs(x).toPrecision(digits.length - 1);
          expect(Math.fround(Number(shorter))).not.toBe(Math.abs(x));
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it("finds the shortest text at the edges of binades (where the interval is lopsided)", () => {
    // Powers of two: the neighbour below is half as far as the one above. PostgreSQL 16 prints the same
    // digits (`SELECT power(2::float8, 90)::float4::text`).
    expect(shortestFloat32(2 ** 90)).toBe("1.2379401e+27");
    expect(shortestFloat32(2 ** -40)).toBe("9.094947e-13");
    expect(shortestFloat32(2 ** 24)).toBe("16777216");
  });

  it("takes an end of the rounding interval when it is shorter, and rounds a tie away from zero", () => {
    // 52285670 is halfway to the float32 below and rounds to even, which is 52285672 (PostgreSQL prints
    // 5.2285672e+07); -3589161.25 is exactly between two 8-digit texts (PostgreSQL prints -3.5891612e+06).
    expect(shortestFloat32(52285672)).toBe("52285670");
    expect(Math.fround(52285670)).toBe(52285672);
    expect(shortestFloat32(-3589161.25)).toBe("-3589161.3");
  });
});

describe("canonicalValue: float32", () => {
  it.each<[unknown, string]>([
    ["0.33333334", "0.33333334"],
    ["0.3333333432674408", "0.33333334"],
    [1 / 3, "0.33333334"],
    ["16777217", "16777216"],
    ["3.4028234663852886e38", "3.4028235e+38"],
    ["3.4028235e+38", "3.4028235e+38"],
    ["0.1", "0.1"],
    ["-0", "0"],
    [7n, "7"],
    ["NaN", "NaN"],
    ["Infinity", "Infinity"],
    ["-Infinity", "-Infinity"],
  ])("%o → %s", (raw, expected) => {
    expect(canonicalValue("float32", raw)).toBe(expected);
  });

  it.each<[unknown]>([["3.5e38"], ["1e39"], ["1e400"], [""], ["x"], [true]])(
    "%o throws ValueError",
    (raw) => {
      expect(() => canonicalValue("float32", raw)).toThrow(ValueError);
    },
  );

  it("a float32 and its double are one value; the double's neighbours are not", () => {
    expect(canonicalValue("float32", "16777216")).toBe(canonicalValue("float32", 16777216 + 2 ** -29));
    expect(canonicalValue("float32", "16777216")).not.toBe(canonicalValue("float32", "16777218"));
    expect(canonicalValue("float32", "0.33333334")).not.toBe(canonicalValue("float32", "0.3333333"));
  });
});

describe("canonicalValue: float rejects what a double cannot hold", () => {
  it.each<[string]>([["1e400"], ["-1e309"]])("%s", (raw) => {
    expect(() => canonicalValue("float", raw)).toThrow(/beyond the range of a float/);
  });
});

describe("float32AsDouble", () => {
  it.each<[string, string]>([
    ["0.33333334", "0.3333333432674408"],
    ["3.4028235e+38", "3.4028234663852886e+38"],
    ["16777216", "16777216"],
    ["NaN", "NaN"],
    ["-Infinity", "-Infinity"],
  ])("%s → %s", (text, double) => {
    expect(float32AsDouble(text)).toBe(double);
  });
});
