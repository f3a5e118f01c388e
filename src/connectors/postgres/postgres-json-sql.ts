/** Canonical JSON text (core/canonical-json-text.ts) of a jsonb value, built by PostgreSQL in one expression. Builds text only: no I/O. */

/**
 * The canonical number text (`canonicalJsonNumber`) of a numeric expression `x` (referenced several times:
 * a column or a cast of one). jsonb keeps a number as numeric, exactly as written (1.50 keeps its scale,
 * 1e2 is 100, 1e400 is 1 and 400 zeros), so `trim_scale(x)::text` holds its digits without exponent: the
 * canonical text when 1e-6 ≤ |x| < 1e21 (ECMAScript's plain layout) or x = 0. Past those bounds the exponent
 * form is built from the digits of |x|: the mantissa `d[.ddd]` and the exponent, the integer part's length
 * − 1 (≥ 1e21) or −(leading fractional zeros + 1) (< 1e-6). No subquery: one here, even never run, made
 * the walk about twice as slow.
 */
function numberSql(x: string): string {
  const s = `trim_scale(abs(${x}))::text`;
  const mantissa = (digits: string) => `regexp_replace(${digits}, '^(.)(.)', '\\1.\\2')`;
  const sign = `CASE WHEN ${x} < 0 THEN '-' ELSE '' END`;
  const big = `${sign} || ${mantissa(`rtrim(replace(${s}, '.', ''), '0')`)} || 'e+' || (length(split_part(${s}, '.', 1)) - 1)::text`;
  const fraction = `substr(${s}, 3)`;
  const small = `${sign} || ${mantissa(`ltrim(${fraction}, '0')`)} || 'e-' || (length(${fraction}) - length(ltrim(${fraction}, '0')) + 1)::text`;
  return (
    `CASE WHEN ${x} = 0 OR abs(${x}) >= 0.000001 AND abs(${x}) < 1e21 THEN trim_scale(${x})::text ` +
    `WHEN abs(${x}) >= 1e21 THEN ${big} ELSE ${small} END`
  );
}

/**
 * A key's sort text: ordered under COLLATE "C" (by code point) exactly as the key is by UTF-16 code units.
 * The orders differ only between a character in U+E000–U+FFFF and one past U+FFFF (a surrogate pair, which
 * UTF-16 puts first), so such keys map each character past U+FFFF down to U+E000 + (c − U+10000) and each
 * in U+E000–U+FFFF up past them (+ U+100000): a bijection onto valid code points. Other keys are themselves.
 */
function utf16OrderSql(key: string): string {
  const mapped =
    `(SELECT string_agg(CASE WHEN ascii(ch) >= 65536 THEN chr(ascii(ch) - 8192) ` +
    `WHEN ascii(ch) >= 57344 THEN chr(ascii(ch) + 1048576) ELSE ch END, '' ORDER BY o) ` +
    `FROM regexp_split_to_table(${key}, '') WITH ORDINALITY s(ch, o))`;
  return `(CASE WHEN ${key} ~ '[\\uE000-\\U0010FFFF]' THEN ${mapped} ELSE ${key} END) COLLATE "C"`;
}

/** ECMAScript array-index keys ("0" … "4294967294", no leading zeros) sort first, by value; others after. */
function arrayIndexSql(key: string): string {
  return `CASE WHEN ${key} ~ '^(0|[1-9][0-9]{0,9})$' AND ${key}::int8 <= 4294967294 THEN ${key}::int8 END NULLS LAST`;
}

/**
 * A text expression equal to `canonicalJsonText(<the jsonb's ::text>)` for every jsonb value `jsonb` (NULL
 * for NULL): what the engine computes from the column's text, byte for byte. A scalar subquery: a recursive
 * walk lists every node of the document with a sort path (one fixed-width component per level: an array
 * element's position, an object member's rank in canonical member order, `compareMemberKeys`), its text
 * (`,` before all but the first child, the member's key and `:`, then `{`, `[` or the scalar) and a closing
 * `}`/`]` after its children; the texts in path order are the document.
 * - Strings and keys: jsonb's output escapes exactly what JSON.stringify escapes (`"`, `\`, control
 *   characters, short escapes where JSON has them, else lowercase `\u00xx`); jsonb holds no U+0000 and no
 *   lone surrogate, the only strings where the two could differ.
 * - Numbers: `numberSql`.
 * - Duplicate keys: jsonb kept the last one already.
 * One walk per document costs far more than `::text` (measured in docs/benchmarks.md); nested scalar
 * subqueries per level (no recursion) were slower still.
 */
export function postgresCanonicalJsonSql(jsonb: string): string {
  const rank = "lpad(row_number() OVER w::text, 10, '0')";
  const members =
    `SELECT ${rank}, e.value, CASE WHEN row_number() OVER w > 1 THEN ',' ELSE '' END || to_json(e.key)::text || ':' ` +
    `FROM jsonb_each(CASE WHEN jsonb_typeof(n.v) = 'object' THEN n.v END) e ` +
    `WINDOW w AS (ORDER BY ${arrayIndexSql("e.key")}, ${utf16OrderSql("e.key")})`;
  const elements =
    `SELECT lpad(a.o::text, 10, '0'), a.value, CASE WHEN a.o > 1 THEN ',' ELSE '' END ` +
    `FROM jsonb_array_elements(CASE WHEN jsonb_typeof(n.v) = 'array' THEN n.v END) WITH ORDINALITY a(value, o)`;
  const nodes =
    `WITH RECURSIVE n(p, v, pre) AS (SELECT ''::text COLLATE "C", ${jsonb}, ''::text UNION ALL ` +
    `SELECT n.p || c.p, c.v, c.pre FROM n CROSS JOIN LATERAL (${members} UNION ALL ${elements}) c(p, v, pre))`;
  const open =
    `SELECT n.p, n.pre || CASE jsonb_typeof(n.v) WHEN 'object' THEN '{' WHEN 'array' THEN '[' ` +
    `WHEN 'number' THEN ${numberSql("(n.v)::numeric")} ELSE n.v::text END AS tok FROM n`;
  // '~' sorts after every component (digits), so a container closes after its children.
  const close =
    `SELECT n.p || '~', CASE jsonb_typeof(n.v) WHEN 'object' THEN '}' ELSE ']' END FROM n ` +
    `WHERE jsonb_typeof(n.v) IN ('object', 'array')`;
  return `(${nodes} SELECT string_agg(s.tok, '' ORDER BY s.p) FROM (${open} UNION ALL ${close}) s)`;
}
