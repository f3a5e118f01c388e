/**
 * A SQLite state file another process holds locked (an open write transaction: a backup tool, an operator's
 * sqlite3 shell) ends a command after the busy timeout with one line naming the state file and why, exit 2:
 * never "internal error", never a hang, and nothing written to the replicas.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import {
  execConcord,
  itemsConfig,
  itemsSnapshot,
  makeItemsReplicas,
  runConcord,
  tempDir,
  writeConfig,
} from "../cli/helpers.js";

describe("a locked SQLite state file", () => {
  it.each([
    ["scan", ["scan"]],
    ["repair", ["repair"]],
  ])("%s: exit 2, one line naming the file and the lock", { timeout: 60_000 }, async (_name, args) => {
    const dir = tempDir();
    makeItemsReplicas(dir, { sqlB: "UPDATE items SET version = 0 WHERE id % 10 = 0" });
    const config = writeConfig(dir, itemsConfig("owner: a\nresolve: highest-version"));
    const state = join(dir, "state.db");
    const first = await runConcord(["scan", "-c", config]);
    expect(first.code, first.stderr).toBe(1);
    const before = JSON.stringify(itemsSnapshot(join(dir, "b.db")));

    // Another process's write transaction (in WAL mode readers go on; every command here writes its run).
    const holder = new Database(state);
    holder.exec("BEGIN EXCLUSIVE");
    try {
      const started = Date.now();
      const r = await execConcord([...args, "-c", config]);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toBe(
        `concord: state sqlite:${state}: database is locked (SQLITE_BUSY: another process holds the file's write lock (waited 5 s for it))\n`,
      );
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
    expect(JSON.stringify(itemsSnapshot(join(dir, "b.db")))).toBe(before);
  });
});
