/** Whether numbers' canonical texts lie within a bound of each other, exactly (no double arithmetic). Pure. */

/** A finite number as `units / 10^scale`, exactly as its text reads. */
interface Scaled {
  readonly units: bigint;
  readonly scale: number;
}

/** Decimal notation with an optional exponent: canonical integers, decimals and floats (`1e+21`, `5e-324`). */
const NUMBER_TEXT = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i;

/** The exact value a number's text spells, or undefined for NaN, the infinities and anything else. */
function scaledOf(text: string): Scaled | undefined {
  const m = NUMBER_TEXT.exec(text);
  if (!m) return undefined;
  const frac = m[3] ?? "";
  let units = BigInt(`${m[2]}${frac}`);
  if (m[1] === "-") units = -units;
  const scale = frac.length - (m[4] ? Number.parseInt(m[4], 10) : 0);
  return scale >= 0 ? { units, scale } : { units: units * 10n ** BigInt(-scale), scale: 0 };
}

/** `x` at the larger scale `to`. */
function rescale(x: Scaled, to: number): bigint {
  return x.units * 10n ** BigInt(to - x.scale);
}

/**
 * True when the largest of `values` minus the smallest is at most `bound`, computed on the exact values the
 * texts spell, and the bound as its shortest decimal text (0.005 is 0.005, not the double nearest it). A
 * double difference could not decide this: past 2^53 neighbouring integers are one double, and a value of
 * 10^13 carries about 0.002 of rounding, so any epsilon large enough to absorb it tolerated 10^13 + 0.01
 * beside 10^13 under a bound of 0.005. NaN, an infinity or a text that is no number is never within a bound.
 */
export function numericSpreadWithin(values: readonly string[], bound: number): boolean {
  const limit = Number.isFinite(bound) ? scaledOf(String(bound).toLowerCase()) : undefined;
  if (!limit || limit.units < 0n) return false;
  const scaled: Scaled[] = [];
  for (const v of values) {
    const s = scaledOf(v);
    if (!s) return false;
    scaled.push(s);
  }
  const scale = Math.max(limit.scale, ...scaled.map((s) => s.scale));
  const units = scaled.map((s) => rescale(s, scale));
  let lo = units[0]!;
  let hi = units[0]!;
  for (const u of units) {
    if (u < lo) lo = u;
    if (u > hi) hi = u;
  }
  return hi - lo <= rescale(limit, scale);
}
