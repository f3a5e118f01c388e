import { it } from "vitest";
import { createPool } from "mysql2/promise";
import { mariadbCanonicalJsonSql } from "/work/wt/myjson/src/connectors/mysql/mysql-json-sql.js";
it("dbg", async () => {
  const p = createPool({ uri: "mysql://root@127.0.0.1:3306/", charset: "UTF8MB4_UNICODE_CI", connectionLimit: 1 });
  await p.query("CREATE DATABASE IF NOT EXISTS concord_test_dbg");
  await p.query("CREATE TABLE IF NOT EXISTS concord_test_dbg.e (i INT PRIMARY KEY, bin LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)");
  await p.query("DELETE FROM concord_test_dbg.e");
  const texts: string[] = JSON.parse(process.env.DOCS!);
  await p.query("INSERT INTO concord_test_dbg.e VALUES ?", [texts.map((t, i) => [i, t])]);
  const [r] = await p.query({ sql: `SELECT i, bin, HEX(bin), CONVERT(${mariadbCanonicalJsonSql("bin")} USING utf8mb4), JSON_NORMALIZE(bin) FROM concord_test_dbg.e ORDER BY i`, rowsAsArray: true });
  for (const row of r as unknown[][]) console.log("ROW", JSON.stringify(row));
  await p.end();
});
