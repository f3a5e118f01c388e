/** Redis connector (ioredis): records as hashes or JSON strings under a key prefix; unordered, no pushdown. Only this folder imports the driver. */
import { Redis } from "ioredis";
import { redactText, redactUrl } from "../../config/redact.js";
import { resolveTimeouts, type TimeoutsConfig } from "../../config/timeouts.js";
import { ChecksumAccumulator, fingerprintRow, type RangeChecksum } from "../../core/fingerprint.js";
import type { Key, KeyFingerprint, KeyRange, RecordShape, StoredRecord } from "../../core/model.js";
import { RowCodec } from "../../core/row-codec.js";
import {
  type ColumnInfo,
  type ConditionalWrite,
  type Connector,
  ConnectorError,
  type ConnectorStats,
  emptyStats,
  type TableDescription,
  type WriteOutcome,
} from "../connector.js";
import { nameHash, notARecordKey, RedisKeyCodec } from "./redis-key-codec.js";
import {
  keyFieldClash,
  type RecordLayout,
  type RedisFormat,
  recordLayout,
  withRedisBytes,
} from "./redis-record-layout.js";
import {
  connectRedis,
  type PageReader,
  RedisSession,
  redisClientTimeouts,
  type ScanPage,
} from "./redis-session.js";
import { redisArg, redisWriteCommands } from "./redis-write-print.js";

export type { RedisFormat } from "./redis-record-layout.js";

export interface RedisConnectorOptions {
  /** Every record's Redis key starts with this (`customer:`); RedisKeyCodec says how the key follows. */
  readonly prefix: string;
  /** `hash` (default): one field per column; `json`: one JSON object per record in a string. */
  readonly format?: RedisFormat;
  /** Label used in error messages (`dataset.replica`). */
  readonly label?: string;
  /** Refuse `applyWrites` (scan and plan never write). */
  readonly readonly?: boolean;
  /**
   * `preserve`: a repair writes each value in the form the record already uses for that field ("402.00"
   * stays two-decimal, timestamps keep their text form, JSON its spacing), so an application reading the
   * cache sees no change of format; `canonical` (default): the canonical text.
   */
  readonly writeStyle?: "canonical" | "preserve" | undefined;
  /** Deadlines of every call (default: DEFAULT_TIMEOUTS; see RedisSession). */
  readonly timeouts?: TimeoutsConfig;
  /** SCAN's COUNT: keys examined per SCAN call, so about the records read per round trip (default 1000). */
  readonly scanCount?: number;
  /**
   * SCAN pages read ahead of the engine (default 16): the server keeps reading while the engine is busy
   * elsewhere (the other replicas' streams share its thread). Memory holds about `readAhead × scanCount`
   * records.
   */
  readonly readAhead?: number;
  /** Records fetched or written per pipelined round trip (default 1000). */
  readonly pipelineSize?: number;
  /**
   * Keys one pass of an exact `count` or `checksumRanges` may hold to drop SCAN's repeats (default
   * 250,000): the key space is split by name hash into passes of about this many keys each.
   */
  readonly dedupRows?: number;
  /**
   * Called after a conditional write has read the current records and before it commits: a seam for
   * tests that change records exactly in that window.
   */
  readonly beforeCommit?: (keys: readonly Key[]) => Promise<void>;
}

/** Records one read command covers while scanning: a Lua script (hashes) holds the server for its run. */
const READ_BATCH = 500;

/** Rounds a conditional write may take when its record changes between the read and the commit. */
const MAX_WRITE_ROUNDS = 5;

interface ShapeState {
  readonly codec: RowCodec;
  readonly layout: RecordLayout;
  readonly keys: RedisKeyCodec;
}

