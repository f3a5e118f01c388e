/**
 * One row a store refuses never fails its batch: the executor writes a refused batch row by row, so only the
 * refused row is `failed` (with the store's message) and the circuit breaker is not opened by data errors,
 * while an unreachable replica, or one that takes no write at all, still opens it. Real stores: SQLite
 * (CHECK constraint, read-only file), PostgreSQL (a value the column rejects), MariaDB/MySQL (a duplicate
 * under a case-insensitive collation).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import { openMysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import { openSqliteConnector } from "../../src/connectors/sqlite/sqlite-connector.js";
import { keyId } from "../../src/core/model.js";
import { type ExecuteContext, executeRepairs, type RepairTask } from "../../src/execute/execute-repairs.js";
import { WriteGuard, type WriteGuardOptions } from "../../src/execute/write-guard.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";
import { createMysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";
import {
  makeReplicas,
  openReplica,
  type ReplicaPair,
  repairTasks,
  rowsOf,
  SHAPE,
} from "./repair-replicas.js";

let dir: string;
let pair: ReplicaPair;
let state: SqliteStateStore;
const closing: Connector[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-rows-"));
  state = SqliteStateStore.open(join(dir, "state.db"));
});

afterEach(async () => {
  for (const c of closing.splice(0)) await c.close();
  await state.close();
  rmSync(dir, { recursive: true, force: true });
});

function track<C extends Connector>(c: C): C {
  closing.push(c);
  return c;
}

function execute(
  tasks: readonly RepairTask[],
  target: Connector,
  guard: WriteGuardOptions = {},
  batchSize = 50,
) {
  const ctx: ExecuteContext = {
    runId: "run-1",
    shape: SHAPE,
    replicas: new Map([["b", target]]),
    state,
    guard: new WriteGuard({ maxAttempts: 2, initialDelayMs: 0, maxDelayMs: 0, ...guard }),
    now: () => 1000,
    batchSize,
  };
  return executeRepairs("items", tasks, ctx);
}

/** Sets the source's name of these ids (to values the target will refuse). */
function rename(path: string, names: Record<number, string>): void {
  const db = new Database(path);
  for (const [id, name] of Object.entries(names))
    db.prepare("UPDATE items SET name = ? WHERE id = ?").run(name, id);
  db.close();
}

const byOutcome = (results: readonly { outcome: string }[]) => {
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
  return counts;
};

