/**
 * A watch's checks share their fixed costs: the replicas are described, and their rows counted, by one check
 * and reused by the next ones (SQLite replicas and feed, each connector's calls counted, nothing mocked);
 * rows are counted again wherever a stale count could change the blast-radius guard's decision.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import type { Connector } from "../../src/connectors/connector.js";
import { openChangeFeed } from "../../src/connectors/open-change-feed.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { feedOptions, type WatchCheck, watchDataset } from "../../src/engine/watch-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";

/** The connector, with how often it was asked to describe its table and to count its rows. */
function counted(connector: Connector): { connector: Connector; calls: { describe: number; count: number } } {
  const calls = { describe: 0, count: 0 };
  const describe = connector.describe.bind(connector);
  const count = connector.count.bind(connector);
  connector.describe = () => {
    calls.describe++;
    return describe();
  };
  connector.count = (shape, range) => {
    calls.count++;
    return count(shape, range);
  };
  return { connector, calls };
}

async function until(ok: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!ok()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("watch fixed costs", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const { rows, limits, recounted } of [
    // 2,000 rows against batches of one key: no stale count could trip maxDivergentFraction 0.2.
    { rows: 2000, limits: "{ maxDivergentFraction: 0.2 }", recounted: false },
    // 6 rows: a count half as large would decide otherwise, so every check counts again.
    { rows: 6, limits: "{ maxDivergentFraction: 0.2 }", recounted: true },
  ]) {
    it(`describes once and counts ${recounted ? "at every check" : "once"} over ${rows} rows`, async () => {
      dir = mkdtempSync(join(tmpdir(), "concord-watch-costs-"));
      for (const r of ["a", "b"]) {
        const db = new Database(join(dir, `${r}.db`));
        db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
        db.prepare(
          "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?) INSERT INTO t SELECT i, 'v' FROM g",
        ).run(rows);
        db.close();
      }
      const cfg = parseConfig(
        `state: sqlite:state.db
datasets:
  t:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
    policy: { owner: a, resolve: owner, limits: ${limits} }
    watch: { replicas: [a], batch: 0s, maxKeys: 10 }
`,
        join(dir, "concord.yaml"),
      );
      const ds = cfg.datasets[0]!;
      const state = await openStateStore(cfg.state);
      const opened = await Promise.all(
        ds.replicas.map(async (r) => ({
          name: r.name,
          ...counted(await openConnector(ds.name, r, { readonly: false })),
        })),
      );
      const replicas: OpenReplica[] = opened.map(({ name, connector }) => ({ name, connector }));
      const checks: WatchCheck[] = [];
      let started = false;
      let n = 0;
      const stop = new AbortController();
      const watching = watchDataset(
        ds,
        replicas,
        [{ replica: "a", open: () => openChangeFeed(ds.replicas[0]!, feedOptions(ds, "a")) }],
        { state, now: Date.now },
        {
          signal: stop.signal,
          newRunId: () => `w-${++n}`,
          observer: {
            onStarted: () => {
              started = true;
            },
            onChecked: (c) => {
              checks.push(c);
            },
          },
        },
      );
      const a = new Database(join(dir, "a.db"));
      const b = new Database(join(dir, "b.db"));
      try {
        await until(() => started);
        for (let i = 1; i <= 4; i++) {
          a.prepare("UPDATE t SET v = ? WHERE id = ?").run(`changed ${i}`, i);
          const before = checks.length;
          await until(() => checks.length > before);
        }
        // Every change was checked and repaired: the replicas agree.
        expect(b.prepare("SELECT v FROM t WHERE id <= 4 ORDER BY id").all()).toEqual(
          [1, 2, 3, 4].map((i) => ({ v: `changed ${i}` })),
        );
        expect(checks.every((c) => c.result.status === "ok")).toBe(true);
        for (const c of checks) expect(c.result.totals.replicas.b?.rows).toBe(rows);
        for (const { calls } of opened) {
          expect(calls.describe).toBe(1);
          expect(calls.count).toBe(recounted ? checks.length : 1);
        }
      } finally {
        stop.abort();
        await watching;
        a.close();
        b.close();
        for (const r of replicas) await r.connector.close();
        await state.close();
      }
    });
  }
});
