/** Reading a PostgreSQL table's rows in key order: keyset pages, batched listings, checksums computed in the engine. */
import { ChecksumAccumulator, type RangeChecksum } from "../../core/fingerprint.js";
import { compareKeys, type Key, type KeyFingerprint } from "../../core/model.js";
import type { ConnectorStats } from "../connector.js";
import type { RowHash } from "../row-hash.js";
import { listedHash, listQuery } from "./postgres-checksum-sql.js";
import { type PostgresSession, postgresRowBytes as rowBytes } from "./postgres-session.js";
import { Params, type PgRange, type PostgresShapeSql, T } from "./postgres-shape-sql.js";

const ZERO = "0000000000000000";

/**
 * The reads of one PostgresConnector that return rows (or key/hash pairs) rather than aggregates. Memory
 * holds one page or one statement's pairs (at most 256 ranges of detection's leaves), never a table.
 */
export class PostgresListing {
  constructor(
    private readonly session: PostgresSession,
    private readonly stats: ConnectorStats,
    private readonly table: string,
    /** Rows per page when rows are read to be fingerprinted in the engine. */
    private readonly pageRows: number,
  ) {}

  /**
   * Pairs of many small ranges (normalised; null: empty) with one statement per 256 bounded ranges (see
   * `listQuery`); ranges open on a side, and shapes fingerprinted in the engine, are streamed one by one.
   */
  async *listIn(
    s: PostgresShapeSql,
    ranges: readonly (PgRange | null)[],
    size: number,
    hash: RowHash,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const width = s.keys.length;
    const pair = (row: (string | null)[]): KeyFingerprint => ({
      key: s.codec.key(row),
      fingerprint: row[width]!,
    });
    let i = 0;
    while (i < ranges.length) {
      const first = ranges[i]!;
      if (!first) {
        i++;
        continue;
      }
      if (!first.lo || !first.hi || (hash === "fingerprint" && !s.pushdown)) {
        yield* this.streamRange(s, first, size, hash);
        i++;
        continue;
      }
      const chunk: PgRange[] = [];
      while (i < ranges.length && chunk.length < 256) {
        const r = ranges[i]!;
        if (r && (!r.lo || !r.hi)) break;
        if (r) chunk.push(r);
        i++;
      }
      const q = listQuery(s, chunk, hash);
      const pairs = await this.session.read("fingerprint stream failed", async (run) => {
        // Not a named statement: after five runs PostgreSQL may switch to a generic plan, which cannot see
        // the arrays' length and reads the whole table (seconds) instead of probing the index per range.
        const rows = await run(q.text, q.values);
        this.stats.bytesRead += rowBytes(rows);
        return rows.map(pair);
      });
      this.stats.rowsRead += pairs.length;
      for (let j = 0; j < pairs.length; j += size) yield pairs.slice(j, j + size);
    }
  }

  /** Checksums of shapes PostgreSQL cannot fingerprint: adjacent ranges are read as one ordered run. */
  async checksumInEngine(
    s: PostgresShapeSql,
    live: readonly { index: number; range: PgRange }[],
    n: number,
  ): Promise<RangeChecksum[]> {
    const out: RangeChecksum[] = Array.from({ length: n }, () => ({ count: 0, xor: ZERO }));
    const keyCols = s.shape.key;
    let start = 0;
    while (start < live.length) {
      let end = start + 1;
      while (end < live.length) {
        const prev = live[end - 1]!.range.hi;
        const next = live[end]!.range.lo;
        if (!prev || !next || compareKeys(keyCols, prev, next) !== 0) break;
        end++;
      }
      const run = live.slice(start, end);
      const accs = run.map(() => new ChecksumAccumulator());
      let j = 0;
      const cover = { lo: run[0]!.range.lo, hi: run.at(-1)!.range.hi };
      const pageRows = this.pageRows;
      for await (const page of this.pages(s, cover, s.rawList, pageRows, "range checksum failed", (row) =>
        s.codec.record(row),
      )) {
        for (const rec of page) {
          while (run[j]!.range.hi && compareKeys(keyCols, rec.key, run[j]!.range.hi!) >= 0) j++;
          accs[j]!.add(rec.fingerprint);
        }
      }
      run.forEach((r, k) => {
        out[r.index] = accs[k]!.result();
        this.stats.rowsScanned += accs[k]!.count;
      });
      start = end;
    }
    return out;
  }

  /**
   * Pages of rows in key order over a range, by keyset pagination (`WHERE key > last ORDER BY key LIMIT n`):
   * memory holds one page, no transaction or cursor stays open between pages, and each page is a read
   * that can be retried on its own.
   */
  private async *pages<R extends { key: Key }>(
    s: PostgresShapeSql,
    range: PgRange,
    select: string,
    pageRows: number,
    what: string,
    decode: (row: (string | null)[]) => R,
  ): AsyncGenerator<R[]> {
    let after: Key | null = null;
    for (;;) {
      const from: Key | null = after;
      const page = await this.session.read(what, async (run) => {
        const params = new Params();
        const where = s.pageWhere(range, from, params);
        const limit = params.add(pageRows, "int8");
        const rows = await run(
          `SELECT ${select} FROM ${this.table} AS ${T}${where ? ` WHERE ${where}` : ""} ` +
            `ORDER BY ${s.orderBy} LIMIT ${limit}`,
          params.values,
          true,
        );
        this.stats.bytesRead += rowBytes(rows);
        return rows.map(decode);
      });
      if (page.length > 0) yield page;
      if (page.length < pageRows) return;
      after = page.at(-1)!.key;
    }
  }

  /**
   * Key and hash of every row of one range, in keyset pages: computed by PostgreSQL (fingerprint under
   * pushdown, or the native hash), or fingerprinted by the engine from the raw columns.
   */
  async *streamRange(
    s: PostgresShapeSql,
    r: PgRange,
    size: number,
    hash: RowHash,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const width = s.keys.length;
    const inStore = hash === "native" || s.pushdown;
    const select = inStore ? `${s.keyOut}, ${listedHash(s, hash)}` : s.rawList;
    const decode = inStore
      ? (row: (string | null)[]): KeyFingerprint => ({ key: s.codec.key(row), fingerprint: row[width]! })
      : (row: (string | null)[]): KeyFingerprint => {
          const rec = s.codec.record(row);
          return { key: rec.key, fingerprint: rec.fingerprint };
        };
    for await (const batch of this.pages(s, r, select, size, "fingerprint stream failed", decode)) {
      this.stats.rowsRead += batch.length;
      yield batch;
    }
  }
}