describe("a row the store refuses, SQLite target", () => {
  it("fails alone, with the store's message, and the rest of its batch is applied", async () => {
    pair = makeReplicas(dir, 40, 1, ", CHECK (length(name) <= 12)");
    rename(pair.a, { 7: "a name far too long for the target" });
    const tasks = await repairTasks(track(openReplica(pair.a, "a")), track(openReplica(pair.b, "b")), 40);
    const results = await execute(tasks, track(openReplica(pair.b, "b")));
    expect(byOutcome(results)).toEqual({ applied: 39, failed: 1 });
    const failed = results.find((r) => r.outcome === "failed")!;
    expect(failed.key).toEqual(["7"]);
    expect(failed.error).toMatch(/^b: conditional write failed: CHECK constraint failed/);
    expect(failed.error).not.toContain("\n");
    const ledger = await state.listRepairs({});
    expect(ledger.filter((e) => e.outcome === "failed").map((e) => [e.key, e.error])).toEqual([
      [["7"], failed.error],
    ]);
    expect((await state.readAudit()).filter((e) => e.type === "failed").map((e) => e.key)).toEqual([
      keyId(["7"]),
    ]);
    const want = rowsOf(pair.a).filter(([id]) => id !== 7);
    expect(rowsOf(pair.b).filter(([id]) => id !== 7)).toEqual(want);
    expect(rowsOf(pair.b).find(([id]) => id === 7)).toEqual([7, "stale-7"]);
  });

  it("does not open the circuit however many batches hold a refused row", async () => {
    pair = makeReplicas(dir, 60, 1, ", CHECK (length(name) <= 12)");
    rename(pair.a, {
      3: "x".repeat(20),
      14: "y".repeat(20),
      25: "z".repeat(20),
      26: "w".repeat(20),
      47: "v".repeat(20),
    });
    const tasks = await repairTasks(track(openReplica(pair.a, "a")), track(openReplica(pair.b, "b")), 60);
    // A circuit that opens at the first failure it counts: none is counted.
    const results = await execute(tasks, track(openReplica(pair.b, "b")), { breakAfter: 1 }, 10);
    expect(byOutcome(results)).toEqual({ applied: 55, failed: 5 });
    for (const r of results.filter((x) => x.outcome === "failed"))
      expect(r.error).toMatch(/CHECK constraint failed/);
  });

  it("opens the circuit for a replica that cannot be reached", async () => {
    pair = makeReplicas(dir, 30);
    const tasks = await repairTasks(track(openReplica(pair.a, "a")), track(openReplica(pair.b, "b")), 30);
    const gone = openReplica(pair.b, "b");
    await gone.close();
    const results = await execute(tasks, gone, { breakAfter: 1, maxAttempts: 1 }, 10);
    expect(byOutcome(results)).toEqual({ failed: 30 });
    expect(results.slice(0, 10).every((r) => /database connection is not open/.test(r.error!))).toBe(true);
    expect(results.slice(10).every((r) => /circuit breaker is open/.test(r.error!))).toBe(true);
  });

  it("opens the circuit for a replica that answers reads but takes no write at all", async () => {
    pair = makeReplicas(dir, 20);
    const tasks = await repairTasks(track(openReplica(pair.a, "a")), track(openReplica(pair.b, "b")), 20);
    const readonly = track(openSqliteConnector(pair.b, "items", { readonly: true, label: "b" }));
    const results = await execute(tasks, readonly, { breakAfter: 2 }, 5);
    expect(byOutcome(results)).toEqual({ failed: 20 });
    // Two batches refused row by row count twice: the circuit opens, and the last two batches are not sent.
    expect(results.slice(0, 10).every((r) => /readonly database/.test(r.error!))).toBe(true);
    expect(results.slice(10).every((r) => /circuit breaker is open/.test(r.error!))).toBe(true);
    expect(rowsOf(pair.b)).not.toEqual(rowsOf(pair.a));
  });
});

describe.skipIf(!(await serviceAvailable(POSTGRES)))("a row the store refuses, PostgreSQL target", () => {
  it("fails alone (a value a CHECK constraint rejects), and the rest of its batch is applied", async () => {
    pair = makeReplicas(dir, 40);
    rename(pair.a, { 12: "a name far too long for the target", 31: "another name that does not fit" });
    const schema = await createPostgresTestSchema();
    try {
      await schema.admin.query(
        `CREATE TABLE ${schema.table("items")} (id bigint PRIMARY KEY, name text NOT NULL CHECK (length(name) <= 12), n bigint NOT NULL);
         INSERT INTO ${schema.table("items")} SELECT i, 'stale-' || i, i FROM generate_series(1, 40) AS i`,
      );
      const pool = schema.pool();
      const target = track(new PostgresConnector(pool, schema.table("items"), { label: "b" }));
      const tasks = await repairTasks(track(openReplica(pair.a, "a")), target, 40);
      expect(tasks.length).toBe(40);
      const results = await execute(tasks, target);
      expect(byOutcome(results)).toEqual({ applied: 38, failed: 2 });
      const failed = results.filter((r) => r.outcome === "failed");
      expect(failed.map((r) => r.key)).toEqual([["12"], ["31"]]);
      for (const [r, k] of failed.map((r, i) => [r, ["12", "31"][i]] as const))
        expect(r.error).toMatch(
          new RegExp(
            `^b: conditional write refused: column name \\(text\\) cannot store ".*" at key \\["${k}"\\]: new row for relation "items" violates check constraint "items_name_check"$`,
          ),
        );
      const { rows } = await schema.admin.query(
        `SELECT count(*)::int AS n FROM ${schema.table("items")} WHERE name LIKE 'item-%'`,
      );
      expect(rows).toEqual([{ n: 38 }]);
    } finally {
      await schema.drop();
    }
  });
});

