/** A Redis key prefix of its own for one test (in the CONCORD_TEST_REDIS_URL database), deleted afterwards. Tests only. */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import {
  type OpenRedisOptions,
  openRedisConnector,
  type RedisConnector,
} from "../../src/connectors/redis/redis-connector.js";
import { REDIS, TEST_PREFIX } from "./services.js";

export interface RedisTestPrefix {
  /** `<TEST_PREFIX>:<what>:<uuid>:`, unique per test. */
  readonly prefix: string;
  /** A client for setting up records and writing as "someone else". */
  readonly admin: Redis;
  /** A connector over the prefix (closed by `drop`). */
  open(options?: Partial<OpenRedisOptions>): Promise<RedisConnector>;
  /** Closes the connectors, deletes every key under the prefix and ends the admin client. */
  drop(): Promise<void>;
}

export function createRedisTestPrefix(what: string): RedisTestPrefix {
  const prefix = `${TEST_PREFIX}:${what}:${randomUUID()}:`;
  const admin = new Redis(REDIS.url, { maxRetriesPerRequest: 1 });
  const opened: RedisConnector[] = [];
  return {
    prefix,
    admin,
    async open(options = {}) {
      const c = await openRedisConnector(REDIS.url, { prefix, label: `test.${what}`, ...options });
      opened.push(c);
      return c;
    },
    async drop() {
      for (const c of opened.splice(0)) await c.close();
      const pattern = `${prefix.replace(/[\\*?[\]]/g, "\\$&")}*`;
      let cursor = "0";
      do {
        const [next, found] = await admin.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        if (found.length) await admin.unlink(...found);
        cursor = next;
      } while (cursor !== "0");
      await admin.quit();
    },
  };
}
