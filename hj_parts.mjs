import pg from "pg";
const pool = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:5432/test", max: 1 });
const W = "WHERE id <= 5000";
const tests = {
  each_plain: `(SELECT string_agg(e.key || ':' || e.value::text, ',') FROM jsonb_each(t.doc) e)`,
  each_sorted_c: `(SELECT string_agg(e.key || ':' || e.value::text, ',' ORDER BY e.key COLLATE "C") FROM jsonb_each(t.doc) e)`,
  each_regex: `(SELECT string_agg(e.key || ':' || e.value::text, ',' ORDER BY CASE WHEN e.key ~ '[\\uE000-\\U0010FFFF]' THEN 'x' ELSE e.key END COLLATE "C") FROM jsonb_each(t.doc) e)`,
  each_regex2: `(SELECT string_agg(e.key || ':' || e.value::text, ',' ORDER BY CASE WHEN e.key ~ '^(0|[1-9][0-9]{0,9})$' THEN 1 END) FROM jsonb_each(t.doc) e)`,
  each_regex3: `(SELECT string_agg(e.key || ':' || e.value::text, ',' ORDER BY CASE WHEN e.key ~ '[^\\x01-\\uDFFF]' THEN 'x' ELSE e.key END COLLATE "C") FROM jsonb_each(t.doc) e)`,
  each_tojson: `(SELECT string_agg(to_json(e.key)::text || ':' || e.value::text, ',') FROM jsonb_each(t.doc) e)`,
};
for (const [name, expr] of Object.entries(tests)) {
  const t0 = performance.now();
  await pool.query(`SELECT count(*), bit_xor(('x'||left(md5(${expr}),16))::bit(64)::int8) FROM hjsonsql_t t ${W}`);
  console.log(name, Math.round(performance.now() - t0), "ms");
}
await pool.end();
