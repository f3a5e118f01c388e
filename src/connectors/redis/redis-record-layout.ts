/** How one record's columns sit in one Redis value (a hash, or a JSON string) and how a guarded write changes it. Pure. */
import { isUtf8 } from "node:buffer";
import type { ChainableCommander } from "ioredis";
import { type CanonicalValue, type ColumnType, canonicalValue } from "../../core/canonical.js";
import {
  canonicalJsonNumber,
  canonicalJsonOf,
  JsonNumber,
  JsonSyntaxError,
  type JsonValue,
  parseJsonExact,
  stringifyJsonExact,
} from "../../core/canonical-json-text.js";
import type { ColumnSpec, Key, RecordShape } from "../../core/model.js";
import { type NativeRow, nativeValueAt, withNative } from "../../core/native-values.js";
import { RowError } from "../../core/row-codec.js";
import { jsonLike, styledLike } from "./redis-value-style.js";

/** The value type a replica keeps its records in. */
export type RedisFormat = "hash" | "json";

/**
 * One record layout. A layout queues the commands that read a record (whole, or only what the shape
 * compares), turns their replies into raw rows for RowCodec, and builds the arguments of its
 * compare-and-set script: a guard asserting the record still holds what a reply showed, then the write.
 */
export interface RecordLayout {
  readonly format: RedisFormat;
  /** Lua source of the compare-and-set script (KEYS[1] = the record; ARGV = guard, then write). */
  readonly script: string;
  /** Queues the read of a whole record (HGETALL, GET): its reply serves `rawRow`, `guard` and `write`. */
  readRecord(p: ChainableCommander, name: string): void;
  /**
   * The raw row of a `readRecord` reply, or null when the record does not exist: the key parts, then the
   * compared columns' values in shape order (what RowCodec reads), then what the record's own key fields
   * hold (a hash field or JSON property named like a key column; null when absent or JSON null), which the
   * connector checks against the key parts (`keyFieldClash`).
   */
  rawRow(keyParts: readonly unknown[], reply: unknown): unknown[] | null;
  /** Lua source of the script `readBatch` runs, when it runs one (hashes; JSON strings use MGET). */
  readonly readScript?: string;
  /**
   * Queues ONE command reading the compared columns of many records (for scans; `sha` is the loaded
   * `readScript`, run by EVALSHA; without it the script's source is sent, by EVAL, which no SCRIPT FLUSH can
   * make fail). Its reply is an array with one entry per name, for `batchRow`.
   */
  readBatch(p: ChainableCommander, names: readonly string[], sha?: string): void;
  /**
   * True when a `readBatch` entry cannot tell an absent record from a key of another type (MGET answers
   * both with nil): the caller asks EXISTS, and an existing key is of the wrong type.
   */
  unclear(entry: unknown): boolean;
  /** The raw row of a `readBatch` entry (null: absent), laid out as `rawRow`'s. */
  batchRow(keyParts: readonly unknown[], entry: unknown): unknown[] | null;
  /** Script arguments that hold when, and only when, the record still is what `reply` showed (its bytes). */
  guard(reply: unknown): (string | Buffer)[];
  /**
   * Script arguments that write `next` (canonical values in shape order), or delete when null: a bytes
   * column as the Redis record it came from held it, where `next` carries that (`redisBytesAsHeld`).
   */
  write(key: Key, next: readonly CanonicalValue[] | null, reply: unknown): (string | Buffer)[];
  /** Field names and a store type name for `describe()`'s sample, from one read reply. */
  sampleFields(reply: unknown): [name: string, nativeType: string][];
}

/**
 * The layout for a format and record shape. With `preserve`, writes keep the form each field (hash) or the
 * document (JSON: its spacing) already has, where the value allows (see `styledLike`).
 */
export function recordLayout(
  format: RedisFormat,
  shape: RecordShape,
  preserve = false,
  /** The replica's key prefix (hashes with a one-column key compare its field with the name in the store). */
  prefix?: string,
): RecordLayout {
  return format === "hash" ? new HashLayout(shape, preserve, prefix) : new JsonLayout(shape, preserve);
}

// -----------------------------------------------------------------------------------------------------------
// Hashes: one field per column holding its canonical text; a null column is an absent field.

/**
 * ARGV: "0" (expected absent) | "1", n, then n pairs (field, "" when expected absent | "=" + value);
 * then "D" (delete) | "W", s, s (field, value) pairs to set, and the fields to delete.
 * The compared columns and the key fields are checked: the record's existence and the compared columns are all
 * its fingerprint depends on, and a key field must still agree with the name the write keeps.
 */
