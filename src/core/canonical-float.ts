/** Canonical text of binary floating-point values, double (float) and single (float32) precision. Pure: no I/O. */
import { describeRaw, ValueError } from "./canonical-errors.js";

const SPECIAL = new Set(["NaN", "Infinity", "-Infinity"]);

/** The number `raw` holds (a double), or its special text ("NaN", "Infinity", "-Infinity"). */
function floatOf(raw: unknown): number {
  if (typeof raw === "number") return raw;
  if (typeof raw === "bigint") return Number(raw);
  if (typeof raw === "string") {
    const s = raw.trim();
    if (SPECIAL.has(s)) return Number(s);
    const n = Number(s);
    if (s === "" || Number.isNaN(n)) throw new ValueError(`${describeRaw(raw)} is not a float`);
    return n;
  }
  throw new ValueError(`${describeRaw(raw)} is not a float`);
}

/** The canonical text of a double: ECMAScript's shortest round-trip `Number#toString`; -0 is "0". */
function doubleText(n: number): string {
  return Object.is(n, -0) ? "0" : String(n);
}

/**
 * float: the shortest text that round-trips a double (ECMAScript Number#toString); -0 → "0"; "NaN",
 * "Infinity", "-Infinity".
 */
export function canonicalFloat(raw: unknown): string {
  return doubleText(floatOf(raw));
}

/**
 * float32: the value rounded to single precision (`Math.fround`), written as the shortest decimal that
 * rounds back to that single (the closest such decimal when several are as short), laid out as ECMAScript
 * lays out a number: 0.33333334, 16777216, 3.4028235e+38. So a store's `real` read as "0.33333334" and one
 * read as the double 0.3333333432674408 agree. A value single precision cannot hold at all (a nonzero double
 * that rounds to 0 or overflows to Infinity) keeps its double text, so it never equals a single.
 */
export function canonicalFloat32(raw: unknown): string {
  const n = floatOf(raw);
  const f = Math.fround(n);
  if (!Number.isFinite(n) || f === 0) return doubleText(n === 0 ? 0 : n);
  if (!Number.isFinite(f)) return doubleText(n);
  return shortestFloat32(f);
}

/**
 * The shortest decimal that `Math.fround` maps back to the single `f` (finite, nonzero), the closest to `f`
 * among those as short, as ECMAScript writes that decimal. Tries 1 to 9 significant digits (9 always
 * suffice); at each length the nearest decimal and its two neighbours, since the rounding interval of a
 * power of two is narrower below than above.
 */
export function shortestFloat32(f: number): string {
  for (let digits = 1; digits <= 9; digits++) {
    const [mantissa, exponent] = f.toExponential(digits - 1).split("e") as [string, string];
    const d = BigInt(mantissa.replace(".", ""));
    const scale = Number(exponent) - (digits - 1);
    let best: number | undefined;
    for (const c of [d, d - 1n, d + 1n]) {
      const v = Number(`${c}e${scale}`);
      if (Math.fround(v) === f && (best === undefined || Math.abs(v - f) < Math.abs(best - f))) best = v;
    }
    if (best !== undefined) return String(best);
  }
  return String(f);
}
