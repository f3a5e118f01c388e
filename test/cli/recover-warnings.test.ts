/**
 * Recovery does not act on a pending ledger row whose `undoes` does not hold (an edited row), and says so:
 * `concord repair` prints one warning line on stderr naming the repair and why, and its `--json` document
 * lists it under the dataset's `warnings`.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  forgePendingUndo,
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  makeSqliteTable,
  type PlanJson,
  parseJson,
  query,
  runConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

/** Repair's JSON, with what this test reads of it. */
type WarnedJson = PlanJson & {
  datasets: { warnings: string[]; recovered: { id: string; outcome: string }[] }[];
};

describe("recovery of a pending row whose undoes was edited", () => {
  it("warns on stderr naming the repair and why, and lists the warning in repair's JSON", async ({
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const rows = itemRows(10);
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, rows, {
      sql: "UPDATE items SET name = name || ' (new)', version = version + 1 WHERE id IN (3, 5);",
    });
    makeSqliteTable(join(dir, "b.db"), "items", ITEMS_DDL, rows);
    const config = writeConfig(dir, itemsConfig());
    const state = join(dir, "state.db");
    const first = await runConcord(["repair", "--json", "-c", config]);
    expect(first.code, first.stderr).toBe(0);
    const runId = parseJson<PlanJson>(first).runId;
    const applied = query<{ id: string; key: string }>(
      state,
      "SELECT id, key FROM ledger WHERE run_id = ? AND outcome = 'applied' ORDER BY key",
      runId,
    );
    expect(applied).toHaveLength(2);
    const [three, five] = applied as [{ id: string; key: string }, { id: string; key: string }];

    // A pending row of a process long gone, edited to say it undoes key 3's repair: it is key 5's write
    // (what b holds now), no rollback of that repair.
    forgePendingUndo(state, five.id, "forged-5", three.id);

    const second = await runConcord(["repair", "--json", "-c", config]);
    expect(second.code, second.stderr).toBe(0);
    const warning = `recovery: pending repair forged-5 (items key ${five.key} on b) says it undoes repair ${three.id}, but the ledger holds no repair of that key by that id (the ledger row was edited); settled as an ordinary repair, nothing marked rolled back; concord audit verify reports the row`;
    expect(second.stderr).toBe(`concord: warning: ${warning}\n`);
    const doc = parseJson<WarnedJson>(second);
    expect(doc.datasets[0]!.warnings).toEqual([warning]);
    expect(doc.datasets[0]!.recovered).toEqual([
      expect.objectContaining({ id: "forged-5", outcome: "applied" }),
    ]);
    // Key 3's repair was not marked undone.
    expect(query(state, "SELECT outcome FROM ledger WHERE id = ?", three.id)).toEqual([
      { outcome: "applied" },
    ]);

    // A run with nothing to recover warns of nothing; its JSON lists no warnings.
    const third = await runConcord(["repair", "--json", "-c", config]);
    expect(third.stderr).toBe("");
    expect(parseJson<WarnedJson>(third).datasets[0]!.warnings).toEqual([]);
  }, 60_000);
});
