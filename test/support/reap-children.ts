/**
 * A backstop for child processes a test starts (a `concord serve`, a `watch`, a worker): killed when the
 * test file's worker ends, should the test not have stopped them (its own end should: spawnConcord kills
 * at the test's end). vitest stops a forks worker with SIGTERM (SIGKILL 500 ms later), which ends Node
 * without an `exit` event and leaves its children running; so a SIGTERM listener kills them, then lets the
 * signal end the worker as it would have. `exit` covers the worker's own exits (its channel to vitest
 * closed). A worker SIGKILLed outright still leaves them.
 */
import type { ChildProcess } from "node:child_process";

const live = new Set<ChildProcess>();
let registered = false;

function reap(): void {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
}

/** Kills `child` when this worker ends, unless it has exited before. */
export function reapOnWorkerExit(child: ChildProcess): void {
  if (!registered) {
    registered = true;
    process.once("exit", reap);
    process.once("SIGTERM", () => {
      reap();
      // Nobody else handles it: the default action (the worker ends), as without this listener.
      if (process.listenerCount("SIGTERM") === 0) process.kill(process.pid, "SIGTERM");
    });
  }
  if (child.exitCode !== null || child.signalCode !== null) return;
  live.add(child);
  child.once("exit", () => live.delete(child));
}
