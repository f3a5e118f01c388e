/** MariaDB canonical JSON in SQL (issue 18 item 5): the server CPU per document of each stage, read from mariadbd's /proc/<pid>/stat around one aggregate over N documents. */
// Usage: npm run build && node bench/mariadb-json-cost.mjs [DIST=dist]   (N=50000 REPS=3; a shared server's other clients count too)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import mysql from "mysql2/promise";

const dist = resolve(process.argv[2] ?? "dist");
const N = Number(process.env.N ?? 50000);
const m = await import(pathToFileURL(`${dist}/connectors/mysql/mysql-json-sql.js`).href);
const pid = execFileSync("pidof", ["mariadbd"]).toString().trim().split(" ")[0];
const cpu = () => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
};
const c = await mysql.createConnection({ uri: "mysql://root@127.0.0.1:3306/", multipleStatements: true });
await c.query(
  "CREATE DATABASE IF NOT EXISTS concord_test_micro; CREATE TABLE IF NOT EXISTS concord_test_micro.t (id BIGINT PRIMARY KEY, doc JSON)",
);
const [[{ n }]] = await c.query("SELECT COUNT(*) AS n FROM concord_test_micro.t");
if (Number(n) !== N) {
  await c.query("DELETE FROM concord_test_micro.t");
  const doc = (g) =>
    `{"age": ${g % 90}, "addr": {"zip": "${String(g % 99999).padStart(5, "0")}", "city": "c${g % 100}"}, "name": "user ${g}", "note": null, "tags": ["a", "b", ${g % 7}], "score": ${(g * 1.25).toFixed(2)}, "active": ${g % 2 === 0}}`;
  for (let lo = 1; lo <= N; lo += 5000)
    await c.query("INSERT INTO concord_test_micro.t VALUES ?", [
      Array.from({ length: Math.min(5000, N - lo + 1) }, (_, i) => [lo + i, doc(lo + i)]),
    ]);
}
const full = m.mariadbCanonicalJsonSql("doc");
const {
  laxNumber: lax,
  stepOne: s1,
  stepOneTemplate: t1,
  stepTwo: s2,
  stepTwoTemplate: t2,
} = m.MARIADB_JSON_PARTS;
const norm = "CAST(JSON_NORMALIZE(doc) AS BINARY)";
const stages = {
  text: "doc",
  normalize: "JSON_NORMALIZE(doc)",
  "lax check": `IF(CAST(doc AS BINARY) REGEXP ${lax}, NULL, doc)`,
  "normalize + step one": `REGEXP_REPLACE(${norm}, ${s1}, ${t1})`,
  "normalize + step two (unpadded)": `REGEXP_REPLACE(${norm}, ${s2}, ${t2})`,
  "normalize + both steps": `REGEXP_REPLACE(REGEXP_REPLACE(${norm}, ${s1}, ${t1}), ${s2}, ${t2})`,
  full,
};
const reps = Number(process.env.REPS ?? 3);
for (let r = 0; r < reps; r++)
  for (const [name, x] of Object.entries(stages)) {
    const c0 = cpu();
    const t0 = performance.now();
    await c.query(`SELECT BIT_XOR(CONV(LEFT(MD5(${x}), 16), 16, 10)) FROM concord_test_micro.t`);
    const used = cpu() - c0;
    console.log(
      `${r} ${name}: mariadbd ${((used * 1e6) / N).toFixed(1)} µs/doc, wall ${(((performance.now() - t0) * 1000) / N).toFixed(1)} µs/doc`,
    );
  }
await c.query("DROP DATABASE concord_test_micro");
await c.end();
