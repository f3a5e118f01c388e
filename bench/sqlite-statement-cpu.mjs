/** Preload hook: times the CPU of every better-sqlite3 statement a process runs and prints the costliest at exit. Reads nothing else. */
// Usage: node --import ./bench/sqlite-statement-cpu.mjs bin/concord.js scan --json -c <config> >/dev/null
// Prints to stderr: the process's user and system CPU, the part spent inside statements, and per statement
// (its first 110 characters): calls, user ms, system ms. Iterated statements are timed call by call.
import Database from "better-sqlite3";

const spent = new Map();
function add(sql, usage) {
  const key = sql.replace(/\s+/g, " ").slice(0, 110);
  const s = spent.get(key) ?? { calls: 0, user: 0, system: 0 };
  s.calls++;
  s.user += usage.user;
  s.system += usage.system;
  spent.set(key, s);
}
function timed(fn, label) {
  return function (...args) {
    const before = process.cpuUsage();
    try {
      return fn.apply(this, args);
    } finally {
      add(label(this, args), process.cpuUsage(before));
    }
  };
}

const probe = new Database(":memory:");
const Statement = Object.getPrototypeOf(probe.prepare("SELECT 1"));
probe.close();
for (const m of ["get", "all", "run"]) Statement[m] = timed(Statement[m], (st) => st.source);
const iterate = Statement.iterate;
Statement.iterate = function (...args) {
  const it = iterate.apply(this, args);
  const sql = this.source;
  return {
    [Symbol.iterator]() {
      return this;
    },
    next: timed(
      () => it.next(),
      () => sql,
    ),
    return: (v) => (it.return ? it.return(v) : { done: true, value: v }),
  };
};
Database.prototype.pragma = timed(Database.prototype.pragma, (_, args) => `PRAGMA ${args[0]}`);

process.on("exit", () => {
  const rows = [...spent].sort((a, b) => b[1].user + b[1].system - (a[1].user + a[1].system));
  const ms = (us) => (us / 1000).toFixed(0).padStart(6);
  const total = process.cpuUsage();
  const inSql = rows.reduce((t, [, s]) => ({ user: t.user + s.user, system: t.system + s.system }), {
    user: 0,
    system: 0,
  });
  process.stderr.write(
    `process user ${ms(total.user)} ms, system ${ms(total.system)} ms; in statements user ${ms(inSql.user)} ms, system ${ms(inSql.system)} ms\n`,
  );
  for (const [sql, s] of rows.slice(0, 25))
    process.stderr.write(`${String(s.calls).padStart(6)} ${ms(s.user)} ${ms(s.system)}  ${sql}\n`);
});
