/** Reads a MariaDB/MySQL table's columns and indexes from information_schema. Reads only. */
import { ConnectorError } from "../connector.js";
import type { UniqueIndex } from "../unique-key.js";
import { stringLiteral } from "./mysql-canonical-sql.js";
import { declaredType, type MysqlColumn } from "./mysql-column-types.js";
import type { MysqlSession } from "./mysql-session.js";

/** A table's native columns and the indexes whose leading columns could serve key order. */
export interface MysqlTableMeta {
  readonly columns: readonly MysqlColumn[];
  readonly byName: ReadonlyMap<string, MysqlColumn>;
  /** Index name → its columns in order (PRIMARY first). */
  readonly indexes: ReadonlyMap<string, readonly string[]>;
  /**
   * Its unique indexes (PRIMARY first; none with an expression part), or null for a view, whose rows alone
   * can tell whether a key is unique.
   */
  readonly unique: readonly UniqueIndex[] | null;
  /**
   * A table the replica writes into whose storage engine keeps no transactions (MyISAM, Aria, MEMORY, …), or
   * null (InnoDB): such a table cannot take a conditional write, which locks, checks and writes in one
   * transaction. For a view, the first such table it reads, through other views too (`viewBaseTables`).
   */
  readonly nonTransactional: NonTransactional | null;
}

/** A table without transactions that a replica's writes would reach. */
export interface NonTransactional {
  /** Its storage engine, as the server names it (`MyISAM`). */
  readonly engine: string;
  /** For a view: the base table (`db.name`) that has that engine; undefined when it is the replica's own table. */
  readonly baseTable?: string;
}

/** Whether a table's engine (information_schema's ENGINE, and ENGINES.TRANSACTIONS for it) keeps no transactions. */
function keepsNoTransactions(engine: unknown, transactions: unknown): boolean {
  return engine != null && String(transactions ?? "").toUpperCase() !== "YES";
}

/** Views followed inside views before giving up (MariaDB nests them far less deep). */
const MAX_VIEW_DEPTH = 16;

/**
 * The (schema, table) pairs a view definition names, as the server stores it (MariaDB and MySQL write every
 * table `schema`.`name`, every column `schema`.`name`.`column` or `alias`.`column`): each chain of exactly
 * two backquoted names, outside string literals. An alias chain (`x`.`k`) is a candidate too; the caller
 * keeps only the pairs information_schema knows as tables or views.
 */
export function viewTableCandidates(definition: string): [schema: string, table: string][] {
  const out: [string, string][] = [];
  const token = /'(?:[^'\\]|\\.|'')*'|`(?:[^`]|``)+`(?:\s*\.\s*`(?:[^`]|``)+`)*/gs;
  for (const m of definition.matchAll(token)) {
    if (m[0].startsWith("'")) continue;
    const parts = [...m[0].matchAll(/`((?:[^`]|``)+)`/g)].map((p) => p[1]!.replaceAll("``", "`"));
    if (parts.length === 2) out.push([parts[0]!, parts[1]!]);
  }
  return out;
}

/**
 * The first table without transactions under view `db`.`tbl` (SQL expressions), following views inside it,
 * or null when every table it reads keeps transactions. A definition the connection may not read (no SHOW
 * VIEW privilege: information_schema shows it empty) names no table, so such a view is written as before.
 */
async function viewBaseTables(
  session: MysqlSession,
  conn: Parameters<MysqlSession["rows"]>[0],
  db: string,
  tbl: string,
): Promise<NonTransactional | null> {
  const seen = new Set<string>();
  let views = [[db, tbl]];
  for (let depth = 0; views.length > 0 && depth < MAX_VIEW_DEPTH; depth++) {
    const defs = await session.rows(
      conn,
      "SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE " +
        views.map(([d, t]) => `(TABLE_SCHEMA = ${d} AND TABLE_NAME = ${t})`).join(" OR "),
    );
    const pairs = defs
      .flatMap(([def]) => viewTableCandidates(String(def ?? "")))
      .filter(([d, t]) => {
        const id = JSON.stringify([d, t]);
        if (seen.has(id)) return false;
        seen.add(id);
        return true;
      });
    if (pairs.length === 0) return null;
    const found = await session.rows(
      conn,
      "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, t.ENGINE, e.TRANSACTIONS FROM information_schema.TABLES t " +
        "LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE WHERE " +
        pairs
          .map(([d, t]) => `(t.TABLE_SCHEMA = ${stringLiteral(d)} AND t.TABLE_NAME = ${stringLiteral(t)})`)
          .join(" OR ") +
        " ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME",
    );
    views = [];
    for (const [schema, name, type, engine, transactions] of found) {
      if (String(type) === "VIEW") views.push([stringLiteral(String(schema)), stringLiteral(String(name))]);
      else if (keepsNoTransactions(engine, transactions))
        return { engine: String(engine), baseTable: `${String(schema)}.${String(name)}` };
    }
  }
  return null;
}

/**
 * The metadata of `table` (`name` in the connection's database, or `db.name`). Throws a ConnectorError
 * naming the table when it does not exist, and saying so when the URL names no database.
 */
