/** Plain-text tables and counted nouns for the readable reports. Cells are printed as given: pass printable text. */

/**
 * Rows as aligned columns (two spaces apart, each line indented by `indent`, trailing spaces trimmed). The
 * last column is never padded, so a long last cell (a reason) does not widen the others.
 */
export function textTable(rows: readonly (readonly string[])[], indent = "  "): string {
  if (rows.length === 0) return "";
  const columns = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...rows.map((r) => width(r[i] ?? ""))));
  return rows
    .map((r) =>
      `${indent}${r.map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i]! - width(c)))).join("  ")}`.trimEnd(),
    )
    .join("\n");
}

/** Columns a text takes on a terminal, counting each code point as one (no East Asian width tables). */
function width(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** "1 escalation", "2 escalations" (or the given plural). */
/** A count as the reports print it, digits grouped (`19,985`). */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** At most `max` code points of `text`, an ellipsis marking a cut. */
export function clip(text: string, max: number): string {
  const points = [...text];
  return points.length > max ? `${points.slice(0, max - 1).join("")}…` : text;
}
