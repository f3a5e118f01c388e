/** In-process connector over a MemoryTable: for tests and the simulator. Never touches disk or network. */
import type { CanonicalValue } from "../../core/canonical.js";
import { ChecksumAccumulator, fingerprintRow, type RangeChecksum } from "../../core/fingerprint.js";
import {
  type ColumnSpec,
  compareKeys,
  type Key,
  type KeyFingerprint,
  type KeyRange,
  type RecordShape,
  type StoredRecord,
} from "../../core/model.js";
import {
  type ConditionalWrite,
  type Connector,
  type ConnectorStats,
  emptyStats,
  type TableDescription,
  type WriteOutcome,
} from "../connector.js";

/**
 * A table held in memory as canonical rows keyed by column name. Rows stay sorted by key on demand, so
 * ordered reads are cheap after a burst of writes.
 */
export class MemoryTable {
  private readonly rows = new Map<string | null, { key: Key; row: Record<string, CanonicalValue> }>();
  private sorted: Key[] | null = null;

  constructor(
    readonly keyColumns: readonly ColumnSpec[],
    readonly columns: readonly ColumnSpec[],
  ) {}

  get size(): number {
    return this.rows.size;
  }

  /** Inserts or replaces a row given as column → canonical value (key columns included). */
  put(row: Record<string, CanonicalValue>): void {
    const key = this.keyColumns.map((c) => {
      const v = row[c.name];
      // null is a NULL key part (a nullable unique key); a column left out is a mistake.
      if (v === undefined) throw new Error(`key column ${c.name} is missing`);
      return v;
    });
    const id = rowId(key);
    if (!this.rows.has(id) && this.sorted)
      this.sorted.splice(lowerBound(this.sorted, key, this.keyColumns), 0, key);
    this.rows.set(id, { key, row: { ...row } });
  }

  get(key: Key): Record<string, CanonicalValue> | undefined {
    return this.rows.get(rowId(key))?.row;
  }

  delete(key: Key): boolean {
    const had = this.rows.delete(rowId(key));
    if (had && this.sorted) this.sorted.splice(lowerBound(this.sorted, key, this.keyColumns), 1);
    return had;
  }

  /** Keys in ascending key order. */
  keys(): readonly Key[] {
    if (!this.sorted)
      this.sorted = [...this.rows.values()]
        .map((r) => r.key)
        .sort((a, b) => compareKeys(this.keyColumns, a, b));
    return this.sorted;
  }

  /** A deep copy (for snapshots in simulations). */
  clone(): MemoryTable {
    const t = new MemoryTable(this.keyColumns, this.columns);
    for (const { row } of this.rows.values()) t.put(row);
    return t;
  }
}

export interface MemoryConnectorOptions {
  /** Whether to offer range checksums (default true). False exercises the engine's streaming merge. */
  readonly pushdown?: boolean;
  /**
   * False makes it behave like a hash store (Redis): no pushdown, and the full range streamed in an order
   * unrelated to the keys. Exercises the engine's partitioned comparison.
   */
  readonly ordered?: boolean;
}

/** Connector over a MemoryTable. Conditional writes compare fingerprints exactly like the SQL stores do. */
export class MemoryConnector implements Connector {
  readonly kind = "memory";
  readonly pushdown: boolean;
  readonly ordered: boolean;
  readonly stats: ConnectorStats = emptyStats();
  private readonly records = new WeakMap<object, { signature: string; record: StoredRecord }>();

  constructor(
    readonly table: MemoryTable,
    options: MemoryConnectorOptions = {},
  ) {
    this.ordered = options.ordered ?? true;
    this.pushdown = this.ordered && (options.pushdown ?? true);
  }

  async describe(): Promise<TableDescription> {
    return {
      columns: [...this.table.keyColumns, ...this.table.columns].map((c) => ({ ...c, nativeType: c.type })),
    };
  }

  private inRange(shape: RecordShape, range: KeyRange): Key[] {
    const keys = this.table.keys();
    const lo = range.lo ? lowerBound(keys, range.lo, shape.key) : 0;
    const hi = range.hi ? lowerBound(keys, range.hi, shape.key) : keys.length;
    return keys.slice(lo, Math.max(lo, hi)) as Key[];
  }

  private recordOf(shape: RecordShape, key: Key): StoredRecord | undefined {
    const row = this.table.get(key);
    if (!row) return undefined;
    // Rows are replaced, never mutated, so a record computed for a row object stays valid.
    const signature = shapeSignature(shape);
    const hit = this.records.get(row);
    if (hit && hit.signature === signature) return hit.record;
    const values = shape.columns.map((c) => row[c.name] ?? null);
    const record = { key, values, fingerprint: fingerprintRow(key, values) };
    this.records.set(row, { signature, record });
    return record;
  }

