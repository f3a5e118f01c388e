/** NULL-aware key comparisons in SQL, in Concord's key order (NULLS FIRST), for every SQL dialect. Builds text only: no I/O. */

/**
 * One key part of a comparison: the column's order expression against the bound's part.
 * - `bound` is the SQL of the bound's part (a literal, a placeholder, or a column of a derived table whose
 *   rows all have NULL in the same parts: callers group bounds so);
 * - `boundNull` says whether that part is NULL (then `bound` is not used: a NULL part is spelled IS NULL or
 *   folds to a constant, never compared);
 * - `nullable` is false when the column cannot hold NULL (NOT NULL), which lets the terms simplify.
 */
export interface KeyCompareTerm {
  readonly expr: string;
  readonly bound: string;
  readonly boundNull: boolean;
  readonly nullable: boolean;
}

/** A condition under construction: SQL text, or a constant. */
type Cond = string | boolean;

function or(a: Cond, b: Cond): Cond {
  if (a === true || b === true) return true;
  if (a === false) return b;
  if (b === false) return a;
  return `(${a} OR ${b})`;
}

function and(a: Cond, b: Cond): Cond {
  if (a === false || b === false) return false;
  if (a === true) return b;
  if (b === true) return a;
  return `${a} AND ${b}`;
}

/** `expr > bound` with NULL before every value. */
function greater(t: KeyCompareTerm): Cond {
  if (t.boundNull) return t.nullable ? `${t.expr} IS NOT NULL` : true;
  // A NULL expr makes this NULL, which excludes the row as it must (NULL is below every value).
  return `${t.expr} > ${t.bound}`;
}

/** `expr < bound` with NULL before every value. */
function less(t: KeyCompareTerm): Cond {
  if (t.boundNull) return false;
  return t.nullable ? `(${t.expr} IS NULL OR ${t.expr} < ${t.bound})` : `${t.expr} < ${t.bound}`;
}

/** `expr = bound` where NULL equals only NULL. */
function equal(t: KeyCompareTerm): Cond {
  if (t.boundNull) return t.nullable ? `${t.expr} IS NULL` : false;
  return `${t.expr} = ${t.bound}`;
}

/** True when a comparison of these terms needs NULL-aware SQL: a column may hold NULL or a bound part is NULL. */
export function needsNullAware(terms: readonly KeyCompareTerm[]): boolean {
  return terms.some((t) => t.nullable || t.boundNull);
}

/**
 * The key (lexicographically over `terms`) compared with the bound by `op`, in Concord's key order: NULL
 * orders before every value of its column and equals only NULL. Expanded as
 * `gt1 OR (eq1 AND (gt2 OR (eq2 AND …)))`, never as a row-value comparison, which is NULL (no row) as soon
 * as a part is NULL. Constant parts fold away, so NOT NULL columns compared with known values give the plain
 * lexicographic expansion. Always a parenthesised condition, or `TRUE`/`FALSE` spelled as `1 = 1`/`1 = 0`.
 */
export function keyCompareSql(terms: readonly KeyCompareTerm[], op: ">=" | ">" | "<" | "<="): string {
  const strict = op === ">=" || op === ">" ? greater : less;
  const inclusive = op === ">=" || op === "<=";
  let out: Cond = inclusive;
  for (let i = terms.length - 1; i >= 0; i--) {
    const t = terms[i]!;
    if (i === terms.length - 1 && op === ">=" && t.boundNull === true)
      // Every value, NULL included, is at or after NULL.
      out = true;
    else if (i === terms.length - 1 && inclusive && t.boundNull === false && (op === ">=" || !t.nullable))
      // `expr >= b` is false for a NULL expr, as it must be (NULL is below b); `<=` is, only for NOT NULL.
      out = `${t.expr} ${op} ${t.bound}`;
    else out = or(strict(t), and(equal(t), out));
  }
  if (out === true) return "1 = 1";
  if (out === false) return "1 = 0";
  return `(${out})`;
}

/** How `keyRangeSql` may spell its conditions. */
export interface KeyRangeOptions {
  /** Strictly after `lo` (keyset pagination) instead of from it. Default false. */
  readonly loStrict?: boolean;
  /**
   * The dialect compares row values and its index serves them (PostgreSQL, SQLite): a bound without NULL
   * parts is then compared as a row value, which is exact under NULLS FIRST for `>=` and `>` (a row value
   * is NULL, so no row, exactly where the row is below such a bound) and, for `<`, exact once the rows whose
   * first part that differs from the bound is NULL are added back (`a = x AND b IS NULL`, index prefixes
   * too). Default false: lexicographic expansions (MariaDB/MySQL's range optimizer reads those).
   */
  readonly rowValues?: boolean;
}

/** `(e1, e2) op (b1, b2)`, or `e op b` for one part. */
function rowCompare(terms: readonly KeyCompareTerm[], op: string): string {
  if (terms.length === 1) return `${terms[0]!.expr} ${op} ${terms[0]!.bound}`;
  return `(${terms.map((t) => t.expr).join(", ")}) ${op} (${terms.map((t) => t.bound).join(", ")})`;
}

/**
 * The rows of a key range in Concord's key order: from `lo` (inclusive, or strictly after it with
 * `loStrict`) to `hi` (exclusive), each as terms or null for an open end; "" for the whole range. When the
 * lower bound's first part is a value, no row in the range holds NULL there, so the upper bound is compared
 * as for a NOT NULL column; for several key columns expanded lexicographically, the first column's bounds
 * are repeated as plain conditions an index range scan can use (the expansion alone is an OR).
 */
export function keyRangeSql(
  lo: readonly KeyCompareTerm[] | null,
  hi: readonly KeyCompareTerm[] | null,
  options: KeyRangeOptions = {},
): string {
  const parts: string[] = [];
  const leadingValue = lo !== null && lo[0]!.boundNull === false;
  const asRow = (terms: readonly KeyCompareTerm[]) =>
    options.rowValues === true && terms.every((t) => !t.boundNull);
  if (lo) {
    const op = options.loStrict ? ">" : ">=";
    if (asRow(lo)) parts.push(rowCompare(lo, op));
    else {
      if (lo.length > 1 && leadingValue) parts.push(`${lo[0]!.expr} >= ${lo[0]!.bound}`);
      parts.push(keyCompareSql(lo, op));
    }
  }
  if (hi) {
    const first = hi[0]!;
    const terms = leadingValue ? [{ ...first, nullable: false }, ...hi.slice(1)] : hi;
    if (asRow(terms)) {
      const below = terms.flatMap((t, i) =>
        t.nullable
          ? [[...terms.slice(0, i).map((p) => `${p.expr} = ${p.bound}`), `${t.expr} IS NULL`].join(" AND ")]
          : [],
      );
      const lt = rowCompare(terms, "<");
      parts.push(below.length ? `(${lt} OR ${below.map((c) => `(${c})`).join(" OR ")})` : lt);
    } else {
      if (hi.length > 1 && first.boundNull === false && !terms[0]!.nullable)
        parts.push(`${first.expr} <= ${first.bound}`);
      parts.push(keyCompareSql(terms, "<"));
    }
  }
  return parts.join(" AND ");
}

/**
 * A condition matching exactly one key: each part equal to its bound, `IS NULL` for a NULL part (never
 * `= NULL`, which matches no row).
 */
export function keyEqualsSql(terms: readonly KeyCompareTerm[]): string {
  let out: Cond = true;
  for (const t of terms) out = and(out, equal(t));
  if (out === true) return "1 = 1";
  if (out === false) return "1 = 0";
  return out;
}
