/** PostgreSQL in the type matrix: every type the connector maps, what each holds, and a schema per test file. Tests only. */
import { createPostgresTestSchema } from "../../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../../support/services.js";
import { singleAsDouble, spellsJson } from "../families.js";
import type { MatrixColumnType, MatrixKeyType, MatrixSpace, MatrixStore, MatrixValue } from "../matrix.js";

/** `{schema}` in a type's DDL stands for the test schema (where the matrix's collation lives). */
const SCHEMA = "{schema}";

/** A canonical timestamp as PostgreSQL's input reads it (its own code, not the connector's). */
function timestampInput(canonical: string, dateOnly: boolean): string {
  const m = /^([+-]?\d+)-(\d\d-\d\d)T(.*)Z$/.exec(canonical);
  if (!m) return canonical;
  const year = Number(m[1]);
  const bc = year <= 0;
  const y = String(bc ? 1 - year : year).padStart(4, "0");
  return `${y}-${m[2]}${dateOnly ? "" : ` ${m[3]}+00`}${bc ? " BC" : ""}`;
}

const micros = (value: MatrixValue) => /\.(\d{6})Z$/.exec(value.canonical)?.[1] ?? "000000";
/** Timestamps reach 294276 AD; only dates go further (5874897 AD). */
const inTimestampRange = (value: MatrixValue) => !/^\+\d{7}/.test(value.canonical);
const timeMicros = (value: MatrixValue) => value.canonical.slice(-6);
/** time holds 00:00:00 to 24:00:00, not MariaDB's negative or longer durations. */
const timeOfDay = (value: MatrixValue) =>
  /^([01]\d|2[0-3]):/.test(value.canonical) || value.canonical === "24:00:00.000000";
const isDecimal = (value: MatrixValue) => /^-?\d+(\.\d+)?$/.test(value.canonical);

/** numeric(p,s) holds finite decimals with at most s fraction digits and p − s integer digits, and NaN. */
function numericHolds(p: number, s: number) {
  return (value: MatrixValue) => {
    if (value.canonical === "NaN") return true;
    if (!isDecimal(value)) return false;
    const [int = "", frac = ""] = value.canonical.replace("-", "").split(".");
    return frac.length <= s && int.replace(/^0+/, "").length <= p - s;
  };
}

const INT_RANGE = (bits: bigint) => (value: MatrixValue) => {
  const n = BigInt(value.canonical);
  return n >= -(2n ** (bits - 1n)) && n < 2n ** (bits - 1n);
};

/** JSON spellings: json keeps the text as given, jsonb parses it; both take every valid spelling. */
const anySpelling = () => true;

const t = (family: string, ddl: string, more: Partial<MatrixColumnType> = {}): MatrixColumnType => ({
  family,
  ddl,
  ...more,
});

const TYPES: MatrixColumnType[] = [
  t("integer", "smallint", { holds: INT_RANGE(16n) }),
  t("integer", "integer", { holds: INT_RANGE(32n) }),
  t("integer", "bigint", { holds: INT_RANGE(64n) }),
  t("decimal", "numeric", { spells: anySpelling }),
  t("decimal", "numeric(10,2)", { holds: numericHolds(10, 2), spells: anySpelling }),
  t("decimal", "numeric(40,10)", { holds: numericHolds(40, 10), spells: anySpelling }),
  t("float", "double precision"),
  t("float32", "real", { spells: anySpelling }),
  // Beside a real, a double column is compared as the double the single is exactly (and holds that double).
  t("float32", "double precision", { encode: singleAsDouble }),
  t("boolean", "boolean"),
  t("text", "text"),
  t("text", "character varying(20)", { holds: (v) => [...v.canonical].length <= 20 }),
  t("text", "character(12)", { holds: (v) => [...v.canonical].length <= 12 && !v.canonical.endsWith(" ") }),
  t("text", `text COLLATE "${SCHEMA}".matrix_ci`),
  t("uuid", "uuid"),
  t("uuid", "text"),
  t("timestamp", "timestamp", { holds: inTimestampRange }),
  t("timestamp", "timestamp with time zone", {
    holds: inTimestampRange,
    encode: (text) => timestampInput(text, false),
  }),
  t("timestamp", "timestamp(3)", { holds: (v) => inTimestampRange(v) && micros(v).endsWith("000") }),
  t("timestamp", "timestamp(0) with time zone", {
    holds: (v) => inTimestampRange(v) && micros(v) === "000000",
  }),
  t("timestamp", "date", {
    holds: (v) => !v.canonical.includes("T") || v.canonical.includes("T00:00:00.000000Z"),
    encode: (text) => timestampInput(text, true),
  }),
  t("time", "time", { holds: timeOfDay, spells: anySpelling }),
  t("time", "time(3)", {
    holds: (v) => timeOfDay(v) && timeMicros(v).endsWith("000"),
    spells: anySpelling,
  }),
  t("time", "time(0)", { holds: (v) => timeOfDay(v) && timeMicros(v) === "000000", spells: anySpelling }),
  t("json", "json", { spells: spellsJson("last") }),
  t("json", "jsonb", { spells: spellsJson("last") }),
  t("bytes", "bytea", { encode: (hex) => `\\x${hex}` }),
  t("interval", "interval"),
];
// Timestamps without a zone are written as PostgreSQL reads them too.
for (const type of TYPES)
  if (type.family === "timestamp" && !type.encode)
    (type as { encode?: MatrixColumnType["encode"] }).encode = (text) => timestampInput(text, false);

