import pg from "pg";
import { shallowSql } from "./dist/connectors/postgres/postgres-json-sql.js";
const pool = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:5432/test", max: 1 });
const W = "WHERE id <= 1000";
await pool.query("select 1");
const d1 = shallowSql("t.doc", 1);
const noNum = d1.replace(/ELSE \(SELECT CASE WHEN x\.d < 0.*? z\) y\) x\) END/g, "ELSE NULL END");
const noUtf = d1.replace(/\(CASE WHEN e\.key ~ '\[\\uE000-\\U0010FFFF\]' THEN \(SELECT string_agg.*?ELSE e\.key END\) COLLATE/g, "e.key COLLATE");
const noBoth = noNum.replace(/\(CASE WHEN e\.key ~ '\[\\uE000-\\U0010FFFF\]' THEN \(SELECT string_agg.*?ELSE e\.key END\) COLLATE/g, "e.key COLLATE");
console.log(d1.length, noNum.length, noUtf.length, noBoth.length);
const exprs = { d1, noNum, noUtf, noBoth };
const times = {};
for (let rep = 0; rep < 2; rep++)
  for (const [name, e] of Object.entries(exprs)) {
    const t0 = performance.now();
    await pool.query(`SELECT count(${e}) FROM hjsonsql_t t ${W}`);
    (times[name] ??= []).push(Math.round(performance.now() - t0));
  }
console.log(times);
await pool.end();