describe.skipIf(!(await serviceAvailable(POSTGRES)))(
  "a value too long for a PostgreSQL varchar(n) or char(n)",
  () => {
    it.each(["varchar(12)", "char(12)"])(
      "%s: the row fails with the store's message and keeps what it held (never cut to fit)",
      async (type) => {
        pair = makeReplicas(dir, 40);
        rename(pair.a, { 12: "a name far too long for the target" });
        const schema = await createPostgresTestSchema();
        try {
          await schema.admin.query(
            `CREATE TABLE ${schema.table("items")} (id bigint PRIMARY KEY, name ${type} NOT NULL, n bigint NOT NULL);
           INSERT INTO ${schema.table("items")} SELECT i, 'stale-' || i, i FROM generate_series(1, 40) AS i`,
          );
          const target = track(new PostgresConnector(schema.pool(), schema.table("items"), { label: "b" }));
          const tasks = await repairTasks(track(openReplica(pair.a, "a")), target, 40);
          const results = await execute(tasks, target);
          const failed = results.filter((r) => r.outcome === "failed");
          expect(failed.map((r) => r.key)).toEqual([["12"]]);
          expect(failed[0]!.error).toMatch(
            /^b: conditional write refused: column name \(character(?: varying)?\(12\)\) cannot store "a name far too long for the target": longer than 12 characters$/,
          );
          const { rows } = await schema.admin.query(
            `SELECT trim(name) AS name FROM ${schema.table("items")} WHERE id = 12`,
          );
          expect(rows).toEqual([{ name: "stale-12" }]);
        } finally {
          await schema.drop();
        }
      },
    );
  },
);

describe.skipIf(!(await serviceAvailable(POSTGRES)))(
  "a PostgreSQL CHECK constraint (the table's, or a column's domain's) refusing a repair",
  () => {
    const LONG = '"a name far too long for the target"';
    it.each<[string, (schema: string) => string, (schema: string) => string]>([
      [
        "a domain's check",
        (q) => `CREATE DOMAIN ${q}.short_name AS text CHECK (length(VALUE) <= 12);
          CREATE TABLE ${q}.items (id bigint PRIMARY KEY, name ${q}.short_name NOT NULL, n bigint NOT NULL)`,
        (q) =>
          `column name (${q}.short_name) cannot store ${LONG} at key ["12"]: value for domain ${q}.short_name violates check constraint "short_name_check"`,
      ],
      [
        "a table check on one column",
        (q) =>
          `CREATE TABLE ${q}.items (id bigint PRIMARY KEY, name text NOT NULL CONSTRAINT name_short CHECK (length(name) <= 12), n bigint NOT NULL)`,
        () =>
          `column name (text) cannot store ${LONG} at key ["12"]: new row for relation "items" violates check constraint "name_short"`,
      ],
      [
        "a table check on two columns",
        (q) =>
          `CREATE TABLE ${q}.items (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL, CONSTRAINT short_or_negative CHECK (length(name) <= 12 OR n < 0))`,
        () =>
          `check constraint "short_or_negative" on columns name, n refused the row at key ["12"]: new row for relation "items" violates check constraint "short_or_negative"`,
      ],
    ])("%s: the row fails naming its column (or columns) and key", async (_, ddl, why) => {
      pair = makeReplicas(dir, 40);
      rename(pair.a, { 12: "a name far too long for the target" });
      const schema = await createPostgresTestSchema();
      try {
        const q = `"${schema.name}"`;
        await schema.admin.query(
          `${ddl(q)}; INSERT INTO ${schema.table("items")} SELECT i, 'stale-' || i, i FROM generate_series(1, 40) AS i`,
        );
        const target = track(new PostgresConnector(schema.pool(), schema.table("items"), { label: "b" }));
        const tasks = await repairTasks(track(openReplica(pair.a, "a")), target, 40);
        const results = await execute(tasks, target);
        expect(byOutcome(results)).toEqual({ applied: 39, failed: 1 });
        const failed = results.find((r) => r.outcome === "failed")!;
        expect(failed.key).toEqual(["12"]);
        expect(failed.error).toBe(`b: conditional write refused: ${why(schema.name)}`);
        const { rows } = await schema.admin.query(`SELECT name FROM ${schema.table("items")} WHERE id = 12`);
        expect(rows).toEqual([{ name: "stale-12" }]);
      } finally {
        await schema.drop();
      }
    });
  },
);

