/** Whether a row filter (`where:`, `--where`) stays inside the parentheses it is combined in. Pure. */

/**
 * Why `predicate` cannot be combined with others as `(a) AND (b)`, or undefined when it can. A predicate is
 * put in parentheses beside the config's own filters and Concord's key ranges, so one that closes more
 * parentheses than it opens (`1=1) OR (1=1`) would widen the filter past the others, a `;` would end the
 * statement, and a comment (`--`, `/*`) would cut the key range after it. Quoted strings and identifiers
 * ('…', "…", `…`, doubled quotes inside) are skipped.
 */
export function predicateShapeError(predicate: string): string | undefined {
  let depth = 0;
  for (let i = 0; i < predicate.length; i++) {
    const c = predicate[i]!;
    if (c === "'" || c === '"' || c === "`") {
      let j = i + 1;
      for (;;) {
        j = predicate.indexOf(c, j);
        if (j < 0) return `it opens a quote (${c}) it does not close`;
        if (predicate[j + 1] !== c) break;
        j += 2;
      }
      i = j;
    } else if (c === "(") depth++;
    else if (c === ")") {
      if (--depth < 0)
        return "it closes a parenthesis it did not open, which would take it out of the parentheses it is combined in";
    } else if (c === ";") return "it holds a ; (one predicate, not statements)";
    else if ((c === "-" && predicate[i + 1] === "-") || (c === "/" && predicate[i + 1] === "*"))
      return "it holds a comment, which would cut off what follows it in the statement";
  }
  return depth > 0 ? "it opens a parenthesis it does not close" : undefined;
}
