/** How long Concord waits on a store: the `timeouts` settings, their defaults and how they combine. No I/O. */

/**
 * Deadlines for one replica's connections, in milliseconds. Every call to a server store (PostgreSQL,
 * MariaDB/MySQL, Redis) is bounded by them, so a store that stops answering is an error naming the replica,
 * never a hang. 0 turns a setting off where that is allowed (`idle`, `keepalive`, `statement`).
 */
export interface TimeoutsConfig {
  /** Opening a connection: TCP, TLS, authentication and session set-up together. */
  readonly connectMs: number;
  /**
   * Silence: how long a call may wait without a byte from the server. It bounds silence, not duration: a
   * listing that keeps streaming rows, or a statement the server reports still running (PostgreSQL and
   * MariaDB/MySQL are asked on a fresh connection once the silence lasts this long), waits on.
   */
  readonly queryMs: number;
  /**
   * Idle: a pooled connection unused this long is closed, and the server ends a transaction Concord leaves
   * idle this long (PostgreSQL `idle_in_transaction_session_timeout`, MariaDB `idle_transaction_timeout`), so
   * a Concord cut off mid-write never holds a writer's row locks longer. 0: off.
   */
  readonly idleMs: number;
  /** TCP keepalive: probes start after a connection is this long without traffic. 0: off. */
  readonly keepaliveMs: number;
  /** A server-side limit on one read statement's total duration (0: none, the default). */
  readonly statementMs: number;
}

/** What Concord waits when nothing is configured. */
export const DEFAULT_TIMEOUTS: TimeoutsConfig = {
  connectMs: 10_000,
  queryMs: 30_000,
  idleMs: 60_000,
  keepaliveMs: 30_000,
  statementMs: 0,
};

/** `timeouts` as written in concord.yaml: durations in milliseconds, any of them left out. */
export type TimeoutsOverride = Partial<TimeoutsConfig>;

/** The defaults, then each override in order, key by key (a replica's own over the file's top level). */
export function resolveTimeouts(...overrides: (TimeoutsOverride | undefined)[]): TimeoutsConfig {
  const out: Record<string, number> = { ...DEFAULT_TIMEOUTS };
  for (const o of overrides) for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined) out[k] = v;
  return out as unknown as TimeoutsConfig;
}

/** "2s", "1m30s", "250ms": a duration for messages. */
export function formatTimeout(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}
