/**
 * Ctrl-C (SIGINT) and a stop request (SIGTERM: `docker stop`, Kubernetes, systemd) ask a command to stop
 * after the step in flight, so its run is recorded and its temporary files removed. A second signal of
 * either kind kills at once (the listeners are gone by then).
 */
import { EXIT } from "./errors.js";

/** SIGTERM's exit code: 128 + 15, as a shell reports a process it stopped. */
const TERMINATED = 143;

export interface StopSignals {
  readonly signal: AbortSignal;
  /** The exit code of a command that stopped on a signal: 130 after SIGINT, 143 after SIGTERM. */
  exitCode(): number;
  /** Starts listening (a command that must not stop before some point listens from there). */
  listen(): void;
  /** Stops listening; the command's own signal handling ends here. */
  dispose(): void;
}

/**
 * Listens (once `listen` is called) for SIGINT and SIGTERM; the first aborts `signal` and says on `stderr`
 * that the command stops after its `step` in flight.
 */
export function stopSignals(stderr: { write(text: string): unknown }, step: string): StopSignals {
  const abort = new AbortController();
  let code: number = EXIT.interrupted;
  const on = (name: "SIGINT" | "SIGTERM") => () => {
    dispose();
    code = name === "SIGTERM" ? TERMINATED : EXIT.interrupted;
    const how = name === "SIGTERM" ? "stopped (SIGTERM)" : "interrupted";
    const again = name === "SIGTERM" ? "a second SIGTERM kills" : "Ctrl-C again to kill";
    stderr.write(`\nconcord: ${how}; stopping after the ${step} in flight (${again})\n`);
    abort.abort();
  };
  const onInt = on("SIGINT");
  const onTerm = on("SIGTERM");
  function dispose(): void {
    process.removeListener("SIGINT", onInt);
    process.removeListener("SIGTERM", onTerm);
  }
  return {
    signal: abort.signal,
    exitCode: () => code,
    listen() {
      process.once("SIGINT", onInt);
      process.once("SIGTERM", onTerm);
    },
    dispose,
  };
}
