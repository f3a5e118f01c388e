/** Record fingerprints and order-independent range checksums. Pure: hashing only, no I/O. */
import { hash } from "node:crypto";
import { type CanonicalValue, encodeRow } from "./canonical.js";

/**
 * A record's fingerprint: the first 64 bits of MD5 over the canonical encoding of key and values, as 16
 * lowercase hex digits. MD5 is chosen because every SQL store can compute it in a query (PostgreSQL
 * `md5()`, MySQL `MD5()`), so a store can push the fingerprint down and still agree with the engine. It
 * is a change detector, not a security boundary. The key is part of the input so that two keys holding
 * the same values do not cancel out in a range checksum.
 */
export function fingerprintRow(key: readonly CanonicalValue[], values: readonly CanonicalValue[]): string {
  return hash("md5", encodeRow([...key, ...values]), "hex").slice(0, 16);
}

/** Fingerprint of an already-encoded row (key columns first). */
export function fingerprintEncoded(encoded: string): string {
  return hash("md5", encoded, "hex").slice(0, 16);
}

/**
 * A checksum over a set of rows: their count and the XOR of their fingerprints. Independent of row order,
 * so stores may aggregate in any order; equal sets give equal checksums in every store.
 */
export interface RangeChecksum {
  readonly count: number;
  /** XOR of the rows' fingerprints, 16 hex digits ("0000000000000000" for no rows). */
  readonly xor: string;
}

/** Accumulates a RangeChecksum from fingerprints without allocating per row. */
export class ChecksumAccumulator {
  private hi = 0;
  private lo = 0;
  count = 0;

  add(fingerprint: string): void {
    this.hi = (this.hi ^ Number.parseInt(fingerprint.slice(0, 8), 16)) >>> 0;
    this.lo = (this.lo ^ Number.parseInt(fingerprint.slice(8, 16), 16)) >>> 0;
    this.count++;
  }

  result(): RangeChecksum {
    return {
      count: this.count,
      xor: this.hi.toString(16).padStart(8, "0") + this.lo.toString(16).padStart(8, "0"),
    };
  }
}

export function checksumsEqual(a: RangeChecksum, b: RangeChecksum): boolean {
  return a.count === b.count && a.xor === b.xor;
}

/**
 * The checksum of the union of disjoint row sets from theirs: counts added, XORs combined. Equal to the
 * checksum of the union read at once, so a range's checksum follows from the checksums of ranges cutting it.
 */
export function combineChecksums(parts: readonly RangeChecksum[]): RangeChecksum {
  let hi = 0;
  let lo = 0;
  let count = 0;
  for (const p of parts) {
    hi = (hi ^ Number.parseInt(p.xor.slice(0, 8), 16)) >>> 0;
    lo = (lo ^ Number.parseInt(p.xor.slice(8, 16), 16)) >>> 0;
    count += p.count;
  }
  return { count, xor: hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0") };
}
