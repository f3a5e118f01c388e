/** The anchor log: an append-only file of signed anchors, one JSON line each, kept outside the state store. */
import { closeSync, createReadStream, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import {
  type AuditAnchor,
  formatAuditAnchor,
  type LocatedAnchor,
  parseAuditAnchor,
} from "../core/audit-anchor.js";
import { makeDirs } from "../runtime/make-dirs.js";

/** Raised when the anchor log cannot be read or written, or holds a line that is not an anchor. */
export class AnchorLogError extends Error {
  override readonly name = "AnchorLogError";
}

function ioProblem(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/**
 * Appends one anchor as one line, with one write to a file opened for appending (O_APPEND: lines from
 * several processes never interleave), then fsync. Creates the file and its folder if needed.
 */
export function appendAnchor(file: string, anchor: AuditAnchor): void {
  let fd: number | undefined;
  try {
    makeDirs(dirname(file));
    fd = openSync(file, "a", 0o644);
    writeSync(fd, `${formatAuditAnchor(anchor)}\n`);
    fsyncSync(fd);
  } catch (err) {
    throw new AnchorLogError(`cannot append to the anchor log ${file} (${ioProblem(err)})`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Every anchor of the log, in file order, streamed line by line. A missing file is an empty log. Throws
 * AnchorLogError naming the line that is not an anchor: a damaged anchor log is itself a finding.
 */
export async function readAnchors(file: string): Promise<LocatedAnchor[]> {
  const out: LocatedAnchor[] = [];
  let stream: ReturnType<typeof createReadStream>;
  try {
    stream = createReadStream(file, { encoding: "utf8" });
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", reject);
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return out;
    throw new AnchorLogError(`cannot read the anchor log ${file} (${ioProblem(err)})`);
  }
  let n = 0;
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
      n++;
      if (line.trim() === "") continue;
      const parsed = parseAuditAnchor(line);
      if ("problem" in parsed)
        throw new AnchorLogError(`${file} line ${n} is not an anchor (${parsed.problem})`);
      out.push({ anchor: parsed, where: `${file} line ${n}` });
    }
  } catch (err) {
    // A read that fails once open (a directory opens, then reads EISDIR): one line naming the file.
    if (err instanceof AnchorLogError) throw err;
    stream.destroy();
    throw new AnchorLogError(`cannot read the anchor log ${file} (${ioProblem(err)})`);
  }
  return out;
}

/**
 * The last anchor in the log (the one appended last), reading only the file's tail; undefined when the log
 * is missing or empty. A last line that is not an anchor is an AnchorLogError.
 */
export function lastAnchor(file: string): AuditAnchor | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AnchorLogError(`cannot read the anchor log ${file} (${ioProblem(err)})`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new AnchorLogError(`cannot read the anchor log ${file} (EISDIR)`);
    const size = stat.size;
    let tail = "";
    // An anchor line is about 250 bytes: a few KiB from the end holds the last complete one.
    for (let chunk = 4096; ; chunk *= 4) {
      const start = Math.max(0, size - chunk);
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      tail = buf.toString("utf8");
      const lines = tail.split("\n").filter((l) => l.trim() !== "");
      if (lines.length >= 2 || start === 0) {
        const line = lines.at(-1);
        if (line === undefined) return undefined;
        const parsed = parseAuditAnchor(line);
        if ("problem" in parsed)
          throw new AnchorLogError(`the last line of ${file} is not an anchor (${parsed.problem})`);
        return parsed;
      }
    }
  } finally {
    closeSync(fd);
  }
}
