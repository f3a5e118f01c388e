/**
 * MariaDB's INET4 and INET6 keep an address, not its text: a repair whose text the column would give back
 * otherwise (`FE80::0001` as `fe80::1`, `001.002.003.004` as `1.2.3.4`) is refused before writing, and the
 * text the connector expects (`inet6Text`) is the server's own for edge and random addresses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { inet4Text, inet6Text } from "../../src/connectors/mysql/mysql-inet-text.js";
import type { RecordShape } from "../../src/core/model.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);
let db: MysqlTestDatabase | undefined;
let mariadb = false;

beforeAll(async () => {
  if (!available) return;
  db = await createMysqlTestDatabase();
  mariadb = db.mariadb;
});
afterAll(async () => {
  await db?.drop();
});

/** What the server gives back for `v` cast to `type` (undefined: it refuses the text). */
async function serverText(type: "INET4" | "INET6", v: string): Promise<string | undefined> {
  try {
    const [rows] = await db!.admin.query({
      sql: `SELECT CAST(CAST(? AS ${type}) AS CHAR)`,
      values: [v],
      rowsAsArray: true,
    });
    return ((rows as (string | null)[][])[0]![0] as string | null) ?? undefined;
  } catch {
    return undefined;
  }
}

/** A seeded word generator: zeros and 0xffff often, so runs and IPv4-mapped forms come up. */
function randomAddresses(n: number): string[] {
  let seed = 12345;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  return Array.from({ length: n }, () =>
    Array.from({ length: 8 }, () => {
      const r = next();
      const w = r < 0.5 ? 0 : r < 0.6 ? 0xffff : r < 0.7 ? 1 : Math.floor(next() * 65536);
      return next() < 0.3 ? w.toString(16).toUpperCase().padStart(4, "0") : w.toString(16);
    }).join(":"),
  );
}

describe.skipIf(!available)("MariaDB INET4 and INET6", () => {
  it("lays an address out as the server does, and refuses what it refuses", async () => {
    if (!mariadb) return;
    const six = [
      "::",
      "::1",
      "::0.0.0.1",
      "::0.0.1.0",
      "::1.2.3.4",
      "::FFFF:1.2.3.4",
      "::fffe:1.2.3.4",
      "0:0:0:0:0:ffff:102:304",
      "1:0:2:3:4:5:6:7",
      "1:0:0:2:0:0:3:4",
      "FE80::0001",
      "2001:0db8:0000::1",
      "1:2:3:4:5:6:1.2.3.4",
      "1:2:3:4:5:6:7::",
      "1.2.3.4",
      "::1.2.3.256",
      "1::2::3",
      "::1 ",
      "12345::",
      ...randomAddresses(400),
    ];
    for (const v of six) expect([v, inet6Text(v)]).toEqual([v, await serverText("INET6", v)]);
    for (const v of ["1.2.3.4", "001.002.003.004", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4 "])
      expect([v, inet4Text(v)]).toEqual([v, await serverText("INET4", v)]);
  });

  it("refuses a text the column would give back as another, writes the server's own text", async () => {
    if (!mariadb) return;
    await db!.admin.query("CREATE TABLE addr (id INT PRIMARY KEY, a INET4, b INET6)");
    const c = new MysqlConnector(db!.pool(), "addr", { label: "addr", where: db!.url, ownsPool: true });
    try {
      const shape: RecordShape = {
        key: [{ name: "id", type: "integer" }],
        columns: [
          { name: "a", type: "text" },
          { name: "b", type: "text" },
        ],
      };
      const write = (a: string, b: string) =>
        c.applyWrites(shape, [{ key: ["1"], expected: null, next: [a, b] }]);
      // Before: written, stored as fe80::1 and recorded superseded ("another writer or a trigger").
      await expect(write("1.2.3.4", "FE80::0001")).rejects.toThrow(
        /^addr: column b \(inet6\) cannot store FE80::0001: INET6 would hold it as fe80::1$/,
      );
      await expect(write("001.002.003.004", "::1")).rejects.toThrow(
        /^addr: column a \(inet4\) cannot store 001\.002\.003\.004: INET4 would hold it as 1\.2\.3\.4$/,
      );
      await expect(write("1.2.3.4", "1.2.3.4")).rejects.toThrow(
        /^addr: column b \(inet6\) cannot store 1\.2\.3\.4: it is no IPv6 address$/,
      );
      const [none] = await db!.admin.query("SELECT * FROM addr");
      expect(none).toEqual([]);
      expect(await write("1.2.3.4", "::ffff:1.2.3.4")).toEqual(["applied"]);
      const [rows] = await db!.admin.query({
        sql: "SELECT CAST(a AS CHAR), CAST(b AS CHAR) FROM addr",
        rowsAsArray: true,
      });
      expect(rows).toEqual([["1.2.3.4", "::ffff:1.2.3.4"]]);
    } finally {
      await c.close();
    }
  });
});
