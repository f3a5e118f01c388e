/** Whether a process of this host has ended. */

/**
 * True when no process with this id exists (signal 0 answers ESRCH). A process of another user, which signal 0
 * may not reach (EPERM), still runs.
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}
