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
 *
 * Monotone within a label: a dense group is scanned whole first and then again a piece at a time, each
 * piece reporting its own rows from 0 under the same label. Pieces count on from the pieces before them,
 * and the bar never shows fewer rows than it has shown (the whole scan may have got further than the first
 * pieces: it holds there until they pass it).
 */
export function createProgress(stream: CliStream, now: () => number = Date.now): Progress {
  if (!stream.isTTY) return NONE;
  let last = 0;
  let drawn = false;
  let current: GroupProgress | undefined;
  return {
    update(label, done, total, estimate = false) {
      const t = now();
      if (current?.label !== label) current = newGroup(label, t);
      const shown = current.advance(done, total, estimate);
      if (t - last < 100 && shown.done < shown.total) return;
      last = t;
      const line = progressLine(label, shown.done, shown.total, shown.estimate, t - current.since);
      stream.write(`\r${line.slice(0, (stream.columns || 100) - 1)}\x1b[K`);
      drawn = true;
    },
    clear() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}

interface GroupProgress {
  readonly label: string;
  readonly since: number;
  /** What to show for a scan's report: rows over the whole group, never fewer than shown before. */
  advance(done: number, total: number, estimate: boolean): { done: number; total: number; estimate: boolean };
}

function newGroup(label: string, since: number): GroupProgress {
  // Rows of the pieces finished before the one in flight, and that piece's last report.
  let base = 0;
  let piece = { done: 0, total: 0 };
  let pieces = false;
  // The whole group's total (from its first scan), and the most rows shown.
  let whole = { total: 0, estimate: false };
  let shown = 0;
  return {
    label,
    since,
    advance(done, total, estimate) {
      if (done < piece.done) {
        // A new piece. One that stopped short was cut and is read again by its own pieces: only a finished
        // one counts on.
        if (piece.done >= piece.total) base += piece.done;
        pieces = true;
      }
      piece = { done, total };
      if (!pieces) whole = { total, estimate };
      const own = base + total > whole.total;
      const all = own ? base + total : whole.total;
      shown = Math.min(all, Math.max(shown, base + done));
      return { done: shown, total: all, estimate: own ? estimate : whole.estimate };
    },
  };
}
