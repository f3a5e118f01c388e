/** Per-column merge of divergent records (max, min, lww, union, owner). Pure. */
import { type CanonicalValue, type ColumnType, timestampMicros } from "./canonical.js";
import { canonicalJsonOf, compareMemberKeys, type JsonValue, parseJsonExact } from "./canonical-json-text.js";
import { parseTime } from "./canonical-time.js";
import type { Divergence } from "./classify.js";
import { compareKeyPart, type RecordShape } from "./model.js";
import { type NativeRow, nativeOf, withNative } from "./native-values.js";
import type { CompiledPolicy } from "./policy.js";
import { compareDigits, readVectorEntries, type VectorEntry } from "./version.js";

/** Rank of PostgreSQL's numeric specials in its own order: -Infinity < numbers < Infinity < NaN. */
const DECIMAL_RANK: Readonly<Record<string, number>> = { "-Infinity": -1, Infinity: 1, NaN: 2 };

function compareDecimal(a: string, b: string): number {
  const ra = DECIMAL_RANK[a] ?? 0;
  const rb = DECIMAL_RANK[b] ?? 0;
  if (ra !== 0 || rb !== 0) return ra - rb;
  const neg = (s: string) => s.startsWith("-");
  if (neg(a) !== neg(b)) return neg(a) ? -1 : 1;
  const [ai = "", af = ""] = a.replace("-", "").split(".");
  const [bi = "", bf = ""] = b.replace("-", "").split(".");
  let c = ai.length - bi.length || (ai < bi ? -1 : ai > bi ? 1 : 0);
  if (c === 0) {
    const w = Math.max(af.length, bf.length);
    const x = af.padEnd(w, "0");
    const y = bf.padEnd(w, "0");
    c = x < y ? -1 : x > y ? 1 : 0;
  }
  return neg(a) ? -c : c;
}

