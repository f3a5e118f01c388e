/** Whether a row filter (`where:`, `--where`) stays inside the parentheses it is combined in. Pure. */

/** The SQL dialect a predicate is read in: MariaDB/MySQL's comments and strings differ from the others'. */
export type PredicateDialect = "mysql" | "standard";

/** The dialect of a replica URL's scheme: `mysql` for mysql:/mariadb:, else `standard`. */
export function predicateDialect(scheme: string): PredicateDialect {
  return scheme === "mysql" || scheme === "mariadb" ? "mysql" : "standard";
}

/**
 * Why `predicate` cannot be combined with others as `(a) AND (b)`, or undefined when it can. A predicate is
 * put in parentheses beside the config's own filters and Concord's key ranges, so one that closes more
 * parentheses than it opens (`1=1) OR (1=1`) would widen the filter past the others, a `;` would end the
 * statement, and a comment (`--`, `/*`) would cut the key range after it. Quoted strings and identifiers
 * ('…', "…", `…`, doubled quotes inside) are skipped.
 *
 * In the `mysql` dialect (a MariaDB/MySQL replica's filter) `#` also starts a comment, and is refused
 * outside quotes; elsewhere it is an operator (PostgreSQL's `#>` and `#>>` on JSON, `#` as XOR) and kept.
 * A backslash escapes the next character in MariaDB's '…' and "…" unless the server's sql_mode has
 * NO_BACKSLASH_ESCAPES, which the predicate cannot know: it must be safe read either way (`'x\'' # '` is
 * a string then a comment with escapes, a string holding `#` without).
 */
export function predicateShapeError(
  predicate: string,
  dialect: PredicateDialect = "standard",
): string | undefined {
  if (dialect === "standard") return shapeError(predicate, false, false);
  return shapeError(predicate, true, false) ?? shapeError(predicate, true, true);
}

function shapeError(predicate: string, mysql: boolean, backslashEscapes: boolean): string | undefined {
  let depth = 0;
  for (let i = 0; i < predicate.length; i++) {
    const c = predicate[i]!;
    if (c === "'" || c === '"' || c === "`") {
      const escapes = backslashEscapes && c !== "`";
      let j = i + 1;
      for (;;) {
        while (j < predicate.length && predicate[j] !== c) j += escapes && predicate[j] === "\\" ? 2 : 1;
        if (j >= predicate.length) return `it opens a quote (${c}) it does not close`;
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
    else if (c === "#" && mysql)
      return "it holds a # outside quotes, a comment in MariaDB/MySQL, which would cut off what follows it in the statement";
  }
  return depth > 0 ? "it opens a parenthesis it does not close" : undefined;
}