/**
 * A connector over the records under one key prefix of a Redis database, through an ioredis client it is
 * given (see `openRedisConnector`) and closes on `close()`.
 *
 * Redis keeps no key order and cannot checksum in the store, so the connector is `ordered: false` and
 * `pushdown: false`: it serves the full key range only, streaming it with SCAN MATCH prefix* (pages read
 * ahead, each page's reads pipelined: a Lua script of HMGETs per 500 hashes, or MGET per 500 strings), and
 * canonicalises and fingerprints each record in the engine with RowCodec and the shape's types (Redis
 * keeps none; `describe` says `schemaless`). Memory holds a few pages, never the key space. SCAN may name
 * a key twice when the keyspace is resized during the scan: the stream passes a repeat on (the engine
 * keeps the last), `count` and `checksumRanges` drop repeats.
 *
 * Conditional writes run one Lua compare-and-set script per record: it checks that the record still holds
 * exactly what the connector read and fingerprinted, and writes in the same atomic step. A record changed
 * in between is read and decided again, up to MAX_WRITE_ROUNDS times; a record that keeps changing is
 * `superseded` (nothing was written). The scripts are conditional, so resending one after a lost
 * connection is safe.
 */
export class RedisConnector implements Connector {
  readonly kind = "redis";
  readonly pushdown = false;
  readonly ordered = false;
  readonly stats: ConnectorStats = emptyStats();
  private readonly redis: RedisSession;
  private readonly shapes = new Map<RecordShape, ShapeState>();
  private readonly format: RedisFormat;
  private readonly pattern: string;
  private readonly scanCount: number;
  private readonly readAhead: number;
  private readonly pipelineSize: number;
  private readonly typeHint: string;

  constructor(
    client: Redis,
    private readonly options: RedisConnectorOptions,
  ) {
    this.format = options.format ?? "hash";
    this.typeHint = `format "${this.format}" keeps records in ${this.format === "hash" ? "hashes" : "strings"}`;
    this.redis = new RedisSession(
      client,
      options.label ? `${options.label}: ` : "",
      this.stats,
      this.typeHint,
      options.timeouts,
    );
    this.pattern = new RedisKeyCodec(options.prefix, 1).pattern();
    this.scanCount = Math.max(1, options.scanCount ?? 1000);
    this.readAhead = Math.max(1, options.readAhead ?? 16);
    this.pipelineSize = Math.max(1, options.pipelineSize ?? 1000);
  }

  private shape(shape: RecordShape): ShapeState {
    let s = this.shapes.get(shape);
    if (!s) {
      s = {
        codec: new RowCodec(shape),
        layout: recordLayout(this.format, shape, this.options.writeStyle === "preserve", this.options.prefix),
        keys: new RedisKeyCodec(this.options.prefix, shape.key.length),
      };
      this.shapes.set(shape, s);
    }
    return s;
  }

  private requireFullRange(range: KeyRange, what: string): void {
    if (range.lo || range.hi)
      this.redis.fail(`redis keeps no key order: ${what} covers only the full key range, not a part of it`);
  }

  // ---------------------------------------------------------------------------------------------- reading

  /** The raw key parts of a scanned name; a name that is no record key of the shape is an error. */
  private keyParts(s: ShapeState, name: string): (string | null)[] {
    const parts = s.keys.decode(name);
    if (typeof parts === "string") this.redis.fail(notARecordKey(name, parts));
    return parts;
  }

  /**
   * The record of a raw row read from `name` (laid out as `RecordLayout.rawRow`'s), checked to be stored
   * under its canonical name (`customer:007` is not the integer key 7's record: a write would go to
   * `customer:7`) and to hold no key field that says another key (`keyFieldClash`).
   */
  private record(s: ShapeState, name: string, raw: unknown[]): StoredRecord {
    let rec: StoredRecord;
    try {
      rec = s.codec.record(raw);
    } catch (err) {
      this.redis.fail(`cannot read ${name}`, err);
    }
    const canonical = s.keys.encode(rec.key);
    if (canonical !== name)
      this.redis.fail(notARecordKey(name, `the record of key ${JSON.stringify(rec.key)} is ${canonical}`));
    const clash = keyFieldClash(this.format, s.codec.shape, rec.key, raw, s.codec.width);
    if (clash) this.redis.fail(`cannot read ${name}: ${clash}`);
    this.stats.rowsRead++;
    this.stats.bytesRead += name.length;
    for (const v of rec.values) if (v !== null) this.stats.bytesRead += v.length;
    withRedisBytes(s.codec.shape, rec.values, raw);
    return rec;
  }