/** Total order on canonical values of one type (used by the max and min rules). */
export function compareValues(type: ColumnType, a: string, b: string): number {
  switch (type) {
    case "integer":
      return compareKeyPart("integer", a, b);
    case "decimal":
      return compareDecimal(a, b);
    case "float":
    case "float32": {
      // Not a subtraction: Infinity - Infinity and anything with NaN are NaN, which is no order at all.
      // NaN sorts after every number (as in PostgreSQL), so max and min do not depend on replica order.
      const x = Number(a);
      const y = Number(b);
      if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : -1;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case "timestamp": {
      const x = timestampMicros(a);
      const y = timestampMicros(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case "time": {
      // Canonical times are valid: a negative duration sorts before zero, 100:00:00 after 99:00:00.
      const x = parseTime(a)!;
      const y = parseTime(b)!;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    default:
      return compareKeyPart("text", a, b);
  }
}

/** The outcome of merging: the merged values, or the differing columns no rule covers. */
export type MergeResult =
  | { readonly kind: "merged"; readonly values: readonly CanonicalValue[]; readonly tie: boolean }
  | { readonly kind: "uncovered"; readonly columns: readonly string[] };

/**
 * Merges the records the replicas hold for a divergence, column by column. Equal columns are kept;
 * differing ones take their rule from the policy (version columns default to `max`, vectors merge
 * pointwise). `tie` is set when an `lww` column had no single newest writer (the first replica in dataset
 * order wins, which is deterministic but ambiguous). The merged values carry, column by column, the native
 * value of the replica each was taken from (`mergedNative`), so a write keeps its spelling (numeric 1.50, a
 * json text's spacing) as a propagate from that replica would; a value the merge made (a union, a vector)
 * has none.
 */
export function mergeRecords(
  d: Divergence,
  shape: RecordShape,
  policy: CompiledPolicy,
  owner: string | undefined,
): MergeResult {
  const held = policy.replicas.filter((r) => d.replicas[r]?.present && d.replicas[r]?.values);
  const uncovered: string[] = [];
  const out: CanonicalValue[] = [];
  // By column: the index in `held` of the replica the merged value was taken from (-1: made by the merge).
  const from: number[] = [];
  let tie = false;
  const vc = policy.versionColumns;
  for (let i = 0; i < shape.columns.length; i++) {
    const col = shape.columns[i]!;
    const values = held.map((r) => d.replicas[r]!.values![i] ?? null);
    if (values.every((v) => v === values[0])) {
      out.push(values[0] ?? null);
      from.push(0);
      continue;
    }
    if (i === vc.vector) {
      out.push(mergeVectors(values));
      from.push(-1);
      continue;
    }
    const rule = policy.merge.get(i) ?? (i === vc.counter || i === vc.timestamp ? "max" : undefined);
    const present = values.filter((v): v is string => v !== null);
    switch (rule) {
      case "max":
      case "min": {
        if (present.length === 0) {
          out.push(null);
          from.push(-1);
          break;
        }
        const sign = rule === "max" ? 1 : -1;
        const best = present.reduce((best, v) => (sign * compareValues(col.type, v, best) > 0 ? v : best));
        out.push(best);
        from.push(values.indexOf(best));
        break;
      }
      case "lww": {
        // A null timestamp is older than every timestamp (-infinity and 1960 included), not an instant.
        let best: { at: bigint | null; value: CanonicalValue; j: number } | undefined;
        let tied = false;
        const later = (x: bigint | null, y: bigint | null) => x !== null && (y === null || x > y);
        held.forEach((r, j) => {
          const ts = d.replicas[r]!.values![vc.timestamp!];
          const at = ts ? timestampMicros(ts) : null;
          if (!best || later(at, best.at)) {
            best = { at, value: values[j] ?? null, j };
            tied = false;
          } else if (at === best.at && values[j] !== best.value) tied = true;
        });
        if (tied) tie = true;
        out.push(best?.value ?? null);
        from.push(best?.j ?? -1);
        break;
      }
      case "union": {
        // Items compared and written by their exact canonical text: no number passes through a double.
        const seen = new Set<string>();
        const items: string[] = [];
        let ok = true;
        for (const v of present) {
          let parsed: JsonValue | undefined;
          try {
            parsed = parseJsonExact(v);
          } catch {
            parsed = undefined; // a text column holding something other than JSON: not covered, not a crash
          }
          if (!Array.isArray(parsed)) {
            ok = false;
            break;
          }
          for (const item of parsed) {
            const text = canonicalJsonOf(item);
            if (!seen.has(text)) {
              seen.add(text);
              items.push(text);
            }
          }
        }
        if (!ok) uncovered.push(col.name);
        else {
          out.push(`[${items.join(",")}]`);
          from.push(-1);
        }
        break;
      }
      case "owner": {
        if (!owner || !d.replicas[owner]?.present) uncovered.push(col.name);
        else {
          out.push(d.replicas[owner]!.values![i] ?? null);
          from.push(held.indexOf(owner));
        }
        break;
      }
      default:
        uncovered.push(col.name);
    }
  }
  if (uncovered.length) return { kind: "uncovered", columns: uncovered };
  const native = mergedNative(
    held.map((r) => nativeOf(d.replicas[r]!.values)),
    from,
  );
  return { kind: "merged", values: native ? withNative(out, native) : out, tie };
}

/**
 * The native row of a merged record: column by column, the native value of the replica it was taken from
 * (`from`: an index in `natives`, -1 for a value the merge made), with that replica's store and native type,
 * so a target writes it only where a propagate from that replica would (`nativeValueAt`: the same kind of
 * store, a column of the very same type). Undefined when no column has one.
 */
export function mergedNative(
  natives: readonly (NativeRow | undefined)[],
  from: readonly number[],
): NativeRow | undefined {
  const stores: (string | undefined)[] = [];
  const types: string[] = [];
  const values: unknown[] = [];
  let unchecked = false;
  for (let c = 0; c < from.length; c++) {
    const native = natives[from[c]!];
    const v = native?.values[c];
    stores.push(v === undefined ? undefined : native!.store);
    types.push(v === undefined ? "" : native!.types[c]!);
    values.push(v);
    if (v !== undefined && native!.unchecked) unchecked = true;
  }
  const store = stores.find((s) => s !== undefined);
  if (store === undefined) return undefined;
  return {
    store,
    types,
    values,
    ...(stores.some((s) => s !== undefined && s !== store) ? { stores } : {}),
    ...(unchecked ? { unchecked } : {}),
  };
}

/**
 * The pointwise maximum of version vectors' JSON texts (nulls skipped), exactly: each node's counter is the
 * highest any of them holds, written in the form its vector spelt it (a number, or a string of digits), the
 * first such vector's on a tie; nodes in `compareMemberKeys` order. 9007199254740993 stays itself.
 */
function mergeVectors(values: readonly CanonicalValue[]): string {
  const merged = new Map<string, VectorEntry>();
  for (const v of values) {
    if (v === null) continue;
    for (const [node, e] of readVectorEntries(v)) {
      const best = merged.get(node);
      if (!best || compareDigits(e.digits, best.digits) > 0) merged.set(node, e);
    }
  }
  const nodes = [...merged.keys()].sort(compareMemberKeys);
  return `{${nodes
    .map((node) => {
      const e = merged.get(node)!;
      return `${JSON.stringify(node)}:${e.quoted ? `"${e.digits}"` : e.digits}`;
    })
    .join(",")}}`;
}
