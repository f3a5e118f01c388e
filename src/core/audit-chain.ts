/** Audit-entry hashing and chain verification. Pure: hashing only, no I/O, no clock. */
import { hash } from "node:crypto";

/** What an audit entry records; one value per step of a run and per operator action. */
export type AuditEventType =
  | "detected"
  | "decided"
  | "applied"
  | "noop"
  | "superseded"
  | "failed"
  | "escalated"
  | "resolved"
  | "rejected"
  | "rolled-back"
  | "guard"
  | "alert"
  | "policy-changed"
  | "config-reloaded"
  | "triggered"
  | "shadow"
  | "canary-step"
  | "canary-rolled-back"
  | "policy-approval-requested"
  | "policy-approval"
  | "policy-approved"
  | "candidate-promoted"
  | "checkpoint-dropped";

/** The hashed part of an audit entry. */
export interface AuditEntryContent {
  /** Position in the log: 1 for the first entry, then consecutive with no gaps. */
  seq: number;
  /** Milliseconds since the epoch, supplied by the caller. */
  ts: number;
  runId: string | null;
  type: AuditEventType;
  dataset: string | null;
  /** The key as `keyId` JSON text, or null for an event about no single key. */
  key: string | null;
  /** Free-form JSON detail. Hashed in its JSON form: `undefined` members are dropped, as in JSON.stringify. */
  data: unknown;
}

/** An audit entry as stored: its content plus the link to the entry before it. */
export interface AuditEntry extends AuditEntryContent {
  /** The `hash` of entry `seq - 1`, or GENESIS_HASH for entry 1. */
  prevHash: string;
  /** hashAuditEntry(prevHash, content). */
  hash: string;
  /**
   * The data's text as the store keeps it, for an entry read from a store: the text that was hashed, byte
   * for byte (`canonicalJson` of the data when appended). Verification hashes it as it is, so an edit of the
   * stored text that parses to the same data (spacing, a duplicate member, `1e999` for `null`) is detected.
   */
  storedData?(): string;
}

/** The previous hash of the first entry: 64 zeros. */
export const GENESIS_HASH = "0".repeat(64);

/** The outcome of verifying a chain: how many entries verified, or the first entry that does not. */
export type AuditChainVerdict = { ok: true; count: number } | { ok: false; seq: number; problem: string };

/**
 * JSON text with the members of every object sorted by key (UTF-16 code-unit order, as Array#sort), so
 * equal values always give the same text. Otherwise follows JSON.stringify: `toJSON` is honoured,
 * `undefined`, functions and symbols are dropped from objects and become null in arrays, non-finite
 * numbers become null, and a bigint or a cycle throws a TypeError.
 */
export function canonicalJson(value: unknown): string {
  // Most values (audit data: plain objects, arrays, strings, numbers) take the native path, JSON.stringify over
  // a copy with its members sorted, about twice as fast as the walk; anything it cannot promise the same text
  // for takes the walk, which also throws the errors.
  const ordered = sortedCopy(value, []);
  if (ordered !== WALK) return JSON.stringify(ordered) ?? "null";
  return canonicalJsonByWalk(value);
}

/** canonicalJson by walking the value: the reference its faster path must equal (tests compare the two). */
export function canonicalJsonByWalk(value: unknown): string {
  return encode(value, []) ?? "null";
}

/** sortedCopy's answer for a value JSON.stringify cannot be trusted with: encode it by the walk. */
const WALK: unique symbol = Symbol("walk");

/** A name JavaScript enumerates before the others (an array index), whatever order it was added in. */
const INDEX_NAME = /^(?:0|[1-9][0-9]*)$/;

/**
 * A value that JSON.stringify renders as canonicalJson renders `value`: objects copied with their members in
 * sorted order (prototype-free, so a `__proto__` member stays a member), arrays copied only when an element
 * is copied, everything else as is (JSON.stringify already writes strings, finite numbers, booleans and null
 * as canonicalJson does, and drops or nulls the rest the same way). WALK for what only the walk handles: a
 * bigint, a cycle, or a member named like an array index (a copy would enumerate it first).
 */
