/** Turns raw store values into canonical records and fingerprints for one record shape. Pure. */
import { type CanonicalValue, canonicalValue, encodeRow, ValueError } from "./canonical.js";
import { fingerprintEncoded } from "./fingerprint.js";
import type { Key, RecordShape, StoredRecord } from "./model.js";

/** Raised when a stored value cannot be read as its column's type; names the column. */
export class RowError extends Error {
  override readonly name = "RowError";
  constructor(
    message: string,
    /** The message without the reader's label, for a connector that wraps it in an error naming itself. */
    readonly unlabelled: string = message,
  ) {
    super(message);
  }
}

/** Turns one column's raw value as its store reads it into the raw value `canonicalValue` takes. */
export type RawPrepare = (raw: unknown) => unknown;

/**
 * Reads one column's raw value straight into its canonical value, in place of `canonicalValue` of its logical
 * type, where the store's own reading of the value decides it (a MariaDB or SQLite JSON document's repeated
 * member name means its first value; a MariaDB INET6's text is laid out as PostgreSQL's inet is). Throws
 * ValueError as `canonicalValue` does.
 */
export type RawReader = (raw: unknown) => CanonicalValue;

/**
 * Canonicalises raw rows laid out as [key columns…, compared columns…] (the shape's order).
 * Errors name the column and the offending value.
 */
export class RowCodec {
  private readonly types;
  private readonly names;
  private readonly readers: readonly (RawReader | undefined)[];
  readonly keyWidth: number;
  readonly width: number;
  /**
   * Who reads (`dataset.replica`), named first in a value error: set by a connector that lets the RowError
   * through as it is (one that wraps it in its own error names itself there).
   */
  label = "";

  /**
   * `prepare`, by column position (key columns first): what a connector does to a column's raw value before
   * it is canonicalised, where the logical type alone does not say it (PostgreSQL's float arrays, read as
   * text, get each element in its canonical float text).
   */
  constructor(
    readonly shape: RecordShape,
    private readonly prepare: readonly (RawPrepare | undefined)[] = [],
    /** By column position: what a value error on that column adds, e.g. how to declare another type. */
    private readonly hints: readonly (string | undefined)[] = [],
    /** By column position: a reader used instead of `canonicalValue` (after `prepare`). */
    readers: readonly (RawReader | undefined)[] = [],
  ) {
    const all = [...shape.key, ...shape.columns];
    // One slot per column (no read past the array's end per value).
    this.readers = all.map((_, i) => readers[i]);
    this.types = all.map((c) => c.type);
    this.names = all.map((c) => c.name);
    this.keyWidth = shape.key.length;
    this.width = all.length;
  }

  /**
   * Canonical values of a raw row (key columns first), read from `raw` at `at` (a row of a wider result,
   * without copying it out).
   */
  canonicalRow(raw: ArrayLike<unknown>, at = 0): CanonicalValue[] {
    const out = new Array<CanonicalValue>(this.width);
    for (let i = 0; i < this.width; i++) {
      try {
        const p = this.prepare[i];
        const r = this.readers[i];
        const v = raw[at + i];
        out[i] = r ? r(p ? p(v) : v) : canonicalValue(this.types[i]!, p ? p(v) : v);
      } catch (err) {
        if (err instanceof ValueError) {
          const hint = this.hints[i];
          // The key columns come first: a compared column's error names its row's key.
          const at = i >= this.keyWidth ? ` at key ${JSON.stringify(out.slice(0, this.keyWidth))}` : "";
          const detail = `column ${this.names[i]}${at}: ${err.message}${hint ? ` (${hint})` : ""}`;
          throw new RowError(this.label ? `${this.label}: ${detail}` : detail, detail);
        }
        throw err;
      }
    }
    return out;
  }

  /**
   * The canonical value of compared column `c` (shape order) from its raw value, read as `canonicalRow` reads
   * it (the column's prepare and reader included): a native value read back from the ledger is checked with it.
   */
  columnValue(c: number, raw: unknown): CanonicalValue {
    const i = this.keyWidth + c;
    const p = this.prepare[i];
    const r = this.readers[i];
    return r ? r(p ? p(raw) : raw) : canonicalValue(this.types[i]!, p ? p(raw) : raw);
  }

  /** Fingerprint of a raw row (key columns first). */
  fingerprintRaw(raw: ArrayLike<unknown>): string {
    return fingerprintEncoded(encodeRow(this.canonicalRow(raw)));
  }

  /** A StoredRecord from a raw row (key columns first), read from `raw` at `at`. */
  record(raw: ArrayLike<unknown>, at = 0): StoredRecord {
    const all = this.canonicalRow(raw, at);
    return {
      key: all.slice(0, this.keyWidth),
      values: all.slice(this.keyWidth),
      fingerprint: fingerprintEncoded(encodeRow(all)),
    };
  }

  /** Canonical key of raw key values (read from `raw` at `at`); a NULL part is null (a nullable unique key's NULL). */
  key(raw: ArrayLike<unknown>, at = 0): Key {
    const out: (string | null)[] = [];
    for (let i = 0; i < this.keyWidth; i++) {
      const p = this.prepare[i];
      const r = this.readers[i];
      const v = raw[at + i];
      try {
        out.push(r ? r(p ? p(v) : v) : canonicalValue(this.types[i]!, p ? p(v) : v));
      } catch (err) {
        if (!(err instanceof ValueError)) throw err;
        const detail = `column ${this.names[i]}: ${err.message}`;
        throw new RowError(this.label ? `${this.label}: ${detail}` : detail, detail);
      }
    }
    return out;
  }
}
