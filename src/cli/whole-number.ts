/** Whole-number flags (`--limit`, `--page`, `--batch`, `--replicas`, …), read one way everywhere. */
import { UsageError } from "./errors.js";

/**
 * The value of a whole-number flag: decimal digits only, so `1e3`, `0x10`, ` 5`, `+5` and `5.0` are refused
 * rather than read as a number JavaScript would make of them; from `min` to `max`. A usage error naming the
 * flag and the text otherwise.
 */
export function wholeNumber(text: string, flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range =
      max !== Number.MAX_SAFE_INTEGER
        ? `a whole number from ${min} to ${max}`
        : min === 1
          ? "a positive whole number"
          : `a whole number of at least ${min}`;
    throw new UsageError(`${flag}: expected ${range}, got "${text}"`);
  }
  return n;
}
