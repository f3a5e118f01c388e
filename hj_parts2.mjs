import pg from "pg";
const pool = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:5432/test", max: 1 });
const W = "WHERE id <= 5000";
const x = "(e.value)::numeric";
const tests = {
  num_simple: `(SELECT string_agg(to_json(e.key)::text || ':' || CASE jsonb_typeof(e.value) WHEN 'number' THEN trim_scale(${x})::text ELSE e.value::text END, ',') FROM jsonb_each(t.doc) e)`,
  num_case: `(SELECT string_agg(to_json(e.key)::text || ':' || CASE jsonb_typeof(e.value) WHEN 'number' THEN CASE WHEN ${x} = 0 OR abs(${x}) >= 0.000001 AND abs(${x}) < 1e21 THEN trim_scale(${x})::text END ELSE e.value::text END, ',') FROM jsonb_each(t.doc) e)`,
  num_case_sub: `(SELECT string_agg(to_json(e.key)::text || ':' || CASE jsonb_typeof(e.value) WHEN 'number' THEN CASE WHEN ${x} = 0 OR abs(${x}) >= 0.000001 AND abs(${x}) < 1e21 THEN trim_scale(${x})::text ELSE (SELECT 'x' || ${x}::text) END ELSE e.value::text END, ',') FROM jsonb_each(t.doc) e)`,
};
for (const [name, expr] of Object.entries(tests)) {
  const t0 = performance.now();
  await pool.query(`SELECT count(*), bit_xor(('x'||left(md5(${expr}),16))::bit(64)::int8) FROM hjsonsql_t t ${W}`);
  console.log(name, Math.round(performance.now() - t0), "ms");
}
await pool.end();