function sortedCopy(value: unknown, ancestors: object[]): unknown {
  if (typeof value === "bigint") return WALK;
  if (typeof value !== "object" || value === null) return value;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return sortedCopy(toJSON.call(value), ancestors);
  if (ancestors.includes(value)) return WALK;
  ancestors.push(value);
  let copy: unknown;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== "object" || item === null) {
        if (typeof item === "bigint") return WALK;
        if (out) out[i] = item;
        continue;
      }
      const c = sortedCopy(item, ancestors);
      if (c === WALK) return WALK;
      out ??= value.slice(0, i);
      out[i] = c;
    }
    copy = out ?? value;
  } else {
    const record = value as Record<string, unknown>;
    const names = Object.keys(record);
    let sorted = true;
    for (let i = 0; i < names.length; i++) {
      if (INDEX_NAME.test(names[i]!)) return WALK;
      if (i > 0 && names[i - 1]! > names[i]!) sorted = false;
    }
    if (!sorted) names.sort();
    // An object whose members are already in order and need no copy themselves is used as is (as arrays are):
    // JSON.stringify walks the same own enumerable members in the same order. Audit data built with its
    // members in sorted order (execute-repairs, plan-record) so costs no copy per entry.
    // Only a plain object: JSON.stringify would unbox a boxed primitive (`new Number(0)`), which the walk
    // encodes as an object, and other objects are copied as before.
    const proto: unknown = Object.getPrototypeOf(record);
    const reusable = sorted && (proto === Object.prototype || proto === null);
    let out = reusable ? undefined : (Object.create(null) as Record<string, unknown>);
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const member = record[name];
      const c = sortedCopy(member, ancestors);
      if (c === WALK) return WALK;
      if (!out && c !== member) {
        out = Object.create(null) as Record<string, unknown>;
        for (let j = 0; j < i; j++) out[names[j]!] = record[names[j]!];
      }
      if (out) out[name] = c;
    }
    copy = out ?? value;
  }
  ancestors.pop();
  return copy;
}

// Hand-rolled rather than JSON.stringify with a sorting replacer: object keys that look like array indexes
// always enumerate first in JavaScript, so only an explicit sort gives plain code-unit order; and rather
// than with a sorted property list, which would also pick up inherited and non-enumerable members.
function encode(value: unknown, ancestors: object[]): string | undefined {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      throw new TypeError("canonicalJson: a bigint has no JSON form; convert it to a string first");
    case "object":
      break;
    default:
      return undefined;
  }
  if (value === null) return "null";
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return encode(toJSON.call(value), ancestors);
  if (ancestors.includes(value)) throw new TypeError("canonicalJson: the value contains a cycle");
  ancestors.push(value);
  let text: string;
  if (Array.isArray(value)) {
    text = "[";
    for (let i = 0; i < value.length; i++) text += (i ? "," : "") + (encode(value[i], ancestors) ?? "null");
    text += "]";
  } else {
    const record = value as Record<string, unknown>;
    text = "{";
    for (const name of Object.keys(record).sort()) {
      const member = encode(record[name], ancestors);
      if (member !== undefined) text += (text.length > 1 ? "," : "") + JSON.stringify(name) + ":" + member;
    }
    text += "}";
  }
  ancestors.pop();
  return text;
}

/**
 * The hash of one entry: SHA-256, as 64 lowercase hex digits, over `prevHash + "\n" +` the canonical JSON
 * of the content fields (seq, ts, runId, type, dataset, key, data; `data: undefined` counts as null).
 * Extra properties, such as the `prevHash` and `hash` of an AuditEntry passed in, are not hashed.
 * `dataJson` saves encoding `content.data` again when the caller already holds `canonicalJson(content.data)`;
 * anything else there gives a wrong hash.
 */
export function hashAuditEntry(
  prevHash: string,
  content: AuditEntryContent,
  dataJson: string = canonicalJson(content.data),
): string {
  return hashAuditFields(
    prevHash,
    content.seq,
    content.ts,
    content.runId,
    content.type,
    content.dataset,
    content.key,
    dataJson,
  );
}

