import pg from "pg";
import { shallowSql } from "./dist/connectors/postgres/postgres-json-sql.js";
const pool = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:5432/test", max: 1 });
const W = "WHERE id <= 2000";
await pool.query("select 1");
for (const d of [0, 1, 2]) {
  const t0 = performance.now();
  const r = await pool.query(`SELECT count(*), count(${shallowSql("t.doc", d)}) FROM hjsonsql_t t ${W}`);
  console.log(d, Math.round(performance.now() - t0), "ms", r.rows[0], shallowSql("t.doc", d).length);
}
await pool.end();
