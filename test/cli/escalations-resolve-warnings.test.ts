/**
 * `concord escalations resolve` runs recovery before it writes; a pending row recovery does not act on (its
 * `undoes` edited) is warned of on stderr and listed in the `--json` document's `warnings`, as repair and
 * rollback list theirs: for one escalation by id and for `--all-matching`.
 */
import { join } from "node:path";
import { describe, it } from "vitest";
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
  storedEscalations,
  tempDir,
  writeConfig,
} from "./helpers.js";

/** What this test reads of resolve's JSON documents. */
interface ResolvedJson {
  readonly status?: string;
  readonly resolved?: number;
  readonly warnings: string[];
}

describe.concurrent("escalations resolve and recovery's warnings", () => {
  it("warns on stderr and lists the warning in --json, by id and with --all-matching", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const rows = itemRows(10);
    // Rows 1 and 2 missing on b (no owner: escalated); row 5 newer on a (repaired: a ledger row to copy).
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, rows, {
      sql: "UPDATE items SET name = name || ' (new)', version = version + 1 WHERE id = 5;",
    });
    makeSqliteTable(join(dir, "b.db"), "items", ITEMS_DDL, rows.slice(2));
    const config = writeConfig(dir, itemsConfig("window: 0s"));
    const state = join(dir, "state.db");
    const repair = await runConcord(["repair", "--json", "-c", config]);
    expect(repair.code, repair.stderr).toBe(1);
    const runId = parseJson<PlanJson>(repair).runId;
    const [five] = query<{ id: string; key: string }>(
      state,
      "SELECT id, key FROM ledger WHERE run_id = ? AND outcome = 'applied'",
      runId,
    );
    expect(five).toBeDefined();
    const open = storedEscalations(state, "open");
    expect(open).toHaveLength(2);

    /** A pending row of a process long gone, key 5's write (b holds it), edited to undo a repair that never was. */
    const forge = (id: string) => forgePendingUndo(state, five!.id, id, "no-such-repair");
    const warning = (id: string) =>
      `recovery: pending repair ${id} (items key ${five!.key} on b) says it undoes repair no-such-repair, but the ledger holds no repair of that key by that id (the ledger row was edited); settled as an ordinary repair, nothing marked rolled back; concord audit verify reports the row`;

    forge("forged-1");
    const one = await runConcord([
      "escalations",
      "resolve",
      open[0]!.id,
      "--pick",
      "a",
      "--json",
      "-c",
      config,
    ]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toBe(`concord: warning: ${warning("forged-1")}\n`);
    const oneDoc = parseJson<ResolvedJson>(one);
    expect(oneDoc.status).toBe("resolved");
    expect(oneDoc.warnings).toEqual([warning("forged-1")]);

    forge("forged-2");
    const all = await runConcord([
      "escalations",
      "resolve",
      "--all-matching",
      "--pick",
      "a",
      "--yes",
      "--json",
      "-c",
      config,
    ]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toBe(`concord: warning: ${warning("forged-2")}\n`);
    const allDoc = parseJson<ResolvedJson>(all);
    expect(allDoc.resolved).toBe(1);
    expect(allDoc.warnings).toEqual([warning("forged-2")]);

    // Nothing left to recover: no warning, and the documents list none.
    const none = await runConcord([
      "escalations",
      "resolve",
      "--all-matching",
      "--pick",
      "a",
      "--yes",
      "--json",
      "-c",
      config,
    ]);
    expect(none.stderr).toBe("");
    expect(parseJson<ResolvedJson>(none).warnings).toEqual([]);
  });
});
