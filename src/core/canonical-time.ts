/** Canonical text of a time of day or a duration in hours (SQL TIME): one form, microseconds, sign kept. Pure: no I/O. */

/** `[-]H…H:MM[:SS[.f…]]`: hours of any width (MariaDB's TIME reaches ±838), minutes and seconds below 60. */
const TIME_RE = /^([+-]?)(\d{1,9}):([0-5]\d)(?::([0-5]\d)(?:\.(\d*))?)?$/;

/** A time as microseconds (negative for MariaDB's negative TIME values). */
export type TimeMicros = bigint;

/**
 * Microseconds of a time text, or undefined when it is not one. Fractions beyond microseconds must be zeros:
 * a time store keeping more digits would otherwise compare equal to one keeping fewer.
 */
export function parseTime(text: string): TimeMicros | undefined {
  const m = TIME_RE.exec(text.trim());
  if (!m) return undefined;
  const [, sign, h, mi, s, f = ""] = m;
  if (/[1-9]/.test(f.slice(6))) return undefined;
  const micros =
    ((BigInt(h!) * 60n + BigInt(mi!)) * 60n + BigInt(s ?? "0")) * 1_000_000n +
    BigInt(f.slice(0, 6).padEnd(6, "0"));
  return sign === "-" ? -micros : micros;
}

/**
 * The canonical text of a time given in microseconds: `[-]HH:MM:SS.ffffff`, hours at least two digits, six
 * fractional digits, no sign for zero ("10:00:00.000000", "-01:02:03.500000", "838:59:59.000000",
 * "24:00:00.000000").
 */
export function formatTime(micros: TimeMicros): string {
  const negative = micros < 0n;
  let rest = negative ? -micros : micros;
  const frac = rest % 1_000_000n;
  rest /= 1_000_000n;
  const seconds = rest % 60n;
  rest /= 60n;
  const minutes = rest % 60n;
  const hours = rest / 60n;
  const two = (n: bigint) => String(n).padStart(2, "0");
  return `${negative ? "-" : ""}${two(hours)}:${two(minutes)}:${two(seconds)}.${String(frac).padStart(6, "0")}`;
}