  /** The record in a scanned (`readBatch`) entry, or null when the key vanished after SCAN named it. */
  private streamed(s: ShapeState, name: string, entry: unknown): StoredRecord | null {
    let raw: unknown[] | null;
    try {
      raw = s.layout.batchRow(this.keyParts(s, name), entry);
    } catch (err) {
      this.redis.fail(`cannot read ${name}`, err);
    }
    return raw && this.record(s, name, raw);
  }

  /** The record in a whole-record (`readRecord`) reply, or null when absent. */
  private fetched(s: ShapeState, name: string, key: Key, reply: unknown): StoredRecord | null {
    let raw: unknown[] | null;
    try {
      raw = s.layout.rawRow(key, reply);
    } catch (err) {
      this.redis.fail(`cannot read ${name}`, err);
    }
    return raw && this.record(s, name, raw);
  }

  /**
   * Pages of every record under the prefix with its compared columns (see RedisSession.scanPages): one
   * read command per READ_BATCH names (a Lua script of HMGETs, or MGET), so a page costs the client a
   * handful of replies rather than one per record, and one command holds the server only briefly.
   */
  private async *records(s: ShapeState, select?: (name: string) => boolean): AsyncGenerator<ScanPage> {
    const { layout } = s;
    const what = "scan failed";
    let sha = layout.readScript ? await this.redis.loadScript(what, layout.readScript) : "";
    const reader: PageReader = {
      read: (p, names, source) => {
        for (let i = 0; i < names.length; i += READ_BATCH)
          layout.readBatch(p, names.slice(i, i + READ_BATCH), source ? undefined : sha);
      },
      split: (results) => (results as unknown[][]).flat(1),
      reload: async () => {
        if (layout.readScript) sha = await this.redis.loadScript(what, layout.readScript, true);
      },
      settle: async (names, entries) => {
        const unclear = names.filter((_, i) => layout.unclear(entries[i]));
        if (unclear.length === 0) return;
        // MGET answers nil for a missing key and for a key of another type: only EXISTS tells them apart.
        const exists = await this.redis.exists(unclear, what);
        const wrong = unclear.find((_, i) => exists[i]);
        if (wrong !== undefined)
          this.redis.fail(`${what} at ${wrong}`, new Error(`the key is not a string (${this.typeHint})`));
      },
    };
    yield* this.redis.scanPages(this.pattern, this.scanCount, this.readAhead, reader, select);
  }

