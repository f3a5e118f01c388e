/** Run ids: one per invocation (or `serve` pass), shared by the datasets it covers. */
import { randomBytes } from "node:crypto";

/** A run id that sorts by start time: `20261127T153000Z-1a2b3c`. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}
