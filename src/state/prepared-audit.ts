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
  return new StoredAuditEntry(p, seq, prevHash, hash);
}

/**
 * `data` as an own enumerable accessor (entries compare, spread and print as plain ones do), one descriptor
 * shared by every entry, so each entry keeps one fast shape. An object literal with a getter was a new closure
 * per entry and, in V8, a dictionary-mode object: about five times the cost of this class for a repair's
 * 300,000 entries (docs/benchmarks.md, "One lookup per claim and settlement").
 */
const DATA_ACCESSOR: PropertyDescriptor = {
  get(this: StoredAuditEntry): unknown {
    return this.parsedData();
  },
  enumerable: true,
  configurable: true,
};

/** An appended entry, or one read back from a store; its data text is parsed on first read, once. */
class StoredAuditEntry implements AuditEntry {
  readonly seq: number;
  readonly ts: number;
  readonly runId: string | null;
  readonly type: AuditEntry["type"];
  readonly dataset: string | null;
  readonly key: string | null;
  readonly prevHash: string;
  readonly hash: string;
  declare readonly data: unknown;
  #text: string;
  #parsed = false;
  #data: unknown;

  constructor(p: PreparedAudit, seq: number, prevHash: string, hash: string) {
    const c = p.content;
    this.seq = seq;
    this.ts = c.ts;
    this.runId = c.runId;
    this.type = c.type;
    this.dataset = c.dataset;
    this.key = c.key;
    this.prevHash = prevHash;
    this.hash = hash;
    this.#text = p.dataJson;
    Object.defineProperty(this, "data", DATA_ACCESSOR);
  }

  parsedData(): unknown {
    if (!this.#parsed) {
      try {
        this.#data = JSON.parse(this.#text);
      } catch {
        // Only an edit behind the store's back makes a stored text invalid JSON: the text stands for the data,
        // so verification reports the entry as edited instead of the read failing.
        this.#data = this.#text;
      }
      this.#parsed = true;
    }
    return this.#data;
  }

  /** The data's text as stored: what was hashed (see AuditEntry#storedData). */
  storedData(): string {
    return this.#text;
  }
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
