/** Conditional writes on MariaDB/MySQL: lock, compare fingerprints, write only what matched, in one transaction. */
import type { PoolConnection } from "mysql2/promise";
import { fingerprintRow } from "../../core/fingerprint.js";
import { type Key, keyId } from "../../core/model.js";
import type { ConditionalWrite, WriteOutcome } from "../connector.js";
import type { MysqlSession } from "./mysql-session.js";
import type { MysqlShapeSql } from "./mysql-shape-sql.js";

type Values = readonly (string | null)[];

/**
 * Applies `writes` in one transaction on `conn`:
 * 1. `SELECT key, <fingerprint built in SQL> … WHERE key IN (batch) FOR UPDATE`: reads the latest committed
 *    rows and locks them (and, under REPEATABLE READ, the gaps where absent keys would go) until commit,
 *    so nobody can change or insert them between the check and the write.
 * 2. Decides each write in order against the current fingerprint (a later write to the same key sees what
 *    the earlier one left): `noop` if it already holds `next`, `superseded` if it holds anything but
 *    `expected`, else `applied`.
 * 3. Writes each key's final state once: DELETE, UPDATE (a CASE per column over the keys) or INSERT (plain,
 *    never an upsert: a concurrent insert the locks did not prevent fails the whole transaction instead of
 *    being overwritten).
 * Any error rolls the transaction back and is rethrown; nothing is written unless everything is.
 */
export async function writeConditionally(
  session: MysqlSession,
  conn: PoolConnection,
  s: MysqlShapeSql,
  writes: readonly ConditionalWrite[],
  keysPerStatement: number,
): Promise<WriteOutcome[]> {
  const unique = [...new Map(writes.map((w) => [keyId(w.key), w.key])).values()];
  await session.execute(conn, "START TRANSACTION");
  try {
    const initial = new Map<string, string>();
    const select = s.pushable ? `${s.keyRefs.join(", ")}, ${s.fingerprint}` : s.rawList;
    for (let i = 0; i < unique.length; i += keysPerStatement) {
      const part = unique.slice(i, i + keysPerStatement);
      const rows = await session.rows(
        conn,
        `SELECT ${select} FROM ${s.table} WHERE ${s.keysCondition(part)} FOR UPDATE`,
      );
      for (const row of rows) {
        initial.set(
          keyId(s.codec.key(row)),
          s.pushable ? String(row[s.keyWidth]) : s.codec.fingerprintRaw(row),
        );
      }
    }
    const state = new Map<string, { key: Key; fp: string | null; values: Values | null }>();
    for (const key of unique)
      state.set(keyId(key), { key, fp: initial.get(keyId(key)) ?? null, values: null });
    const outcomes = writes.map((w): WriteOutcome => {
      const id = keyId(w.key);
      const current = state.get(id)!.fp;
      const next = w.next ? fingerprintRow(w.key, w.next) : null;
      if (current === next) return "noop";
      if (current !== w.expected) return "superseded";
      state.set(id, { key: w.key, fp: next, values: w.next });
      return "applied";
    });
    const deletes: Key[] = [];
    const updates: { key: Key; values: Values }[] = [];
    const inserts: { key: Key; values: Values }[] = [];
    for (const [id, end] of state) {
      const before = initial.get(id) ?? null;
      if (end.fp === before) continue;
      if (end.fp === null) deletes.push(end.key);
      else if (before === null) inserts.push({ key: end.key, values: end.values! });
      else updates.push({ key: end.key, values: end.values! });
    }
    await writeRows(session, conn, s, { deletes, updates, inserts }, keysPerStatement);
    await session.execute(conn, "COMMIT");
    return outcomes;
  } catch (err) {
    await conn.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

async function writeRows(
  session: MysqlSession,
  conn: PoolConnection,
  s: MysqlShapeSql,
  rows: {
    readonly deletes: readonly Key[];
    readonly updates: readonly { key: Key; values: Values }[];
    readonly inserts: readonly { key: Key; values: Values }[];
  },
  n: number,
): Promise<void> {
  const names = s.columnNames();
  for (let i = 0; i < rows.deletes.length; i += n) {
    await session.execute(
      conn,
      `DELETE t FROM ${s.table} WHERE ${s.keysCondition(rows.deletes.slice(i, i + n))}`,
    );
  }
  for (let i = 0; i < rows.updates.length && names.length > s.keyWidth; i += n) {
    // Each column is a CASE over the chunk's keys (exact, binary-safe key tests); the WHERE finds the
    // rows through the key's index.
    const part = rows.updates.slice(i, i + n);
    const literals = part.map((u) => s.rowLiterals([...u.key, ...u.values]));
    const tests = part.map((u) => s.keysCondition([u.key]));
    const sets = names.slice(s.keyWidth).map((name, c) => {
      const arms = part.map((_, r) => `WHEN ${tests[r]} THEN ${literals[r]![s.keyWidth + c]}`).join(" ");
      return `t.${name} = CASE ${arms} END`;
    });
    const where = s.keysCondition(part.map((u) => u.key));
    await session.execute(conn, `UPDATE ${s.table} SET ${sets.join(", ")} WHERE ${where}`);
  }
  for (let i = 0; i < rows.inserts.length; i += n) {
    const values = rows.inserts
      .slice(i, i + n)
      .map((u) => `(${s.rowLiterals([...u.key, ...u.values]).join(", ")})`);
    await session.execute(
      conn,
      `INSERT INTO ${s.tableName} (${names.join(", ")}) VALUES ${values.join(", ")}`,
    );
  }
}
