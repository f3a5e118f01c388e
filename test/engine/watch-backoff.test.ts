/**
 * The watch's delay after a failure, on SQLite replicas and the SQLite feed (nothing mocked): a check that
 * fails every time its feed starts again (here b's table is gone) is retried at a doubling delay — the feed
 * starting cleanly is not the feed being well — and the delay starts over once a batch is checked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openChangeFeed } from "../../src/connectors/open-change-feed.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { feedOptions, type WatchCheck, watchDataset } from "../../src/engine/watch-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-watch-backoff-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function until(ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function sql(replica: "a" | "b", statement: string): void {
  const db = new Database(join(dir, `${replica}.db`));
  try {
    db.exec(statement);
  } finally {
    db.close();
  }
}

describe("watch: the delay after a failure", () => {
  it("doubles while every start's check fails, and starts over once a batch is checked", async () => {
    makeItemsReplicas(dir, { rows: 20 });
    const cfg = itemsConfig(dir, { extra: "    watch: { replicas: [a], batch: 0s }\n" });
    const ds = cfg.datasets[0]!;
    const state = await openStateStore(cfg.state);
    const replicas: OpenReplica[] = [];
    for (const r of ds.replicas)
      replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
    const delays: number[] = [];
    const checks: WatchCheck[] = [];
    let started = 0;
    let n = 0;
    const stop = new AbortController();
    const running = watchDataset(
      ds,
      replicas,
      [{ replica: "a", open: () => openChangeFeed(ds.replicas[0]!, feedOptions(ds, "a")) }],
      { state, now: Date.now },
      {
        signal: stop.signal,
        newRunId: () => `w-${++n}`,
        retryMs: 10,
        observer: {
          onStarted: () => {
            started++;
          },
          onChecked: (c) => {
            checks.push(c);
          },
          onError: ({ retryInMs }) => {
            delays.push(retryInMs);
          },
        },
      },
    );
    try {
      await until(() => started > 0);
      // b's table goes away: every check of a's changes fails, and the feed starts again at the stored
      // position (before those changes) each time.
      sql("b", "ALTER TABLE items RENAME TO items_gone");
      sql("a", "UPDATE items SET name = 'changed', version = version + 1 WHERE id = 3");
      await until(() => delays.length >= 5);
      expect(delays.slice(0, 5)).toEqual([10, 20, 40, 80, 160]);
      // b is back: the batch is checked (and repaired), and the next failure waits the first delay again.
      sql("b", "ALTER TABLE items_gone RENAME TO items");
      await until(() => checks.length > 0);
      const after = delays.length;
      sql("b", "ALTER TABLE items RENAME TO items_gone");
      sql("a", "UPDATE items SET name = 'changed again', version = version + 1 WHERE id = 4");
      await until(() => delays.length > after);
      expect(delays[after]).toBe(10);
    } finally {
      stop.abort();
      await running;
      for (const r of replicas) await r.connector.close();
      await state.close();
    }
  });
});
