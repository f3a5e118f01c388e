/** The error canonicalisation raises for a value that is not of its column's logical type. Pure: no I/O. */

/** Raised when a store returns a value that cannot be read as its column's logical type. */
export class ValueError extends Error {
  override readonly name = "ValueError";
}

/**
 * A short rendering of a raw value for messages (text quoted, bytes as an `X'…'` literal, at most 60
 * characters). Not bytes as the text they decode to: a SQLite BLOB X'31' in a NUMERIC column is no decimal,
 * and "1 is not a decimal" said a legal value was refused.
 */
export function describeRaw(raw: unknown): string {
  const text =
    typeof raw === "string"
      ? JSON.stringify(raw)
      : raw instanceof Uint8Array
        ? `X'${Buffer.from(raw.subarray(0, 30)).toString("hex").toUpperCase()}${raw.length > 30 ? "…" : "'"}`
        : String(raw);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
