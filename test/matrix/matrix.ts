/**
 * The type matrix: every column type each store's connector accepts, with edge values, compared across every
 * pair of stores through the engine (`runDataset`, connectors from `openConnector`). For each store pair ×
 * type family × value:
 * - equal ⇒ no divergence (also when the two stores were handed different spellings of it);
 * - different ⇒ a divergence on exactly that column;
 * - repair ⇒ the target holds the value in its own native terms (read back with the store's own client: the
 *   same as when the store's client writes the value itself), or that row's repair fails with one line
 *   naming the column and its type (as the target's `describe()` names it), and the row stays divergent.
 * Keys likewise: keys missing on the target are found and inserted exactly, or refused (two keys Concord
 * tells apart that the target's collation cannot hold both of).
 *
 * How to add a store (stable interface; nothing else needs to change): add `test/matrix/stores/<name>.ts`
 * exporting `store: MatrixStore`. It names its column types by family (`families.ts`: the shared value
 * vocabulary, each value with its canonical text), says which values each type holds, how its client is
 * handed a value, and how to create a table, read cells back natively and point Concord at the table. The
 * tests (type-matrix.test.ts for values, key-matrix.test.ts for keys; run-value-matrix.ts and run-key-matrix.ts do the work) run every
 * unordered pair of the stores whose servers answer, a store with itself included, both directions for two
 * different stores. A family is compared between two stores when
 * both list types for it; every type of one is paired with every type of the other. Gaps a store knows it
 * has are declared in `known` with a reason (they are skipped and listed, never silently passed).
 *
 * Layout per direction (source S → target D): one table per store, one column per (family, S type, D type),
 * key `k` integer. Rows: equal values (each value both stores hold, canonical spelling), equal spellings (S
 * handed a spelling, D the canonical text), different values (S holds value i, D value i+1) and null against
 * a value both ways, packed many columns to a row; and one row per (column, value) D cannot hold, alone in
 * its row so only that row's repair fails. Scan, repair with S the owner, scan again, read D back natively.
 */
import type { ColumnType } from "../../src/core/canonical.js";

/** One logical value of a family. */
export interface MatrixValue {
  /** Unique within its family; reports name values by it. */
  readonly id: string;
  /** Concord's canonical text of the value (what every connector must read it as, in the family's type). */
  readonly canonical: string;
  /**
   * Other texts of the same value a store may be handed (JSON member order, `1.0` for `1`, `10:00:00` for
   * `10:00:00.000000`). Whether a store takes them is the type's `spells`.
   */
  readonly spellings?: readonly string[];
}

/** A family of column types compared with one another: the values any of them might hold. */
export interface MatrixFamily {
  readonly name: string;
  /** The logical type the values' canonical texts are in. */
  readonly logical: ColumnType;
  readonly values: readonly MatrixValue[];
}

/** A column type of one store, in one family. */
export interface MatrixColumnType {
  readonly family: string;
  /** The type as the store's DDL writes it ("numeric(10,2)", "DATETIME(6)", "REAL"). */
  readonly ddl: string;
  /** Whether the type holds `value` exactly. Default: every value of the family. */
  holds?(value: MatrixValue): boolean;
  /** Whether the store's client may be handed `spelling` for this type (default: no spellings). */
  spells?(spelling: string, value: MatrixValue): boolean;
  /**
   * What the store's client is handed to store the value spelled `text` (its canonical text or one of its
   * spellings). Default: the text itself.
   */
  encode?(text: string, value: MatrixValue): unknown;
}

/** A key column type of one store. */
export interface MatrixKeyType {
  /** "integer", "text" or "bytes": key values come from `KEY_VALUES[family]`. */
  readonly family: "integer" | "text" | "bytes";
  readonly ddl: string;
  /** Whether the type holds `key` (canonical text). Default: every key of the family. */
  holds?(key: string): boolean;
  /**
   * True when the column cannot hold both `a` and `b` (equal under its collation, though Concord, comparing
   * bytes, tells them apart). Default: never.
   */
  collides?(a: string, b: string): boolean;
  /** What the store's client is handed for a key. Default: the key text (integers as bigint). */
  encode?(key: string): unknown;
  /**
   * The logical type a dataset must declare for the key (`types:`) when the store describes this type as
   * something else (a numeric(20,0) key is described as decimal). Default: none declared.
   */
  readonly declare?: "integer" | "text";
}

/** A row as a store writes it: its key, and one encoded cell per column (undefined: NULL). */
export interface MatrixRow {
  readonly key: unknown;
  readonly cells: readonly unknown[];
}

/** A column of a table to create: its name and type. */
export interface MatrixColumn {
  readonly name: string;
  readonly type: MatrixColumnType;
}

/** Where one store keeps the matrix's tables for one test run. */
export interface MatrixSpace {
  /** Creates `table`: key `k` of `key` (its primary key), then `columns`, and writes `rows` natively. */
  create(
    table: string,
    key: MatrixKeyType,
    columns: readonly MatrixColumn[],
    rows: readonly MatrixRow[],
  ): Promise<void>;
  /** The replica's fields in the config (`url` and `table`, or `prefix` and `format`). */
  replica(table: string): Readonly<Record<string, string>>;
  /**
   * Every row's key and cells as the store's own client reads them, each cell as text in native terms (the
   * same stored value always reads the same; null for NULL), by the key's text.
   */
  read(table: string, columns: readonly string[]): Promise<Map<string, (string | null)[]>>;
  /** Drops what `create` made and closes the clients. */
  close(): Promise<void>;
}

/** A store in the matrix. */
export interface MatrixStore {
  /** Short name ("postgres", "sqlite"): names pairs and tables. */
  readonly name: string;
  /**
   * True for a store that keeps no column types (Redis): between two such stores the dataset declares each
   * column's family type (`types:`), as a user would; beside a typed store the other's types apply. Default
   * false.
   */
  readonly schemaless?: boolean;
  readonly types: readonly MatrixColumnType[];
  readonly keyTypes: readonly MatrixKeyType[];
  /**
   * Known gaps, skipped and listed with their reason: `family:valueId` (a value in any of the store's types of
   * that family), `family:ddl` (a type), `family:ddl:valueId`, or `key:ddl`.
   */
  readonly known?: Readonly<Record<string, string>>;
  /** Whether the store's server answers (the store's pairs are skipped otherwise; CI requires it). */
  available(): Promise<boolean>;
  /** A fresh space for one test file. */
  open(): Promise<MatrixSpace>;
}
