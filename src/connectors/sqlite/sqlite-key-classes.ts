/** Key values of a storage class Concord cannot use as keys on SQLite: which ones, the SQL that finds them, and the one line that names them. No I/O. */
import { compareKeyPart, type Key, type RecordShape } from "../../core/model.js";
import type { SqliteAffinity } from "./sqlite-column-types.js";

/** SQLite's storage class of a raw value as better-sqlite3 hands it over (safeIntegers). */
function storageClass(raw: unknown): "integer" | "real" | "text" | "blob" | "null" {
  if (raw === null || raw === undefined) return "null";
  if (typeof raw === "bigint") return "integer";
  if (typeof raw === "number") return "real";
  if (typeof raw === "string") return "text";
  return "blob";
}

/** A raw value as SQL would write it: 10, 1.5, '10', X'0a'. */
function literal(raw: unknown): string {
  if (typeof raw === "string") return `'${raw.replaceAll("'", "''")}'`;
  if (raw instanceof Uint8Array) return `X'${Buffer.from(raw.subarray(0, 24)).toString("hex")}'`;
  return String(raw);
}

/** How to give a key column's values one type, in SQL the user can run; `duplicate` when one must go first. */
function advice(table: string, column: string, duplicate = false): string {
  const name = `"${column.replaceAll('"', '""')}"`;
  return `give its keys one type: declare the column INTEGER if every key is an integer, or store them all as text (UPDATE ${table} SET ${name} = CAST(${name} AS TEXT) WHERE typeof(${name}) IN ('integer', 'real'))${duplicate ? " once the duplicate is deleted or merged" : ""}`;
}

/**
 * Which storage classes a key column cannot hold as a key, or null (integer keys: any class reads as the
 * integer, or fails as one). Concord reads, looks up and writes a text key by its text and a bytes key by its
 * bytes, which a value of another class never equals in SQLite (X'62' is not 'b'), so such a row could be
 * neither found by its key nor repaired, and comparisons bounded by keys of the column's class would pass
 * over it:
 * - `blob`: a text key column holding a blob;
 * - `blob-or-number`: a text key column without type affinity (no declared type) holding a blob or a number:
 *   SQLite compares its values as stored, so `k = '1'` misses the integer 1, and another replica's '1' would
 *   look absent here (a repair would add '1' beside 1);
 * - `not-blob`: a bytes key column holding a text or a number.
 */
export type ForeignKeyClass = "blob" | "blob-or-number" | "not-blob";

/** The classes a key column of logical `type` and type affinity `affinity` refuses (see ForeignKeyClass). */
export function foreignKeyClass(type: string, affinity: SqliteAffinity): ForeignKeyClass | null {
  if (type === "integer") return null;
  if (type === "bytes") return "not-blob";
  return affinity === "BLOB" ? "blob-or-number" : "blob";
}

/**
 * True (1) for a value of `ref` of a class `kind` refuses, false (0) or NULL otherwise: by SQLite's order of
 * classes (NULL, then numbers, then text, then blobs, whatever the collation), so a comparison against the
 * least text or blob, which costs about half of a `typeof()` call and its string comparison.
 */
export function foreignKeySql(kind: ForeignKeyClass, ref: string): string {
  switch (kind) {
    case "blob":
      return `${ref} >= X''`;
    case "blob-or-number":
      return `(${ref} < '' OR ${ref} >= X'')`;
    case "not-blob":
      return `${ref} < X''`;
  }
}

/**
 * The one line naming a key value `foreignKeySql` found (`raw`, as better-sqlite3 hands it over) in key column
 * `column` of `table`, and the UPDATE that gives the keys one class; `replica` names the replica whose table
 * holds it, where a statement reads two (the in-SQLite comparison).
 */
export function foreignKeyLine(
  table: string,
  column: string,
  kind: ForeignKeyClass,
  raw: unknown,
  replica?: string,
): string {
  const name = `"${column.replaceAll('"', '""')}"`;
  const where = replica ? ` on ${replica}` : "";
  if (kind === "blob-or-number" && (typeof raw === "bigint" || typeof raw === "number"))
    return `key column ${column} of table ${table}${where} holds ${literal(raw)} (${storageClass(raw)}), but has no type affinity, so Concord, which compares its keys as text, cannot look it up by its text ${literal(String(raw))}; ${advice(table, column)}`;
  const held =
    raw instanceof Uint8Array
      ? `the blob X'${Buffer.from(raw.subarray(0, 24)).toString("hex")}'${raw.length > 24 ? "…" : ""}`
      : typeof raw === "string"
        ? `the text '${raw.slice(0, 40).replaceAll("'", "''")}'${raw.length > 40 ? "…" : ""}`
        : `the number ${String(raw)}`;
  return kind === "not-blob"
    ? `key column ${column}${where} holds ${held}, where Concord compares its keys as bytes and finds a row by its bytes, which a text or number never equals in SQLite; store such keys as blobs (UPDATE ${table} SET ${name} = CAST(${name} AS BLOB) WHERE typeof(${name}) IN ('text', 'integer', 'real'))`
    : `key column ${column}${where} holds ${held}, where Concord compares its keys as text and finds a row by its text, which a blob never equals in SQLite; store such keys as text (UPDATE ${table} SET ${name} = CAST(${name} AS TEXT) WHERE typeof(${name}) = 'blob')`;
}

/**
 * The one-line reason a table listed `key` (read from raw row `row`) right after `prev` (from `prevRow`),
 * when that is not Concord's ascending key order because a key column holds numbers beside text, or numbers
 * where Concord compares text: SQLite orders integers and reals by value and before every text, while
 * Concord compares such a column's canonical text by code point (so 10 comes before 9, and the integer 1
 * and the text '1' are one key). Undefined when no number is involved (another cause, reported elsewhere).
 */
export function keyClassClash(
  shape: RecordShape,
  table: string,
  prev: { readonly key: Key; readonly row: readonly unknown[] },
  next: { readonly key: Key; readonly row: readonly unknown[] },
): string | undefined {
  let i = shape.key.findIndex(
    (c, j) => compareKeyPart(c.type, prev.key[j] ?? null, next.key[j] ?? null) !== 0,
  );
  const equal = i < 0;
  if (equal) i = shape.key.findIndex((_, j) => storageClass(prev.row[j]) !== storageClass(next.row[j]));
  const column = shape.key[i];
  if (!column || column.type === "integer") return undefined;
  const [a, b] = [prev.row[i], next.row[i]];
  const numeric = (raw: unknown) => typeof raw === "bigint" || typeof raw === "number";
  if (!numeric(a) && !numeric(b)) return undefined;
  const held = `${literal(a)} (${storageClass(a)}) and ${literal(b)} (${storageClass(b)})`;
  const why = equal
    ? "one key to Concord, which compares the column's keys as their text, but two to SQLite"
    : `which SQLite orders by storage class and value (integers and reals before any text), while Concord compares the column's keys as their text, by code point`;
  return `key column ${column.name} of table ${table} holds ${held}, ${why}; ${advice(table, column.name, equal)}`;
}