/**
 * A case-insensitive (ICU level 2) nondeterministic collation: 'a' = 'A', and canonically equivalent strings
 * (é composed and decomposed) are equal; 'ß' and 'ss' differ at level 2.
 */
const ciEqual = (a: string, b: string) =>
  a.normalize("NFC").toLowerCase() === b.normalize("NFC").toLowerCase();

const INT8 = (k: string) => BigInt(k) >= -(2n ** 63n) && BigInt(k) < 2n ** 63n;
const KEY_TYPES: MatrixKeyType[] = [
  { family: "integer", ddl: "bigint", holds: INT8 },
  { family: "integer", ddl: "integer", holds: (k) => BigInt(k) >= -(2n ** 31n) && BigInt(k) < 2n ** 31n },
  { family: "integer", ddl: "numeric(20,0)", holds: INT8, declare: "integer" },
  { family: "text", ddl: "text" },
  { family: "text", ddl: "character varying(10)" },
  { family: "text", ddl: 'text COLLATE "C"' },
  { family: "text", ddl: `text COLLATE "${SCHEMA}".matrix_ci`, collides: ciEqual },
  { family: "bytes", ddl: "bytea", encode: (k) => `\\x${k}` },
];

/** A value as PostgreSQL's text input reads it (every cell is sent as text and cast in the statement). */
function param(cell: unknown): string | null {
  return cell === undefined || cell === null ? null : String(cell);
}

export const store: MatrixStore = {
  name: "postgres",
  types: TYPES,
  keyTypes: KEY_TYPES,
  available: () => serviceAvailable(POSTGRES),
  async open(): Promise<MatrixSpace> {
    const db = await createPostgresTestSchema();
    await db.admin.query(
      `CREATE COLLATION "${db.name}".matrix_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
    );
    const ddl = (text: string) => text.replaceAll(SCHEMA, db.name);
    const q = (name: string) => `"${name}"`;
    const keyDdls = new Map<string, string>();
    return {
      async create(table, key, columns, rows) {
        keyDdls.set(table, key.ddl);
        const cols = [
          `k ${ddl(key.ddl)} PRIMARY KEY`,
          ...columns.map((c) => `${q(c.name)} ${ddl(c.type.ddl)}`),
        ];
        await db.admin.query(`CREATE TABLE ${db.table(table)} (${cols.join(", ")})`);
        const types = [key.ddl, ...columns.map((c) => c.type.ddl)].map(ddl);
        // One statement per 100 rows, every cell a text parameter cast to its column's type.
        for (let i = 0; i < rows.length; i += 100) {
          const chunk = rows.slice(i, i + 100);
          const values: (string | null)[] = [];
          const tuples = chunk.map((row) => {
            const cells = [row.key, ...row.cells].map((cell, j) => {
              values.push(param(cell));
              return `$${values.length}::text::${types[j]!.replace(/ COLLATE .*$/, "")}`;
            });
            return `(${cells.join(", ")})`;
          });
          await db.admin.query(`INSERT INTO ${db.table(table)} VALUES ${tuples.join(", ")}`, values);
        }
      },
      replica: (table) => ({ url: POSTGRES.url, table: db.table(table) }),
      async read(table, columns) {
        const k = keyDdls.get(table) === "bytea" ? "encode(k, 'hex')" : "k::text";
        const list = [k, ...columns.map((c) => `${q(c)}::text`)].join(", ");
        const result = await db.admin.query<string[]>({
          text: `SELECT ${list} FROM ${db.table(table)}`,
          rowMode: "array",
        });
        return new Map(result.rows.map((r) => [r[0]!, r.slice(1)]));
      },
      close: () => db.drop(),
    };
  },
};
