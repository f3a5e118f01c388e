/** The statements a conditional write runs on MariaDB/MySQL, as text with its values inlined (`repair --print`). Builds text only: no I/O. */
import type { ConditionalWrite } from "../connector.js";
import type { MysqlShapeSql } from "./mysql-shape-sql.js";
import { statementBudget, writeStatements } from "./mysql-write-statements.js";

/**
 * For each write, the statements `writeConditionally` runs for that key alone (it batches the same kinds
 * over many keys), after a comment naming the condition: they run only when the row locked by
 * `SELECT … FOR UPDATE` still holds the fingerprint observed (or is still absent), in one transaction.
 */
export function printMysqlWrites(
  s: MysqlShapeSql,
  writes: readonly ConditionalWrite[],
  maxPacket: number,
): string[] {
  const budget = statementBudget(maxPacket);
  return writes.map((w) => {
    const changes =
      w.next === null
        ? { deletes: [w.key], updates: [], inserts: [] }
        : w.expected === null
          ? { deletes: [], updates: [], inserts: [{ key: w.key, values: w.next }] }
          : { deletes: [], updates: [{ key: w.key, values: w.next }], inserts: [] };
    const condition =
      w.expected === null
        ? "-- only if the row is still absent (checked under SELECT … FOR UPDATE, in one transaction)"
        : `-- only if the row's fingerprint is still ${w.expected} (checked under SELECT … FOR UPDATE, in one transaction)`;
    const statements = writeStatements(s, changes, 1, budget).map((sql) => `${sql};`);
    return [condition, ...statements].join("\n");
  });
}
