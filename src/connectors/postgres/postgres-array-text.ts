/** Canonical texts of PostgreSQL arrays of numbers, element by element as their scalars are canonicalised. Builds values only: no I/O. */
import { canonicalValue } from "../../core/canonical.js";

/**
 * How the elements of an array type (`typname` `_numeric`, `_float8`, …) are canonicalised, or undefined
 * for arrays read as their text as it is (integers print canonically already; text, ranges, …).
 * A `real[]` is read as `::float8[]`: each single as the double it is exactly, as a scalar `real` is read
 * beside a double, so `{0.1}` in `real[]` (0.10000000149011612) never equals `{0.1}` in `float8[]`.
 */
export function numberArrayElement(baseType: string): "decimal" | "float" | undefined {
  switch (baseType) {
    case "_numeric":
      return "decimal";
    case "_float4":
    case "_float8":
      return "float";
    default:
      return undefined;
  }
}

/**
 * The numeric array text (`{1.50,2.00}`, `{{1,2},{3,4}}`, `[0:1]={1,NULL}`) with trailing fractional zeros
 * trimmed from each element, in SQL (`{1.5,2}`): what `canonicalValue("decimal", element)` gives for
 * every element numeric prints (plain digits, never an exponent; `NaN`, `Infinity`, `NULL` unchanged).
 */
export function numericArraySql(ref: string): string {
  return `regexp_replace(regexp_replace((${ref})::text, '\\.([0-9]*[1-9])?0+(?=[,}])', '.\\1', 'g'), '\\.(?=[,}])', '', 'g')`;
}

/**
 * A float array's text as PostgreSQL prints it (`{1e+16,-0,NaN,1e-07}`) with each element as the decimal its
 * shortest round-trip text spells, without an exponent (`{10000000000000000,0,NaN,0.0000001}`), as a
 * numeric array's elements print: a `double precision[]` beside a `numeric[]` compares element by element as
 * a float beside an exact number does (`{1e+21}` equals `{1000000000000000000000}`). Equal doubles give equal
 * elements either way. Float elements are never quoted; `NULL` and the dimension prefix (`[0:1]=`) stay as
 * they are. Not a text of this shape (a value from elsewhere): returned unchanged.
 */
export function canonicalFloatArray(raw: unknown): unknown {
  if (typeof raw !== "string") return raw;
  const start = raw.indexOf("{");
  if (start < 0) return raw;
  const body = raw.slice(start).replace(/[^{},]+/g, (el) => {
    if (el === "NULL") return el;
    const float = canonicalValue("float", el);
    return float === null ? el : (canonicalValue("decimal", float) ?? el);
  });
  return raw.slice(0, start) + body;
}
