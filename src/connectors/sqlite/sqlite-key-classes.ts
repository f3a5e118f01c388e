/** Why SQLite's key order clashed with Concord's because a key column mixes storage classes: one line. No I/O. */
import { compareKeyPart, type Key, type RecordShape } from "../../core/model.js";

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
 * The one-line reason a key read from raw row `row` cannot be used, or undefined: a number in key column
 * `i` of `untyped` (columns Concord compares as text that have no type affinity, so SQLite compares their
 * values as stored, without converting text to numbers). Looked up by its text, as every read and write by
 * key does, the integer 1 is not found there (`k = '1'` holds only for the text '1'): another replica's '1'
 * would look absent here, and a repair would add '1' beside 1.
 */
export function untypedNumberKey(
  shape: RecordShape,
  table: string,
  untyped: readonly number[],
  row: readonly unknown[],
): string | undefined {
  for (const i of untyped) {
    const raw = row[i];
    if (typeof raw !== "bigint" && typeof raw !== "number") continue;
    const column = shape.key[i]!.name;
    return `key column ${column} of table ${table} holds ${literal(raw)} (${storageClass(raw)}), but has no type affinity, so Concord, which compares its keys as text, cannot look it up by its text ${literal(String(raw))}; ${advice(table, column)}`;
  }
  return undefined;
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