export function readMysqlTableMeta(
  session: MysqlSession,
  table: string,
  label: string,
): Promise<MysqlTableMeta> {
  const dot = table.indexOf(".");
  const schema = dot < 0 ? null : table.slice(0, dot);
  const name = dot < 0 ? table : table.slice(dot + 1);
  const db = schema === null ? "DATABASE()" : stringLiteral(schema);
  const tbl = stringLiteral(name);
  return session.read("cannot describe table", async (conn) => {
    const cols = await session.rows(
      conn,
      "SELECT COLUMN_NAME, LOWER(DATA_TYPE), LOWER(COLUMN_TYPE), CHARACTER_SET_NAME, COLLATION_NAME, " +
        "DATETIME_PRECISION, COLUMN_COMMENT, IS_NULLABLE, COLUMN_TYPE, EXTRA FROM information_schema.COLUMNS " +
        `WHERE TABLE_SCHEMA = ${db} AND TABLE_NAME = ${tbl} ORDER BY ORDINAL_POSITION`,
    );
    if (cols.length === 0) {
      const [[current] = []] = await session.rows(conn, "SELECT DATABASE()");
      if (schema === null && current == null) {
        throw new ConnectorError(`${label}: no database selected (name it in the URL path)`);
      }
      throw new ConnectorError(
        `${label}: cannot describe table: table ${schema ?? current}.${name} does not exist`,
      );
    }
    // MariaDB keeps JSON as LONGTEXT with a json_valid() column check. MySQL 8 has a real JSON type, and its
    // CHECK_CONSTRAINTS view has no TABLE_NAME, so only MariaDB is asked.
    const jsonColumns = new Set<string>();
    if (session.flavor === "mariadb") {
      const checks = await session.rows(
        conn,
        "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS " +
          `WHERE CONSTRAINT_SCHEMA = ${db} AND TABLE_NAME = ${tbl} AND LEVEL = 'Column'`,
      );
      for (const [clause] of checks) {
        const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(String(clause).trim());
        if (m) jsonColumns.add(m[1]!.replaceAll("``", "`"));
      }
    }
    const stats = await session.rows(
      conn,
      `SELECT INDEX_NAME, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${db} ` +
        `AND TABLE_NAME = ${tbl} ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`,
    );
    const indexes = new Map<string, string[]>();
    const uniqueNames = new Set<string>();
    const expressions = new Set<string>();
    for (const [index, column, nonUnique] of stats) {
      const name = String(index);
      // MySQL 8's functional key parts have no column name.
      if (column == null) expressions.add(name);
      const list = indexes.get(name) ?? [];
      list.push(String(column));
      indexes.set(name, list);
      if (Number(nonUnique) === 0) uniqueNames.add(name);
    }
    const [[tableType, engine, transactions] = []] = await session.rows(
      conn,
      "SELECT t.TABLE_TYPE, t.ENGINE, e.TRANSACTIONS FROM information_schema.TABLES t " +
        "LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE " +
        `WHERE t.TABLE_SCHEMA = ${db} AND t.TABLE_NAME = ${tbl}`,
    );
    // MariaDB and MySQL unique indexes let rows with a NULL in them repeat (no NULLS NOT DISTINCT).
    const unique =
      String(tableType) === "VIEW"
        ? null
        : [...uniqueNames]
            .filter((name) => !expressions.has(name))
            .map((name) => ({ name, columns: indexes.get(name) ?? [], nullsDistinct: true }));
    const columns: MysqlColumn[] = cols.map((r) => ({
      name: String(r[0]),
      dataType: String(r[1]),
      // An ENUM's or SET's members keep their case (they are values); every other type name is lower case.
      columnType: /^(enum|set)\(/i.test(String(r[8])) ? String(r[8]) : String(r[2]),
      charset: r[3] == null ? null : String(r[3]),
      collation: r[4] == null ? null : String(r[4]),
      fsp: r[5] == null ? null : Number(r[5]),
      json: jsonColumns.has(String(r[0])),
      declared: declaredType(r[6] == null ? null : String(r[6])),
      nullable: String(r[7]) !== "NO",
      // Not MySQL 8's DEFAULT_GENERATED (a default expression): those columns take written values.
      generated: /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.test(String(r[9] ?? "")),
      ...(/^(enum|set)\(/i.test(String(r[8])) ? { members: enumMembers(String(r[8])) } : {}),
    }));
    // A view writes into the tables it reads: their engines decide (a MyISAM table is no safer behind one).
    const nonTransactional =
      String(tableType) === "VIEW"
        ? await viewBaseTables(session, conn, db, tbl)
        : keepsNoTransactions(engine, transactions)
          ? { engine: String(engine) }
          : null;
    return { columns, byName: new Map(columns.map((c) => [c.name, c])), indexes, unique, nonTransactional };
  });
}

/** The first index (PRIMARY preferred) whose leading columns are the key columns in order, or null. */
export function mysqlKeyIndex(meta: MysqlTableMeta, keyColumns: readonly string[]): string | null {
  for (const [name, cols] of meta.indexes) {
    if (keyColumns.every((k, i) => cols[i] === k)) return name;
  }
  return null;
}

/** The members an ENUM or SET declares, as written: "enum('a','B''c')" → ["a", "B'c"]. */
export function enumMembers(columnType: string): string[] {
  const list = columnType.slice(columnType.indexOf("(") + 1, columnType.lastIndexOf(")"));
  return [...list.matchAll(/'((?:[^'\\]|''|\\.)*)'/g)].map((m) =>
    m[1]!.replaceAll("''", "'").replace(/\\(.)/g, "$1"),
  );
}
