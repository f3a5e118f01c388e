/** Whether a row filter (`where:`, `--where`) stays inside the parentheses it is combined in. Pure. */

/**
 * The SQL dialect a predicate is read in, where their comments and quotes differ: `standard` is what every
 * SQL store shares (the check a predicate gets before its replicas are known).
 */
export type PredicateDialect = "standard" | "postgres" | "mysql" | "sqlite";

/** The dialect of a replica URL's scheme. */
export function predicateDialect(scheme: string): PredicateDialect {
  switch (scheme) {
    case "mysql":
    case "mariadb":
      return "mysql";
    case "postgres":
    case "postgresql":
      return "postgres";
    case "sqlite":
      return "sqlite";
    default:
      return "standard";
  }
}

/** How one reading of a predicate quotes and comments. */
interface Reading {
  /** `#` starts a comment (MariaDB/MySQL). */
  readonly hashComments: boolean;
  /** Where a backslash escapes the next character in '…' and "…": never, always, or in E'…' only. */
  readonly backslash: "never" | "always" | "e-strings";
  /** `$tag$ … $tag$` is a string (PostgreSQL). */
  readonly dollarQuotes: boolean;
  /** `[ … ]` is an identifier (SQLite). */
  readonly brackets: boolean;
  /**
   * A backslash in a plain '…' literal is refused: PostgreSQL with standard_conforming_strings off reads it
   * as an escape there (as in E'…'), where the standard reading keeps it (see `PredicateServerSettings`).
   */
  readonly plainBackslashRefused?: boolean;
}

const PLAIN: Reading = { hashComments: false, backslash: "never", dollarQuotes: false, brackets: false };

/** The readings a predicate must be one expression in, per dialect: all of them, where a setting decides. */
const READINGS: Readonly<Record<PredicateDialect, readonly Reading[]>> = {
  standard: [PLAIN],
  // standard_conforming_strings (on by default) leaves backslashes alone outside E'…'.
  postgres: [{ ...PLAIN, backslash: "e-strings", dollarQuotes: true }],
  // A backslash escapes unless the server's sql_mode has NO_BACKSLASH_ESCAPES, which a predicate cannot know.
  mysql: [
    { ...PLAIN, hashComments: true, backslash: "always" },
    { ...PLAIN, hashComments: true },
  ],
  sqlite: [{ ...PLAIN, brackets: true }],
};

/**
 * What the connected server says about reading literals, where a setting decides (asked by the connector on
 * each connection it opens, after the config's own check without it).
 */
export interface PredicateServerSettings {
  /**
   * PostgreSQL's `standard_conforming_strings` (on by default since 9.1). Off, a backslash in a plain '…'
   * literal escapes the next character, so the standard reading of such a literal is not the server's: a
   * predicate holding one is refused (E'…' reads the same either way and is the way to write it). What is
   * accepted then reads the same under either setting.
   */
  readonly standardConformingStrings?: boolean;
}

/**
 * Why `predicate` cannot be combined with others as `(a) AND (b)`, or undefined when it can. A predicate is
 * put in parentheses beside the config's own filters and Concord's key ranges, so one that closes more
 * parentheses than it opens (`1=1) OR (1=1`) would widen the filter past the others, a `;` would end the
 * statement, and a comment (`--`, `/*`) would cut the key range after it. Quoted strings and identifiers
 * ('…', "…", `…`, doubled quotes inside) are skipped, as `dialect` reads them:
 * - `mysql` (a MariaDB/MySQL replica's filter): `#` also starts a comment, and is refused outside quotes
 *   (elsewhere it is an operator: PostgreSQL's `#>>` and XOR, kept); a backslash escapes the next character
 *   in '…' and "…" unless the server runs with NO_BACKSLASH_ESCAPES, so the predicate must be one
 *   expression read either way (`'x\'' # '` is a string and a comment with escapes).
 * - `postgres`: E'…' strings take backslash escapes, and `$tag$…$tag$` is a string (`$$ ' $$ -- '` is a
 *   string and a comment).
 * - `sqlite`: `[…]` is an identifier (`[x'] -- ']` is an identifier and a comment).
 * With `server` settings, as the connected server reads (`PredicateServerSettings`).
 */
export function predicateShapeError(
  predicate: string,
  dialect: PredicateDialect = "standard",
  server: PredicateServerSettings = {},
): string | undefined {
  const nonstandard = dialect === "postgres" && server.standardConformingStrings === false;
  for (const base of READINGS[dialect]) {
    const reading = nonstandard ? { ...base, plainBackslashRefused: true } : base;
    const why = shapeError(predicate, reading);
    if (why) return why;
  }
  return undefined;
}

const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

function shapeError(predicate: string, reading: Reading): string | undefined {
  let depth = 0;
  for (let i = 0; i < predicate.length; i++) {
    const c = predicate[i]!;
    const prev = i > 0 ? predicate[i - 1]! : "";
    if (c === "'" || c === '"' || c === "`") {
      const escapes =
        c !== "`" &&
        (reading.backslash === "always" ||
          (reading.backslash === "e-strings" &&
            c === "'" &&
            (prev === "E" || prev === "e") &&
            !IDENT_CHAR.test(i > 1 ? predicate[i - 2]! : "")));
      let j = i + 1;
      for (;;) {
        while (j < predicate.length && predicate[j] !== c) j += escapes && predicate[j] === "\\" ? 2 : 1;
        if (j >= predicate.length) return `it opens a quote (${c}) it does not close`;
        if (predicate[j + 1] !== c) break;
        j += 2;
      }
      if (reading.plainBackslashRefused && c === "'" && !escapes && predicate.slice(i, j).includes("\\"))
        return "it holds a backslash in a plain '…' literal, which this server reads as an escape (standard_conforming_strings is off) where the check does not; write the literal as E'…'";
      i = j;
    } else if (c === "$" && reading.dollarQuotes && !IDENT_CHAR.test(prev)) {
      const tag = DOLLAR_TAG.exec(predicate.slice(i))?.[0];
      if (tag === undefined) continue;
      const end = predicate.indexOf(tag, i + tag.length);
      if (end < 0) return `it opens a quote (${tag}) it does not close`;
      i = end + tag.length - 1;
    } else if (c === "[" && reading.brackets) {
      const end = predicate.indexOf("]", i + 1);
      if (end < 0) return "it opens a quote ([) it does not close";
      i = end;
    } else if (c === "(") depth++;
    else if (c === ")") {
      if (--depth < 0)
        return "it closes a parenthesis it did not open, which would take it out of the parentheses it is combined in";
    } else if (c === ";") return "it holds a ; (one predicate, not statements)";
    else if ((c === "-" && predicate[i + 1] === "-") || (c === "/" && predicate[i + 1] === "*"))
      return "it holds a comment, which would cut off what follows it in the statement";
    else if (c === "#" && reading.hashComments)
      return "it holds a # outside quotes, a comment in MariaDB/MySQL, which would cut off what follows it in the statement";
  }
  return depth > 0 ? "it opens a parenthesis it does not close" : undefined;
}
