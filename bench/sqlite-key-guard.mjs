/** SQLite key guard cost: an in-store checksum of a 1M-row table with a TEXT key, alternated between builds. Reads only. */
// Usage: node bench/sqlite-key-guard.mjs NAME=ROOT [NAME=ROOT …]   (each ROOT a built checkout: ROOT/dist)
//        BENCH_ROWS=1000000 BENCH_REPS=10 BENCH_DIR=/tmp/concord-key-guard
// Builds BENCH_DIR/a.db once: items(k TEXT PRIMARY KEY, name, n, note), keys 'key-0000001'…. Per repetition, for
// each build in turn (fresh connection, warmed by a 100-key checksum), times SqliteConnector.checksumRanges
// over the full range: one aggregate whose every row passes the key column's guard (sqlite-shape-sql.ts) and
// the registered fingerprint function. Prints CPU ms per build and repetition; compare builds by the
// per-repetition ratio (the machine may be loaded). To measure the guard itself, build a copy without it.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const REPS = Number(process.env.BENCH_REPS ?? 10);
const DIR = process.env.BENCH_DIR ?? "/tmp/concord-key-guard";
const FILE = join(DIR, `a-${ROWS}.db`);
const SHAPE = {
  key: [{ name: "k", type: "text" }],
  columns: [
    { name: "name", type: "text" },
    { name: "n", type: "integer" },
    { name: "note", type: "text" },
  ],
};

if (!existsSync(FILE)) {
  mkdirSync(DIR, { recursive: true });
  const db = new Database(FILE);
  db.exec("CREATE TABLE items (k TEXT PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL, note TEXT)");
  db.exec(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${ROWS})
    INSERT INTO items SELECT printf('key-%07d', i), 'name ' || i, i * 7 % 1000,
      CASE WHEN i % 3 = 0 THEN NULL ELSE 'note' || (i % 97) END FROM s`);
  db.close();
}

const builds = [];
for (const arg of process.argv.slice(2)) {
  const [name, root] = arg.split("=");
  const url = pathToFileURL(join(root, "dist/connectors/sqlite/sqlite-connector.js")).href;
  builds.push({ name, SqliteConnector: (await import(url)).SqliteConnector });
}
if (builds.length === 0) throw new Error("usage: node bench/sqlite-key-guard.mjs NAME=ROOT [NAME=ROOT …]");

for (let rep = 1; rep <= REPS; rep++) {
  for (const b of builds) {
    const db = new Database(FILE, { readonly: true });
    const c = new b.SqliteConnector(db, "items", { label: "a" });
    await c.checksumRanges(SHAPE, [{ lo: ["key-0000001"], hi: ["key-0000100"] }]);
    const t0 = performance.now();
    const u0 = process.cpuUsage();
    const [sum] = await c.checksumRanges(SHAPE, [{ lo: null, hi: null }]);
    const u = process.cpuUsage(u0);
    const wall = performance.now() - t0;
    console.log(
      `${b.name} rep=${rep} wall=${wall.toFixed(0)}ms cpu=${((u.user + u.system) / 1000).toFixed(0)}ms count=${sum.count}`,
    );
    db.close();
  }
}
