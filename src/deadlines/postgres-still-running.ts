/**
 * Whether a PostgreSQL backend is still running the statement a silent connection waits on: the question
 * `boundSilence` asks before it gives up on a replica or the state store. Driver-free: the caller hands in a
 * new, unconnected client of its driver (only the store folders load drivers).
 */
import type { Socket } from "node:net";
import type { TimeoutsConfig } from "../config/timeouts.js";
import { boundSilence, boundTime } from "./bound-silence.js";

/** The parts of a node-postgres client the check uses. */
export interface CheckClient {
  connect(): Promise<unknown>;
  query<R>(text: string, values: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<unknown>;
  on(event: "error", listener: (err: Error) => void): unknown;
}

/**
 * Asks on `check` (a connection of its own: the pool may be full of stalled ones), within the connect and
 * query deadlines, whether backend `pid` is active. A backend waiting on a lock is working; one waiting to
 * write to us (ClientWrite) is not: the network between us is the problem. `check` is ended either way.
 */
export async function postgresStillRunning(
  check: CheckClient,
  socket: () => Socket | undefined,
  pid: number,
  timeouts: TimeoutsConfig,
): Promise<boolean> {
  check.on("error", () => undefined);
  try {
    await boundTime(check.connect(), timeouts.connectMs, "connect", () => socket()?.destroy());
    const { rows } = await boundSilence(
      check.query<{ state: string | null; wait_event: string | null }>(
        "SELECT state, wait_event FROM pg_stat_activity WHERE pid = $1",
        [pid],
      ),
      { ms: timeouts.queryMs, socket, onTimeout: () => socket()?.destroy() },
    );
    const row = rows[0];
    return row?.state === "active" && row.wait_event !== "ClientWrite";
  } finally {
    endQuietly(check, socket, timeouts.connectMs);
  }
}

/** Ends a client without waiting: politely, or by destroying its socket after `ms`. */
export function endQuietly(client: CheckClient, socket: () => Socket | undefined, ms: number): void {
  const s = socket();
  const timer = setTimeout(() => s?.destroy(), ms);
  timer.unref();
  client.end().then(
    () => clearTimeout(timer),
    () => s?.destroy(),
  );
}
