/**
 * `concord rollback` of a large run holds one page of the ledger at a time: it reads the run's applied repairs
 * in pages (never the whole run at once) and still rolls back exactly all of them, the report streamed.
 */
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runRollback } from "../../src/cli/rollback.js";
import { SqliteRepairLedger } from "../../src/state/sqlite/sqlite-repair-ledger.js";
import {
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  itemsSnapshot,
  makeSqliteTable,
  type PlanJson,
  parseJson,
  query,
  runConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

const ROWS = 5000;
const PAGE = 700;

/** A stream that keeps what is written to it. */
class Sink extends Writable {
  text = "";
  override _write(chunk: string | Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += String(chunk);
    done();
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("concord rollback of a run with many repairs", () => {
  it(`reads the ledger ${PAGE} entries at a time and rolls back all ${ROWS} repairs`, async ({
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const a = join(dir, "a.db");
    const b = join(dir, "b.db");
    const rows = itemRows(ROWS);
    makeSqliteTable(a, "items", ITEMS_DDL, rows, {
      sql: "UPDATE items SET name = name || ' (new)', version = version + 1;",
    });
    makeSqliteTable(b, "items", ITEMS_DDL, rows);
    const config = writeConfig(dir, itemsConfig());
    const state = join(dir, "state.db");
    const original = JSON.stringify(itemsSnapshot(b));
    const repair = await runConcord(["repair", "--json", "-c", config]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;
    expect(JSON.stringify(itemsSnapshot(b))).not.toBe(original);

    // The most entries any one read of the ledger returned while rolling back: of the run's repairs, and of
    // any (audit verification reads the whole ledger, a page of its own size at a time).
    let most = 0;
    let mostOfRun = 0;
    let pages = 0;
    const realList = SqliteRepairLedger.prototype.listRepairs;
    const realPage = SqliteRepairLedger.prototype.listRepairsPage;
    vi.spyOn(SqliteRepairLedger.prototype, "listRepairs").mockImplementation(async function (
      this: SqliteRepairLedger,
      filter,
    ) {
      const got = await realList.call(this, filter);
      most = Math.max(most, got.length);
      return got;
    });
    vi.spyOn(SqliteRepairLedger.prototype, "listRepairsPage").mockImplementation(async function (
      this: SqliteRepairLedger,
      filter,
      options,
    ) {
      const got = await realPage.call(this, filter, options);
      if (filter.runId === runId) {
        pages++;
        mostOfRun = Math.max(mostOfRun, got.entries.length);
      }
      most = Math.max(most, got.entries.length);
      return got;
    });

    const stdout = new Sink();
    const stderr = new Sink();
    const code = await runRollback(
      { config, run: runId, json: true, pageSize: PAGE },
      { stdout, stderr, env: {}, cwd: dir },
    );
    expect(code, stderr.text).toBe(0);
    expect(mostOfRun).toBe(PAGE);
    expect(most).toBeLessThan(ROWS);
    // The run's pages: at least the ceil(ROWS / PAGE) that hold it, for the check of the images and the work.
    expect(pages).toBeGreaterThanOrEqual(2 * Math.ceil(ROWS / PAGE));

    const doc = JSON.parse(stdout.text) as {
      runId: string;
      interrupted: boolean;
      rollbacks: { repair: string; outcome: string }[];
    };
    expect(Object.keys(doc)).toEqual(["schemaVersion", "runId", "interrupted", "rollbacks", "warnings"]);
    expect(doc.interrupted).toBe(false);
    expect(doc.rollbacks).toHaveLength(ROWS);
    expect(new Set(doc.rollbacks.map((r) => r.repair)).size).toBe(ROWS);
    expect(doc.rollbacks.every((r) => r.outcome === "rolled-back")).toBe(true);
    // The same entries the run applied, in the ledger's order, now all marked rolled back.
    const ledger = query<{ id: string; outcome: string }>(
      state,
      "SELECT id, outcome FROM ledger WHERE run_id = ? ORDER BY rowid",
      runId,
    );
    expect(ledger).toHaveLength(ROWS);
    expect(doc.rollbacks.map((r) => r.repair)).toEqual(ledger.map((e) => e.id));
    expect(ledger.every((e) => e.outcome === "rolled-back")).toBe(true);
    expect(JSON.stringify(itemsSnapshot(b))).toBe(original);
  }, 120_000);

  it("prints the text report page by page: every repair once, in the ledger's order, then the total", async ({
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const rows = itemRows(1000);
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, rows, {
      sql: "UPDATE items SET name = name || ' (new)', version = version + 1;",
    });
    makeSqliteTable(join(dir, "b.db"), "items", ITEMS_DDL, rows);
    const config = writeConfig(dir, itemsConfig());
    const original = JSON.stringify(itemsSnapshot(join(dir, "b.db")));
    const repair = await runConcord(["repair", "--json", "-c", config]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;
    const ids = query<{ id: string }>(
      join(dir, "state.db"),
      "SELECT id FROM ledger WHERE run_id = ? ORDER BY rowid",
      runId,
    ).map((e) => e.id);

    const stdout = new Sink();
    const stderr = new Sink();
    const code = await runRollback(
      { config, run: runId, pageSize: 300 },
      { stdout, stderr, env: {}, cwd: dir },
    );
    expect(code, stderr.text).toBe(0);
    const lines = stdout.text.trimEnd().split("\n");
    expect(lines).toHaveLength(1001);
    expect(lines.slice(0, 1000).map((l) => l.split("  ")[0])).toEqual(ids);
    expect(lines.slice(0, 1000).every((l) => l.endsWith(" on b: rolled-back"))).toBe(true);
    expect(lines[1000]).toMatch(/^Rolled back: 1000 repairs \(run \S+\)\.$/);
    expect(JSON.stringify(itemsSnapshot(join(dir, "b.db")))).toBe(original);
  }, 60_000);

  it("stopped by Ctrl-C, counts the entries it did not reach instead of reading them", async ({
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const rows = itemRows(1000);
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, rows, {
      sql: "UPDATE items SET name = name || ' (new)', version = version + 1;",
    });
    makeSqliteTable(join(dir, "b.db"), "items", ITEMS_DDL, rows);
    const config = writeConfig(dir, itemsConfig());
    const repair = await runConcord(["repair", "--json", "-c", config]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;

    // Ctrl-C once the first page's repairs are marked undone; every read of the run's pages after it counted.
    let stopped = false;
    let pagesAfterStop = 0;
    const realRecord = SqliteRepairLedger.prototype.recordRepairs;
    const realPage = SqliteRepairLedger.prototype.listRepairsPage;
    vi.spyOn(SqliteRepairLedger.prototype, "recordRepairs").mockImplementation(async function (
      this: SqliteRepairLedger,
      entries,
    ) {
      await realRecord.call(this, entries);
      if (!stopped && entries.some((e) => e.outcome === "rolled-back")) {
        stopped = true;
        process.emit("SIGINT");
      }
    });
    vi.spyOn(SqliteRepairLedger.prototype, "listRepairsPage").mockImplementation(async function (
      this: SqliteRepairLedger,
      filter,
      options,
    ) {
      if (stopped && filter.runId === runId) pagesAfterStop++;
      return realPage.call(this, filter, options);
    });

    const stdout = new Sink();
    const stderr = new Sink();
    const code = await runRollback(
      { config, run: runId, pageSize: 100 },
      { stdout, stderr, env: {}, cwd: dir },
    );
    expect(stderr.text).toContain("stopping after the batch in flight");
    expect(code, stderr.text).toBe(130);
    expect(stopped).toBe(true);
    expect(pagesAfterStop).toBe(0);
    const lines = stdout.text.trimEnd().split("\n");
    expect(lines).toHaveLength(102);
    expect(lines[100]).toMatch(/^Partly rolled back: 100 repairs \(run \S+\)\.$/);
    expect(lines[101]).toBe("interrupted: 900 repairs not rolled back (run the rollback again to finish)");
    const left = query<{ n: number }>(
      join(dir, "state.db"),
      "SELECT COUNT(*) AS n FROM ledger WHERE run_id = ? AND outcome = 'applied'",
      runId,
    );
    expect(left).toEqual([{ n: 900 }]);
  }, 60_000);
});
