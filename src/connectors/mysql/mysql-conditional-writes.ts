/** Conditional writes on MariaDB/MySQL: lock, compare fingerprints, write only what matched, in one transaction. */
import type { PoolConnection } from "mysql2/promise";
import { describeRaw } from "../../core/canonical-errors.js";
import { fingerprintRow } from "../../core/fingerprint.js";
import { type Key, keyId } from "../../core/model.js";
import type { ConditionalWrite, WriteOutcome } from "../connector.js";
import { duplicateNullKeyMessage } from "../unique-key.js";
import { UnstorableValueError } from "./mysql-errors.js";
import type { MysqlSession } from "./mysql-session.js";
import type { MysqlShapeSql } from "./mysql-shape-sql.js";
import { cannotStoreLine } from "./mysql-write-literals.js";
import { statementBudget, writeStatements } from "./mysql-write-statements.js";

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
 *    being overwritten), in statements under max_allowed_packet (see `writeStatements`).
 * Any error rolls the transaction back and is rethrown; nothing is written unless everything is.
 */
export async function writeConditionally(
  session: MysqlSession,
  conn: PoolConnection,
  s: MysqlShapeSql,
  writes: readonly ConditionalWrite[],
  keysPerStatement: number,
  options: { readonly rollback?: boolean } = {},
): Promise<WriteOutcome[]> {
  // A key the table cannot hold is refused before anything is read (its lookup would fail the whole batch).
  for (const w of writes) if (w.next) s.refuseUnholdableKey(w.key);
  const unique = [
    ...new Map(writes.filter((w) => s.holdsKey(w.key)).map((w) => [keyId(w.key), w.key])).values(),
  ];
  await session.execute(conn, "START TRANSACTION");
  try {
    const initial = new Map<string, string>();
    const select = s.fingerprintExact ? `${s.keyRefs.join(", ")}, ${s.fingerprint}` : s.rawList;
    for (let i = 0; i < unique.length; i += keysPerStatement) {
      const part = unique.slice(i, i + keysPerStatement);
      const rows = await session.rows(
        conn,
        `SELECT ${select} FROM ${s.table} WHERE ${s.keysCondition(part)} FOR UPDATE`,
      );
      const oversize: Key[] = [];
      for (const row of rows) {
        const key = s.codec.key(row);
        // Only a key with NULL parts can name several rows (a unique index lets those repeat): never guess one.
        if (initial.has(keyId(key)) || oversize.some((k) => keyId(k) === keyId(key)))
          throw new UnstorableValueError(duplicateNullKeyMessage("", s.tableName, key));
        if (!s.fingerprintExact) initial.set(keyId(key), s.codec.fingerprintRaw(row));
        else if (row[s.keyWidth] == null) oversize.push(key);
        else initial.set(keyId(key), String(row[s.keyWidth]));
      }
      // Rows too long for the server to fingerprint (already locked): read whole, fingerprinted here.
      for (const key of oversize) {
        const [row] = await session.rows(
          conn,
          `SELECT ${s.rawList} FROM ${s.table} WHERE ${s.keysCondition([key])}`,
        );
        if (row) initial.set(keyId(key), s.codec.fingerprintRaw(row));
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
    const budget = statementBudget(session.maxPacket ?? 4 * 1024 * 1024);
    for (const sql of writeStatements(s, { deletes, updates, inserts }, keysPerStatement, budget))
      await session.execute(conn, sql);
    await checkGenerated(session, conn, s, [...updates, ...inserts], keysPerStatement);
    await session.execute(conn, options.rollback ? "ROLLBACK" : "COMMIT");
    return outcomes;
  } catch (err) {
    await conn.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/**
 * Generated columns are left out of every write, and the server computes them: re-reads the rows written (in
 * the batch's transaction) and refuses the batch when a generated column holds anything but the value the
 * write was to leave there, naming the column, the key and both values. The refusal rolls the batch back and
 * the executor writes it again row by row, so only such rows fail.
 */
async function checkGenerated(
  session: MysqlSession,
  conn: PoolConnection,
  s: MysqlShapeSql,
  rows: readonly { key: Key; values: Values }[],
  keysPerStatement: number,
): Promise<void> {
  const generated = s.generatedColumns();
  if (generated.length === 0) return;
  const all = [...s.shape.key, ...s.shape.columns];
  for (let at = 0; at < rows.length; at += keysPerStatement) {
    const part = rows.slice(at, at + keysPerStatement);
    const read = await session.rows(
      conn,
      `SELECT ${s.rawList} FROM ${s.table} WHERE ${s.keysCondition(part.map((r) => r.key))}`,
    );
    const held = new Map(read.map((row) => s.codec.record(row)).map((r) => [keyId(r.key), r.values]));
    for (const row of part) {
      const values = held.get(keyId(row.key));
      for (const i of generated) {
        const want = row.values[i - s.keyWidth] ?? null;
        const got = values?.[i - s.keyWidth] ?? null;
        if (want === got) continue;
        const type = all[i]!.type;
        const show = (v: string | null) =>
          v === null ? "NULL" : type === "text" || type === "json" ? describeRaw(v) : v;
        const col = s.nativeColumn(i);
        throw new UnstorableValueError(
          cannotStoreLine(
            col.name,
            col.columnType,
            show(want),
            row.key,
            `it is a generated column, which computed ${show(got)}`,
          ),
        );
      }
    }
  }
}
