/**
 * A repair a MariaDB/MySQL CHECK constraint refuses: the one-line error names the dataset and replica once
 * (`items.b:`), the constraint's column (or the constraint and its columns) and the key of the refused row,
 * through `concord repair` (each refused row alone) and through the connector given a whole batch.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/connector.js";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import type { RecordShape } from "../../src/core/model.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";
import { makeSqliteTable, parseJson, runConcord, tempDir, writeConfig } from "./helpers.js";

const available = await serviceAvailable(MYSQL);

/** A column's own check, a table check on one column, a table check on two. */
const DDL = `(id int PRIMARY KEY, qty int NOT NULL CHECK (qty >= 0), price decimal(10,2) NOT NULL,
  CONSTRAINT price_pos CHECK (price > 0), CONSTRAINT qty_under_price CHECK (qty < price * 100))`;

describe.skipIf(!available)("a MariaDB/MySQL CHECK constraint refusing a repair", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("concord repair: names dataset, replica, column or constraint, and key of each refused row", async () => {
    const dir = tempDir();
    makeSqliteTable(
      `${dir}/a.db`,
      "items",
      "id INTEGER PRIMARY KEY, qty INTEGER NOT NULL, price NUMERIC NOT NULL",
      [
        [1, -5, 1],
        [2, 2, -2],
        [3, 500, 1],
        [4, 3, 3],
      ],
    );
    await db.admin.query(`CREATE TABLE items ${DDL}`);
    await db.admin.query("INSERT INTO items VALUES (1, 1, 1), (2, 2, 2)");
    const config = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: ${JSON.stringify(db.url)}, table: items }
    policy: { owner: a }
`,
    );
    const r = await runConcord(["repair", "-c", config, "--json"]);
    expect(r.code, r.stderr).toBe(1);
    const repairs = parseJson<{
      datasets: { repairs: { key: unknown[]; outcome: string; error?: string }[] }[];
    }>(r).datasets[0]!.repairs;
    const table = `\`${db.name}\`.\`items\``;
    const qtyName = db.mariadb ? "`items.qty`" : "`items_chk_1`";
    expect(repairs.map((x) => [x.key, x.outcome, x.error])).toEqual([
      [
        [1],
        "failed",
        db.mariadb
          ? `items.b: conditional write refused: column qty (int(11)) cannot store -5 at key ["1"]: CONSTRAINT ${qtyName} failed for ${table}`
          : expect.stringContaining('column qty (int) cannot store -5 at key ["1"]'),
      ],
      [
        [2],
        "failed",
        db.mariadb
          ? `items.b: conditional write refused: column price (decimal(10,2)) cannot store -2 at key ["2"]: CONSTRAINT \`price_pos\` failed for ${table}`
          : expect.stringContaining('column price (decimal(10,2)) cannot store -2 at key ["2"]'),
      ],
      [
        [3],
        "failed",
        db.mariadb
          ? `items.b: conditional write refused: check constraint "qty_under_price" on columns qty, price refused the row at key ["3"]: CONSTRAINT \`qty_under_price\` failed for ${table}`
          : expect.stringContaining(
              'check constraint "qty_under_price" on columns qty, price refused the row at key ["3"]',
            ),
      ],
      [[4], "applied", undefined],
    ]);
    const [rows] = await db.admin.query("SELECT id, qty, price FROM items ORDER BY id");
    expect(rows).toEqual([
      { id: 1, qty: 1, price: "1.00" },
      { id: 2, qty: 2, price: "2.00" },
      { id: 4, qty: 3, price: "3.00" },
    ]);
  });

  it("the connector given a whole batch finds the refused write's key and writes nothing", async () => {
    await db.admin.query(`CREATE TABLE batch ${DDL}`);
    const b = new MysqlConnector(db.pool(2), "batch", { label: "ds.b", where: db.url, ownsPool: true });
    try {
      const shape: RecordShape = {
        key: [{ name: "id", type: "integer" }],
        columns: [
          { name: "qty", type: "integer" },
          { name: "price", type: "decimal" },
        ],
      };
      const writes = [10, 11, 12, 13].map((id) => ({
        key: [String(id)],
        expected: null,
        next: [String(id), id === 12 ? "-1" : "1"],
      }));
      const err = await b.applyWrites(shape, writes).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toBe(
        `ds.b: conditional write refused: column price (decimal(10,2)) cannot store -1 at key ["12"]: ${
          db.mariadb
            ? `CONSTRAINT \`price_pos\` failed for \`${db.name}\`.\`batch\``
            : "Check constraint 'price_pos' is violated."
        }`,
      );
      const [rows] = await db.admin.query("SELECT COUNT(*) AS n FROM batch");
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await b.close();
    }
  });
});