/**
 * hashAuditEntry over the content's fields given one by one, so an appender hashes an entry without building
 * a content object for it. `dataJson` must be `canonicalJson` of the entry's data.
 */
export function hashAuditFields(
  prevHash: string,
  seq: unknown,
  ts: unknown,
  runId: unknown,
  type: unknown,
  dataset: unknown,
  key: unknown,
  dataJson: string,
): string {
  // The members in sorted order, so this is canonicalJson of the content without building a copy of it.
  const text =
    `{"data":${dataJson},"dataset":${scalarJson(dataset)},"key":${scalarJson(key)}` +
    `,"runId":${scalarJson(runId)},"seq":${scalarJson(seq)},"ts":${scalarJson(ts)}` +
    `,"type":${scalarJson(type)}}`;
  return hash("sha256", `${prevHash}\n${text}`, "hex");
}

/**
 * canonicalJson of an entry's scalar field without its general walk: JSON.stringify gives the same text for a
 * string, a finite number and null; anything else (an edited row can hold any JSON) takes the general path.
 */
function scalarJson(value: unknown): string {
  if (typeof value === "string" || value === null) return JSON.stringify(value);
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return canonicalJson(value);
}

/**
 * Checks entries one at a time, in the order given, as the links of one chain starting at seq 1. Reports
 * the first entry that breaks it; once broken it keeps that verdict. Holds only the previous entry, so a
 * log of any size is verified in constant memory.
 */
export class AuditChainVerifier {
  private expectedSeq = 1;
  private prev: AuditEntry | undefined;
  private failure: { ok: false; seq: number; problem: string } | undefined;

  /** Checks the next entry; returns the verdict so far. */
  push(entry: AuditEntry): AuditChainVerdict {
    if (this.failure) return this.failure;
    const problem = this.check(entry);
    if (problem !== undefined) {
      this.failure = { ok: false, seq: entry.seq, problem: `entry ${entry.seq}: ${problem}` };
      return this.failure;
    }
    this.prev = entry;
    this.expectedSeq++;
    return this.verdict();
  }

  /** The verdict over every entry pushed so far (an empty chain verifies with count 0). */
  verdict(): AuditChainVerdict {
    return this.failure ?? { ok: true, count: this.expectedSeq - 1 };
  }

  private check(entry: AuditEntry): string | undefined {
    if (entry.seq !== this.expectedSeq) {
      const cause =
        Number.isInteger(entry.seq) && entry.seq > this.expectedSeq
          ? "an entry was deleted or moved"
          : "an entry was inserted, duplicated or moved";
      return `expected seq ${this.expectedSeq} (${cause})`;
    }
    const wantPrev = this.prev?.hash ?? GENESIS_HASH;
    if (entry.prevHash !== wantPrev) {
      return this.prev
        ? `previous hash does not match entry ${this.prev.seq} (an entry was inserted, deleted or reordered)`
        : "previous hash is not the genesis hash (the first entry was replaced or the log was truncated at its start)";
    }
    if (hashAuditEntry(entry.prevHash, entry, entry.storedData?.()) !== entry.hash)
      return "content does not match its hash (edited)";
    return undefined;
  }
}

/**
 * Verifies a whole chain given in seq order, from entry 1. Detects an edited entry (its hash no longer
 * matches), a deleted, inserted or reordered one (a seq gap or a broken prevHash link) and names the first
 * entry affected. It cannot detect entries removed from the end, nor a chain rewritten from some entry
 * onwards with every hash recomputed: that needs the last hash kept somewhere else.
 */
export function verifyAuditChain(entries: Iterable<AuditEntry>): AuditChainVerdict {
  const verifier = new AuditChainVerifier();
  for (const entry of entries) if (!verifier.push(entry).ok) break;
  return verifier.verdict();
}

/** verifyAuditChain over an asynchronous stream, such as StateStore#iterateAudit; stops at the first problem. */
export async function verifyAuditChainAsync(entries: AsyncIterable<AuditEntry>): Promise<AuditChainVerdict> {
  const verifier = new AuditChainVerifier();
  for await (const entry of entries) if (!verifier.push(entry).ok) break;
  return verifier.verdict();
}
