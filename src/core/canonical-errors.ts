/** The error canonicalisation raises for a value that is not of its column's logical type. Pure: no I/O. */

/** Raised when a store returns a value that cannot be read as its column's logical type. */
export class ValueError extends Error {
  override readonly name = "ValueError";
}

/** A short rendering of a raw value for messages (text quoted, at most 60 characters). */
export function describeRaw(raw: unknown): string {
  const text = typeof raw === "string" ? JSON.stringify(raw) : String(raw);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
