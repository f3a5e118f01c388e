/** A MariaDB/MySQL database of its own for one test file: created on first use, dropped at the end. Tests only. */
import { randomUUID } from "node:crypto";
import { createPool, type Pool } from "mysql2/promise";
import { MYSQL, serverUrl, TEST_PREFIX } from "./services.js";

export interface MysqlTestDatabase {
  /** The database's name (unique per process and run). */
  readonly name: string;
  /** CONCORD_TEST_MYSQL_URL with the path pointing at this database. */
  readonly url: string;
  /** A pool on the database, for setting up tables and writing as "someone else". */
  readonly admin: Pool;
  /** True for MariaDB, false for MySQL. */
  readonly mariadb: boolean;
  /** A new pool on the database (the caller ends it), as an application would hand one to the connector. */
  pool(connectionLimit?: number): Pool;
  /** Drops the database and ends the admin pool. */
  drop(): Promise<void>;
}

/**
 * Creates `<TEST_PREFIX>_<pid>_<random>` on the test server. The server is reached without a database, so
 * the one CONCORD_TEST_MYSQL_URL names (`test` by default) need not exist.
 */
export async function createMysqlTestDatabase(): Promise<MysqlTestDatabase> {
  const name = `${TEST_PREFIX}_${process.pid}_${randomUUID().slice(0, 8)}`;
  const server = createPool({ uri: serverUrl(MYSQL.url), connectionLimit: 1 });
  let mariadb: boolean;
  try {
    await server.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
    const [rows] = await server.query({ sql: "SELECT VERSION()", rowsAsArray: true });
    mariadb = String((rows as string[][])[0]?.[0])
      .toLowerCase()
      .includes("mariadb");
  } finally {
    await server.end();
  }
  const u = new URL(MYSQL.url);
  u.pathname = `/${name}`;
  const url = u.toString();
  const pool = (connectionLimit = 4) =>
    createPool({ uri: url, connectionLimit, charset: "UTF8MB4_UNICODE_CI" });
  const admin = pool(4);
  return {
    name,
    url,
    admin,
    mariadb,
    pool,
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}
