/** SQLite replica pairs with divergent rows, and the repair tasks between them, for executor tests. Tests only. */
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Connector } from "../../src/connectors/connector.js";
import { openSqliteConnector } from "../../src/connectors/sqlite/sqlite-connector.js";
import { type Key, keyId, type RecordShape } from "../../src/core/model.js";
import { repairId } from "../../src/core/repair-id.js";
import type { RepairTask } from "../../src/execute/execute-repairs.js";
import { inverseRepair } from "../../src/execute/inverse-repair.js";
import type { LedgerEntry } from "../../src/state/state-store.js";

export const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "n", type: "integer" },
  ],
};

/** The files of a source replica `a` and a target `b` in `dir`. */
export interface ReplicaPair {
  readonly a: string;
  readonly b: string;
}

/**
 * `a` holds rows 1 … rows; `b` holds the same rows except that every `every`-th differs (odd ones changed,
 * even ones missing). `ddl` may constrain `b`'s table (a CHECK constraint).
 */
export function makeReplicas(dir: string, rows: number, every = 1, ddl = ""): ReplicaPair {
  const pair = { a: join(dir, "a.db"), b: join(dir, "b.db") };
  for (const [name, path] of Object.entries(pair)) {
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.exec(
      `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL${name === "b" ? ddl : ""})`,
    );
    const insert = db.prepare("INSERT INTO items (id, name, n) VALUES (?, ?, ?)");
    db.transaction(() => {
      for (let id = 1; id <= rows; id++) {
        const differs = name === "b" && id % every === 0;
        if (differs && id % 2 === 0) continue;
        insert.run(id, differs ? `stale-${id}` : `item-${id}`, id);
      }
    })();
    db.close();
  }
  return pair;
}

/** A new connector on the replica's file, as another process would open it. */
export function openReplica(path: string, label: string): Connector {
  return openSqliteConnector(path, "items", { label });
}

/** Rows of `b` as [id, name] pairs, in id order. */
export function rowsOf(path: string): [number, string][] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT id, name FROM items ORDER BY id").raw().all() as [number, string][];
  } finally {
    db.close();
  }
}

/** The tasks that make `target` equal `source` for keys 1 … rows, as planning would build them. */
export async function repairTasks(source: Connector, target: Connector, rows: number): Promise<RepairTask[]> {
  const keys: Key[] = Array.from({ length: rows }, (_, i) => [String(i + 1)]);
  const want = new Map((await source.fetchRecords(SHAPE, keys)).map((r) => [keyId(r.key), r]));
  const have = new Map((await target.fetchRecords(SHAPE, keys)).map((r) => [keyId(r.key), r]));
  const tasks: RepairTask[] = [];
  for (const key of keys) {
    const s = want.get(keyId(key));
    const t = have.get(keyId(key));
    const expected = t?.fingerprint ?? null;
    const nextFingerprint = s?.fingerprint ?? null;
    if (expected === nextFingerprint) continue;
    tasks.push({
      id: repairId("items", key, "b", expected, nextFingerprint),
      dataset: "items",
      key,
      target: "b",
      expected,
      next: s?.values ?? null,
      nextFingerprint,
      before: t?.values ?? null,
      action: s ? "propagate" : "delete",
    });
  }
  return tasks;
}

/** The inverse tasks of applied ledger entries, built as `concord rollback` builds them. */
export function rollbackTasks(entries: readonly LedgerEntry[]): RepairTask[] {
  return entries.map(inverseRepair);
}