  /** A sample of the fields of a few records, untyped: the shape's types come from elsewhere. */
  async describe(): Promise<TableDescription> {
    // A few records to sample. One SCAN page may hold none of the prefix's keys in a database shared
    // with other key spaces, so a few pages are read (bounded: the sample is only informative).
    const sample: string[] = [];
    let cursor = "0";
    for (let page = 0; page < 20 && sample.length < 5; page++) {
      const [next, names] = await this.redis.call("cannot reach the store", () =>
        this.redis.client.scan(cursor, "MATCH", this.pattern, "COUNT", 1000),
      );
      sample.push(...names.slice(0, 5 - sample.length));
      cursor = next;
      if (cursor === "0") break;
    }
    const layout = recordLayout(this.format, { key: [], columns: [] });
    const replies = await this.redis.exec(
      "cannot sample records",
      (p) => {
        for (const name of sample) layout.readRecord(p, name);
      },
      sample,
    );
    const fields = new Map<string, string>();
    sample.forEach((name, i) => {
      try {
        for (const [field, nativeType] of layout.sampleFields(replies[i])) fields.set(field, nativeType);
      } catch (err) {
        this.redis.fail(`cannot read ${name}`, err);
      }
    });
    const columns: ColumnInfo[] = [...fields]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, nativeType]) => ({ name, type: "text", nativeType, typed: false }));
    return { columns, schemaless: true, store: "Redis" };
  }

  /** DBSIZE scaled by the sampled share of keys under the prefix; errs high (see RedisSession.estimateKeys). */
  async estimateCount(_shape: RecordShape): Promise<number> {
    return this.redis.estimateKeys(this.options.prefix);
  }

  /** How many name-hash passes keep a dedup set near `dedupRows` keys. */
  private async passes(): Promise<((name: string) => boolean)[]> {
    const estimate = await this.redis.estimateKeys(this.options.prefix);
    const n = Math.max(1, Math.ceil(estimate / (this.options.dedupRows ?? 250_000)));
    if (n === 1) return [() => true];
    return Array.from({ length: n }, (_, pass) => (name: string) => nameHash(name) % n === pass);
  }

  /** Exact, for the full range only: SCAN (keys only), repeats dropped pass by pass. */
  async count(shape: RecordShape, range: KeyRange): Promise<number> {
    this.requireFullRange(range, "count");
    const s = this.shape(shape);
    let total = 0;
    for (const select of await this.passes()) {
      const seen = new Set<string>();
      for await (const page of this.redis.scanPages(
        this.pattern,
        this.scanCount,
        this.readAhead,
        undefined,
        select,
      )) {
        for (const name of page.names) {
          if (seen.has(name)) continue;
          const parts = this.keyParts(s, name);
          let key: Key;
          try {
            key = s.codec.key(parts);
          } catch (err) {
            this.redis.fail(`cannot read the key of ${name}`, err);
          }
          if (s.keys.encode(key) !== name)
            this.redis.fail(
              notARecordKey(name, `the record of key ${JSON.stringify(key)} is ${s.keys.encode(key)}`),
            );
          seen.add(name);
        }
      }
      total += seen.size;
    }
    return total;
  }

  /** For the full range only, computed by streaming every record (repeats dropped as in `count`). */
  async checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    for (const range of ranges) this.requireFullRange(range, "a range checksum");
    if (ranges.length === 0) return [];
    const s = this.shape(shape);
    const acc = new ChecksumAccumulator();
    for (const select of await this.passes()) {
      const latest = new Map<string, string>();
      for await (const page of this.records(s, select)) {
        page.names.forEach((name, i) => {
          const rec = this.streamed(s, name, page.replies[i]);
          if (rec) latest.set(name, rec.fingerprint);
          else latest.delete(name);
        });
      }
      for (const fp of latest.values()) acc.add(fp);
    }
    const sum = acc.result();
    return ranges.map(() => sum);
  }

  /** No key order, so no split points. */
  async splitRange(_shape: RecordShape, _range: KeyRange, _parts: number): Promise<Key[]> {
    return [];
  }

  /** The full range only, in SCAN order; a key SCAN repeats is streamed again (see the class comment). */
  async *streamFingerprints(
    shape: RecordShape,
    range: KeyRange,
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    this.requireFullRange(range, "a fingerprint stream");
    const s = this.shape(shape);
    let batch: KeyFingerprint[] = [];
    for await (const page of this.records(s)) {
      for (let i = 0; i < page.names.length; i++) {
        const rec = this.streamed(s, page.names[i]!, page.replies[i]);
        if (!rec) continue;
        batch.push({ key: rec.key, fingerprint: rec.fingerprint });
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
    }
    if (batch.length) yield batch;
  }

  async fetchRecords(shape: RecordShape, keys: readonly Key[]): Promise<StoredRecord[]> {
    const s = this.shape(shape);
    // A NULL one-column key names no Redis key: no record of it can exist here.
    keys = keys.filter((k) => s.keys.nameable(k));
    const names = keys.map((k) => s.keys.encode(k));
    const replies = await this.redis.readMany(
      names,
      s.layout.readRecord.bind(s.layout),
      this.pipelineSize,
      "record fetch failed",
    );
    const out: StoredRecord[] = [];
    names.forEach((name, i) => {
      const rec = this.fetched(s, name, keys[i]!, replies[i]);
      if (rec) out.push(rec);
    });
    return out;
  }

  // ---------------------------------------------------------------------------------------------- writing

  /**
   * Reads each write's record (read-only) and renders what `applyWrites` would run for it now: the commands
   * its compare-and-set script runs (the record's other fields or properties kept as they are), after a line
   * naming the guard; or why it would write nothing (already done, or changed since it was observed).
   */
  async printWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<string[]> {
    const s = this.shape(shape);
    const names = writes.map((w) => s.keys.encode(w.key));
    const replies = await this.redis.readMany(
      names,
      s.layout.readRecord.bind(s.layout),
      this.pipelineSize,
      "reading the records to print failed",
    );
    return writes.map((w, i) => {
      const name = names[i]!;
      const current = this.fetched(s, name, w.key, replies[i])?.fingerprint ?? null;
      const next = w.next ? fingerprintRow(w.key, w.next) : null;
      if (current === next) return `# ${redisArg(name)} already holds it: nothing to write`;
      if (current !== w.expected)
        return `# ${redisArg(name)} changed since it was observed: nothing would be written (superseded)`;
      const guard =
        w.expected === null
          ? `# only if ${redisArg(name)} is still absent (compare-and-set script, one atomic step)`
          : `# only if ${redisArg(name)} still holds what was read (fingerprint ${w.expected}; compare-and-set script, one atomic step)`;
      const commands = redisWriteCommands(name, s.layout.format, s.layout.write(w.key, w.next, replies[i]));
      return [guard, ...commands].join("\n");
    });
  }

  /**
   * Writes in rounds of up to `pipelineSize` distinct keys (a key repeated in the batch starts a new
   * round, so a later write sees an earlier one): read the records (one pipeline), decide each write from
   * the fingerprint of what was read, then one compare-and-set script per record to change (one pipeline).
   */
  async applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]> {
    if (this.options.readonly) this.redis.fail("opened read-only: cannot apply writes");
    const s = this.shape(shape);
    const out = new Array<WriteOutcome>(writes.length);
    let round: number[] = [];
    const names = new Set<string>();
    for (const w of writes) {
      if (!s.keys.nameable(w.key))
        this.redis.fail(
          `key ${JSON.stringify(w.key)} cannot be written: key column ${shape.key[0]!.name} is NULL, and a one-column key that is NULL has no Redis key name (docs/redis.md)`,
        );
    }
    for (let i = 0; i < writes.length; i++) {
      const name = s.keys.encode(writes[i]!.key);
      if (names.has(name) || round.length >= this.pipelineSize) {
        await this.applyRound(s, writes, round, out);
        round = [];
        names.clear();
      }
      round.push(i);
      names.add(name);
    }
    if (round.length) await this.applyRound(s, writes, round, out);
    return out;
  }

  private async applyRound(
    s: ShapeState,
    writes: readonly ConditionalWrite[],
    indices: readonly number[],
    out: WriteOutcome[],
  ): Promise<void> {
    let todo = indices;
    // Writes whose script found the record changed in a round that lost its connection: ioredis resent the
    // script, whose first run may have landed unheard. Found holding what they write, they were applied.
    const resent = new Set<number>();
    for (let round = 0; todo.length > 0; round++) {
      if (round === MAX_WRITE_ROUNDS) {
        // Changed under us every time: nothing was written, and it no longer holds what was observed.
        for (const i of todo) out[i] = "superseded";
        return;
      }
      const names = todo.map((i) => s.keys.encode(writes[i]!.key));
      const replies = await this.redis.readMany(
        names,
        s.layout.readRecord.bind(s.layout),
        this.pipelineSize,
        "conditional write failed",
      );
      const commits: { index: number; name: string; args: (string | Buffer)[] }[] = [];
      todo.forEach((i, j) => {
        const w = writes[i]!;
        const current = this.fetched(s, names[j]!, w.key, replies[j])?.fingerprint ?? null;
        const next = w.next ? fingerprintRow(w.key, w.next) : null;
        if (current === next && resent.has(i)) {
          out[i] = "applied";
          this.stats.rowsWritten++;
        } else if (current === next) out[i] = "noop";
        else if (current !== w.expected) out[i] = "superseded";
        else {
          const args = [...s.layout.guard(replies[j]), ...s.layout.write(w.key, w.next, replies[j])];
          commits.push({ index: i, name: names[j]!, args });
        }
      });
      if (commits.length === 0) return;
      await this.options.beforeCommit?.(commits.map((c) => writes[c.index]!.key));
      const closes = this.redis.closes;
      const results = await this.redis.runScript("conditional write failed", s.layout.script, commits);
      const lost = this.redis.closes !== closes;
      const changed: number[] = [];
      commits.forEach((c, j) => {
        if (results[j] === 1) {
          out[c.index] = "applied";
          this.stats.rowsWritten++;
        } else {
          changed.push(c.index);
          if (lost) resent.add(c.index);
        }
      });
      todo = changed;
    }
  }

  /** Closes the client it was given. */
  async close(): Promise<void> {
    await this.redis.close();
  }
}

