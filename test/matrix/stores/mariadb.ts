/** MariaDB in the type matrix: every type the connector maps, what each holds, and a database per test file. Tests only. */
import { createPool, type Pool, type TypeCast } from "mysql2/promise";
import { createMysqlTestDatabase } from "../../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../../support/services.js";
import { KEY_VALUES, singleAsDouble, spellsJson } from "../families.js";
import type { MatrixColumnType, MatrixKeyType, MatrixSpace, MatrixStore, MatrixValue } from "../matrix.js";

const t = (family: string, ddl: string, more: Partial<MatrixColumnType> = {}): MatrixColumnType => ({
  family,
  ddl,
  ...more,
});

/** An integer family value within [lo, hi]. */
const between = (lo: bigint, hi: bigint) => (v: MatrixValue) => {
  const n = BigInt(v.canonical);
  return n >= lo && n <= hi;
};
const signed = (bits: bigint) => between(-(2n ** (bits - 1n)), 2n ** (bits - 1n) - 1n);
const unsigned = (bits: bigint) => between(0n, 2n ** bits - 1n);

/** DECIMAL(p,s) holds finite decimals with at most s fraction digits and p − s integer digits. */
const decimalHolds = (p: number, s: number) => (v: MatrixValue) => {
  if (!/^-?\d+(\.\d+)?$/.test(v.canonical)) return false;
  const [int = "", frac = ""] = v.canonical.replace("-", "").split(".");
  return frac.length <= s && int.replace(/^0+/, "").length <= p - s;
};

const finite = (v: MatrixValue) => Number.isFinite(Number(v.canonical));
/**
 * FLOAT(M,D) holds the singles that D decimals leave alone. (A FLOAT beside a double column is the float32
 * family's FLOAT against the other store's double type: compared as the double it holds exactly.)
 */
const floatMD = (m: number, d: number) => (v: MatrixValue) => {
  if (!finite(v)) return false;
  const x = Math.fround(Number(v.canonical));
  return Math.abs(x) < 10 ** (m - d) && Math.fround(Number(x.toFixed(d))) === x;
};

/** DATETIME and DATE hold four-digit years; TIMESTAMP 1970-01-01 00:00:01 to 2038-01-19 03:14:07 UTC. */
const fourDigitYear = (v: MatrixValue) => /^\d{4}-/.test(v.canonical);
const micros = (v: MatrixValue) => /\.(\d{6})Z$/.exec(v.canonical)?.[1] ?? "000000";
const timestampRange = (v: MatrixValue) =>
  fourDigitYear(v) && v.canonical >= "1970-01-01T00:00:01" && v.canonical <= "2038-01-19T03:14:07.999999Z";
const timeDigits = (digits: number) => (v: MatrixValue) => !/[1-9]/.test(v.canonical.slice(-6).slice(digits));

/** A canonical timestamp as the session's (UTC) DATETIME literal. */
const datetimeText = (text: string) => text.replace("T", " ").replace(/Z$/, "");

const chars = (v: MatrixValue) => [...v.canonical].length;
const ENUM_MEMBERS = ["", "a", "A", "\u00e9"];

