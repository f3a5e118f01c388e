/** The commands a conditional write runs on Redis, as redis-cli text (`repair --print`). Pure. */
import { isUtf8 } from "node:buffer";
import { hasUnsafe } from "../../core/printable.js";

/**
 * One argument as redis-cli reads it: bare when it can be, else double-quoted with escapes. Control and
 * bidi characters are written as their UTF-8 bytes (`\xe2\x80\xae` for U+202E), which redis-cli reads back
 * as the same bytes, so a printed command is exact and prints as one inert line.
 */
export function redisArg(arg: string): string {
  if (arg !== "" && /^[\x21-\x7e\u0080-\uffff]+$/u.test(arg) && !/["'\\]/.test(arg) && !hasUnsafe(arg))
    return arg;
  let out = '"';
  for (const ch of arg) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    // C1 controls, line and paragraph separators, bidi marks (what `printable` escapes, C0 and DEL done above).
    else if (hasUnsafe(ch))
      for (const byte of Buffer.from(ch, "utf8")) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** An argument of bytes as redis-cli reads it: its text when UTF-8, else quoted with `\xNN` for each byte past ASCII. */
function bytesArg(arg: Buffer): string {
  if (isUtf8(arg)) return redisArg(arg.toString("utf8"));
  let out = '"';
  for (const b of arg) {
    const ch = String.fromCharCode(b);
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (b < 0x20 || b >= 0x7f) out += `\\x${b.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * The commands the compare-and-set script runs for write arguments `args` (RecordLayout.write: "D", or "W"
 * and a hash's field/value pairs and fields to delete, or "W" and a JSON string), as redis-cli lines.
 */
export function redisWriteCommands(
  name: string,
  format: "hash" | "json",
  args: readonly (string | Buffer)[],
): string[] {
  const cmd = (...parts: (string | Buffer)[]) =>
    parts.map((p) => (typeof p === "string" ? redisArg(p) : bytesArg(p))).join(" ");
  if (args[0] === "D") return [cmd("DEL", name)];
  if (format === "json") return [cmd("SET", name, args[1] ?? "", "KEEPTTL")];
  const pairs = Number(args[1]);
  const set = args.slice(2, 2 + 2 * pairs);
  const del = args.slice(2 + 2 * pairs);
  const out: string[] = [];
  if (set.length) out.push(cmd("HSET", name, ...set));
  if (del.length) out.push(cmd("HDEL", name, ...del));
  return out;
}