  async count(shape: RecordShape, range: KeyRange): Promise<number> {
    this.stats.queries++;
    return this.inRange(shape, range).length;
  }

  async checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    this.stats.queries++;
    return ranges.map((range) => {
      const acc = new ChecksumAccumulator();
      for (const key of this.inRange(shape, range)) acc.add(this.recordOf(shape, key)!.fingerprint);
      this.stats.rowsScanned += acc.count;
      this.stats.rowsRead++;
      this.stats.bytesRead += 24;
      return acc.result();
    });
  }

  async splitRange(shape: RecordShape, range: KeyRange, parts: number): Promise<Key[]> {
    this.stats.queries++;
    const keys = this.inRange(shape, range);
    const step = Math.ceil(keys.length / parts);
    const out: Key[] = [];
    if (step < 1) return out;
    for (let i = step; i < keys.length; i += step) out.push(keys[i]!);
    this.stats.rowsRead += out.length;
    return out;
  }

  async *streamFingerprints(
    shape: RecordShape,
    range: KeyRange,
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    this.stats.queries++;
    let keys = this.inRange(shape, range);
    if (!this.ordered) {
      if (range.lo || range.hi) throw new Error("an unordered store streams only the full range");
      keys = [...keys].sort((a, b) => (fingerprintRow(a, []) < fingerprintRow(b, []) ? -1 : 1));
    }
    for (let i = 0; i < keys.length; i += batchSize) {
      const batch = keys
        .slice(i, i + batchSize)
        .map((key) => ({ key, fingerprint: this.recordOf(shape, key)!.fingerprint }));
      this.stats.rowsRead += batch.length;
      this.stats.bytesRead += batch.length * 24;
      yield batch;
    }
  }

  async fetchRecords(shape: RecordShape, keys: readonly Key[]): Promise<StoredRecord[]> {
    this.stats.queries++;
    const out: StoredRecord[] = [];
    for (const key of keys) {
      const r = this.recordOf(shape, key);
      if (r) out.push(r);
    }
    this.stats.rowsRead += out.length;
    return out;
  }

  async applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]> {
    this.stats.queries++;
    return writes.map((w) => {
      const current = this.recordOf(shape, w.key);
      const nextFp = w.next ? fingerprintRow(w.key, w.next) : null;
      const currentFp = current ? current.fingerprint : null;
      if (currentFp === nextFp) return "noop";
      if (currentFp !== w.expected) return "superseded";
      if (w.next) {
        const row: Record<string, CanonicalValue> = { ...(this.table.get(w.key) ?? {}) };
        shape.key.forEach((c, i) => {
          row[c.name] = w.key[i] ?? null;
        });
        shape.columns.forEach((c, i) => {
          row[c.name] = w.next![i] ?? null;
        });
        this.table.put(row);
      } else {
        this.table.delete(w.key);
      }
      this.stats.rowsWritten++;
      return "applied";
    });
  }

  /** The writes as `PUT <key json> <values json>` / `DELETE <key json>` lines (a memory table has no dialect). */
  async printWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<string[]> {
    return writes.map((w) => {
      const guard = `# only if ${JSON.stringify(w.key)} still holds ${w.expected ?? "nothing"}`;
      if (!w.next) return `${guard}\nDELETE ${JSON.stringify(w.key)}`;
      const row = Object.fromEntries(shape.columns.map((c, i) => [c.name, w.next![i] ?? null]));
      return `${guard}\nPUT ${JSON.stringify(w.key)} ${JSON.stringify(row)}`;
    });
  }

  async close(): Promise<void> {}
}

/** The table's own key id: the value itself for one-column keys (the hot path; null for NULL), JSON otherwise. */
function rowId(key: Key): string | null {
  return key.length === 1 ? (key[0] ?? null) : JSON.stringify(key);
}

const signatures = new WeakMap<RecordShape, string>();

/** Shapes are rebuilt every run; equal column lists give equal records. */
function shapeSignature(shape: RecordShape): string {
  let s = signatures.get(shape);
  if (s === undefined) {
    s = JSON.stringify([shape.key, shape.columns]);
    signatures.set(shape, s);
  }
  return s;
}

function lowerBound(keys: readonly Key[], key: Key, cols: readonly ColumnSpec[]): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(cols, keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