/** The database number in the URL's path: undefined when there is none, null when it is not a number. */
function databaseOf(url: string): number | undefined | null {
  const path = /^rediss?:\/\/[^/?#]*(\/[^?#]*)?/i.exec(url)?.[1] ?? "";
  if (path === "" || path === "/") return undefined;
  return /^\/\d+$/.test(path) ? Number(path.slice(1)) : null;
}

export interface OpenRedisOptions extends Omit<RedisConnectorOptions, "timeouts"> {
  /** Milliseconds to wait for the connection, handshake and SELECT included (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Every deadline at once (config `timeouts`); `connectTimeoutMs` overrides it. */
  readonly timeouts?: Partial<TimeoutsConfig>;
}

/**
 * Connects to `redis://[user:password@]host:port/db` (or `rediss://` for TLS) and wraps the records under
 * the prefix. Unlike ioredis's defaults (reconnect forever, queue commands while offline), this client
 * gives up: a bounded connect (handshake included), a few reconnect attempts, commands fail instead of
 * waiting while the connection is down, and a call whose server stays silent for `timeouts.queryMs` fails
 * and drops the connection. So an unreachable or stalled server, a refused password or a database index out
 * of range is a ConnectorError, never a hang.
 */
export async function openRedisConnector(url: string, options: OpenRedisOptions): Promise<RedisConnector> {
  const label = options.label ? `${options.label}: ` : "";
  const where = redactUrl(url);
  const failed = (what: string, err: unknown) =>
    new ConnectorError(
      redactText(`${label}${what}: ${err instanceof Error ? err.message : String(err)}`).replace(
        /\s*\n\s*/g,
        " ",
      ),
    );
  const db = databaseOf(url);
  if (db === null)
    throw new ConnectorError(`${label}${where}: the path must be a database number (redis://host:port/0)`);
  const timeouts = resolveTimeouts(options.timeouts, { connectMs: options.connectTimeoutMs });
  let client: Redis;
  try {
    client = new Redis(url, {
      lazyConnect: true,
      ...redisClientTimeouts(timeouts),
      maxRetriesPerRequest: 2,
      retryStrategy: (times) => (times > 3 ? null : Math.min(times * 250, 1000)),
      enableOfflineQueue: false,
      connectionName: "concord",
    });
  } catch (err) {
    throw failed(`cannot open ${where}`, err);
  }
  let lastError: Error | undefined;
  // Without a listener ioredis prints every connection error; the last one explains a failed connect.
  client.on("error", (err: Error) => {
    lastError = err;
  });
  try {
    await connectRedis(client, db, timeouts.connectMs);
  } catch (err) {
    client.disconnect();
    const timedOut = (err as { code?: unknown }).code === "CONCORD_TIMEOUT";
    throw failed(
      `cannot connect to ${where}`,
      lastError && !timedOut && client.status !== "ready" ? lastError : err,
    );
  }
  return new RedisConnector(client, { ...options, timeouts });
}
