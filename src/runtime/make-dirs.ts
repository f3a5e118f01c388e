/** Creating a folder and its missing parents without Node's recursive mkdir, which can spin forever. */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * `mkdirSync(dir, { recursive: true })`, one level at a time. Node's recursive mkdir loops forever (100% CPU,
 * deaf to SIGTERM) where mkdir answers ENOENT although the parent exists — a path under /proc, some FUSE and
 * network mounts — so `state: sqlite:/proc/x/state.db` or `demo --dir /proc/x` hung instead of failing. Here
 * each missing level is made alone, and that mkdir's error (ENOENT, EACCES, ENOTDIR, EROFS, …) is thrown.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let at = resolve(dir); !existsSync(at); ) {
    missing.push(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  // Everything exists now, so this cannot spin: it only refuses a file in the way (EEXIST), as before.
  mkdirSync(dir, { recursive: true });
}
