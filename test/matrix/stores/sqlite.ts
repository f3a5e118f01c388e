/** SQLite in the type matrix: declared types as applications write them, values as its client stores them, a file per test. Tests only. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { canonicalValue } from "../../../src/core/canonical.js";
import { singleAsDouble, spellsJson } from "../families.js";
import type { MatrixColumnType, MatrixKeyType, MatrixSpace, MatrixStore, MatrixValue } from "../matrix.js";

/** A number where the double prints back as the same text (what an application would store), else the text. */
function numberOrText(text: string): number | string {
  const n = Number(text);
  return String(n) === text ? n : text;
}

const t = (family: string, ddl: string, more: Partial<MatrixColumnType> = {}): MatrixColumnType => ({
  family,
  ddl,
  ...more,
});

const notNaN = (v: MatrixValue) => v.canonical !== "NaN";

/** A decimal NUMERIC affinity keeps as it is: a 64-bit integer, or a double that prints back as the value. */
function keptByNumericAffinity(text: string): boolean {
  if (/^-?\d+$/.test(text)) {
    const n = BigInt(text);
    if (n >= -(2n ** 63n) && n < 2n ** 63n) return true;
  }
  const n = Number(text);
  return !Number.isFinite(n) || canonicalValue("decimal", String(n)) === canonicalValue("decimal", text);
}

const TYPES: MatrixColumnType[] = [
  // SQLite integers are 64-bit: the connector refuses the rest.
  t("integer", "INTEGER", {
    holds: (v) => BigInt(v.canonical) >= -(2n ** 63n) && BigInt(v.canonical) < 2n ** 63n,
    encode: (text) => BigInt(text),
  }),
  // NUMERIC affinity: fractions are kept as doubles, so only decimals a double prints back exactly; NaN
  // would be NULL. The connector refuses the others.
  t("decimal", "DECIMAL(18,6)", {
    holds: (v) => notNaN(v) && keptByNumericAffinity(v.canonical),
    encode: numberOrText,
  }),
  // SQLite stores a NaN as NULL: the connector refuses it.
  t("float", "REAL", { holds: notNaN, encode: (text) => Number(text) }),
  // Beside a single-precision column, REAL is compared as the double the single is exactly.
  t("float32", "REAL", { holds: notNaN, encode: (text) => Number(singleAsDouble(text)) }),
  t("boolean", "BOOLEAN", { encode: (text) => (text === "t" ? 1 : 0) }),
  t("text", "TEXT"),
  t("uuid", "TEXT"),
  t("timestamp", "TIMESTAMP"),
  // Text to SQLite: only a time column elsewhere makes it a time, so no other spellings between two files.
  t("time", "TIME"),
  t("json", "JSON", { spells: spellsJson("first") }),
  t("bytes", "BLOB", { encode: (hex) => Buffer.from(hex, "hex") }),
  t("interval", "TEXT"),
];

const asciiCaseless = (a: string, b: string) =>
  a.toLowerCase() === b.toLowerCase() && [...a, ...b].every((ch) => ch.charCodeAt(0) < 128);

const KEY_TYPES: MatrixKeyType[] = [
  {
    family: "integer",
    ddl: "INTEGER",
    holds: (k) => BigInt(k) >= -(2n ** 63n) && BigInt(k) < 2n ** 63n,
    encode: (k) => BigInt(k),
  },
  { family: "text", ddl: "TEXT" },
  { family: "text", ddl: "TEXT COLLATE NOCASE", collides: asciiCaseless },
  { family: "bytes", ddl: "BLOB", encode: (k) => Buffer.from(k, "hex") },
];

/** The SQL text of a stored value that shows its storage class (integer, real, text, blob) as `quote()` does. */
const QUOTED = (column: string) => `quote("${column}")`;

export const store: MatrixStore = {
  name: "sqlite",
  types: TYPES,
  keyTypes: KEY_TYPES,
  available: async () => true,
  async open(): Promise<MatrixSpace> {
    const dir = mkdtempSync(join(tmpdir(), "concord-matrix-"));
    const path = join(dir, "matrix.db");
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    const keyDdls = new Map<string, string>();
    return {
      async create(table, key, columns, rows) {
        keyDdls.set(table, key.ddl);
        const cols = [`k ${key.ddl} PRIMARY KEY`, ...columns.map((c) => `"${c.name}" ${c.type.ddl}`)];
        db.exec(`CREATE TABLE "${table}" (${cols.join(", ")})`);
        const insert = db.prepare(
          `INSERT INTO "${table}" VALUES (${["?", ...columns.map(() => "?")].join(", ")})`,
        );
        db.transaction(() => {
          for (const row of rows) insert.run(row.key, ...row.cells.map((c) => (c === undefined ? null : c)));
        })();
      },
      replica: (table) => ({ url: `sqlite:${path}`, table }),
      async read(table, columns) {
        // A BLOB key as lowercase hex, as Concord spells it; any other storage class there shows as such.
        const k =
          keyDdls.get(table) === "BLOB"
            ? `CASE typeof(k) WHEN 'blob' THEN lower(hex(k)) ELSE typeof(k) || ':' || k END`
            : "CAST(k AS TEXT)";
        const list = [k, ...columns.map(QUOTED)].join(", ");
        const rows = db.prepare(`SELECT ${list} FROM "${table}"`).raw().all() as string[][];
        return new Map(rows.map((r) => [r[0]!, r.slice(1).map((c) => (c === "NULL" ? null : c))]));
      },
      async close() {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
