/** A progress bar on stderr, drawn only when stderr is a terminal. */
import type { CliStream } from "./io.js";

export interface Progress {
  update(label: string, done: number, total: number): void;
  clear(): void;
}

const NONE: Progress = { update() {}, clear() {} };

/** A throttled one-line bar (`items  [#####-----]  52%  520,000/1,000,000 rows`) on `stream`, or a no-op off a TTY. */
export function createProgress(stream: CliStream): Progress {
  if (!stream.isTTY) return NONE;
  let last = 0;
  let drawn = false;
  return {
    update(label, done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const width = 30;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const filled = Math.round(frac * width);
      const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
      const line = `${label}  [${bar}] ${String(Math.round(frac * 100)).padStart(3)}%  ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} rows`;
      stream.write(`\r${line.slice(0, (stream.columns || 100) - 1)}\x1b[K`);
      drawn = true;
    },
    clear() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}
