/** Canonical text of timestamps: exact proleptic-Gregorian arithmetic on microseconds, no Date in between. Pure: no I/O. */
import { describeRaw, ValueError } from "./canonical-errors.js";

const MICROS_PER_DAY = 86_400_000_000n;
const MICROS_PER_SECOND = 1_000_000n;

/**
 * The largest year the canonical form takes (either way). PostgreSQL's `date` reaches 5874897 AD, its
 * timestamps 294276 AD and 4714 BC; nothing holds more.
 */
const MAX_YEAR = 9_999_999;

/**
 * Epoch microseconds standing for `infinity` and `-infinity`: beyond every finite timestamp the canonical
 * form can write (±10^30 µs is about ±3 × 10^16 years), so they order after (before) every instant.
 */
export const TIMESTAMP_INFINITY = 10n ** 30n;
export const TIMESTAMP_NEG_INFINITY = -TIMESTAMP_INFINITY;

/** Days from 1970-01-01 to the proleptic Gregorian date y-m-d (y astronomical: 0 is 1 BC). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The proleptic Gregorian date of a day count from 1970-01-01: [astronomical year, month, day]. */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function leap(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validDate(year: number, month: number, day: number): boolean {
  return (
    month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && !leap(year) ? 28 : MONTH_DAYS[month - 1]!)
  );
}

function pad(n: number | bigint, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * A year as the canonical form writes it (ISO 8601 with ECMAScript's expanded years, astronomical
 * numbering): 0 to 9999 in four digits ("0000" is 1 BC); any other with a sign and at least six digits
 * ("-000043" is 44 BC, "+010000" is 10000 AD).
 */
export function formatYear(year: number): string {
  if (year >= 0 && year <= 9999) return pad(year, 4);
  return `${year < 0 ? "-" : "+"}${pad(Math.abs(year), 6)}`;
}

/**
 * Formats epoch microseconds as the canonical timestamp text: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC,
 * microseconds, proleptic Gregorian calendar), years outside 0–9999 expanded (`formatYear`), and the two
 * infinities as `infinity` and `-infinity`.
 */
export function formatMicros(micros: bigint): string {
  if (micros >= TIMESTAMP_INFINITY) return "infinity";
  if (micros <= TIMESTAMP_NEG_INFINITY) return "-infinity";
  let days = micros / MICROS_PER_DAY;
  let rest = micros % MICROS_PER_DAY;
  if (rest < 0n) {
    rest += MICROS_PER_DAY;
    days -= 1n;
  }
  const [year, month, day] = civilFromDays(Number(days));
  if (Math.abs(year) > MAX_YEAR) throw new ValueError(`timestamp ${micros}µs is out of range`);
  const seconds = rest / MICROS_PER_SECOND;
  const h = seconds / 3600n;
  const m = (seconds / 60n) % 60n;
  const s = seconds % 60n;
  return `${formatYear(year)}-${pad(month, 2)}-${pad(day, 2)}T${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}.${pad(
    rest % MICROS_PER_SECOND,
    6,
  )}Z`;
}

/**
 * The offset is `±HH`, `±HH:MM`, `±HHMM`, `±HH:MM:SS` or `±HHMMSS`: PostgreSQL prints an offset with seconds
 * for a zone's local mean time before it adopted standard time (`1850-01-01 00:00:00+00:19:32` in
 * Europe/Amsterdam), and that text copied elsewhere must read as the same instant.
 */
const TS_RE =
  /^([+-]\d{6,7}|\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|UTC|([+-])(\d{2})(?::(\d{2})(?::(\d{2}))?|(\d{2})(\d{2})?)?)?$/;

const INFINITIES: Readonly<Record<string, bigint>> = {
  infinity: TIMESTAMP_INFINITY,
  "+infinity": TIMESTAMP_INFINITY,
  "-infinity": TIMESTAMP_NEG_INFINITY,
};

/**
 * Epoch microseconds of a canonical (or any accepted) timestamp: text (ISO 8601 date or date-time, `T` or a
 * space, fractions truncated to microseconds, an offset or none for UTC, expanded years, `infinity` and
 * `-infinity`), a Date, or a number or bigint of Unix epoch seconds (±Infinity are the infinities).
 */
export function timestampMicros(raw: unknown): bigint {
  if (raw instanceof Date) {
    const t = raw.getTime();
    if (Number.isNaN(t)) throw new ValueError("invalid Date");
    return BigInt(t) * 1000n;
  }
  if (typeof raw === "number") {
    if (raw === Number.POSITIVE_INFINITY) return TIMESTAMP_INFINITY;
    if (raw === Number.NEGATIVE_INFINITY) return TIMESTAMP_NEG_INFINITY;
    if (!Number.isFinite(raw)) throw new ValueError(`${describeRaw(raw)} is not a timestamp`);
    return BigInt(Math.round(raw * 1_000_000));
  }
  if (typeof raw === "bigint") return raw * MICROS_PER_SECOND;
  if (typeof raw !== "string") throw new ValueError(`${describeRaw(raw)} is not a timestamp`);
  const text = raw.trim();
  const infinite = INFINITIES[text.toLowerCase()];
  if (infinite !== undefined) return infinite;
  const m = TS_RE.exec(text);
  if (!m || m[1] === "-000000" || m[1] === "-0000000")
    throw new ValueError(`${describeRaw(raw)} is not a timestamp`);
  const [, y, mo, d, h, mi, s, f, , sign, oh, omColon, osColon, omBasic, osBasic] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  // An offset's minutes and seconds are a clock's: 60 or more is no offset (as in a time of day).
  const offsetMinute = Number(omColon ?? omBasic ?? 0);
  const offsetSecond = Number(osColon ?? osBasic ?? 0);
  if (
    !validDate(year, month, day) ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    offsetMinute > 59 ||
    offsetSecond > 59 ||
    Math.abs(year) > MAX_YEAR
  )
    throw new ValueError(`${describeRaw(raw)} is not a timestamp`);
  const offsetSeconds =
    sign === undefined ? 0 : (sign === "-" ? -1 : 1) * (Number(oh) * 3600 + offsetMinute * 60 + offsetSecond);
  const seconds = hour * 3600 + minute * 60 + second - offsetSeconds;
  const micro = BigInt((f ?? "").slice(0, 6).padEnd(6, "0"));
  return (
    BigInt(daysFromCivil(year, month, day)) * MICROS_PER_DAY + BigInt(seconds) * MICROS_PER_SECOND + micro
  );
}

/** Already canonical: four-digit year, microseconds, UTC, `T` and `Z` (what most stores are asked to return). */
const CANONICAL_TS_RE = /^\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z$/;

/** The number written by the `n` ASCII digits of `text` at `at` (which the caller has matched as digits). */
function digitsAt(text: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) v = v * 10 + text.charCodeAt(i) - 48;
  return v;
}

/** The canonical timestamp text of `raw` (see `formatMicros`; inputs as `timestampMicros` takes them). */
export function canonicalTimestamp(raw: unknown): string {
  // Text already in canonical form is its own canonical value: no parse, no formatting (and no match array:
  // a test, then the date's digits read in place).
  if (
    typeof raw === "string" &&
    CANONICAL_TS_RE.test(raw) &&
    validDate(digitsAt(raw, 0, 4), digitsAt(raw, 5, 2), digitsAt(raw, 8, 2))
  )
    return raw;
  return formatMicros(timestampMicros(raw));
}
