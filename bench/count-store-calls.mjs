/**
 * A preload (`node --import ./bench/count-store-calls.mjs …`) that counts the calls a Concord process makes to
 * each store's client: PostgreSQL statements (pg `Client.query`), MariaDB/MySQL statements (mysql2
 * `query`/`execute`), Redis commands and pipelines (ioredis), each PostgreSQL and MariaDB statement under
 * its first words, and the SQLite state store's statements (better-sqlite3, by their first words). It writes the running totals as JSON to BENCH_COUNT_OUT on SIGUSR2 (the benchmark reads
 * them before and after a phase) and at exit. Benchmark-only: it patches the drivers' prototypes.
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const out = process.env.BENCH_COUNT_OUT;
const counts = { pg: {}, mysql: {}, redis: { commands: 0, pipelines: 0, byCommand: {} }, sqlite: {} };

/** A statement's kind: its first words, literals and parameter lists cut. */
const kind = (text) =>
  String(text ?? "")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 48);
const add = (table, text) => {
  const k = kind(text);
  table[k] = (table[k] ?? 0) + 1;
};

const pg = require("pg");
const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, ...rest) {
  add(counts.pg, typeof config === "string" ? config : config?.text);
  return pgQuery.call(this, config, ...rest);
};

// Not among mysql2's exports: loaded by its file name, the same module instance the package loads.
const BaseConnection = require(join(dirname(require.resolve("mysql2")), "lib", "base", "connection.js"));
for (const method of ["query", "execute"]) {
  const original = BaseConnection.prototype[method];
  BaseConnection.prototype[method] = function (sql, ...rest) {
    add(counts.mysql, typeof sql === "string" ? sql : sql?.sql);
    return original.call(this, sql, ...rest);
  };
}

const { Redis } = require("ioredis");
const Pipeline = require(join(dirname(require.resolve("ioredis")), "Pipeline.js")).default;
const sendCommand = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (command, ...rest) {
  counts.redis.commands++;
  const name = command?.name ?? "?";
  counts.redis.byCommand[name] = (counts.redis.byCommand[name] ?? 0) + 1;
  return sendCommand.call(this, command, ...rest);
};
const exec = Pipeline.prototype.exec;
Pipeline.prototype.exec = function (...args) {
  counts.redis.pipelines++;
  return exec.apply(this, args);
};

// The SQLite state store's statements (better-sqlite3: each run, get, all or iterate of a prepared statement).
const Database = require("better-sqlite3");
const prepare = Database.prototype.prepare;
Database.prototype.prepare = function (source, ...rest) {
  const statement = prepare.call(this, source, ...rest);
  for (const method of ["run", "get", "all", "iterate"]) {
    const original = statement[method];
    statement[method] = function (...args) {
      add(counts.sqlite, source);
      return original.apply(this, args);
    };
  }
  return statement;
};

const dump = () => {
  if (out) writeFileSync(out, JSON.stringify(counts));
};
process.on("SIGUSR2", dump);
process.on("exit", dump);
