/**
 * `concord watch` runs each check as a run, whose recovery may warn (a pending row whose `undoes` was
 * edited): the warning is printed on stderr as repair prints it (`concord: warning: …`), not dropped.
 */
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, it } from "vitest";
import { runWatch } from "../../src/cli/watch.js";
import {
  execSql,
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
  waitFor,
  writeConfig,
} from "./helpers.js";

/** A stream that keeps what is written to it. */
function sink(): Writable & { text(): string } {
  let text = "";
  const w = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return Object.assign(w, { text: () => text });
}

describe("concord watch and recovery's warnings", () => {
  it("prints a check's recovery warning on stderr", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const rows = itemRows(10);
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, rows, {
      sql: "UPDATE items SET name = name || ' (new)', version = version + 1 WHERE id = 5;",
    });
    makeSqliteTable(join(dir, "b.db"), "items", ITEMS_DDL, rows);
    const config = writeConfig(
      dir,
      itemsConfig("owner: a\nresolve: owner", "    watch: { replicas: [a], batch: 50ms }\n"),
    );
    const state = join(dir, "state.db");
    const repair = await runConcord(["repair", "--json", "-c", config]);
    expect(repair.code, repair.stderr).toBe(0);
    const runId = parseJson<PlanJson>(repair).runId;
    const [five] = query<{ id: string; key: string }>(
      state,
      "SELECT id, key FROM ledger WHERE run_id = ? AND outcome = 'applied'",
      runId,
    );
    expect(five).toBeDefined();
    // A pending row of a process long gone, key 5's write (b holds it), edited to undo a repair that never was.
    forgePendingUndo(state, five!.id, "forged", "no-such-repair");

    const stdout = sink();
    const stderr = sink();
    const stop = new AbortController();
    const watching = runWatch({ config }, { stdout, stderr, env: {}, cwd: dir }, stop.signal);
    try {
      await waitFor(() => stderr.text().includes("watching from now"), 30_000);
      execSql(join(dir, "a.db"), "UPDATE items SET name = 'changed', version = version + 1 WHERE id = 7");
      await waitFor(() => stdout.text().includes("1 key changed on a"), 30_000);
    } finally {
      stop.abort();
    }
    expect(await watching).toBe(0);
    const warning = `recovery: pending repair forged (items key ${five!.key} on b) says it undoes repair no-such-repair, but the ledger holds no repair of that key by that id (the ledger row was edited); settled as an ordinary repair, nothing marked rolled back; concord audit verify reports the row`;
    expect(
      stderr
        .text()
        .split("\n")
        .filter((l) => l.includes("warning")),
    ).toEqual([`concord: warning: ${warning}`]);
    expect(query(state, "SELECT outcome FROM ledger WHERE id = 'forged'")).toEqual([{ outcome: "applied" }]);
  });
});
