/** A line diff of two small texts (policy versions): the longest common subsequence, as -/+/space lines. Pure. */

/** One line of a diff: kept (" "), only in the old text ("-"), only in the new ("+"). */
export interface DiffLine {
  readonly op: " " | "-" | "+";
  readonly text: string;
}

/**
 * The lines of `before` and `after` aligned on their longest common subsequence: every line of `before` in
 * order as kept or removed, every line of `after` as kept or added, removals before additions at each change.
 * Quadratic in the line count: meant for texts of a few hundred lines.
 */
export function diffLines(before: string, after: string): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: " ", text: a[i]! });
      i++;
      j++;
    } else if (j >= b.length || (i < a.length && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push({ op: "-", text: a[i]! });
      i++;
    } else {
      out.push({ op: "+", text: b[j]! });
      j++;
    }
  }
  return out;
}

/** A diff as text: one line each, prefixed "- ", "+ " or "  "; only the changed lines when `changedOnly`. */
export function formatDiff(lines: readonly DiffLine[], changedOnly = false): string {
  return lines
    .filter((l) => !changedOnly || l.op !== " ")
    .map((l) => `${l.op === " " ? " " : l.op} ${l.text}`)
    .join("\n");
}

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
