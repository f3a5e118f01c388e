/** An ISO 8601 date-time as given on a command line or in a query. Pure. */

/**
 * Milliseconds since the epoch of an ISO 8601 date-time (`2024-05-01`, `2024-05-01T12:00Z`, with an offset),
 * or NaN. A calendar date that does not exist (`2024-02-30`, `2023-02-29`) is NaN too: `Date.parse` reads it
 * as a day of the next month, so a mistyped day would silently mean another one.
 */
export function parseIsoTime(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!m) return Number.NaN;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return Number.NaN;
  return Date.parse(text);
}
