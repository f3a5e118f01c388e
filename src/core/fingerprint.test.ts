import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CanonicalValue } from "./canonical.js";
import {
  ChecksumAccumulator,
  checksumsEqual,
  combineChecksums,
  fingerprintEncoded,
  fingerprintRow,
  type RangeChecksum,
} from "./fingerprint.js";

const md5Prefix = (text: string) => createHash("md5").update(text, "utf8").digest("hex").slice(0, 16);

describe("fingerprintRow", () => {
  it.each<[string[], CanonicalValue[], string]>([
    [["1"], ["alice", "10.5"], "1|alice|10.5"],
    [["1"], [null, ""], "1|\\N|"],
    [["eu", "7"], ["a|b"], "eu|7|a\\|b"],
    [["k"], [], "k"],
  ])("%j %j is the first 64 bits of md5(%s)", (key, values, encoded) => {
    const fp = fingerprintRow(key, values);
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    expect(fp).toBe(md5Prefix(encoded));
    expect(fingerprintEncoded(encoded)).toBe(fp);
  });

  it.each<[string[], CanonicalValue[], string[], CanonicalValue[]]>([
    // Same values under two keys.
    [["1"], ["alice"], ["2"], ["alice"]],
    // Same key, different values.
    [["1"], ["alice"], ["1"], ["alicE"]],
    // Null and empty string.
    [["1"], [null], ["1"], [""]],
    // The separator inside a value.
    [["1"], ["a|b"], ["1"], ["a", "b"]],
  ])("%j %j differs from %j %j", (k1, v1, k2, v2) => {
    expect(fingerprintRow(k1, v1)).not.toBe(fingerprintRow(k2, v2));
  });

  it("is 16 lowercase hex digits for any row", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string(), { minLength: 1, maxLength: 3 }),
        fc.array(fc.option(fc.string())),
        (key, values) => {
          expect(fingerprintRow(key, values)).toMatch(/^[0-9a-f]{16}$/);
        },
      ),
    );
  });
});

function checksumOf(fingerprints: readonly string[]): RangeChecksum {
  const acc = new ChecksumAccumulator();
  for (const fp of fingerprints) acc.add(fp);
  return acc.result();
}

describe("ChecksumAccumulator", () => {
  it.each<[string[], RangeChecksum]>([
    [[], { count: 0, xor: "0000000000000000" }],
    [["0123456789abcdef"], { count: 1, xor: "0123456789abcdef" }],
    [["ffffffff00000000", "00000000ffffffff"], { count: 2, xor: "ffffffffffffffff" }],
    [["8000000000000001", "0000000000000001"], { count: 2, xor: "8000000000000000" }],
    // A fingerprint twice cancels in the XOR but not in the count.
    [["0123456789abcdef", "0123456789abcdef"], { count: 2, xor: "0000000000000000" }],
  ])("%j → %j", (fingerprints, expected) => {
    expect(checksumOf(fingerprints)).toEqual(expected);
  });

  it("is independent of the order rows are added in", () => {
    const fingerprint = fc.stringMatching(/^[0-9a-f]{16}$/);
    fc.assert(
      fc.property(
        fc
          .array(fingerprint, { maxLength: 50 })
          .chain((fps) => fc.tuple(fc.constant(fps), fc.shuffledSubarray(fps, { minLength: fps.length }))),
        ([fps, shuffled]) => {
          expect(checksumOf(shuffled)).toEqual(checksumOf(fps));
        },
      ),
    );
  });

  it("changes when one row's fingerprint changes", () => {
    const rows = [fingerprintRow(["1"], ["a"]), fingerprintRow(["2"], ["b"]), fingerprintRow(["3"], ["c"])];
    const changed = [rows[0]!, fingerprintRow(["2"], ["B"]), rows[2]!];
    expect(checksumsEqual(checksumOf(rows), checksumOf(changed))).toBe(false);
  });
});

describe("checksumsEqual", () => {
  it.each<[RangeChecksum, RangeChecksum, boolean]>([
    [{ count: 0, xor: "0000000000000000" }, { count: 0, xor: "0000000000000000" }, true],
    [{ count: 2, xor: "00000000000000ff" }, { count: 2, xor: "00000000000000ff" }, true],
    [{ count: 2, xor: "00000000000000ff" }, { count: 3, xor: "00000000000000ff" }, false],
    [{ count: 2, xor: "00000000000000ff" }, { count: 2, xor: "00000000000000fe" }, false],
  ])("%j vs %j → %s", (a, b, expected) => {
    expect(checksumsEqual(a, b)).toBe(expected);
  });
});

describe("combineChecksums", () => {
  it.each<[RangeChecksum[], RangeChecksum]>([
    [[], { count: 0, xor: "0000000000000000" }],
    [[{ count: 3, xor: "00000000000000ff" }], { count: 3, xor: "00000000000000ff" }],
    [
      [
        { count: 2, xor: "f0000000000000ff" },
        { count: 0, xor: "0000000000000000" },
        { count: 5, xor: "ff000000000000f0" },
      ],
      { count: 7, xor: "0f0000000000000f" },
    ],
  ])("%j → %j", (parts, expected) => {
    expect(combineChecksums(parts)).toEqual(expected);
  });

  it("of a set's parts is the set's checksum, however it is cut", () => {
    const fingerprint = fc.stringMatching(/^[0-9a-f]{16}$/);
    fc.assert(
      fc.property(fc.array(fingerprint), fc.array(fc.nat()), (fps, cuts) => {
        const whole = new ChecksumAccumulator();
        for (const f of fps) whole.add(f);
        const at = [...new Set(cuts.map((c) => c % (fps.length + 1)))].sort((a, b) => a - b);
        const parts: RangeChecksum[] = [];
        let from = 0;
        for (const to of [...at, fps.length]) {
          const acc = new ChecksumAccumulator();
          for (const f of fps.slice(from, to)) acc.add(f);
          parts.push(acc.result());
          from = Math.max(from, to);
        }
        expect(combineChecksums(parts)).toEqual(whole.result());
      }),
    );
  });
});
