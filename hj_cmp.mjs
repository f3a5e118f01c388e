import pg from "pg";
import { shallowSql, postgresCanonicalJsonWalkSql, postgresCanonicalJsonSql } from "./dist/connectors/postgres/postgres-json-sql.js";
const pool = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:5432/test", max: 1 });
const W = process.argv[2] ?? "WHERE id <= 2000";
await pool.query("select 1");
const exprs = { text: "t.doc::text", walk: postgresCanonicalJsonWalkSql("t.doc"), shallow2: shallowSql("t.doc", 2), full: postgresCanonicalJsonSql("t.doc") };
const times = {};
for (let rep = 0; rep < 3; rep++)
  for (const [name, e] of Object.entries(exprs)) {
    const t0 = performance.now();
    await pool.query(`SELECT count(*), bit_xor(('x'||left(md5(${e}),16))::bit(64)::int8) FROM hjsonsql_t t ${W}`);
    (times[name] ??= []).push(Math.round(performance.now() - t0));
  }
console.log(times);
await pool.end();
