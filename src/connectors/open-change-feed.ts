/** Opens the change feed a replica's URL names. The one place that maps URL schemes to feed files. */
import type { ReplicaConfig } from "../config/load-config.js";
import { redactUrl } from "../config/redact.js";
import { type ChangeFeed, ChangeFeedError, type ChangeFeedOptions } from "./change-feed.js";

// Each store's feed (and its driver) is loaded only when a URL asks for it.

/** The feed of a replica (not started). Throws ChangeFeedError for a store that has no feed. */
export async function openChangeFeed(
  replica: Pick<ReplicaConfig, "name" | "url" | "table" | "prefix">,
  options: ChangeFeedOptions,
): Promise<ChangeFeed> {
  const url = replica.url;
  const scheme = url.slice(0, Math.max(0, url.indexOf(":"))).toLowerCase();
  const needs = (what: "table" | "prefix"): string => {
    const value = replica[what];
    if (value === undefined) throw new ChangeFeedError(`${options.label}: a change feed needs "${what}"`);
    return value;
  };
  switch (scheme) {
    case "postgres":
    case "postgresql": {
      const { PostgresChangeFeed } = await import("./postgres/postgres-feed.js");
      return new PostgresChangeFeed(url, needs("table"), options);
    }
    case "mysql":
    case "mariadb": {
      const { MysqlChangeFeed } = await import("./mysql/mysql-feed.js");
      return new MysqlChangeFeed(url, needs("table"), options);
    }
    case "redis":
    case "rediss": {
      const { RedisChangeFeed } = await import("./redis/redis-feed.js");
      return new RedisChangeFeed(url, needs("prefix"), options);
    }
    case "sqlite": {
      const { SqliteChangeFeed } = await import("./sqlite/sqlite-feed.js");
      return new SqliteChangeFeed(url.slice("sqlite:".length), needs("table"), options);
    }
    default:
      throw new ChangeFeedError(
        `${options.label}: ${redactUrl(url)} has no change feed (feeds: postgres, mysql/mariadb, redis, sqlite)`,
      );
  }
}