const HASH_SCRIPT = `
local k = KEYS[1]
local i
if ARGV[1] == '0' then
  if redis.call('EXISTS', k) == 1 then return 0 end
  i = 2
else
  if redis.call('EXISTS', k) == 0 then return 0 end
  local n = tonumber(ARGV[2])
  i = 3
  for _ = 1, n do
    local cur = redis.call('HGET', k, ARGV[i])
    local want = ARGV[i + 1]
    if want == '' then
      if cur then return 0 end
    elseif cur ~= string.sub(want, 2) then
      return 0
    end
    i = i + 2
  end
end
if ARGV[i] == 'D' then
  redis.call('DEL', k)
  return 1
end
local s = tonumber(ARGV[i + 1])
i = i + 2
if s > 0 then redis.call('HSET', k, unpack(ARGV, i, i + 2 * s - 1)) end
i = i + 2 * s
if i <= #ARGV then redis.call('HDEL', k, unpack(ARGV, i, #ARGV)) end
return 1
`;

/**
 * KEYS: the records; ARGV: p, then the fields (the compared columns', then the key columns'). One entry per
 * key: the fields' values (HMGET), or 0 for an absent key (HMGET alone cannot tell it from a hash without
 * those fields), or, with no fields, EXISTS. With p >= 0 (a one-column key under a prefix of p bytes), the
 * last field, the key's, is nil where it holds exactly the name's text after the prefix: it then agrees with
 * the name, and most records (every one a repair wrote) need not send it. A key of another type fails the
 * call with an error naming it.
 */
const HASH_READ_SCRIPT = `
local p = tonumber(ARGV[1])
local n = #ARGV - 1
local out = {}
for i, k in ipairs(KEYS) do
  if n == 0 then
    out[i] = redis.call('EXISTS', k)
  else
    local v = redis.pcall('HMGET', k, unpack(ARGV, 2))
    if v.err then return redis.error_reply(v.err .. ' (at ' .. k .. ')') end
    local found = false
    for j = 1, n do
      if v[j] then
        found = true
        break
      end
    end
    if found or redis.call('EXISTS', k) == 1 then
      if p >= 0 and v[n] == string.sub(k, p + 1) then v[n] = false end
      out[i] = v
    else
      out[i] = 0
    end
  end
end
return out
`;

/** Read as bytes: a value that is not UTF-8 must not become U+FFFD (see `fieldValue`). */
type HashReply = Record<string, Buffer>;

/**
 * A field's value for RowCodec: its text when it is UTF-8 (what every application writing text stores),
 * else its bytes, so that a bytes column reads them exactly and any other column refuses them. Decoded
 * with U+FFFD, `\xff`, `\xfe` and the text `\ufffd` were one value.
 */
function fieldValue(b: Buffer | null | undefined): string | Buffer | null {
  if (b === null || b === undefined) return null;
  const text = b.toString("utf8");
  // Only a text holding U+FFFD may be a lossy decode: checking every value costs a scan about 15% CPU.
  return text.includes("\ufffd") && !isUtf8(b) ? b : text;
}

const EQUALS = Buffer.from("=");

/** HGETALL answers a missing key with an empty map; a stored hash always has a field. */
function isEmpty(hash: HashReply): boolean {
  for (const _ in hash) return false;
  return true;
}

class HashLayout implements RecordLayout {
  readonly format = "hash";
  readonly script = HASH_SCRIPT;
  /** The compared columns' fields. */
  private readonly names: readonly string[];
  /** The compared columns' fields, then the key columns' (read to be checked against the name). */
  private readonly read: readonly string[];
  /** HASH_READ_SCRIPT's p: the prefix's length in bytes for a one-column key, else -1. */
  private readonly keyAt: string;

  constructor(
    private readonly shape: RecordShape,
    private readonly preserve: boolean,
    prefix?: string,
  ) {
    this.names = shape.columns.map((c) => c.name);
    this.read = [...this.names, ...shape.key.map((c) => c.name)];
    this.keyAt = prefix !== undefined && shape.key.length === 1 ? String(Buffer.byteLength(prefix)) : "-1";
  }

  readRecord(p: ChainableCommander, name: string): void {
    p.hgetallBuffer(name);
  }

