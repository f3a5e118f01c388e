/**
 * Test access to the real servers (PostgreSQL, MariaDB/MySQL, Redis) on 127.0.0.1. URLs come from the
 * environment so anyone can point the tests at their own servers. In CI (CI=true) a server that does not
 * answer fails the tests; elsewhere the store's tests are skipped with a message saying how to enable them.
 */
import { connect } from "node:net";

/**
 * What every schema, database and Redis key the tests create starts with: CONCORD_TEST_PREFIX, default
 * `concord_test` (lower-case letters, digits and _, at most 24, starting with a letter). The tests create and
 * drop only names that start with it (PostgreSQL schemas, MariaDB/MySQL databases) and delete only keys under
 * `<prefix>:` in the Redis database of CONCORD_TEST_REDIS_URL, so leftovers are easy to find and nothing else
 * on a shared server is touched.
 */
export const TEST_PREFIX = testPrefix(process.env.CONCORD_TEST_PREFIX);

function testPrefix(text: string | undefined): string {
  if (text === undefined || text === "") return "concord_test";
  if (!/^[a-z][a-z0-9_]{0,23}$/.test(text))
    throw new Error(
      `CONCORD_TEST_PREFIX=${JSON.stringify(text)}: expected lower-case letters, digits and _, at most 24, starting with a letter`,
    );
  return text;
}

/** The URL of the server itself, without a database: for creating one (none need exist beforehand). */
export function serverUrl(url: string): string {
  const u = new URL(url);
  u.pathname = "/";
  return u.toString();
}

export interface TestService {
  readonly name: string;
  readonly env: string;
  readonly url: string;
}

export const POSTGRES: TestService = {
  name: "PostgreSQL",
  env: "CONCORD_TEST_PG_URL",
  url: process.env.CONCORD_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test",
};
export const MYSQL: TestService = {
  name: "MariaDB/MySQL",
  env: "CONCORD_TEST_MYSQL_URL",
  url: process.env.CONCORD_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test",
};
export const REDIS: TestService = {
  name: "Redis",
  env: "CONCORD_TEST_REDIS_URL",
  url: process.env.CONCORD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379/15",
};

function reachable(url: string, timeoutMs = 1500): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port || { "postgres:": 5432, "mysql:": 3306, "redis:": 6379 }[u.protocol] || 0);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname || "127.0.0.1", port, timeout: timeoutMs });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

const cache = new Map<string, Promise<boolean>>();

/**
 * Whether the service's tests should run. Throws in CI when the server is down (a missing service must
 * fail the run, not skip it); otherwise prints why the tests are skipped and returns false.
 */
export async function serviceAvailable(service: TestService): Promise<boolean> {
  let p = cache.get(service.url);
  if (!p) {
    p = reachable(service.url);
    cache.set(service.url, p);
  }
  if (await p) return true;
  const where = service.url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@");
  if (process.env.CI) {
    throw new Error(`${service.name} is not reachable at ${where} (CI requires it; .ci/run starts it)`);
  }
  console.warn(
    `skipping ${service.name} tests: nothing answers at ${where} (set ${service.env} to point at your server)`,
  );
  return false;
}