const TYPES: MatrixColumnType[] = [
  t("integer", "TINYINT", { holds: signed(8n) }),
  t("integer", "SMALLINT", { holds: signed(16n) }),
  t("integer", "MEDIUMINT", { holds: signed(24n) }),
  t("integer", "INT", { holds: signed(32n) }),
  t("integer", "BIGINT", { holds: signed(64n) }),
  t("integer", "BIGINT UNSIGNED", { holds: unsigned(64n) }),
  // YEAR reads 1 to 69 as 2001 to 2069: it holds 0 and 1901 to 2155 (handed numbers: the string '0' is 2000).
  t("integer", "YEAR", { holds: (v) => v.canonical === "0" || between(1901n, 2155n)(v), encode: BigInt }),
  // A BIT column is handed numbers (a string would be its bytes).
  t("integer", "BIT(64)", { holds: unsigned(64n), encode: (text) => BigInt(text) }),
  t("decimal", "DECIMAL(10,2)", { holds: decimalHolds(10, 2) }),
  t("decimal", "DECIMAL(65,30)", { holds: decimalHolds(65, 30) }),
  t("float", "DOUBLE", { holds: finite }),
  t("float32", "FLOAT", { holds: finite, encode: singleAsDouble }),
  t("float32", "FLOAT(7,3)", { holds: floatMD(7, 3), encode: singleAsDouble }),
  t("float32", "DOUBLE", { holds: finite, encode: singleAsDouble }),
  t("boolean", "BOOLEAN", { encode: (text) => (text === "t" ? 1 : 0) }),
  t("boolean", "BIT(1)", { encode: (text) => (text === "t" ? 1 : 0) }),
  t("text", "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin", { holds: (v) => chars(v) <= 20 }),
  t("text", "TEXT"),
  // CHAR drops trailing spaces when read.
  t("text", "CHAR(12)", { holds: (v) => chars(v) <= 12 && !v.canonical.endsWith(" ") }),
  // utf8mb3 holds no 4-byte characters.
  t("text", "VARCHAR(300) CHARACTER SET utf8mb3", {
    holds: (v) => !/[\u{10000}-\u{10FFFF}]/u.test(v.canonical),
  }),
  t("text", `ENUM('', 'a', 'A', '\u00e9') CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`, {
    holds: (v) => ENUM_MEMBERS.includes(v.canonical),
  }),
  t("uuid", "UUID"),
  t("uuid", "CHAR(36)"),
  t("timestamp", "DATETIME(6)", { holds: fourDigitYear, encode: datetimeText }),
  t("timestamp", "DATETIME(3)", {
    holds: (v) => fourDigitYear(v) && micros(v).endsWith("000"),
    encode: datetimeText,
  }),
  t("timestamp", "DATETIME", {
    holds: (v) => fourDigitYear(v) && micros(v) === "000000",
    encode: datetimeText,
  }),
  t("timestamp", "TIMESTAMP(6) NULL", { holds: timestampRange, encode: datetimeText }),
  t("timestamp", "DATE", {
    holds: (v) => fourDigitYear(v) && v.canonical.endsWith("T00:00:00.000000Z"),
    encode: (text) => text.slice(0, 10),
  }),
  t("time", "TIME(6)", { spells: () => true }),
  t("time", "TIME(3)", { holds: timeDigits(3), spells: () => true }),
  t("time", "TIME", { holds: timeDigits(0), spells: () => true }),
  // MariaDB's JSON is LONGTEXT with a json_valid() check: the text is kept as written.
  t("json", "JSON", { spells: spellsJson("first") }),
  t("bytes", "VARBINARY(16)", { encode: (hex) => Buffer.from(hex, "hex") }),
  t("bytes", "BLOB", { encode: (hex) => Buffer.from(hex, "hex") }),
  // BINARY(n) pads shorter values with zero bytes.
  t("bytes", "BINARY(4)", {
    holds: (v) => v.canonical.length === 8,
    encode: (hex) => Buffer.from(hex, "hex"),
  }),
];

const TEXT_KEY = "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE";
const KEY_COLLATIONS = ["utf8mb4_nopad_bin", "utf8mb4_bin", "utf8mb4_general_ci", "utf8mb4_unicode_ci"];

/**
 * Which key values each collation cannot hold both of, asked of the server (MariaDB's PAD SPACE and its
 * collations' weights are its own): `${collation}\0${a}\0${b}` for every equal pair of different keys.
 */
async function collisions(): Promise<Set<string>> {
  const out = new Set<string>();
  if (!(await serviceAvailable(MYSQL))) return out;
  const pool = createPool({ uri: MYSQL.url, connectionLimit: 1, charset: "UTF8MB4_GENERAL_CI" });
  try {
    const keys = KEY_VALUES.text;
    for (const collation of KEY_COLLATIONS) {
      const pairs = keys.flatMap((a, i) => keys.slice(i + 1).map((b) => [a, b] as const));
      const sql = pairs.map(() => `(? COLLATE ${collation}) = (? COLLATE ${collation})`).join(", ");
      const [rows] = await pool.query({ sql: `SELECT ${sql}`, values: pairs.flat(), rowsAsArray: true });
      const equal = (rows as number[][])[0]!;
      pairs.forEach(([a, b], i) => {
        if (Number(equal[i]) === 1) {
          out.add(`${collation}\0${a}\0${b}`);
          out.add(`${collation}\0${b}\0${a}`);
        }
      });
    }
  } finally {
    await pool.end();
  }
  return out;
}
const COLLIDING = await collisions();

