/** The SQL one record shape needs on one SQLite table: registered fingerprint functions, key predicates, statements. */
import type Database from "better-sqlite3";
import { ChecksumAccumulator } from "../../core/fingerprint.js";
import type { Key, KeyRange, RecordShape } from "../../core/model.js";
import { RowCodec } from "../../core/row-codec.js";
import { toSqlite } from "./sqlite-column-types.js";
import { quoteIdent } from "./sqlite-table-meta.js";

type Db = Database.Database;
type Statement = Database.Statement<unknown[], unknown>;

/**
 * Everything shape-specific, built once per (shape, table). Fingerprints are computed inside SQLite by
 * functions registered on the connection that run the engine's own canonical encoder, so pushdown and
 * engine always agree. Key order is binary whatever the columns' collation: a text key column declared in
 * another collation (NOCASE, RTRIM) is compared and ordered `COLLATE BINARY`, which its index cannot serve.
 */
export class SqliteShapeSql {
  readonly codec: RowCodec;
  /** Registered scalar function: the fingerprint of a row's columns (key first, shape order). */
  readonly fpFn: string;
  /** Registered aggregate: "count:xor" of the fingerprints of the rows it sees. */
  readonly sumFn: string;
  /** Quoted key columns, for select lists. */
  readonly keyList: string;
  /** Key expressions for comparisons, lookups and ORDER BY, binary-safe. */
  readonly keyOrder: readonly string[];
  /** ORDER BY list of the key order. */
  readonly orderBy: string;
  /** Quoted key and compared columns, in shape order. */
  readonly allList: string;
  /** Prepared statements, by what they do and which bounds they bind. */
  private readonly statements = new Map<string, Statement>();
  /** Whether an index (or the rowid) serves the key order; learnt on first use. */
  indexed?: boolean;

  constructor(
    private readonly db: Db,
    readonly shape: RecordShape,
    id: number,
    /** Key columns whose own collation is not BINARY, and that collation. */
    readonly collated: ReadonlyMap<string, string>,
    /** The replica's row filter (config `where:`), an SQL predicate every range read applies; none if undefined. */
    private readonly filter?: string | undefined,
  ) {
    const codec = new RowCodec(shape);
    this.codec = codec;
    this.fpFn = `concord_fp_${id}`;
    this.sumFn = `concord_sum_${id}`;
    db.function(this.fpFn, { deterministic: true, varargs: true, safeIntegers: true }, (...vals: unknown[]) =>
      codec.fingerprintRaw(vals),
    );
    db.aggregate(this.sumFn, {
      start: () => new ChecksumAccumulator(),
      step: (acc: ChecksumAccumulator, ...vals: unknown[]) => {
        acc.add(codec.fingerprintRaw(vals));
      },
      result: (acc: ChecksumAccumulator) => {
        const r = acc.result();
        return `${r.count}:${r.xor}`;
      },
      varargs: true,
      safeIntegers: true,
    });
    this.keyList = shape.key.map((c) => quoteIdent(c.name)).join(", ");
    this.keyOrder = shape.key.map((c) =>
      collated.has(c.name) ? `${quoteIdent(c.name)} COLLATE BINARY` : quoteIdent(c.name),
    );
    this.orderBy = this.keyOrder.join(", ");
    this.allList = [...shape.key, ...shape.columns].map((c) => quoteIdent(c.name)).join(", ");
  }

  /** The key as a comparable tuple (a bare expression for one column). */
  private tuple(): string {
    return this.keyOrder.length === 1 ? this.keyOrder[0]! : `(${this.orderBy})`;
  }

  /** Placeholders shaped like `tuple()`. */
  private marks(): string {
    return this.keyOrder.length === 1 ? "?" : `(${this.keyOrder.map(() => "?").join(", ")})`;
  }

  /** `WHERE` for a range (bind `rangeParams`) and the row filter, or "" for the full range of an unfiltered table. */
  where(range: KeyRange): string {
    const parts: string[] = this.filter ? [`(${this.filter})`] : [];
    if (range.lo) parts.push(`${this.tuple()} >= ${this.marks()}`);
    if (range.hi) parts.push(`${this.tuple()} < ${this.marks()}`);
    return parts.length ? `WHERE ${parts.join(" AND ")}` : "";
  }

  /** A condition matching exactly `count` keys (bind them with `bindKey`, one after the other). */
  keysIn(count: number): string {
    if (this.keyOrder.length === 1) return `${this.keyOrder[0]} IN (${Array(count).fill("?").join(", ")})`;
    return `${this.tuple()} IN (VALUES ${Array(count).fill(this.marks()).join(", ")})`;
  }

  /** A condition matching one key exactly. */
  keyEquals(): string {
    return this.keyOrder.map((k) => `${k} = ?`).join(" AND ");
  }

  /** The native values a key binds as. */
  bindKey(key: Key): unknown[] {
    return this.shape.key.map((c, i) => toSqlite(c.type, key[i]!));
  }

  /** What `where(range)` binds. */
  rangeParams(range: KeyRange): unknown[] {
    return [...(range.lo ? this.bindKey(range.lo) : []), ...(range.hi ? this.bindKey(range.hi) : [])];
  }

  /** The statement `id`, prepared once from `build()`. */
  statement(id: string, build: () => string): Statement {
    let st = this.statements.get(id);
    if (!st) {
      st = this.db.prepare(build());
      this.statements.set(id, st);
    }
    return st;
  }
}

/** Which bounds a range has, for naming prepared statements: "", "l", "h" or "lh". */
export function boundsId(range: KeyRange): string {
  return `${range.lo ? "l" : ""}${range.hi ? "h" : ""}`;
}
