/** A simulated replica: a memory table with crash semantics, and the faulty connector the engine reaches it through. */

import {
  type ConditionalWrite,
  type Connector,
  ConnectorError,
  type ConnectorStats,
  type TableDescription,
  type WriteOutcome,
} from "../connectors/connector.js";
import { MemoryConnector, MemoryTable } from "../connectors/memory/memory-connector.js";
import type { CanonicalValue } from "../core/canonical.js";
import type { RangeChecksum } from "../core/fingerprint.js";
import {
  type Key,
  type KeyFingerprint,
  type KeyRange,
  keyId,
  type RecordShape,
  type StoredRecord,
} from "../core/model.js";

export type Row = Record<string, CanonicalValue>;

/**
 * One replica's store. Writes made by clients and by Concord are durable at once; writes that arrive by
 * replication sit in an unflushed log until the next flush, and a crash rolls them back.
 */
export class SimReplica {
  readonly table: MemoryTable;
  private unflushed: { id: string; key: Key; before: Row | undefined }[] = [];
  up = true;
  /** This replica's clock offset from true virtual time (clock skew), in ms. */
  skewMs = 0;
  /** Write faults: "reject" refuses Concord's writes, "timeout" applies them but loses the answer. */
  writeFault: "none" | "reject" | "timeout" = "none";
  /** True while the engine cannot reach this replica (partition between engine and store). */
  unreachable = false;

  constructor(
    readonly name: string,
    shapeKey: MemoryTable["keyColumns"],
    columns: MemoryTable["columns"],
  ) {
    this.table = new MemoryTable(shapeKey, columns);
  }

  get(key: Key): Row | undefined {
    return this.table.get(key);
  }

  /** Writes a row (or deletes with null). `durable: false` is for replicated writes, lost on a crash. */
  write(key: Key, row: Row | null, durable: boolean): void {
    if (!durable) this.unflushed.push({ id: keyId(key), key, before: this.table.get(key) });
    if (row) this.table.put(row);
    else this.table.delete(key);
  }

  flush(): void {
    this.unflushed = [];
  }

  /** Crash: unflushed writes are lost (rolled back newest first), and the replica is down. */
  crash(): number {
    const lost = this.unflushed.length;
    for (let i = this.unflushed.length - 1; i >= 0; i--) {
      const u = this.unflushed[i]!;
      if (u.before) this.table.put(u.before);
      else this.table.delete(u.key);
    }
    this.unflushed = [];
    this.up = false;
    return lost;
  }
}

/** What the connector asks of the world: move virtual time (so other events interleave) and log. */
export interface SimHooks {
  /** Advances virtual time by `ms`, running every event due meanwhile. */
  advance(ms: number): Promise<void>;
  /** Called before every engine step; may throw to crash the engine between two steps. */
  step(what: string): void;
  /**
   * Told of every write Concord makes (after it happened), with the fingerprint the record had just before
   * and the one the write expected: an `applied` write onto anything but the expected state is a clobber.
   */
  onWrite(
    replica: string,
    key: Key,
    outcome: WriteOutcome,
    before: string | null,
    expected: string | null,
  ): void;
}

/**
 * The engine's view of a SimReplica: a MemoryConnector whose calls take virtual time (so client writes
 * and replication interleave with detection and repair), fail when the replica is down or unreachable,
 * and suffer the replica's write faults. `unsafe` drops the conditional check (for checker tests only).
 */
export class SimConnector implements Connector {
  readonly kind = "sim";
  readonly pushdown = true;
  private readonly inner: MemoryConnector;

  constructor(
    private readonly replica: SimReplica,
    private readonly hooks: SimHooks,
    private readonly latencyMs: number,
    private readonly unsafe = false,
  ) {
    this.inner = new MemoryConnector(replica.table);
  }

  get stats(): ConnectorStats {
    return this.inner.stats;
  }

  private async reach(what: string): Promise<void> {
    this.hooks.step(`${what} ${this.replica.name}`);
    await this.hooks.advance(this.latencyMs);
    if (!this.replica.up) throw new ConnectorError(`${this.replica.name}: replica is down`);
    if (this.replica.unreachable) throw new ConnectorError(`${this.replica.name}: unreachable (partition)`);
  }

  async describe(): Promise<TableDescription> {
    await this.reach("describe");
    return this.inner.describe();
  }

  async count(shape: RecordShape, range: KeyRange): Promise<number> {
    await this.reach("count");
    return this.inner.count(shape, range);
  }

  async checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    await this.reach("checksum");
    return this.inner.checksumRanges(shape, ranges);
  }

  async splitRange(shape: RecordShape, range: KeyRange, parts: number): Promise<Key[]> {
    await this.reach("split");
    return this.inner.splitRange(shape, range, parts);
  }

  /**
   * The first and last key of a range, as the SQL stores answer from the key's index: integer keys are then
   * cut into segments by arithmetic there and here alike, so a segment covers the same keys pass after pass.
   */
  async keyBounds(shape: RecordShape, range: KeyRange): Promise<{ first: Key; last: Key } | null> {
    await this.reach("bounds");
    let first: Key | undefined;
    let last: Key | undefined;
    for await (const batch of this.inner.streamFingerprints(shape, range, 1024)) {
      first ??= batch[0]?.key;
      last = batch.at(-1)?.key ?? last;
    }
    return first && last ? { first, last } : null;
  }

  async *streamFingerprints(
    shape: RecordShape,
    range: KeyRange,
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    await this.reach("stream");
    // Materialised first: the simulated store answers a listing at one instant.
    const batches: (readonly KeyFingerprint[])[] = [];
    for await (const b of this.inner.streamFingerprints(shape, range, batchSize)) batches.push(b);
    yield* batches;
  }

  async fetchRecords(shape: RecordShape, keys: readonly Key[]): Promise<StoredRecord[]> {
    await this.reach("fetch");
    return this.inner.fetchRecords(shape, keys);
  }

  async applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]> {
    await this.reach("write");
    if (this.replica.writeFault === "reject")
      throw new ConnectorError(`${this.replica.name}: write rejected`);
    const current = new Map(
      (
        await this.inner.fetchRecords(
          shape,
          writes.map((w) => w.key),
        )
      ).map((r) => [keyId(r.key), r.fingerprint]),
    );
    const before = writes.map((w) => current.get(keyId(w.key)) ?? null);
    const effective = this.unsafe ? writes.map((w, i) => ({ ...w, expected: before[i]! })) : writes;
    const outcomes = await this.inner.applyWrites(shape, effective);
    outcomes.forEach((o, i) => {
      this.hooks.onWrite(this.replica.name, writes[i]!.key, o, before[i]!, writes[i]!.expected);
    });
    if (this.replica.writeFault === "timeout")
      throw new ConnectorError(`${this.replica.name}: write timed out`);
    return outcomes;
  }

  printWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<string[]> {
    return this.inner.printWrites(shape, writes);
  }

  async close(): Promise<void> {}
}
