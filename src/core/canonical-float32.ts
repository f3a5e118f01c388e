/** Canonical text of 32-bit floats: the shortest decimal that rounds back to the same float32. Pure: no I/O. */

/**
 * The shortest decimal text that reads back (rounding to nearest, ties to even) as the float32 `x`, laid out
 * as ECMAScript's Number#toString lays out digits: "0.33333334", "16777216", "3.4028235e+38", "1e-45".
 * `x` must already be a float32 (`Math.fround(x) === x`), finite; -0 gives "0". Among shortest texts, the one
 * nearest to `x`, a tie away from zero. PostgreSQL prints `real` with Ryu, which differs in about 0.4% of
 * values (a tie rounded to even, or a digit more where the shortest text is an end of the rounding interval:
 * 52285672 is "5.2285672e+07" there, "52285670" here); both read back as the same float32, which is what
 * stores are compared by.
 *
 * Exact: the candidate digits are tested against the float32's rounding interval in integers, never by
 * reading them back through a double (which could round twice).
 */
export function shortestFloat32(x: number): string {
  if (x === 0) return "0";
  const bits = new DataView(new ArrayBuffer(4));
  bits.setFloat32(0, x);
  const word = bits.getUint32(0);
  const negative = word >>> 31 === 1;
  const biased = (word >>> 23) & 0xff;
  const fraction = word & 0x7fffff;
  // x = m · 2^e exactly.
  const m = BigInt(biased === 0 ? fraction : fraction | 0x800000);
  const e = biased === 0 ? -149 : biased - 150;
  // In units of 2^(e-2): x is 4m; the interval reaches halfway to each neighbour. Below the smallest
  // mantissa of a binade (m = 2^23, not subnormal) the neighbour is half as far.
  const scaled = 4n * m;
  const high = scaled + 2n;
  const low = m === 0x800000n && biased > 1 ? scaled - 1n : scaled - 2n;
  const inclusive = m % 2n === 0n;
  const inside = (digits: bigint, exp10: number): boolean => {
    // digits · 10^exp10 against v · 2^(e-2), both scaled to integers.
    const left = digits * 10n ** BigInt(Math.max(0, exp10)) * 2n ** BigInt(Math.max(0, 2 - e));
    const right = (v: bigint) => v * 10n ** BigInt(Math.max(0, -exp10)) * 2n ** BigInt(Math.max(0, e - 2));
    const lo = right(low);
    const hi = right(high);
    return inclusive ? left >= lo && left <= hi : left > lo && left < hi;
  };
  const magnitude = Math.abs(x);
  for (let p = 1; p <= 9; p++) {
    // toExponential rounds the exact binary value correctly: the nearest p-digit decimal.
    const [mantissa, exponent] = magnitude.toExponential(p - 1).split("e") as [string, string];
    const nearest = BigInt(mantissa.replace(".", ""));
    const exp10 = Number(exponent) - (p - 1);
    // The nearest may fall outside an interval that is lopsided (at a power of two) while its neighbour
    // on the wide side is inside.
    const found = [nearest, nearest + 1n, nearest - 1n].find((d) => d > 0n && inside(d, exp10));
    if (found !== undefined) return `${negative ? "-" : ""}${String(Number(`${found}e${exp10}`))}`;
  }
  // Nine significant digits always identify a float32; not reached.
  throw new Error(`no shortest text for float32 ${x}`);
}

/**
 * The text of the double holding float32 canonical `text` exactly ("0.33333334" → "0.3333333432674408"):
 * what a store keeping doubles, or one that refuses a float32's shortest text as out of range (MariaDB
 * refuses 3.4028235e+38 for a FLOAT), is written. NaN and ±Infinity pass through.
 */
export function float32AsDouble(text: string): string {
  const n = Math.fround(Number(text));
  return Number.isNaN(n) ? "NaN" : String(n);
}
