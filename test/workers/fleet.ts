/** Real `concord` processes for the distributed-role tests: spawn, watch stderr for a line, kill. Tests only. */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { reapOnWorkerExit } from "../support/reap-children.js";

const BIN = join(import.meta.dirname, "../../bin/concord.js");

/** One running `concord` process and what it wrote on stderr so far. */
export interface FleetProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything written on stderr so far. */
  stderr(): string;
  /** Resolves with the first match of `pattern` in stderr at or after `from` (rejects if the process exits first). */
  until(pattern: RegExp, from?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node bin/concord.js ...args` (the built dist) with `env` over this process's environment. */
export function startConcord(
  name: string,
  args: readonly string[],
  env: Record<string, string>,
  onLine?: (line: string) => void,
): FleetProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, CONCORD_DEBUG: "1", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  // Tests stop their fleet in a finally; one that times out mid-await never gets there.
  reapOnWorkerExit(child);
  let text = "";
  let partial = "";
  const listeners = new Set<() => void>();
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    text += s;
    const lines = (partial + s).split("\n");
    partial = lines.pop()!;
    for (const line of lines) onLine?.(line);
    for (const l of listeners) l();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      for (const l of listeners) l();
      resolve({ code, signal });
    }),
  );
  return {
    name,
    child,
    exited,
    stderr: () => text,
    until(pattern, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const re = new RegExp(
            pattern.source,
            pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`,
          );
          re.lastIndex = from;
          const m = re.exec(text);
          if (m) {
            listeners.delete(check);
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            listeners.delete(check);
            reject(new Error(`${name} exited without writing ${pattern}:\n${text}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** SIGKILLs the process and waits until it is gone. */
export async function killHard(p: FleetProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  await p.exited;
}
