/** What MySQL 8's binary JSON type can hold of a canonical JSON document. No I/O. */
import { canonicalJsonNumber, type JsonValue, parseJsonExact } from "../../core/canonical-json-text.js";

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** True when MySQL 8's JSON keeps this canonical number exactly: as a 64-bit integer, or as a double. */
function heldByMysqlJson(text: string): boolean {
  if (/^-?\d+$/.test(text)) {
    const n = BigInt(text);
    if (n >= INT64_MIN && n <= UINT64_MAX) return true;
  }
  const d = Number(text);
  return Number.isFinite(d) && canonicalJsonNumber(String(d)) === text;
}

/**
 * The first number of canonical JSON `text` that MySQL 8's JSON type would change (it stores numbers as
 * 64-bit integers or doubles, so 9007199254740993.5, 0.30000000000000001 and 1e+400 are not kept), or null
 * when it keeps every number. MariaDB keeps JSON as text and needs no such check.
 */
export function numberMysqlJsonChanges(text: string): string | null {
  const walk = (v: JsonValue): string | null => {
    if (v === null || typeof v === "boolean" || typeof v === "string") return null;
    if (Array.isArray(v)) {
      for (const item of v) {
        const found = walk(item);
        if (found !== null) return found;
      }
      return null;
    }
    if (v instanceof Map) {
      for (const item of v.values()) {
        const found = walk(item);
        if (found !== null) return found;
      }
      return null;
    }
    return heldByMysqlJson(v.text) ? null : v.text;
  };
  return walk(parseJsonExact(text));
}
