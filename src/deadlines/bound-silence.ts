/**
 * Deadlines on store calls, for every server connector: a call whose server stays silent too long (or a
 * connection that takes too long to open) fails with a StoreTimeoutError and its connection is dropped.
 * Drivers stay in the store folders; this file only watches sockets and timers.
 */
import type { Socket } from "node:net";
import { formatTimeout } from "../config/timeouts.js";

/** A store that did not answer in time: `phase` says what was waited for, `ms` how long. */
export class StoreTimeoutError extends Error {
  override readonly name = "StoreTimeoutError";
  /** Lets drivers' error classifiers (which read `code`) tell a deadline from a driver failure. */
  readonly code = "CONCORD_TIMEOUT";

  constructor(
    readonly phase: "connect" | "query",
    readonly ms: number,
  ) {
    super(
      phase === "connect"
        ? `timed out: no connection within ${formatTimeout(ms)} (timeouts.connect)`
        : `timed out: the server sent nothing for ${formatTimeout(ms)} (timeouts.query); the connection was dropped`,
    );
  }
}

/** True for a StoreTimeoutError, also one a driver passed on (matched by code, as drivers copy errors). */
export function isStoreTimeout(err: unknown): err is StoreTimeoutError {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "CONCORD_TIMEOUT";
}

/** When each watched socket last received data (performance.now()). */
const lastData = new WeakMap<Socket, number>();

function watchSocket(socket: Socket): number {
  let at = lastData.get(socket);
  if (at === undefined) {
    at = 0;
    lastData.set(socket, at);
    // Adding a 'data' listener does not resume a socket its driver paused (backpressure): flowing stays false.
    socket.on("data", () => lastData.set(socket, performance.now()));
  }
  return at;
}

export interface SilenceOptions {
  /** How long the server may stay silent (no byte received) while the call waits; 0 or less: no deadline. */
  readonly ms: number;
  /** The socket the answer comes on, looked up on each check (a driver may reconnect); undefined: none yet. */
  readonly socket: () => Socket | undefined;
  /**
   * Asked once the silence has lasted `ms`: true when the server says it is still working on this call
   * (a long aggregate sends nothing until it is done), and the wait goes on for another `ms`. It must
   * bound its own time. Anything else, a failure included, ends the wait.
   */
  readonly stillWorking?: () => Promise<boolean>;
  /** Drops the connection once the call timed out (its answer could arrive later, on a stream now unsafe). */
  readonly onTimeout: () => void;
}

/**
 * Settles as `work` does, unless the server stays silent for `options.ms` (and, when asked, does not say it
 * is still working): then rejects with StoreTimeoutError("query") and calls `onTimeout`. Silence is counted
 * from the later of the call's start and the socket's last received byte, so a stream that keeps sending
 * rows, however long, never times out. The pending timer keeps the process alive while a call waits.
 */
export function boundSilence<T>(work: Promise<T>, options: SilenceOptions): Promise<T> {
  if (!(options.ms > 0)) return work;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let since = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const first = options.socket();
    if (first) watchSocket(first);
    const check = async () => {
      // After the poll phase: data that arrived while this process was busy is counted before judging.
      await new Promise((r) => setImmediate(r));
      if (settled) return;
      const socket = options.socket();
      const last = Math.max(since, socket ? watchSocket(socket) : 0);
      const silent = performance.now() - last;
      if (silent < options.ms) {
        timer = setTimeout(check, options.ms - silent);
        return;
      }
      if (options.stillWorking) {
        const working = await options.stillWorking().catch(() => false);
        if (settled) return;
        if (working) {
          since = performance.now();
          timer = setTimeout(check, options.ms);
          return;
        }
      }
      settled = true;
      reject(new StoreTimeoutError("query", options.ms));
      options.onTimeout();
    };
    timer = setTimeout(check, options.ms);
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Settles as `work` does, unless it takes longer than `ms` in all (0 or less: no limit): then rejects with
 * StoreTimeoutError(`phase`) and calls `onTimeout`, which must release whatever `work` holds. For opening
 * connections and closing them, where no byte count says whether the server is alive.
 */
export function boundTime<T>(
  work: Promise<T>,
  ms: number,
  phase: StoreTimeoutError["phase"],
  onTimeout: () => void,
): Promise<T> {
  if (!(ms > 0)) return work;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      // After the poll phase, so an answer that arrived while this process was busy still counts.
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new StoreTimeoutError(phase, ms));
        onTimeout();
      });
    }, ms);
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
