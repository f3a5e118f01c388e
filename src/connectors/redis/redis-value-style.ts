/**
 * Values written in the form a Redis record already uses for a field (`writeStyle: preserve`): "402.00"
 * stays two-decimal, a timestamp keeps its separator, fraction digits and zone, a JSON text keeps its
 * spacing. Only the form changes, never the value: a styled text that would not read back as the same
 * canonical value is not used. Pure.
 */
import { type CanonicalValue, type ColumnType, canonicalValue } from "../../core/canonical.js";

/** `text` read as `type` gives `canonical` (so writing it changes nothing a reader compares). */
function same(type: ColumnType, text: string, canonical: string): boolean {
  try {
    return canonicalValue(type, text) === canonical;
  } catch {
    return false;
  }
}

/** A decimal's canonical text with at least `digits` fraction digits ("402" → "402.00"), or undefined. */
function withFraction(canonical: string, digits: number): string | undefined {
  if (!/^-?\d+(\.\d+)?$/.test(canonical)) return undefined;
  const [int, frac = ""] = canonical.split(".");
  if (frac.length > digits) return undefined;
  return digits === 0 ? int : `${int}.${frac.padEnd(digits, "0")}`;
}

/** The canonical timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) in the form of `current`, or undefined. */
function timestampLike(canonical: string, current: string): string | undefined {
  const have = /^\d{4}-\d{2}-\d{2}([ T])\d{2}:\d{2}:\d{2}(?:\.(\d+))?(Z|[+-]00:?00)?$/.exec(current);
  const c = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(canonical);
  if (!have || !c) return undefined;
  const digits = have[2]?.length ?? 0;
  const frac = (c[3] ?? "").replace(/0+$/, "");
  if (frac.length > digits) return undefined;
  return `${c[1]}${have[1]}${c[2]}${digits ? `.${frac.padEnd(digits, "0")}` : ""}${have[3] ?? ""}`;
}

/**
 * Canonical JSON text re-spaced like `current`: compact; `", "` / `": "` separators; or indented over
 * lines (the indent of `current`'s first indented line). Strings are copied untouched.
 */
export function jsonLike(canonical: string, current: string): string {
  const indent = /\n([ \t]+)\S/.exec(current)?.[1];
  const spaced = /":\s|,\s/.test(current);
  if (!indent && !spaced) return canonical;
  let out = "";
  let depth = 0;
  let inString = false;
  const newline = () => `\n${indent!.repeat(depth)}`;
  for (let i = 0; i < canonical.length; i++) {
    const ch = canonical[i]!;
    if (inString) {
      out += ch;
      if (ch === "\\") out += canonical[++i] ?? "";
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') {
      inString = true;
      out += ch;
    } else if (!indent) out += ch === ":" || ch === "," ? `${ch} ` : ch;
    else if (ch === "{" || ch === "[") {
      const close = ch === "{" ? "}" : "]";
      if (canonical[i + 1] === close) {
        out += ch + close;
        i++;
      } else {
        depth++;
        out += ch + newline();
      }
    } else if (ch === "}" || ch === "]") {
      depth--;
      out += newline() + ch;
    } else if (ch === ",") out += `,${newline()}`;
    else if (ch === ":") out += ": ";
    else out += ch;
  }
  return out;
}

/** How each boolean spelling a cache may use writes true and false. */
const BOOLEANS: readonly (readonly [string, string])[] = [
  ["true", "false"],
  ["TRUE", "FALSE"],
  ["True", "False"],
  ["1", "0"],
  ["yes", "no"],
  ["t", "f"],
];

/**
 * The text to write for canonical value `v` of `type` into a field that now holds `current` (undefined
 * when absent): `current` itself when it already reads as `v`; else `v` in `current`'s form when one
 * applies and reads back as `v`; else `v` as it is (canonical).
 */
export function styledLike(type: ColumnType, v: CanonicalValue, current: string | undefined): CanonicalValue {
  if (v === null || current === undefined) return v;
  if (same(type, current, v)) return current;
  let styled: string | undefined;
  switch (type) {
    case "decimal":
    case "float":
    case "float32": {
      const digits = /\.(\d+)$/.exec(current)?.[1]?.length ?? (/^-?\d+$/.test(current) ? 0 : undefined);
      styled = digits === undefined ? undefined : withFraction(v, digits);
      break;
    }
    case "timestamp":
      styled = timestampLike(v, current);
      break;
    case "json":
      styled = jsonLike(v, current);
      break;
    case "boolean": {
      const pair = BOOLEANS.find((p) => p.includes(current));
      styled = pair && (v === "t" ? pair[0] : pair[1]);
      break;
    }
    default:
      styled = undefined;
  }
  return styled !== undefined && same(type, styled, v) ? styled : v;
}
