/** Turns raw store values into canonical records and fingerprints for one record shape. Pure. */
import { type CanonicalValue, canonicalValue, encodeRow, ValueError } from "./canonical.js";
import { fingerprintEncoded } from "./fingerprint.js";
import type { Key, RecordShape, StoredRecord } from "./model.js";

/** Raised when a stored value cannot be read as its column's type; names the column. */
export class RowError extends Error {
  override readonly name = "RowError";
}

/**
 * Canonicalises raw rows laid out as [key columns…, compared columns…] (the shape's order).
 * Errors name the column and the offending value.
 */
export class RowCodec {
  private readonly types;
  private readonly names;
  readonly keyWidth: number;
  readonly width: number;

  constructor(readonly shape: RecordShape) {
    const all = [...shape.key, ...shape.columns];
    this.types = all.map((c) => c.type);
    this.names = all.map((c) => c.name);
    this.keyWidth = shape.key.length;
    this.width = all.length;
  }

  /** Canonical values of a raw row (key columns first). */
  canonicalRow(raw: ArrayLike<unknown>): CanonicalValue[] {
    const out = new Array<CanonicalValue>(this.width);
    for (let i = 0; i < this.width; i++) {
      try {
        out[i] = canonicalValue(this.types[i]!, raw[i]);
      } catch (err) {
        if (err instanceof ValueError) throw new RowError(`column ${this.names[i]}: ${err.message}`);
        throw err;
      }
    }
    return out;
  }

  /** Fingerprint of a raw row (key columns first). */
  fingerprintRaw(raw: ArrayLike<unknown>): string {
    return fingerprintEncoded(encodeRow(this.canonicalRow(raw)));
  }

  /** A StoredRecord from a raw row (key columns first). */
  record(raw: ArrayLike<unknown>): StoredRecord {
    const all = this.canonicalRow(raw);
    return {
      key: all.slice(0, this.keyWidth),
      values: all.slice(this.keyWidth),
      fingerprint: fingerprintEncoded(encodeRow(all)),
    };
  }

  /** Canonical key of raw key values; a NULL part is null (a nullable unique key's NULL). */
  key(raw: ArrayLike<unknown>): Key {
    const out: (string | null)[] = [];
    for (let i = 0; i < this.keyWidth; i++) {
      out.push(canonicalValue(this.types[i]!, raw[i]));
    }
    return out;
  }
}
