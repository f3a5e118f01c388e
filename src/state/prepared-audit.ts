/** Audit events encoded as both state stores keep them: the canonical text that is hashed, and that is stored. */
import { type AuditEntry, type AuditEntryContent, canonicalJson } from "../core/audit-chain.js";

/** An event ready to append: its content as it will read back (but `data`), and the canonical JSON text of its data. */
export interface PreparedAudit {
  readonly content: Omit<AuditEntryContent, "seq" | "data">;
  readonly dataJson: string;
}

/**
 * The entry as stored. Its `data` (the JSON form of what was given, as `readAudit` returns it) is parsed
 * from the stored text when first read: appenders rarely look at it.
 */
export function storedEntry(p: PreparedAudit, seq: number, prevHash: string, hash: string): AuditEntry {
  const c = p.content;
  let data: unknown;
  let parsed = false;
  // An object literal with an accessor, not defineProperty on a built object: V8 makes it from one shape,
  // where a property defined afterwards turns each of a repair's 300,000 entries into a slow dictionary.
  return {
    seq,
    ts: c.ts,
    runId: c.runId,
    type: c.type,
    dataset: c.dataset,
    key: c.key,
    prevHash,
    hash,
    get data() {
      if (!parsed) {
        data = JSON.parse(p.dataJson);
        parsed = true;
      }
      return data;
    },
  };
}

/**
 * Text as a store hands it back: both stores keep UTF-8, in which a lone UTF-16 surrogate turns into a
 * replacement character. Hashing the text as read back keeps an entry with such a string verifiable.
 */
export function storedText<T extends string | null>(text: T): T {
  // Most text holds no surrogate at all: a plain test first, the replacement only when one is there.
  if (text === null || !/[\uD800-\uDFFF]/.test(text)) return text;
  return text.replace(/\p{Cs}/gu, "\uFFFD") as T;
}

/**
 * Encodes events before any transaction starts, so a value with no JSON form throws before anything is
 * written. The data column holds the canonical text that is hashed, encoded once, so a verifier can hash the
 * column as is.
 */
export function prepareAudit(events: readonly Omit<AuditEntryContent, "seq">[]): PreparedAudit[] {
  // A loop, not a callback made per call: V8 recompiles such a callback after every full GC (docs/benchmarks.md,
  // "Callbacks recompiled per batch").
  const out: PreparedAudit[] = [];
  for (const e of events) {
    const dataJson = canonicalJson(e.data);
    const content: Omit<AuditEntryContent, "seq" | "data"> = {
      ts: e.ts,
      runId: storedText(e.runId),
      type: storedText(e.type),
      dataset: storedText(e.dataset),
      key: storedText(e.key),
    };
    out.push({ content, dataJson });
  }
  return out;
}
