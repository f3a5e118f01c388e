/** PostgreSQL conformance tables in a schema of their own, created for the test file and dropped after it. Tests only. */
import { randomUUID } from "node:crypto";
import { afterAll } from "vitest";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import type { CanonicalValue, ColumnType } from "../../src/core/canonical.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import type { ConnectorFactory, StoreTable, TableFixture } from "./connector-factories.js";
import { keyClause, keyNotNull } from "./key-clause.js";

/** Declared PostgreSQL types per logical type; `describe()` must read each back as the logical type. */
const PG_TYPES: Record<ColumnType, string> = {
  integer: "bigint",
  decimal: "numeric(18,6)",
  float: "double precision",
  float32: "real",
  boolean: "boolean",
  text: "text",
  timestamp: "timestamptz",
  time: "time(6)",
  json: "jsonb",
  bytes: "bytea",
};

/** A placeholder converting a canonical value to the native value an application would store. */
function nativeParam(type: ColumnType, n: number): string {
  return type === "bytes" ? `decode($${n}, 'hex')` : `$${n}::${PG_TYPES[type]}`;
}

/** The test file's schema: created on first use, dropped when the file's tests end. */
let schema: Promise<PostgresTestSchema> | undefined;

afterAll(async () => {
  const s = schema;
  schema = undefined;
  if (s !== undefined) await (await s).drop();
});

/**
 * PostgreSQL tables (CONCORD_TEST_PG_URL), handed to the connector through a pool of its own. Text key
 * columns are declared COLLATE "C" (`binaryKeys`: the primary key index serves the binary key order) or
 * left in the database's collation (the connector compares with COLLATE "C", which that index cannot serve).
 */
export function makePostgresFactory(name: string, binaryKeys: boolean): ConnectorFactory {
  return {
    name,
    available: () => serviceAvailable(POSTGRES),
    capabilities: {
      pushdown: true,
      ordered: true,
      optional: [
        "estimateCount",
        "keyBounds",
        "pushdownLimits",
        "streamFingerprintsIn",
        "nativeHash",
        "pairDiff",
        "keyBuckets",
        "recordFromImage",
      ],
      columnFacts: { fractionalDigits: 6, exactDecimal: true },
    },
    skip: [
      { reason: "float and json columns have no exact native row hash", tests: ["typed/native-hash"] },
      {
        reason:
          "float and json columns are fingerprinted in the engine, so keys are not bucketed in the store",
        tests: ["typed/key-buckets", "typed/key-buckets-native"],
      },
    ],
    async create(fixture: TableFixture): Promise<StoreTable> {
      schema ??= createPostgresTestSchema();
      const db = await schema;
      const table = `items_${randomUUID().replaceAll("-", "")}`;
      const qualified = `"${db.name}"."${table}"`;
      const all = [...fixture.key, ...fixture.columns];
      const width = fixture.key.length;
      const columnsSql = all.map((c, i) => {
        const collate = i < width && c.type === "text" && binaryKeys ? ' COLLATE "C"' : "";
        return `"${c.name}" ${PG_TYPES[c.type]}${collate}${i < width && keyNotNull(fixture) ? " NOT NULL" : ""}`;
      });
      const quoted = fixture.key.map((c) => `"${c.name}"`);
      const key = quoted.join(", ");
      await db.admin.query(
        `CREATE TABLE ${qualified} (${columnsSql.join(", ")}${keyClause(fixture, quoted, table)})`,
      );
      const names = all.map((c) => `"${c.name}"`).join(", ");
      const sets = fixture.columns.map((c) => `"${c.name}" = excluded."${c.name}"`).join(", ");
      const upsert =
        `INSERT INTO ${qualified} (${names}) VALUES (${all.map((c, i) => nativeParam(c.type, i + 1)).join(", ")})` +
        (fixture.keyConstraint === "none"
          ? ""
          : ` ON CONFLICT (${key}) DO ${sets ? `UPDATE SET ${sets}` : "NOTHING"}`);
      const put = async (row: readonly CanonicalValue[]) => {
        await db.admin.query(
          upsert,
          all.map((_, i) => row[i] ?? null),
        );
      };
      for (const row of fixture.rows) await put(row);
      const connector = new PostgresConnector(db.pool(2), db.table(table), { label: name });
      return {
        connector,
        put,
        async dispose() {
          await connector.close();
          await db.admin.query(`DROP TABLE IF EXISTS ${qualified}`);
        },
      };
    },
  };
}

/** Text keys in collation "C": every range is an index range. */
export const postgresFactory = makePostgresFactory("postgres", true);
/** Text keys in the database's default collation: binary comparisons the key index cannot serve. */
export const postgresDefaultCollationFactory = makePostgresFactory("postgres-default-collation", false);
