/**
 * Values spelled into statement text as literals (`sqlLiteral`: the in-PostgreSQL pair's range bounds) read
 * back byte for byte in PostgreSQL, whatever `standard_conforming_strings` says.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlLiteral } from "../../src/connectors/postgres/postgres-shape-sql.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);

const VALUES = [
  "plain",
  "o'k",
  "''",
  "b\\s",
  "\\",
  "\\'",
  "it's a\\b\\\\c",
  "é ä 漢字",
  "$1",
  "--x",
  " E'x'",
  "a;b",
];

describe.skipIf(!available)("SQL literals", () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: POSTGRES.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
  });

  for (const conforming of ["on", "off"])
    it(`read back as written (standard_conforming_strings ${conforming})`, async () => {
      await client.query(`SET standard_conforming_strings = ${conforming}`);
      // Simple protocol, several statements in one message, as the pair's cursor sends them.
      const text = VALUES.map((v, i) => `${sqlLiteral(v)}::text AS v${i}`).join(", ");
      const res = (await client.query(
        `SELECT 1; SELECT ${text}, ${sqlLiteral(null)}::int8 AS n`,
      )) as unknown as pg.QueryResult[];
      const row = res.at(-1)!.rows[0] as Record<string, string | null>;
      expect(VALUES.map((_, i) => row[`v${i}`])).toEqual(VALUES);
      expect(row.n).toBeNull();
      // Arrays of key parts (`= ANY(...)`, unnest) as the conditional writes' lock reads them, NULL included.
      const arrays = [VALUES, [...VALUES, null, "{}", '"', ",", "NULL"], []];
      const parsed = await client.query(
        `SELECT ${arrays.map((a, i) => `array_to_json(${sqlLiteral(a)}::text[])::text AS a${i}`).join(", ")}`,
      );
      expect(arrays.map((_, i) => JSON.parse(parsed.rows[0][`a${i}`] as string))).toEqual(arrays);
    });
});
