/** Explains MariaDB/MySQL's refusal of a spatial value in a write batch: column, value and key. Rolled-back probes and a SELECT only. */
import type { ConditionalWrite } from "../connector.js";
import { errorMessage } from "../connector-errors.js";
import { firstRefusedWrite } from "./mysql-check-refusal.js";
import { GEOMETRY_TYPES } from "./mysql-column-types.js";
import type { MysqlSession } from "./mysql-session.js";
import type { MysqlShapeSql } from "./mysql-shape-sql.js";
import { cannotStoreLine } from "./mysql-write-literals.js";

/** The server's errno for bytes it cannot read as a geometry (ER_CANT_CREATE_GEOMETRY_OBJECT). */
const NOT_A_GEOMETRY = 1416;
/** ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: a geometry of another type than a POINT, LINESTRING… column holds. */
const WRONG_VALUE = 1366;

function errnoOf(err: unknown): number {
  return typeof err === "object" && err !== null && "errno" in err ? Number(err.errno) : 0;
}

/** The shape's spatial columns (indexes among key and compared columns). */
function spatialColumns(s: MysqlShapeSql): number[] {
  const all = [...s.shape.key, ...s.shape.columns];
  return all.flatMap((_, i) => (GEOMETRY_TYPES.has(s.columnType(i).toLowerCase()) ? [i] : []));
}

/**
 * True when `err` is the server refusing a spatial value (bytes that are no geometry, or a geometry of
 * another type than the column's) and the shape has a spatial column: `diagnoseMysqlGeometryRefusal` can
 * name the column and key.
 */
export function isMysqlGeometryRefusal(s: MysqlShapeSql, err: unknown): boolean {
  const errno = errnoOf(err);
  if (errno !== NOT_A_GEOMETRY && errno !== WRONG_VALUE) return false;
  const spatial = spatialColumns(s);
  if (spatial.length === 0) return false;
  if (errno === NOT_A_GEOMETRY) return true;
  const all = [...s.shape.key, ...s.shape.columns];
  const column = /for column (?:`(?:[^`]|``)*`\.)*`((?:[^`]|``)*)`/.exec(errorMessage(err))?.[1];
  return spatial.some((i) => all[i]!.name.toLowerCase() === column?.replaceAll("``", "`").toLowerCase());
}

/**
 * After a batch failed with `isMysqlGeometryRefusal`, the one-line reason naming the table, the column, the
 * value (its bytes in hex, shortened) and the key: `table `db`.`t`: column g (geometry) cannot store X'0102'
 * at key ["2"]: Cannot get geometry object from data you send to the GEOMETRY field`. The key is the batch's
 * one write, or the first that fails alone in a transaction rolled back; the column the one the server names,
 * or the first spatial value of that write the server cannot read as a geometry (`ST_AsText` is NULL), or the
 * only spatial column the write gives a value. Undefined when no write or column can be told.
 */
export async function diagnoseMysqlGeometryRefusal(
  session: MysqlSession,
  s: MysqlShapeSql,
  writes: readonly ConditionalWrite[],
  err: unknown,
  keysPerStatement: number,
): Promise<string | undefined> {
  const why = errorMessage(err).split("\n")[0]!;
  const written = writes.filter((w) => w.next !== null);
  const w =
    written.length === 1
      ? written[0]
      : await firstRefusedWrite(session, s, written, keysPerStatement, (e) => errnoOf(e) === errnoOf(err));
  if (!w) return undefined;
  const all = [...s.shape.key, ...s.shape.columns];
  const valueAt = (i: number) => (i < s.keyWidth ? w.key[i] : w.next?.[i - s.keyWidth]) ?? null;
  const given = spatialColumns(s).filter((i) => valueAt(i) !== null);
  const named = /for column (?:`(?:[^`]|``)*`\.)*`((?:[^`]|``)*)`/.exec(why)?.[1]?.replaceAll("``", "`");
  let column = given.find((i) => all[i]!.name.toLowerCase() === named?.toLowerCase());
  if (column === undefined && given.length > 1) {
    // Which of them is no geometry: the server reads each value as it would the column's.
    const probe = given.map((i) => `ST_AsText(X'${valueAt(i)}') IS NULL`).join(", ");
    const [row] = await session.withConnection((conn) => session.rows(conn, `SELECT ${probe}`));
    const at = row?.findIndex((v) => Number(v) === 1) ?? -1;
    column = at >= 0 ? given[at] : undefined;
  }
  column ??= given.length === 1 ? given[0] : undefined;
  if (column === undefined) return undefined;
  const hex = valueAt(column)!;
  const shown = `X'${hex.length > 48 ? `${hex.slice(0, 48)}…` : hex}'`;
  return `table ${s.tableName}: ${cannotStoreLine(all[column]!.name, s.columnType(column), shown, w.key, why)}`;
}