  rawRow(keyParts: readonly unknown[], reply: unknown): unknown[] | null {
    const hash = reply as HashReply;
    if (isEmpty(hash)) return null;
    const raw: unknown[] = [...keyParts];
    for (const name of this.read) raw.push(Object.hasOwn(hash, name) ? fieldValue(hash[name]) : null);
    return raw;
  }

  readonly readScript = HASH_READ_SCRIPT;

  readBatch(p: ChainableCommander, names: readonly string[], sha?: string): void {
    const args = [names.length, ...names, this.keyAt, ...this.read];
    if (sha === undefined) p.callBuffer("EVAL", [HASH_READ_SCRIPT, ...args]);
    else p.callBuffer("EVALSHA", [sha, ...args]);
  }

  unclear(): boolean {
    return false;
  }

  batchRow(keyParts: readonly unknown[], entry: unknown): unknown[] | null {
    if (entry === 0 || entry === null) return null;
    if (entry === 1) return [...keyParts];
    const values = entry as (Buffer | null)[];
    const raw = new Array<unknown>(keyParts.length + values.length);
    for (let i = 0; i < keyParts.length; i++) raw[i] = keyParts[i];
    for (let i = 0; i < values.length; i++) raw[keyParts.length + i] = fieldValue(values[i]);
    return raw;
  }

  guard(reply: unknown): (string | Buffer)[] {
    const hash = reply as HashReply;
    if (isEmpty(hash)) return ["0"];
    // The key fields too: one another client changed after the read (now naming another key) must not be
    // overwritten by the key fields this write sets; the record is read again and stops as ambiguous.
    const out: (string | Buffer)[] = ["1", String(this.read.length)];
    for (const name of this.read)
      out.push(name, Object.hasOwn(hash, name) ? Buffer.concat([EQUALS, hash[name]!]) : "");
    return out;
  }

  write(key: Key, next: readonly CanonicalValue[] | null, reply?: unknown): (string | Buffer)[] {
    if (!next) return ["D"];
    const held = this.preserve && reply ? (reply as HashReply) : undefined;
    // Key columns are written too: Redis has no empty hash, and a record whose columns are all null must exist.
    const set: (string | Buffer)[] = [];
    const del: string[] = [];
    this.shape.key.forEach((c, i) => {
      // A NULL key part is an absent field, like any null column (its name spells the NULL).
      const part = key[i] ?? null;
      if (part === null) del.push(c.name);
      // Preserving, a key field keeps its spelling ("007" for the key 7) as the other fields do.
      else if (held && Object.hasOwn(held, c.name))
        set.push(c.name, styledLike(c.type, part, held[c.name]!.toString("utf8")) ?? part);
      else set.push(c.name, part);
    });
    this.names.forEach((name, i) => {
      const v = next[i] ?? null;
      const asHeld = v === null ? undefined : redisBytesAsHeld(this.shape, next, i);
      if (v === null) del.push(name);
      else if (asHeld !== undefined) set.push(name, asHeld);
      else if (held && Object.hasOwn(held, name))
        set.push(name, styledLike(this.shape.columns[i]!.type, v, held[name]!.toString("utf8")) ?? v);
      else set.push(name, v);
    });
    return ["W", String(set.length / 2), ...set, ...del];
  }

  sampleFields(reply: unknown): [string, string][] {
    return Object.keys(reply as HashReply).map((name) => [name, "hash field"]);
  }
}

/**
 * Attaches to a record's canonical values (`values`, read from raw row `raw`, laid out as `rawRow`'s) what
 * its bytes columns held in Redis: a text (`cafe`, `CAFE`, `0xcafe`) or, where not UTF-8, the bytes. A text
 * of an even number of hex digits (after an optional `\x`) reads as those bytes and any other value as its
 * own bytes, so two spellings read as one value (`CAFE` and `cafe` are the bytes 0xCA 0xFE; `0xcafe` is six
 * bytes): a repair into another Redis record writes the spelling the source holds (`redisBytesAsHeld`), not
 * the canonical hex, which would turn the text `0xcafe` into `307863616665`. Other columns carry nothing
 * (their canonical text is what a repair writes). Returns `values`.
 */
export function withRedisBytes<T extends readonly CanonicalValue[]>(
  shape: RecordShape,
  values: T,
  raw: readonly unknown[],
): T {
  if (!shape.columns.some((c) => c.type === "bytes")) return values;
  const width = shape.key.length;
  const native: NativeRow = {
    store: "redis",
    types: shape.columns.map((c) => c.type),
    values: shape.columns.map((c, j) => (c.type === "bytes" ? (raw[width + j] ?? undefined) : undefined)),
  };
  return withNative(values, native);
}

