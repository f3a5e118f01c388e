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
   * The table's storage engine when it keeps no transactions (MyISAM, Aria, MEMORY, …), or null (InnoDB, or a
   * view): such a table cannot take a conditional write, which locks, checks and writes in one transaction.
   */
  readonly nonTransactional: string | null;
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
    const nonTransactional =
      engine == null || String(transactions ?? "").toUpperCase() === "YES" ? null : String(engine);
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
