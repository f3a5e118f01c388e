/** The SQL one record shape needs on one SQLite table: registered fingerprint functions, key predicates, statements. */
import type Database from "better-sqlite3";
import { ChecksumAccumulator } from "../../core/fingerprint.js";
import { type Key, type KeyRange, keyHasNull, type RecordShape } from "../../core/model.js";
import { RowCodec } from "../../core/row-codec.js";
import { type KeyCompareTerm, keyEqualsSql, keyRangeSql } from "../key-compare-sql.js";
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
    /** Key columns that may hold NULL (not declared NOT NULL; SQLite lets even a primary key hold NULL). */
    readonly nullable: ReadonlySet<string> = new Set(),
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

  /**
   * True when a range's predicates must be NULL-aware (a key column may hold NULL, or a bound has a NULL
   * part): a row-value comparison is NULL, so no row, as soon as a part is NULL.
   */
  private nullAware(range: KeyRange): boolean {
    return (
      this.nullable.size > 0 ||
      (range.lo !== null && keyHasNull(range.lo)) ||
      (range.hi !== null && keyHasNull(range.hi))
    );
  }

  /** A bound as comparison terms with named parameters (`@l0`, `@h1`, …). */
  private terms(bound: Key, side: "l" | "h"): KeyCompareTerm[] {
    return this.shape.key.map((c, i) => ({
      expr: this.keyOrder[i]!,
      bound: `@${side}${i}`,
      boundNull: bound[i] === null,
      nullable: this.nullable.has(c.name),
    }));
  }

  /** `WHERE` for a range (bind `rangeParams`) and the row filter, or "" for the full range of an unfiltered table. */
  where(range: KeyRange): string {
    const parts: string[] = this.filter ? [`(${this.filter})`] : [];
    if (this.nullAware(range)) {
      const cond = keyRangeSql(
        range.lo ? this.terms(range.lo, "l") : null,
        range.hi ? this.terms(range.hi, "h") : null,
        { rowValues: true },
      );
      if (cond) parts.push(`(${cond})`);
      return parts.length ? `WHERE ${parts.join(" AND ")}` : "";
    }
    if (range.lo) parts.push(`${this.tuple()} >= ${this.marks()}`);
    if (range.hi) parts.push(`${this.tuple()} < ${this.marks()}`);
    return parts.length ? `WHERE ${parts.join(" AND ")}` : "";
  }

  /** A condition matching exactly `count` keys without NULL parts (bind them with `bindKey`, one after the other). */
  keysIn(count: number): string {
    if (this.keyOrder.length === 1) return `${this.keyOrder[0]} IN (${Array(count).fill("?").join(", ")})`;
    return `${this.tuple()} IN (VALUES ${Array(count).fill(this.marks()).join(", ")})`;
  }

  /**
   * A condition matching exactly `key`, shaped by which of its parts are NULL (`IS NULL` for those); bind
   * `bindKeyValues(key)`.
   */
  keyEquals(key: Key): string {
    return keyEqualsSql(
      this.shape.key.map((_, i) => ({
        expr: this.keyOrder[i]!,
        bound: "?",
        boundNull: key[i] === null,
        nullable: true,
      })),
    );
  }

  /** The native values a key without NULL parts binds as. */
  bindKey(key: Key): unknown[] {
    return this.shape.key.map((c, i) => toSqlite(c.type, key[i]!));
  }

  /** What `keyEquals(key)` binds: the key's non-NULL parts. */
  bindKeyValues(key: Key): unknown[] {
    return this.shape.key.flatMap((c, i) => (key[i] === null ? [] : [toSqlite(c.type, key[i]!)]));
  }

  /** What `where(range)` binds. */
  rangeParams(range: KeyRange): unknown[] {
    if (this.nullAware(range)) {
      const named: Record<string, unknown> = {};
      for (const [side, bound] of [
        ["l", range.lo],
        ["h", range.hi],
      ] as const) {
        bound?.forEach((v, i) => {
          if (v !== null) named[`${side}${i}`] = toSqlite(this.shape.key[i]!.type, v);
        });
      }
      return Object.keys(named).length ? [named] : [];
    }
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

/**
 * Which bounds a range has, and which of their parts are NULL, for naming prepared statements: "", "l",
 * "h", "lh", with a mask after a bound holding NULL parts ("l01h").
 */
export function boundsId(range: KeyRange): string {
  return `${range.lo ? `l${nullMask(range.lo)}` : ""}${range.hi ? `h${nullMask(range.hi)}` : ""}`;
}

/** "" for a key without NULL parts, else one digit per part (1 for NULL). */
export function nullMask(key: Key): string {
  return keyHasNull(key) ? key.map((p) => (p === null ? "1" : "0")).join("") : "";
}
