/** The job queue of the distributed roles (`queue: redis://host:port/db`) and what those roles require. */
import { redactUrl } from "./redact.js";

/** Where the distributed roles' job queue lives: a Redis database, parsed from `queue:` or CONCORD_QUEUE. */
export interface QueueConfig {
  /** The URL as given (contains the password, if any: never print it unredacted). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** `rediss://`: TLS. */
  readonly tls: boolean;
}

/** How worker processes take jobs (`workers:` in the config). */
export interface WorkersConfig {
  /** Segment jobs one worker process runs at once, over all datasets (default 1). */
  readonly concurrency: number;
  /**
   * How long a job's lock lives without renewal: a worker killed mid-segment has its job taken up by another
   * worker this long after it died (default 30 s; the lock is renewed every half of it).
   */
  readonly stallAfterMs: number;
}

/** A `queue:` value (or CONCORD_QUEUE) that is not a Redis URL with a database number. */
export class QueueUrlError extends Error {
  override readonly name = "QueueUrlError";
}

/**
 * Parses `redis://[user:password@]host:port/db` (or `rediss://` for TLS). `where` names the source in the
 * one-line error (`queue`, `CONCORD_QUEUE`); the error shows the URL with its password redacted.
 */
export function parseQueueUrl(url: string, where: string): QueueConfig {
  const bad = (why: string) =>
    new QueueUrlError(`${where}: ${why}; expected redis://host:port/db, got "${redactUrl(url)}"`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad("not a URL");
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw bad("the queue is a Redis database");
  if (!u.hostname) throw bad("no host");
  const port = u.port === "" ? 6379 : Number(u.port);
  const path = u.pathname.replace(/^\//, "");
  if (!/^\d{1,2}$/.test(path)) throw bad("no database number (0–15, e.g. /0)");
  if (u.search || u.hash) throw bad("no query or fragment is read");
  return {
    url,
    host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    db: Number(path),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === "rediss:",
  };
}

/** The roles that spread a dataset's passes over several processes. */
export type DistributedRole = "coordinator" | "worker";

/**
 * What a distributed role needs, or a one-line reason it cannot run: a queue, and a state store every
 * process shares (PostgreSQL; a SQLite file is one machine's, so each process would keep its own ledger).
 */
export function distributedRoleProblem(
  role: DistributedRole,
  config: { readonly queue?: QueueConfig | undefined; readonly state: string },
): string | undefined {
  const what = role === "coordinator" ? "serve --role coordinator" : "worker";
  if (!config.queue)
    return `${what} needs a job queue: set queue: redis://host:port/db in the config, or CONCORD_QUEUE`;
  if (!/^postgres(ql)?:/i.test(config.state))
    return `${what} needs a state store shared by every process: state: postgres://…, not ${config.state.split(":")[0]}: (each machine would keep its own ledger and audit)`;
  return undefined;
}