/**
 * Bytes column `i` of `next` as the Redis record it was read from held it (`withRedisBytes`), when it reads
 * as the same bytes; undefined otherwise (the canonical hex is written, which reads as them too).
 */
function redisBytesAsHeld(
  shape: RecordShape,
  next: readonly CanonicalValue[],
  i: number,
): string | Buffer | undefined {
  if (shape.columns[i]?.type !== "bytes") return undefined;
  const v = nativeValueAt(next, i, "redis", "bytes", (raw) => canonicalValue("bytes", raw));
  if (typeof v === "string") return v;
  return v instanceof Uint8Array ? Buffer.from(v) : undefined;
}

// -----------------------------------------------------------------------------------------------------------
// JSON strings: one object per record; numbers and booleans as JSON numbers and booleans where exact.

/** ARGV: "0" (expected absent) | "1", the expected string; then "D" | "W", the string to write. */
const JSON_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
if ARGV[3] == 'D' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
end
return 1
`;

/** A parsed document: its members in their order, numbers exact (never through a double). */
type JsonDocument = Map<string, JsonValue>;

/** A canonical number JSON can write as a number (not NaN, Infinity or -Infinity). */
const JSON_NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

/** Canonical decimal text that is an exact double's shortest text, so an application reading it loses nothing. */
function doubleExact(v: string): boolean {
  const n = Number(v);
  return Number.isFinite(n) && String(n) === v;
}

/**
 * The JSON value a repair writes for a canonical value (the inverse of reading it). Numbers are written as
 * JSON numbers with their exact digits where the property already holds a number; where it holds a string
 * they stay strings; a new property is a number only where a double holds it exactly (so an application
 * parsing with JSON.parse reads what was meant), else a string. NaN and ±Infinity are always strings.
 */
function jsonNative(
  type: ColumnType,
  v: CanonicalValue,
  current: JsonValue | undefined,
  preserve = false,
): JsonValue {
  if (v === null) return null;
  const kept = preserve ? preservedJson(type, v, current) : undefined;
  if (kept !== undefined) return kept;
  switch (type) {
    case "integer":
    case "decimal":
    case "float":
    case "float32": {
      // NaN and the infinities (floats, and PostgreSQL's numeric) have no JSON number.
      const finite = JSON_NUMBER.test(v);
      const asNumber = current instanceof JsonNumber || (typeof current !== "string" && doubleExact(v));
      return finite && asNumber ? new JsonNumber(canonicalJsonNumber(v)) : v;
    }
    case "boolean":
      return v === "t";
    case "json":
      return parseJsonExact(v);
    default:
      return v;
  }
}

const NUMERIC: ReadonlySet<ColumnType> = new Set(["integer", "decimal", "float", "float32"]);

/**
 * `writeStyle: preserve` in a JSON record: what the property already holds when it reads as `v` (a number's
 * own text, "402.00" or 1.50, a JSON column's spacing and number texts kept), else `v` as a number in the
 * form the property's number uses ("399.00" → "402.00"); undefined when no form applies (written as usual).
 */
function preservedJson(type: ColumnType, v: string, current: JsonValue | undefined): JsonValue | undefined {
  if (current === undefined || current === null) return undefined;
  // A JSON column: the whole value kept as held (its numbers' spelling too) when it has not changed.
  if (type === "json") return canonicalJsonOf(current) === v ? current : undefined;
  if (typeof current === "string") {
    // A string keeps its form as a hash field does ("402.00", "yes", "2024-01-01 10:00:00+00:00", "007").
    const text = styledLike(type, v, current);
    return text !== v ? (text ?? undefined) : undefined;
  }
  if (!(current instanceof JsonNumber) || !NUMERIC.has(type)) return undefined;
  // An exact number whose value is v (7.0 or 1E3 for the integer 7 or 1000, as numberRaw reads them).
  if ((type === "integer" || type === "decimal") && exactValue(current) === v) return current;
  const spelled = current.source ?? current.text;
  const text = styledLike(type, v, spelled);
  if (text === spelled) return current;
  // Not restyled (no form of the current number applies): written as any new number is.
  return text !== null && text !== v && JSON_NUMBER.test(text) ? new JsonNumber(text) : undefined;
}

/** A JSON number's exact decimal value (canonical decimal text), or undefined past the decimal type's range. */
function exactValue(n: JsonNumber): string | undefined {
  try {
    return canonicalValue("decimal", n.text) ?? undefined;
  } catch {
    return undefined;
  }
}

/** A JSON number's raw value for RowCodec as `type` reads it: its exact text, or for an integer its exact digits. */
function numberRaw(c: ColumnSpec, n: JsonNumber): unknown {
  switch (c.type) {
    case "integer": {
      // 1e+21 is an integer written with an exponent; 1.5 is none.
      const digits = canonicalValue("decimal", n.text)!;
      if (digits.includes(".")) throw new RowError(`column ${c.name}: ${n.text} is not an integer`);
      return digits;
    }
    case "decimal":
    case "float":
    case "float32":
    case "text":
    case "boolean":
      return n.text;
    default:
      // Timestamps as epoch seconds; anything else the codec rejects with the number in its message.
      return Number(n.text);
  }
}

class JsonLayout implements RecordLayout {
  readonly format = "json";
  readonly script = JSON_SCRIPT;

  constructor(
    private readonly shape: RecordShape,
    private readonly preserve: boolean,
  ) {}

  readRecord(p: ChainableCommander, name: string): void {
    p.getBuffer(name);
  }

  readBatch(p: ChainableCommander, names: readonly string[]): void {
    p.mgetBuffer(...names);
  }

  unclear(entry: unknown): boolean {
    return entry === null || entry === undefined;
  }

  batchRow(keyParts: readonly unknown[], entry: unknown): unknown[] | null {
    return this.rawRow(keyParts, entry);
  }

  private parse(reply: string): JsonDocument {
    let doc: JsonValue;
    try {
      doc = parseJsonExact(reply);
    } catch (err) {
      if (err instanceof JsonSyntaxError) throw new RowError(`the value is not valid JSON (${err.message})`);
      throw err;
    }
    if (!(doc instanceof Map)) throw new RowError("the value is not a JSON object");
    return doc;
  }

  rawRow(keyParts: readonly unknown[], reply: unknown): unknown[] | null {
    const text = documentText(reply);
    if (text === null) return null;
    const doc = this.parse(text);
    const raw: unknown[] = [...keyParts];
    for (const c of this.shape.columns) raw.push(this.column(doc, c));
    for (const c of this.shape.key) raw.push(keyProperty(doc, c));
    return raw;
  }

  /**
   * A json column is absent for null and present for every JSON value, JSON null included (so JSON null
   * and SQL NULL stay distinct); other columns are null when absent or JSON null. Numbers keep their exact
   * text: 9007199254740993 is not 9007199254740992, and 1e400 is no double.
   */
  private column(doc: JsonDocument, c: ColumnSpec): unknown {
    if (!doc.has(c.name)) return null;
    const v = doc.get(c.name)!;
    if (c.type === "json") return canonicalJsonOf(v);
    if (v instanceof JsonNumber) return numberRaw(c, v);
    if (typeof v === "string") wellFormed(c, v);
    else if (v instanceof Map || Array.isArray(v)) {
      // Only a json column reads a structure (RowCodec would print it as "[object Map]").
      const text = canonicalJsonOf(v);
      const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
      throw new RowError(
        `column ${c.name}: a JSON ${jsonKind(v)} (${shown}) is no ${c.type} value; only a json column holds one`,
      );
    }
    return v;
  }

  guard(reply: unknown): (string | Buffer)[] {
    return reply === null || reply === undefined ? ["0", ""] : ["1", reply as Buffer];
  }

  write(key: Key, next: readonly CanonicalValue[] | null, reply: unknown): (string | Buffer)[] {
    if (!next) return ["D", ""];
    // Properties outside the shape are kept, in their order and with their exact numbers.
    const held = documentText(reply);
    const doc: JsonDocument = held === null ? new Map() : this.parse(held);
    this.shape.key.forEach((c, i) => {
      doc.set(c.name, jsonNative(c.type, key[i] ?? null, doc.get(c.name), this.preserve));
    });
    this.shape.columns.forEach((c, i) => {
      const v = next[i] ?? null;
      const asHeld = v === null ? undefined : redisBytesAsHeld(this.shape, next, i);
      if (c.type === "json" && v === null) doc.delete(c.name);
      else if (typeof asHeld === "string") doc.set(c.name, asHeld);
      else doc.set(c.name, jsonNative(c.type, v, doc.get(c.name), this.preserve));
    });
    // Preserving: numbers kept from the record (preservedJson) are written as the record spelled them.
    const text = stringifyJsonExact(doc, { sourceNumbers: this.preserve });
    return ["W", this.preserve && held !== null ? jsonLike(text, held) : text];
  }

  sampleFields(reply: unknown): [string, string][] {
    const text = documentText(reply);
    if (text === null) return [];
    return [...this.parse(text)].map(([name, v]) => [name, `JSON ${jsonKind(v)}`]);
  }
}

/**
 * What a record's own property for key column `c` holds, as a raw value to check against its name: null when
 * absent or JSON null (no claim), a number's exact text (`7`, `1.5`: an integer key reads `1e1` as 10), a
 * string as is, and anything else as its canonical JSON (which no key reads as itself).
 */
function keyProperty(doc: JsonDocument, c: ColumnSpec): unknown {
  const v = doc.get(c.name);
  if (v === undefined || v === null) return null;
  if (typeof v === "string") return wellFormed(c, v);
  if (v instanceof JsonNumber) {
    try {
      return numberRaw(c, v);
    } catch {
      return v.text;
    }
  }
  return canonicalJsonOf(v);
}

/** A lone UTF-16 surrogate (one not paired): with the `u` flag a pair is one code point, not matched. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * `v`, a JSON string property read for column `c`, when it is Unicode text; else a RowError naming the
 * column. JSON can escape half of a surrogate pair (`"\ud800"`), which is no character: UTF-8 (every other
 * store's text, and fingerprints) can only spell it as U+FFFD, so it would equal the text `\ufffd` (and
 * `"\udc00"`), and a repair would carry U+FFFD away as if it were the value. Refused, as a hash field that
 * is not UTF-8 is.
 */
function wellFormed(c: ColumnSpec, v: string): string {
  // Native and fast (Node 20; ES2024, past this project's lib): most strings end here.
  if ((v as string & { isWellFormed(): boolean }).isWellFormed()) return v;
  const lone = LONE_SURROGATE.exec(v);
  if (lone === null) return v;
  const unit = lone[0].charCodeAt(0).toString(16);
  throw new RowError(
    `column ${c.name}: its string holds a lone surrogate \\u${unit} (at character ${lone.index}), which is no Unicode character: UTF-8 text cannot hold it`,
  );
}

/** A JSON string's text (null: absent); read as bytes so that one that is not UTF-8 is refused, not mangled. */
function documentText(reply: unknown): string | null {
  if (reply === null || reply === undefined) return null;
  const b = reply as Buffer;
  const text = b.toString("utf8");
  if (text.includes("\ufffd") && !isUtf8(b)) throw new RowError("the value is not UTF-8 text");
  return text;
}

/** What kind of JSON value `v` is, as `describe` names a sampled property's type. */
function jsonKind(v: JsonValue): string {
  if (v === null) return "null";
  if (v instanceof JsonNumber) return "number";
  if (Array.isArray(v)) return "array";
  if (v instanceof Map) return "object";
  return typeof v;
}

/**
 * Why a record's own key fields (what `rawRow` read after the compared columns, by key column, from `raw` at
 * `at`) contradict `key`, the key its name gives, or undefined when they agree or say nothing (absent, JSON
 * null).
 * A field is read as its key column's type, so `"007"` agrees with the integer key 7; one that does not read
 * as that type at all contradicts it. Neither can be picked: a repair would carry the record to another
 * store under the name's key while the record says another, so the read stops naming both (docs/redis.md).
 */
export function keyFieldClash(
  format: RedisFormat,
  shape: RecordShape,
  key: Key,
  stored: readonly unknown[],
  at: number,
): string | undefined {
  for (let i = 0; i < shape.key.length; i++) {
    const raw = stored[at + i];
    // Absent, or the canonical text itself (what repairs write): most records, without reading the type.
    if (raw === null || raw === undefined || raw === key[i]) continue;
    const c = shape.key[i]!;
    let held: CanonicalValue | undefined;
    try {
      held = canonicalValue(c.type, raw);
    } catch {
      held = undefined;
    }
    const named = key[i] ?? null;
    if (held === named) continue;
    const field = format === "hash" ? "field" : "property";
    const shown = Buffer.isBuffer(raw) ? `the bytes ${raw.toString("hex")}` : JSON.stringify(String(raw));
    const says = named === null ? "NULL" : JSON.stringify(named);
    return `its ${field} ${c.name} holds ${shown}, but its name says key column ${c.name} is ${says}: the record's key is ambiguous, so it is neither compared nor repaired; make the ${field} agree with the name, or store the record under the name of the key it holds`;
  }
  return undefined;
}
