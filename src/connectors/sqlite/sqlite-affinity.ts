/** What a SQLite column's type affinity stores for a text: asked of SQLite itself, in a TEMP table, never the database file. */
import type Database from "better-sqlite3";
import { type CanonicalValue, type ColumnType, canonicalValue } from "../../core/canonical.js";
import { type SqliteAffinity, sqliteAffinity } from "./sqlite-column-types.js";

/** The TEMP table's column of each numeric affinity. */
const PROBE_COLUMN: Readonly<Partial<Record<SqliteAffinity, string>>> = {
  INTEGER: "i",
  REAL: "r",
  NUMERIC: "n",
};

/**
 * Text SQLite reads as a number (sqlite3AtoF, whole): whitespace (sqlite3Isspace), a sign, digits with an
 * optional point, an exponent, whitespace. Only such text can be converted by an affinity; any other text
 * (timestamps, times, `0x10`, `inf`) is stored as it is and needs no question.
 */
const MAY_CONVERT = /^[ \t\n\v\f\r]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\v\f\r]*$/;

const probes = new WeakMap<Database.Database, Database.Statement>();

/** What a column of `affinity` (INTEGER, REAL, NUMERIC) stores for `text`: a bigint, a number, or the text itself. */
function storedAs(db: Database.Database, affinity: SqliteAffinity, text: string): unknown {
  let probe = probes.get(db);
  if (!probe) {
    db.exec("CREATE TEMP TABLE IF NOT EXISTS concord_affinity (i INTEGER, r REAL, n NUMERIC)");
    probe = db.prepare("INSERT INTO temp.concord_affinity (i, r, n) VALUES (?, ?, ?) RETURNING i, r, n");
    probe.raw(true).safeIntegers(true);
    probes.set(db, probe);
  }
  const row = probe.get(text, text, text) as unknown[];
  db.prepare("DELETE FROM temp.concord_affinity").run();
  return row[["i", "r", "n"].indexOf(PROBE_COLUMN[affinity]!)];
}

/**
 * Why writing the native value `native` (the text a canonical value `v` of `type` is written as) into column
 * `column`, declared `declared`, would leave another value there, or undefined. A column of INTEGER, REAL or
 * NUMERIC affinity (declared INTEGER, REAL, DECIMAL, and any type name SQLite does not know: STRING, NUMBER,
 * ANY) turns text that reads as a number into that number: `1.50` into 1.5, `007` into 7,
 * `12345678901234567890` into a double. SQLite answers what it would store (`storedAs`); the write is refused
 * when that reads back, as `type`, as anything but `v`. A STRICT table's ANY column (`strict`) converts
 * nothing: it keeps `007` as the text it is given, so nothing is refused there.
 */
export function affinityRefusal(
  db: Database.Database,
  what: string,
  declared: string,
  type: ColumnType,
  v: CanonicalValue,
  native: unknown,
  strict = false,
): string | undefined {
  if (typeof native !== "string" || v === null || !MAY_CONVERT.test(native)) return undefined;
  if (strict && /^\s*ANY\s*$/i.test(declared)) return undefined;
  const affinity = sqliteAffinity(declared);
  if (!PROBE_COLUMN[affinity]) return undefined;
  const stored = storedAs(db, affinity, native);
  if (typeof stored === "string") return undefined;
  let readBack: string | undefined;
  try {
    readBack = canonicalValue(type, stored) ?? undefined;
  } catch {
    readBack = undefined;
  }
  if (readBack === v) return undefined;
  const shown = type === "text" ? JSON.stringify(v) : v;
  const as = typeof stored === "bigint" ? `the integer ${stored}` : `the 64-bit float ${String(stored)}`;
  return `${what} (${declared || "no type"}) cannot store ${shown}: its declared type gives it ${affinity} affinity, which keeps it as ${as}; declare the column TEXT to keep it exactly`;
}
