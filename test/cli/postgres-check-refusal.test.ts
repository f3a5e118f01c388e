/**
 * A repair a PostgreSQL CHECK constraint refuses, through `concord repair`: the one-line error names the
 * dataset and replica once (`items.b:`), the column the constraint covers and the key, and the row keeps what
 * it held while the others are repaired.
 */
import { expect, it } from "vitest";
import { createPostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { makeSqliteTable, parseJson, runConcord, tempDir, writeConfig } from "./helpers.js";

it.skipIf(!(await serviceAvailable(POSTGRES)))(
  "names dataset, replica, column and key of a row a CHECK constraint refuses",
  async () => {
    const dir = tempDir();
    makeSqliteTable(
      `${dir}/a.db`,
      "items",
      "id INTEGER PRIMARY KEY, qty INTEGER NOT NULL, price NUMERIC NOT NULL",
      [
        [1, -5, 1],
        [2, 2, -2],
        [3, 3, 3],
      ],
    );
    const schema = await createPostgresTestSchema();
    try {
      const q = `"${schema.name}"`;
      await schema.admin.query(
        `CREATE DOMAIN ${q}.posint AS integer CHECK (VALUE > 0);
         CREATE TABLE ${q}.items (id int PRIMARY KEY, qty ${q}.posint NOT NULL,
           price numeric NOT NULL CONSTRAINT price_nonneg CHECK (price >= 0));
         INSERT INTO ${q}.items VALUES (1, 1, 1), (2, 2, 2)`,
      );
      const config = writeConfig(
        dir,
        `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: ${JSON.stringify(POSTGRES.url)}, table: ${JSON.stringify(`${schema.name}.items`)} }
    policy: { owner: a }
`,
      );
      const r = await runConcord(["repair", "-c", config, "--json"]);
      expect(r.code).toBe(1);
      const repairs = parseJson<{
        datasets: { repairs: { key: unknown[]; outcome: string; error?: string }[] }[];
      }>(r).datasets[0]!.repairs;
      expect(repairs.map((x) => [x.key, x.outcome, x.error])).toEqual([
        [
          [1],
          "failed",
          `items.b: conditional write refused: column qty (${schema.name}.posint) cannot store -5 at key ["1"]: value for domain ${schema.name}.posint violates check constraint "posint_check"`,
        ],
        [
          [2],
          "failed",
          `items.b: conditional write refused: column price (numeric) cannot store -2 at key ["2"]: new row for relation "items" violates check constraint "price_nonneg"`,
        ],
        [[3], "applied", undefined],
      ]);
      const { rows } = await schema.admin.query(`SELECT id, qty, price::text FROM ${q}.items ORDER BY id`);
      expect(rows).toEqual([
        { id: 1, qty: 1, price: "1" },
        { id: 2, qty: 2, price: "2" },
        { id: 3, qty: 3, price: "3" },
      ]);
    } finally {
      await schema.drop();
    }
  },
);