const KEY_TYPES: MatrixKeyType[] = [
  { family: "integer", ddl: "BIGINT", holds: (k) => signed(64n)({ id: k, canonical: k }), encode: BigInt },
  { family: "integer", ddl: "INT", holds: (k) => signed(32n)({ id: k, canonical: k }), encode: BigInt },
  {
    family: "integer",
    ddl: "BIGINT UNSIGNED",
    holds: (k) => unsigned(64n)({ id: k, canonical: k }),
    encode: BigInt,
  },
  ...KEY_COLLATIONS.map(
    (collation): MatrixKeyType => ({
      family: "text",
      ddl: `${TEXT_KEY} ${collation}`,
      holds: (k) => [...k].length <= 20,
      collides: (a, b) => COLLIDING.has(`${collation}\0${a}\0${b}`),
    }),
  ),
  { family: "bytes", ddl: "VARBINARY(32)", encode: (k) => Buffer.from(k, "hex") },
  // A UUID's usual column: it holds 16 bytes exactly (a shorter value would be padded with zero bytes).
  { family: "bytes", ddl: "BINARY(16)", holds: (k) => k.length === 32, encode: (k) => Buffer.from(k, "hex") },
];

/** How the space reads a column back natively: the server's own text of what it stores. */
function nativeText(ddl: string, column: string): string {
  const c = `\`${column}\``;
  if (/^(BIT|BOOLEAN)/.test(ddl)) return `CAST(${c} + 0 AS CHAR)`;
  // The server prints a FLOAT with 6 digits: its exact value is the double it widens to.
  if (/^FLOAT/.test(ddl)) return `CAST(CAST(${c} AS DOUBLE) AS CHAR)`;
  if (/^(VARBINARY|BLOB|BINARY)/.test(ddl)) return `HEX(${c})`;
  return `CAST(${c} AS CHAR)`;
}

/** Every value as the server's text. */
const asText: TypeCast = (field) => field.string("utf8");

export const store: MatrixStore = {
  name: "mariadb",
  types: TYPES,
  keyTypes: KEY_TYPES,
  available: () => serviceAvailable(MYSQL),
  async open(): Promise<MatrixSpace> {
    const db = await createMysqlTestDatabase();
    const pool: Pool = db.pool(2);
    const ddls = new Map<string, Map<string, string>>();
    const q = (name: string) => `\`${name}\``;
    return {
      async create(table, key, columns, rows) {
        const cols = [`k ${key.ddl} PRIMARY KEY`, ...columns.map((c) => `${q(c.name)} ${c.type.ddl}`)];
        ddls.set(
          table,
          new Map([["k", key.ddl], ...columns.map((c): [string, string] => [c.name, c.type.ddl])]),
        );
        const conn = await pool.getConnection();
        try {
          // TIMESTAMP columns are written and read in UTC, as the connector's session does.
          await conn.query("SET time_zone = '+00:00'");
          await conn.query(`CREATE TABLE ${q(table)} (${cols.join(", ")}) CHARACTER SET utf8mb4`);
          for (let i = 0; i < rows.length; i += 100) {
            const chunk = rows.slice(i, i + 100);
            const values: unknown[] = [];
            const tuples = chunk.map((row) => {
              values.push(row.key, ...row.cells.map((c) => (c === undefined ? null : c)));
              return `(${["?", ...columns.map(() => "?")].join(", ")})`;
            });
            await conn.query(`INSERT INTO ${q(table)} VALUES ${tuples.join(", ")}`, values);
          }
        } finally {
          conn.release();
        }
      },
      replica: (table) => ({ url: db.url, table }),
      async read(table, columns) {
        const types = ddls.get(table) ?? new Map<string, string>();
        const k = /BINARY/.test(types.get("k") ?? "") ? "LOWER(HEX(k))" : "CAST(k AS CHAR)";
        const list = [k, ...columns.map((c) => nativeText(types.get(c) ?? "", c))];
        const conn = await pool.getConnection();
        try {
          await conn.query("SET time_zone = '+00:00'");
          const [rows] = await conn.query({
            sql: `SELECT ${list.join(", ")} FROM ${q(table)}`,
            rowsAsArray: true,
            typeCast: asText,
          });
          return new Map((rows as (string | null)[][]).map((r) => [r[0]!, r.slice(1)]));
        } finally {
          conn.release();
        }
      },
      async close() {
        await pool.end();
        await db.drop();
      },
    };
  },
};
