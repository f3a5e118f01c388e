/** A progress bar on stderr, drawn only when stderr is a terminal. */
import { formatDuration } from "../core/duration.js";
import type { CliStream } from "./io.js";

export interface Progress {
  /** `estimate`: the total is an estimate so far (shown as `~N`, "estimated"). */
  update(label: string, done: number, total: number, estimate?: boolean): void;
  clear(): void;
}

const NONE: Progress = { update() {}, clear() {} };

/** The line the bar draws: label, bar, percent, rows done of total (an estimate marked so), rate and ETA. */
export function progressLine(
  label: string,
  done: number,
  total: number,
  estimate: boolean,
  elapsedMs: number,
): string {
  const width = 24;
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
  const count = `${done.toLocaleString("en-US")}/${estimate ? "~" : ""}${total.toLocaleString("en-US")} rows${estimate ? " (estimated)" : ""}`;
  const parts = [`${label}  [${bar}] ${String(Math.round(frac * 100)).padStart(3)}%`, count];
  // A rate and an ETA only once there is something to measure (a second's work).
  if (elapsedMs >= 1000 && done > 0) {
    const rate = done / (elapsedMs / 1000);
    parts.push(`${Math.round(rate).toLocaleString("en-US")} rows/s`);
    if (done < total)
      parts.push(`ETA ${estimate ? "~" : ""}${formatDuration(((total - done) / rate) * 1000)}`);
  }
  return parts.join("  ");
}

/**
 * A throttled one-line bar on `stream`, or a no-op off a TTY. The rate is over the current label's work
 * (a group of segments), measured from its first update with `now`.
 */
export function createProgress(stream: CliStream, now: () => number = Date.now): Progress {
  if (!stream.isTTY) return NONE;
  let last = 0;
  let drawn = false;
  let current: { label: string; since: number } | undefined;
  return {
    update(label, done, total, estimate = false) {
      const t = now();
      if (current?.label !== label) current = { label, since: t };
      if (t - last < 100 && done < total) return;
      last = t;
      const line = progressLine(label, done, total, estimate, t - current.since);
      stream.write(`\r${line.slice(0, (stream.columns || 100) - 1)}\x1b[K`);
      drawn = true;
    },
    clear() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}
