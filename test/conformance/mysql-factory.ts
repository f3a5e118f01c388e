/** MariaDB/MySQL conformance tables in a database of their own, created for the test file and dropped after it. Tests only. */
import { randomUUID } from "node:crypto";
import type { Pool } from "mysql2/promise";
import { afterAll } from "vitest";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import type { CanonicalValue, ColumnType } from "../../src/core/canonical.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";
import type { ConnectorFactory, StoreTable, TableFixture } from "./connector-factories.js";
import { keyClause, keyNotNull } from "./key-clause.js";

/**
 * Declared MariaDB types per logical type; `describe()` must read each back as the logical type. Floats are
 * kept as text declared `concord:float` in the COMMENT: DOUBLE cannot hold the fixtures' ±Infinity (the
 * server rejects them), and that is how such a column would be kept. DOUBLE and FLOAT themselves are
 * covered, with finite values, by test/integration/mysql-pushdown.test.ts.
 */
const MYSQL_TYPES: Record<ColumnType, string> = {
  integer: "BIGINT",
  decimal: "DECIMAL(18,6)",
  float: "VARCHAR(40) COMMENT 'concord:float'",
  float32: "FLOAT",
  boolean: "BOOLEAN",
  text: "TEXT",
  timestamp: "DATETIME(6)",
  time: "TIME(6)",
  json: "JSON",
  bytes: "VARBINARY(255)",
};

/** The value an application would store natively for a canonical value, as a SQL literal. */
function nativeLiteral(pool: Pool, type: ColumnType, v: CanonicalValue): string {
  if (v === null) return "NULL";
  switch (type) {
    case "integer":
      return v;
    case "boolean":
      return v === "t" ? "TRUE" : "FALSE";
    case "timestamp":
      return pool.escape(v.slice(0, 26).replace("T", " "));
    case "bytes":
      return `X'${v}'`;
    default:
      return pool.escape(v);
  }
}

/** The test file's database: created on first use, dropped when the file's tests end. */
let database: Promise<MysqlTestDatabase> | undefined;

afterAll(async () => {
  const db = database;
  database = undefined;
  if (db !== undefined) await (await db).drop();
});

/**
 * MariaDB/MySQL tables (CONCORD_TEST_MYSQL_URL), handed to the connector through a pool of its own. Text
 * key columns get a NO PAD binary collation (`nopad`: ranges are index ranges) or utf8mb4_bin (PAD SPACE:
 * the connector must compare keys as BINARY).
 */
export function makeMysqlFactory(name: string, nopad: boolean): ConnectorFactory {
  return {
    name,
    available: () => serviceAvailable(MYSQL),
    capabilities: {
      pushdown: true,
      ordered: true,
      optional: ["keyBounds", "pushdownLimits", "streamFingerprintsIn", "nativeHash", "pairDiff"],
      columnFacts: { fractionalDigits: 6, exactDecimal: true },
    },
    skip: [
      {
        reason: "floats kept as text declared concord:float, and json, have no native row hash",
        tests: ["typed/native-hash"],
      },
    ],
    async create(fixture: TableFixture): Promise<StoreTable> {
      database ??= createMysqlTestDatabase();
      const db = await database;
      const collation = !nopad ? "utf8mb4_bin" : db.mariadb ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin";
      const table = `items_${randomUUID().replaceAll("-", "")}`;
      const all = [...fixture.key, ...fixture.columns];
      const columnsSql = all.map((c, i) => {
        const isKey = i < fixture.key.length;
        const type = isKey && c.type === "text" ? `VARCHAR(64) COLLATE ${collation}` : MYSQL_TYPES[c.type];
        return `\`${c.name}\` ${type}${isKey && keyNotNull(fixture) ? " NOT NULL" : ""}`;
      });
      const quoted = fixture.key.map((c) => `\`${c.name}\``);
      await db.admin.query(
        `CREATE TABLE ${table} (${columnsSql.join(", ")}${keyClause(fixture, quoted, table)})`,
      );
      const names = all.map((c) => `\`${c.name}\``).join(", ");
      const values = (row: readonly CanonicalValue[]) =>
        `(${all.map((c, i) => nativeLiteral(db.admin, c.type, row[i] ?? null)).join(", ")})`;
      if (fixture.rows.length > 0) {
        await db.admin.query(`INSERT INTO ${table} (${names}) VALUES ${fixture.rows.map(values).join(", ")}`);
      }
      const pool = db.pool();
      const connector = new MysqlConnector(pool, table, { label: name, where: db.url });
      return {
        connector,
        async put(row) {
          await db.admin.query(`REPLACE INTO ${table} (${names}) VALUES ${values(row)}`);
        },
        async dispose() {
          await connector.close();
          await pool.end();
          await db.admin.query(`DROP TABLE IF EXISTS ${table}`);
        },
      };
    },
  };
}

/** MariaDB/MySQL with text keys in a NO PAD binary collation: every range is an index range. */
export const mysqlFactory = makeMysqlFactory("mysql", true);
/** MariaDB/MySQL with text keys in utf8mb4_bin (PAD SPACE): the connector compares keys as BINARY. */
export const mysqlPadCollationFactory = makeMysqlFactory("mysql-pad-collation", false);
