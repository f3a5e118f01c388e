/**
 * A server whose default sql_mode changes what values read as: the connector's sessions drop those flags.
 * The pool here starts every connection in them, as a server configured so would (no global is changed).
 * Before, a CHAR(5) holding `a` read as `a    ` (a false difference beside any other store, and its repair
 * refused), and a repair writing "" stored NULL under EMPTY_STRING_IS_NULL.
 */
import { createPool } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import type { RecordShape } from "../../src/core/model.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);
const MODES = "PAD_CHAR_TO_FULL_LENGTH,EMPTY_STRING_IS_NULL,ANSI_QUOTES,PIPES_AS_CONCAT";

describe.skipIf(!available)("MariaDB sessions drop sql_mode flags that change values", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query("CREATE TABLE m (id INT PRIMARY KEY, c CHAR(5), v VARCHAR(5))");
    await db.admin.query("INSERT INTO m VALUES (1, 'a', 'x'), (2, NULL, 'y')");
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** A connector over a pool whose connections start in MODES. */
  function connector(): MysqlConnector {
    const pool = createPool({ uri: db.url, connectionLimit: 2 });
    pool.pool.on("connection", (conn) => {
      conn.query(`SET SESSION sql_mode = CONCAT(@@sql_mode, ',${MODES}')`);
    });
    return new MysqlConnector(pool, "m", { label: "ds.m", where: db.url, ownsPool: true });
  }

  const SHAPE: RecordShape = {
    key: [{ name: "id", type: "integer" }],
    columns: [
      { name: "c", type: "text" },
      { name: "v", type: "text" },
    ],
  };

  it("reads a CHAR without its padding, and writes an empty string as one", async () => {
    const c = connector();
    try {
      const [one, two] = await c.fetchRecords(SHAPE, [["1"], ["2"]]);
      expect(one?.values).toEqual(["a", "x"]);
      expect(
        await c.applyWrites(SHAPE, [{ key: ["2"], expected: two!.fingerprint, next: [null, ""] }]),
      ).toEqual(["applied"]);
      const [rows] = await db.admin.query({
        sql: "SELECT v IS NULL, LENGTH(v) FROM m WHERE id = 2",
        rowsAsArray: true,
      });
      expect(rows).toEqual([[0, 0]]);
      expect((await c.fetchRecords(SHAPE, [["2"]]))[0]?.values).toEqual([null, ""]);
    } finally {
      await c.close();
    }
  });
});
