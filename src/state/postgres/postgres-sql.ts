/** Small helpers of the PostgreSQL state store: URL, statement and error shaping. No queries here. */
import { redactText } from "../../config/redact.js";
import { storedText } from "../prepared-audit.js";

/** The error codes of a transaction PostgreSQL aborted that succeeds when run again: deadlock, serialization. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set(["40P01", "40001"]);

/**
 * Splits a state URL into the connection string node-postgres gets and the `schema` query parameter
 * (undefined when absent). The other parameters are passed on exactly as written: re-encoding them could
 * change their meaning.
 */
export function splitSchema(url: string): { connectionString: string; schema: string | undefined } {
  const q = url.indexOf("?");
  if (q < 0) return { connectionString: url, schema: undefined };
  let schema: string | undefined;
  const rest = url
    .slice(q + 1)
    .split("&")
    .filter((part) => {
      if (!part.startsWith("schema=")) return true;
      schema = decodeURIComponent(part.slice("schema=".length));
      return false;
    });
  return { connectionString: url.slice(0, q) + (rest.length ? `?${rest.join("&")}` : ""), schema };
}

/** `rows` in consecutive slices of at most `size`. */
export function* chunks<R>(rows: readonly R[], size: number): Generator<readonly R[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

/** Whether `err` aborted a transaction that may simply be run again. */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE_CODES.has(code);
}

/** SQLite reads LIMIT -1 as "no limit"; PostgreSQL's is LIMIT NULL. Undefined is no limit too. */
export function noLimitIfNegative(limit: number | undefined): number | null {
  return limit === undefined || limit < 0 ? null : limit;
}

/**
 * A WHERE clause of the conditions whose parameter is given (`column op $n`, `=` by default), joined by AND,
 * numbered from $1, with its parameters.
 */
export function conditions(
  parts: readonly [column: string, param: string | number | undefined, op?: string][],
): {
  sql: string;
  params: (string | number)[];
} {
  const given = parts.filter((p): p is [string, string | number, string?] => p[1] !== undefined);
  return {
    sql: given.length
      ? ` WHERE ${given.map((p, i) => `${p[0]} ${p[2] ?? "="} $${i + 1}`).join(" AND ")}`
      : "",
    params: given.map((p) => p[1]),
  };
}

/** One line describing a driver or network error, credentials redacted. */
export function describeError(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  // Node reports a refused connection to a name with several addresses as an AggregateError with no message.
  if (!message && err instanceof AggregateError)
    message = err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join("; ");
  if (!message) message = (err as { code?: string } | null)?.code ?? "unknown error";
  return redactText(message).split("\n")[0]!.trim();
}

/** One column of a batch write: its name (the row's property) and its SQL type. */
export type RecordsetColumn = readonly [name: string, type: string];

/** The columns' names, comma-separated, for `INSERT INTO t (…) SELECT … FROM recordset`. */
export function columnNames(columns: readonly RecordsetColumn[]): string {
  return columns.map((c) => c[0]).join(", ");
}

/**
 * `json_to_recordset($n::json) AS r(name type, …)`: the rows of a batch write, all sent as one JSON parameter
 * (see recordsetJson). One parameter instead of one array per column because node-postgres's array
 * encoding is many times slower than JSON.stringify, and it is most of a batch's client time.
 */
export function recordset(columns: readonly RecordsetColumn[], param = 1): string {
  return `json_to_recordset($${param}::json) AS r(${columns.map((c) => `${c[0]} ${c[1]}`).join(", ")})`;
}

/**
 * The JSON parameter of `recordset(columns)` for `rows` (objects with a property per column), in their order.
 * A number with no JSON form (NaN, ±Infinity) is sent as its text, which a double precision column reads.
 * PostgreSQL refuses a lone surrogate (which JSON.stringify writes as a `\udXXX` escape) in JSON text, so
 * text that has one is sent with it replaced, as the UTF-8 encoding of a text parameter would have done.
 */
export function recordsetJson(columns: readonly RecordsetColumn[], rows: readonly object[]): string {
  const picked = rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [name] of columns) {
      const v = (row as Record<string, unknown>)[name];
      out[name] = typeof v === "number" && !Number.isFinite(v) ? String(v) : (v ?? null);
    }
    return out;
  });
  const text = JSON.stringify(picked);
  // A cheap test that can only err towards the slow path (an escaped backslash before "ud8…" also matches).
  if (!/\\ud[89a-f]/i.test(text)) return text;
  for (const row of picked)
    for (const name of Object.keys(row)) {
      const v = row[name];
      if (typeof v === "string") row[name] = storedText(v);
    }
  return JSON.stringify(picked);
}

/**
 * A list of texts as one JSON parameter, for `IN (SELECT json_array_elements_text($n::json))` (faster to
 * send than an array parameter, as for recordset). Lone surrogates are replaced, as in recordsetJson.
 */
export function textListJson(values: readonly string[]): string {
  const text = JSON.stringify(values);
  return /\\ud[89a-f]/i.test(text) ? JSON.stringify(values.map(storedText)) : text;
}
