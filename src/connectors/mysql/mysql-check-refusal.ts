/** Explains a CHECK constraint's refusal of a MariaDB/MySQL write batch: constraint, column(s), key. Catalog reads and rolled-back probes only. */
import { escape as sqlLiteral } from "mysql2/promise";
import { describeRaw } from "../../core/canonical-errors.js";
import type { ConditionalWrite } from "../connector.js";
import { errorMessage } from "../connector-errors.js";
import { writeConditionally } from "./mysql-conditional-writes.js";
import { mysqlErrorCode } from "./mysql-errors.js";
import type { MysqlSession } from "./mysql-session.js";
import type { MysqlShapeSql } from "./mysql-shape-sql.js";
import { cannotStoreLine } from "./mysql-write-literals.js";

/** At most this many writes of a failed batch are tried alone (each rolled back) to find the refused one. */
const PROBES = 200;

/** MariaDB's ER_CONSTRAINT_FAILED (4025; mysql2 knows the number by a MySQL name) and MySQL's 3819. */
export function isMysqlCheckViolation(err: unknown): boolean {
  const errno = typeof err === "object" && err !== null && "errno" in err ? Number(err.errno) : 0;
  return errno === 4025 || errno === 3819 || mysqlErrorCode(err) === "ER_CHECK_CONSTRAINT_VIOLATED";
}

/**
 * After a batch failed with a CHECK violation, the one-line reason naming the column the constraint covers,
 * the value and the key (`column price (decimal(10,2)) cannot store -1 at key ["2"]: <server message>`), or,
 * when the constraint covers several columns or none the shape has, the constraint, its columns and the key.
 * The columns are read from the catalog (information_schema.CHECK_CONSTRAINTS, the identifiers its clause
 * names); the key is the batch's one write, or the first of its writes that fails alone inside a transaction
 * that is rolled back (at most PROBES of them). Undefined when the constraint cannot be found.
 */
export async function diagnoseMysqlCheckViolation(
  session: MysqlSession,
  s: MysqlShapeSql,
  writes: readonly ConditionalWrite[],
  err: unknown,
  keysPerStatement: number,
): Promise<string | undefined> {
  const why = errorMessage(err).split("\n")[0]!;
  const name =
    /CONSTRAINT `((?:[^`]|``)+)` failed/.exec(why)?.[1]?.replaceAll("``", "`") ??
    /[Cc]heck constraint '((?:[^']|'')+)' is violated/.exec(why)?.[1]?.replaceAll("''", "'");
  if (name === undefined) return undefined;
  const ids = [...s.tableName.matchAll(/`((?:[^`]|``)*)`/g)].map((m) => m[1]!.replaceAll("``", "`"));
  const table = ids.at(-1)!;
  const schema = ids.length > 1 ? sqlLiteral(ids[0]) : "DATABASE()";
  const checks = await session.withConnection((conn) =>
    session.rows(
      conn,
      `SELECT c.CONSTRAINT_NAME, c.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS AS c
       JOIN information_schema.TABLE_CONSTRAINTS AS tc ON tc.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA
         AND tc.CONSTRAINT_NAME = c.CONSTRAINT_NAME AND tc.CONSTRAINT_TYPE = 'CHECK'
       WHERE c.CONSTRAINT_SCHEMA = ${schema} AND tc.TABLE_NAME = ${sqlLiteral(table)}`,
    ),
  );
  // MariaDB names a column's own constraint `table.column` in its message and `column` in the catalog.
  const own = name.startsWith(`${table}.`) ? name.slice(table.length + 1) : undefined;
  const found =
    checks.find((r) => String(r[0]) === name) ??
    checks.find((r) => own !== undefined && String(r[0]) === own);
  if (!found) return undefined;
  const constraint = String(found[0]);
  // The shape's columns the clause names, in the clause's order (column names are case-insensitive).
  const all = [...s.shape.key, ...s.shape.columns];
  const named = [...String(found[1]).matchAll(/`((?:[^`]|``)+)`/g)].map((m) =>
    m[1]!.replaceAll("``", "`").toLowerCase(),
  );
  const covered = [...new Set(named)].flatMap((n) => {
    const i = all.findIndex((c) => c.name.toLowerCase() === n);
    return i < 0 ? [] : [i];
  });
  const written = writes.filter((w) => w.next !== null);
  const w =
    written.length === 1 ? written[0] : await firstRefusedWrite(session, s, written, keysPerStatement);
  if (w && covered.length === 1) {
    const i = covered[0]!;
    const v = i < s.keyWidth ? w.key[i] : w.next?.[i - s.keyWidth];
    if (v !== null && v !== undefined) {
      const type = all[i]!.type;
      const shown =
        type === "text" || type === "json" ? describeRaw(v) : v.length > 60 ? `${v.slice(0, 57)}...` : v;
      return cannotStoreLine(all[i]!.name, s.columnType(i), shown, w.key, why);
    }
  }
  const names = covered.map((i) => all[i]!.name);
  const on = names.length === 0 ? "" : ` on column${names.length === 1 ? "" : "s"} ${names.join(", ")}`;
  return `check constraint "${constraint}"${on} refused the row${w ? ` at key ${JSON.stringify(w.key)}` : ""}: ${why}`;
}

/**
 * The first write (of the first PROBES) that fails alone with an error `refused` accepts (a CHECK violation by
 * default), each try rolled back; undefined when none does, or one fails otherwise.
 */
export async function firstRefusedWrite(
  session: MysqlSession,
  s: MysqlShapeSql,
  writes: readonly ConditionalWrite[],
  keysPerStatement: number,
  refused: (err: unknown) => boolean = isMysqlCheckViolation,
): Promise<ConditionalWrite | undefined> {
  for (const w of writes.slice(0, PROBES)) {
    try {
      await session.withConnection((conn) =>
        writeConditionally(session, conn, s, [w], keysPerStatement, { rollback: true }),
      );
    } catch (err) {
      if (refused(err)) return w;
      return undefined;
    }
  }
  return undefined;
}