describe.skipIf(!(await serviceAvailable(POSTGRES)))(
  "an application writing a repaired row between the repair's write and its verification",
  () => {
    it("is superseded, not failed, naming what the row holds now; the application's value stays", async () => {
      pair = makeReplicas(dir, 10);
      const schema = await createPostgresTestSchema();
      try {
        await schema.admin.query(
          `CREATE TABLE ${schema.table("items")} (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL);
           INSERT INTO ${schema.table("items")} SELECT i, 'stale-' || i, i FROM generate_series(1, 10) AS i`,
        );
        const pg = track(new PostgresConnector(schema.pool(), schema.table("items"), { label: "b" }));
        // The application's UPDATE lands as soon as the repairs' batch committed, before the re-read.
        const target = new Proxy(pg, {
          get(t, prop, receiver) {
            if (prop !== "applyWrites") return Reflect.get(t, prop, receiver);
            return async (...args: Parameters<typeof pg.applyWrites>) => {
              const outcomes = await t.applyWrites(...args);
              await schema.admin.query(`UPDATE ${schema.table("items")} SET name = 'app' WHERE id = 4`);
              return outcomes;
            };
          },
        });
        const tasks = await repairTasks(track(openReplica(pair.a, "a")), pg, 10);
        const results = await execute(tasks, target);
        expect(byOutcome(results)).toEqual({ applied: 9, superseded: 1 });
        const four = results.find((r) => r.outcome === "superseded")!;
        expect(four.key).toEqual(["4"]);
        expect(four.error).toMatch(
          /^b changed after the repair landed: it holds [0-9a-f]+, not the [0-9a-f]+ written \(another writer or a trigger\); compared again next run$/,
        );
        expect((await state.listRepairs({})).find((e) => e.key[0] === "4")?.outcome).toBe("superseded");
        const { rows } = await schema.admin.query(`SELECT name FROM ${schema.table("items")} WHERE id = 4`);
        expect(rows).toEqual([{ name: "app" }]);
      } finally {
        await schema.drop();
      }
    });
  },
);

describe.skipIf(!(await serviceAvailable(MYSQL)))("a row the store refuses, MariaDB/MySQL target", () => {
  it("fails alone (a duplicate under a case-insensitive collation), and the rest of its batch is applied", async () => {
    pair = makeReplicas(dir, 30);
    // Unique by name, compared case-insensitively: "ITEM-3" collides with item-3 once both are written.
    rename(pair.a, { 20: "ITEM-3" });
    const db = await createMysqlTestDatabase();
    try {
      await db.admin.query(
        `CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(40) COLLATE utf8mb4_general_ci NOT NULL,
           n BIGINT NOT NULL, UNIQUE KEY by_name (name))`,
      );
      const values = Array.from({ length: 30 }, (_, i) => `(${i + 1}, 'stale-${i + 1}', ${i + 1})`).join(
        ", ",
      );
      await db.admin.query(`INSERT INTO items (id, name, n) VALUES ${values}`);
      const target = track(openMysqlConnector(db.url, "items", { label: "b" }));
      const tasks = await repairTasks(track(openReplica(pair.a, "a")), target, 30);
      const results = await execute(tasks, target);
      expect(byOutcome(results)).toEqual({ applied: 29, failed: 1 });
      const failed = results.find((r) => r.outcome === "failed")!;
      expect(failed.key).toEqual(["20"]);
      expect(failed.error).toMatch(/Duplicate entry/i);
    } finally {
      await db.drop();
    }
  });
});
