/** The MariaDB/MySQL native row hash: which columns may use it, and its SQL. Builds text only: no I/O. */
import type { ColumnType } from "../../core/canonical.js";
import { type MysqlColumn, mysqlLogicalType } from "./mysql-column-types.js";

/**
 * Native types whose text, as the connector's session reads it (UTC, utf8mb4), separates exactly the values
 * whose canonical texts differ, given the same column type on both sides: integers print their value,
 * TINYINT(1) its 0/1, DECIMAL(p,s) its value at a fixed scale s, DATE/DATETIME(n)/TIMESTAMP(n) their value
 * with exactly n fraction digits, UTF-8 text and binary strings their bytes. Not FLOAT/DOUBLE (canonical
 * text is the engine's), BIT, TIME, ENUM/SET, UUID/INET, or text in other character sets. MariaDB's JSON
 * (LONGTEXT) is hashed by its stored text (see `nativeRowHash`); MySQL 8's binary JSON type is not hashed.
 */
const NATIVE_TYPES: ReadonlySet<string> = new Set([
  "tinyint",
  "smallint",
  "mediumint",
  "int",
  "integer",
  "bigint",
  "year",
  "decimal",
  "numeric",
  "date",
  "datetime",
  "timestamp",
  "char",
  "varchar",
  "tinytext",
  "text",
  "mediumtext",
  "longtext",
  "binary",
  "varbinary",
  "tinyblob",
  "blob",
  "mediumblob",
  "longblob",
]);

/**
 * UTF-8 character sets: utf8mb3 (alias utf8) holds a subset of utf8mb4's characters with the same bytes,
 * so equal text is equal bytes in either.
 */
const UTF8 = new Set(["utf8mb4", "utf8mb3", "utf8"]);

/** Types whose values can pass max_allowed_packet (16 MiB by default) inside a CONCAT: MEDIUM and LONG. */
export const LONG_TYPES: ReadonlySet<string> = new Set(["mediumtext", "longtext", "mediumblob", "longblob"]);

/** A shape's native row hash: its SQL and what it depends on, column by column. */
export interface NativeRowHash {
  /** 16 hex digits per row: the first 64 bits of SHA1 of the row's length-prefixed native texts. */
  readonly expression: string;
  /** Per column (key first, shape order): name, native column type, logical type, character set family. */
  readonly columns: readonly (readonly string[])[];
}

/**
 * The native row hash of a shape whose columns are read as their own logical types from NATIVE_TYPES, or
 * null (then only canonical checksums are offered). `refs` and `natives` are in shape order, key first.
 *
 * A row's encoding joins its columns with '|': text and binary strings as `<byte length>:<bytes>` (so a '|'
 * inside them cannot shift a boundary), other values as their text (digits, '-', '.', ':', ' ' only), NULL
 * as 'N' (no value's encoding is 'N': '' is '0:'); a MEDIUM/LONG text or blob as `<byte length>:<its SHA1>`,
 * so no row's encoding can pass max_allowed_packet. SHA1, not MD5: just as non-linear, and on MariaDB 10.11 it
 * costs about 0.5 s less per million rows (an aggregate of this hash over 1M rows: 0.8 s with SHA1, 1.4 s with
 * MD5; the canonical MD5 fingerprint 2.1 s).
 */
export function nativeRowHash(
  all: readonly { name: string; type: ColumnType }[],
  natives: readonly MysqlColumn[],
  refs: readonly string[],
): NativeRowHash | null {
  const parts: string[] = [];
  const columns: string[][] = [];
  for (const [i, c] of all.entries()) {
    const col = natives[i]!;
    // Read as the native type's own logical type only (TINYINT(1) as boolean): not as a COMMENT declaration
    // or a config override has it. MariaDB's JSON (LONGTEXT with a json_valid check) counts as text: the
    // engine canonicalises exactly the stored text, so equal texts are equal documents; documents spelled
    // differently (`{"a": 1}`, `{"a":1.0}`) hash apart, are listed and fetched, and their canonical
    // fingerprints agree: more work, never a missed difference.
    const json = col.json && c.type === "json";
    if (
      !NATIVE_TYPES.has(col.dataType) ||
      (!json && (col.json || mysqlLogicalType({ ...col, declared: null }) !== c.type))
    )
      return null;
    const textual = c.type === "text" || json;
    if (textual && !UTF8.has(col.charset ?? "")) return null;
    const ref = refs[i]!;
    // Text as its bytes: columns in different collations (utf8mb4_bin beside utf8mb4_nopad_bin) cannot be
    // CONCATenated as text ("Illegal mix of collations"); their UTF-8 bytes can.
    const bytes = textual ? `CAST(${ref} AS BINARY)` : ref;
    // A MEDIUM or LONG value stands in by its SHA1: the server builds no string past max_allowed_packet (the
    // row's CONCAT would be NULL, and the row would drop out of the XOR unseen).
    const content = LONG_TYPES.has(col.dataType) ? `SHA1(${bytes})` : bytes;
    const text = textual || c.type === "bytes" ? `CONCAT(LENGTH(${ref}), ':', ${content})` : ref;
    parts.push(!col.nullable ? text : `COALESCE(${text}, 'N')`);
    columns.push([c.name, col.columnType, c.type, textual ? "utf-8" : ""]);
  }
  return { expression: `LEFT(SHA1(CONCAT(${parts.join(", '|', ")})), 16)`, columns };
}
