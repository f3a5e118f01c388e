/** Text from stores, users and clients made safe to print on a terminal or echo in a reply: control and bidi characters shown, not obeyed. Pure. */

// C0 controls (newline and tab included: a value must not start a line of its own), DEL, C1 controls, the
// Unicode line and paragraph separators, and the bidirectional overrides and isolates that reorder what a
// reader sees ("Trojan Source").
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control, line-breaking and bidi character written as an escape (`\x1b`, `\n`,
 * `\u202e`), so keys, values and messages from a store print as one inert line. Text without any is
 * returned as is.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** UNSAFE without the global flag, for a test that moves no lastIndex (where matchAll would start). */
const UNSAFE_ONE = new RegExp(UNSAFE.source);

/** Whether `text` holds a character `printable` escapes (a control, line-breaking or bidi character). */
export function hasUnsafe(text: string): boolean {
  return UNSAFE_ONE.test(text);
}

/**
 * `text` cut at each character `printable` escapes: the runs between them (`text`) and each such character's
 * code point (`code`), in order. For SQL printers that spell those characters as expressions of their own
 * dialect, so a printed statement is exact when run and inert when shown.
 */
export function unsafeRuns(text: string): ({ text: string } | { code: number })[] {
  const out: ({ text: string } | { code: number })[] = [];
  let from = 0;
  for (const m of text.matchAll(UNSAFE)) {
    if (m.index > from) out.push({ text: text.slice(from, m.index) });
    out.push({ code: m[0].codePointAt(0)! });
    from = m.index + m[0].length;
  }
  if (from < text.length || out.length === 0) out.push({ text: text.slice(from) });
  return out;
}
