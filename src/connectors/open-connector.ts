/** Opens the connector a replica's URL names. The one place that maps URL schemes to store folders. */
import type { ReplicaConfig } from "../config/load-config.js";
import { redactUrl } from "../config/redact.js";
import { type Connector, ConnectorError } from "./connector.js";
import { MemoryConnector, type MemoryTable } from "./memory/memory-connector.js";
import { openSqliteConnector } from "./sqlite/sqlite-connector.js";

// Server-store connectors are loaded when a URL asks for them, so a SQLite-only run never loads pg,
// mysql2 or ioredis (each costs start-up time).

/** Named in-process tables that `memory:NAME` URLs resolve to (tests and the simulator register them). */
export const memoryTables = new Map<string, MemoryTable>();

export interface OpenOptions {
  /** Open for reading only (scan, plan). */
  readonly readonly?: boolean;
}

/** The connector for a replica. Throws ConnectorError (credentials redacted) for unknown schemes or bad targets. */
export async function openConnector(
  dataset: string,
  replica: ReplicaConfig,
  options: OpenOptions = {},
): Promise<Connector> {
  const label = `${dataset}.${replica.name}`;
  const url = replica.url;
  if (url.startsWith("sqlite:")) {
    if (!replica.table) throw new ConnectorError(`${label}: sqlite replica needs "table"`);
    return openSqliteConnector(url.slice("sqlite:".length), replica.table, {
      readonly: options.readonly ?? false,
      label,
      rowFilter: replica.where,
    });
  }
  if (url.startsWith("memory:")) {
    if (replica.where !== undefined)
      throw new ConnectorError(`${label}: a memory replica cannot apply an SQL predicate (where)`);
    const table = memoryTables.get(url.slice("memory:".length));
    if (!table) throw new ConnectorError(`${label}: no in-process table named ${url}`);
    return new MemoryConnector(table);
  }
  if (url.startsWith("redis:") || url.startsWith("rediss:")) {
    if (replica.prefix === undefined)
      throw new ConnectorError(`${label}: redis replica needs "prefix" (the key prefix of its records)`);
    if (replica.table !== undefined)
      throw new ConnectorError(`${label}: redis replica takes "prefix", not "table"`);
    if (replica.where !== undefined)
      throw new ConnectorError(`${label}: a Redis replica cannot apply an SQL predicate (where)`);
    const { openRedisConnector } = await import("./redis/redis-connector.js");
    return openRedisConnector(url, {
      prefix: replica.prefix,
      format: replica.format ?? "hash",
      writeStyle: replica.writeStyle ?? "canonical",
      readonly: options.readonly ?? false,
      label,
      ...(replica.timeouts ? { timeouts: replica.timeouts } : {}),
    });
  }
  if (url.startsWith("mysql:") || url.startsWith("mariadb:")) {
    if (!replica.table) throw new ConnectorError(`${label}: mysql replica needs "table"`);
    const { openMysqlConnector } = await import("./mysql/mysql-connector.js");
    return openMysqlConnector(url, replica.table, {
      readonly: options.readonly ?? false,
      label,
      rowFilter: replica.where,
      ...(replica.timeouts ? { timeouts: replica.timeouts } : {}),
    });
  }
  if (url.startsWith("postgres:") || url.startsWith("postgresql:")) {
    if (!replica.table)
      throw new ConnectorError(`${label}: postgres replica needs "table" (may be schema.table)`);
    const { openPostgresConnector } = await import("./postgres/postgres-connector.js");
    return openPostgresConnector(url, replica.table, {
      readonly: options.readonly ?? false,
      label,
      rowFilter: replica.where,
      ...(replica.timeouts ? { timeouts: replica.timeouts } : {}),
    });
  }
  const scheme = url.split(":")[0];
  throw new ConnectorError(
    `${label}: unsupported store "${scheme}" in ${redactUrl(url)} (supported: sqlite:, memory:, redis:, rediss:, mysql:, mariadb:, postgres:, postgresql:)`,
  );
}
