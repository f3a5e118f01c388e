/** Reading a MariaDB/MySQL table's rows in key order: keyset pages, streamed listings, checksums computed in the engine. */
import { ChecksumAccumulator, type RangeChecksum } from "../../core/fingerprint.js";
import { compareKeys, type Key, type KeyFingerprint, type KeyRange, keyId } from "../../core/model.js";
import type { ConnectorStats } from "../connector.js";
import type { RowHash } from "../row-hash.js";
import { isMysqlTransient } from "./mysql-errors.js";
import type { MysqlSession } from "./mysql-session.js";
import type { MysqlShapeSql } from "./mysql-shape-sql.js";

/**
 * The reads of one MysqlConnector that return rows (or key/hash pairs) rather than aggregates. Streams hold
 * one batch at a time (the server waits while the engine holds it), never a table.
 */
export class MysqlListing {
  constructor(
    private readonly session: MysqlSession,
    private readonly stats: ConnectorStats,
    /** Longest listing statement sent at once, in characters. */
    private readonly maxStatementChars: number,
  ) {}

  /**
   * The same bucketing statement lists raw rows and the engine's codec hashes them. A failed stream is read
   * again from the start (nothing has been handed out yet).
   */
  async checksumInEngine(s: MysqlShapeSql, sql: string, n: number): Promise<RangeChecksum[]> {
    for (let attempt = 1; ; attempt++) {
      const accs = Array.from({ length: n }, () => new ChecksumAccumulator());
      try {
        for await (const rows of this.session.stream("range checksum failed", sql, 1000)) {
          for (const row of rows) {
            const fp = this.decode("range checksum failed", () => s.codec.fingerprintRaw(row.slice(1)));
            accs[Number(row[0])]!.add(fp);
          }
          this.stats.rowsRead += rows.length;
          this.stats.rowsScanned += rows.length;
        }
        return accs.map((a) => a.result());
      } catch (err) {
        if (attempt >= 3 || !isMysqlTransient(err)) throw err;
      }
    }
  }

  /**
   * Keys whose order the index serves are read in pages (ORDER BY key LIMIT size, then after the last key):
   * each page is a short index range read, repeatable on a transient failure. Binary-compared text keys
   * need a sort of the whole range, so they are read by one streamed statement instead (see `streamPairs`).
   */
  async *streamRange(
    s: MysqlShapeSql,
    range: KeyRange,
    size: number,
    hash: RowHash,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const statement = (after: Key | null, limit: string) => {
      const cond = s.pageCondition(range, after);
      return `SELECT ${s.listColumns(hash)} FROM ${s.source}${s.forceIndex}${cond ? ` WHERE ${cond}` : ""}${s.orderBy()}${limit}`;
    };
    if (!s.sargable) {
      yield* this.streamPairs(s, (after) => statement(after, ""), size, hash);
      return;
    }
    for (let after: Key | null = null; ; ) {
      const sql = statement(after, ` LIMIT ${size}`);
      const rows = await this.session.read("fingerprint stream failed", (conn) =>
        this.session.rows(conn, sql),
      );
      const batch = await this.pairs(s, rows, hash);
      if (batch.length > 0) yield batch;
      if (rows.length < size) return;
      after = batch.at(-1)!.key;
    }
  }

  /**
   * Detection's leaves with few statements: each streams the rows of up to 256 ranges (of all of them when
   * the key order needs a scan of the table anyway), fewer when its text would pass `maxStatementChars`,
   * under one condition that MariaDB and MySQL read as one multi-range index scan in key order (see
   * `MysqlShapeSql.rangesCondition`), after joining adjacent ranges (`MysqlShapeSql.mergeAdjacent`). Ranges
   * that are not ascending and disjoint are streamed one by one.
   */
  async *listIn(
    s: MysqlShapeSql,
    ranges: readonly KeyRange[],
    size: number,
    hash: RowHash,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    const live = ranges.filter((r) => !(r.lo && r.hi && compareKeys(s.shape.key, r.lo, r.hi) >= 0));
    if (!s.ascendingDisjoint(live)) {
      for (const range of live) yield* this.streamRange(s, range, size, hash);
      return;
    }
    const merged = s.mergeAdjacent(live);
    // Each sargable statement costs a range analysis (an index dive per range); a scan is paid per statement.
    const most = s.sargable ? 256 : merged.length;
    for (let i = 0; i < merged.length; ) {
      let n = Math.min(most, merged.length - i);
      while (n > 1 && s.listSql(merged.slice(i, i + n), null, hash).length > this.maxStatementChars)
        n = Math.ceil(n / 2);
      const part = merged.slice(i, i + n);
      yield* this.streamPairs(s, (after) => s.listSql(part, after, hash), size, hash);
      i += n;
    }
  }

  /**
   * Streams the pairs one statement lists (`statement(null)`), in batches of `size`, with backpressure: the
   * server waits while the engine holds a batch. After a transient failure the read resumes behind the last
   * key handed out (`statement(after)`).
   */
  private async *streamPairs(
    s: MysqlShapeSql,
    statement: (after: Key | null) => string,
    size: number,
    hash: RowHash,
  ): AsyncIterable<readonly KeyFingerprint[]> {
    let after: Key | null = null;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const rows of this.session.stream("fingerprint stream failed", statement(after), size)) {
          const out = await this.pairs(s, rows, hash);
          this.stats.rowsRead += out.length;
          after = out.at(-1)!.key;
          yield out;
        }
        return;
      } catch (err) {
        if (attempt >= 3 || !isMysqlTransient(err)) throw err;
      }
    }
  }

  /**
   * Key and hash of rows of `listColumns`: read from the row, or (fingerprints) computed by the engine's codec;
   * rows too long for the server to fingerprint (`MysqlShapeSql.oversize`, NULL in the row) are read whole
   * and fingerprinted here.
   */
  private async pairs(
    s: MysqlShapeSql,
    rows: readonly unknown[][],
    hash: RowHash,
  ): Promise<KeyFingerprint[]> {
    const inStore = s.hashedInSql(hash);
    const missing: number[] = [];
    const out = this.decode("fingerprint stream failed", () =>
      rows.map((row, i) => {
        if (inStore && row[s.keyWidth] == null) missing.push(i);
        return {
          key: s.codec.key(row),
          fingerprint: inStore ? String(row[s.keyWidth]) : s.codec.fingerprintRaw(row),
        };
      }),
    );
    if (missing.length === 0) return out;
    const keys = missing.map((i) => out[i]!.key);
    const sql = `SELECT ${s.rawList} FROM ${s.table} WHERE ${s.keysCondition(keys)}`;
    const found = new Map<string, string>();
    for await (const raw of this.session.stream("fingerprint stream failed", sql, 4)) {
      this.decode("fingerprint stream failed", () => {
        for (const row of raw) found.set(keyId(s.codec.key(row)), s.codec.fingerprintRaw(row));
      });
    }
    for (const i of missing) {
      const fp = found.get(keyId(out[i]!.key));
      if (fp) out[i] = { key: out[i]!.key, fingerprint: fp };
    }
    // A row deleted between the two reads is left out, as if listed after the delete.
    return out.filter((p, i) => !missing.includes(i) || found.has(keyId(p.key)));
  }

  /** Runs the engine's codec over rows read; a value it cannot read becomes a ConnectorError naming the column. */
  private decode<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.session.error(what, err);
    }
  }
}
