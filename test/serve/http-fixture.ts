/**
 * Diverged SQLite replicas and a real `serve` service over them, for the HTTP and dashboard tests.
 *
 * accounts (a, b; counter versions; highest-version with no owner): b is behind on STALE (repaired),
 * holds other values at the same version on CONFLICT and lacks MISSING (both escalated: no owner, no
 * merge rule). catalog (a, b; unversioned; owner a; compared in the engine, segment by segment, so its
 * passes last long enough to be watched and paused): b differs on two rows and holds one extra (repaired).
 * queue (a, b; counter versions; no owner; only when asked for): the escalation queue at scale, b holding
 * another label on QUEUE.conflict rows and lacking QUEUE.missing rows (all escalated).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { type ConcordConfig, loadConfig, parseConfig } from "../../src/config/load-config.js";
import { createService, type Service, type ServiceOptions } from "../../src/serve/service.js";

export const TOKEN = "http-test-token-5f2c9a1e7b3d";
export const ACCOUNTS = { rows: 300, stale: [5, 120, 250], conflict: [10, 11], missing: [200] } as const;
export const QUEUE = { rows: 100, conflict: 60, missing: 10 } as const;

type FixtureDataset = "accounts" | "catalog" | "queue";

export interface ServeFixture {
  readonly dir: string;
  readonly config: ConcordConfig;
  readonly service: Service;
  readonly logs: string[];
  /** Reads one row of a replica's table (null when absent). */
  row(replica: "a" | "b", table: FixtureDataset, key: number | string): Record<string, unknown> | null;
  /** Runs SQL on a replica's file behind the service's back (a change the next read sees). */
  sql(replica: "a" | "b", text: string): void;
  /**
   * The service's clock is the real one shifted by this many milliseconds (default 0): tests spread real
   * passes and probes over the past hour by moving it between them, so charts have time to show.
   */
  clockOffsetMs: number;
  /** Copies the probe canary (accounts id -1) from a to b after `delayMs` each time it changes. */
  replicate(delayMs: number): () => void;
  close(): Promise<void>;
}

function makeReplicas(dir: string): void {
  for (const name of ["a", "b"] as const) {
    const db = new Database(join(dir, `${name}.db`));
    db.pragma("journal_mode = WAL");
    db.exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance DECIMAL(12,2) NOT NULL,
               version INTEGER NOT NULL);
             CREATE TABLE catalog (sku TEXT PRIMARY KEY, title TEXT NOT NULL, price DECIMAL(10,2) NOT NULL);
             CREATE TABLE queue (id INTEGER PRIMARY KEY, label TEXT NOT NULL, version INTEGER NOT NULL);`);
    const queued = db.prepare("INSERT INTO queue VALUES (?, ?, 1)");
    const account = db.prepare("INSERT INTO accounts VALUES (?, ?, ?, ?)");
    const item = db.prepare("INSERT INTO catalog VALUES (?, ?, ?)");
    db.transaction(() => {
      for (let id = 1; id <= ACCOUNTS.rows; id++) {
        if (name === "b" && (ACCOUNTS.missing as readonly number[]).includes(id)) continue;
        const stale = name === "b" && (ACCOUNTS.stale as readonly number[]).includes(id);
        const conflict = name === "b" && (ACCOUNTS.conflict as readonly number[]).includes(id);
        account.run(
          id,
          conflict ? `Account ${id} (edited on b)` : `Account ${id}`,
          (id * 7.25).toFixed(2),
          stale ? 1 : 2,
        );
      }
      for (let i = 1; i <= 120; i++) {
        const sku = `SKU-${String(i).padStart(4, "0")}`;
        const price = name === "b" && (i === 7 || i === 42) ? i + 0.5 : i;
        item.run(sku, `Item ${i}`, price.toFixed(2));
      }
      if (name === "b") item.run("SKU-9999", "Stray item", "1.00");
      for (let id = 1; id <= QUEUE.rows; id++) {
        if (name === "b" && id > QUEUE.conflict && id <= QUEUE.conflict + QUEUE.missing) continue;
        queued.run(id, name === "b" && id <= QUEUE.conflict ? `label ${id} on b` : `label ${id}`);
      }
    })();
    db.close();
  }
}

function configText(datasets: readonly FixtureDataset[], probe: boolean): string {
  const blocks: Record<string, string> = {
    accounts: `  accounts:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: accounts }
      b: { url: "sqlite:b.db", table: accounts }
    policy: { resolve: highest-version }
${probe ? "    probe: { every: 1h, key: -1, timeout: 3s }\n" : ""}`,
    catalog: `  catalog:
    key: sku
    replicas:
      a: { url: "sqlite:a.db", table: catalog }
      b: { url: "sqlite:b.db", table: catalog }
    policy: { owner: a, resolve: owner }
    checkpointRows: 20
    intensity: 0.2
    detect: { inStore: false }
`,
    queue: `  queue:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: queue }
      b: { url: "sqlite:b.db", table: queue }
    policy: { resolve: highest-version }
`,
  };
  return `state: sqlite:state.db\ndatasets:\n${datasets.map((d) => blocks[d]).join("")}`;
}

/** A fresh temp dir with diverged replicas and a service over them (not started: passes run when triggered). */
export async function startFixture(
  options: {
    datasets?: readonly FixtureDataset[];
    probe?: boolean;
    dir?: string;
    /** A coordinator's job queue: passes run their segments as jobs (see test/serve/queued-candidates). */
    queue?: ServiceOptions["queue"];
  } = {},
): Promise<ServeFixture> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "concord-http-"));
  if (!options.dir) makeReplicas(dir);
  // The config is also written to the folder, so that the service can read it again (reload).
  const path = join(dir, "concord.yaml");
  const text = configText(options.datasets ?? ["accounts", "catalog"], options.probe ?? false);
  writeFileSync(path, text);
  const config = parseConfig(text, path);
  const logs: string[] = [];
  const clock = { offset: 0 };
  const service = await createService(config, {
    log: (line) => logs.push(line),
    now: () => Date.now() + clock.offset,
    loadConfig: () => loadConfig(path),
    ...(options.queue ? { queue: options.queue } : {}),
  });
  const links: (() => void)[] = [];
  return {
    dir,
    config,
    service,
    logs,
    get clockOffsetMs() {
      return clock.offset;
    },
    set clockOffsetMs(ms: number) {
      clock.offset = ms;
    },
    row(replica, table, key) {
      const db = new Database(join(dir, `${replica}.db`), { readonly: true });
      try {
        const column = table === "catalog" ? "sku" : "id";
        return (
          (db.prepare(`SELECT * FROM ${table} WHERE ${column} = ?`).get(key) as Record<string, unknown>) ??
          null
        );
      } finally {
        db.close();
      }
    },
    sql(replica, text) {
      const db = new Database(join(dir, `${replica}.db`));
      try {
        db.exec(text);
      } finally {
        db.close();
      }
    },
    replicate(delayMs) {
      const a = new Database(join(dir, "a.db"), { readonly: true });
      const b = new Database(join(dir, "b.db"));
      const read = a.prepare("SELECT * FROM accounts WHERE id = -1");
      const write = b.prepare("INSERT OR REPLACE INTO accounts VALUES (@id, @name, @balance, @version)");
      let last = "";
      const pending = new Set<NodeJS.Timeout>();
      const timer = setInterval(() => {
        const row = read.get() as Record<string, unknown> | undefined;
        const text = JSON.stringify(row ?? null);
        if (!row || text === last) return;
        last = text;
        const t = setTimeout(() => {
          pending.delete(t);
          write.run(row);
        }, delayMs);
        pending.add(t);
      }, 5);
      let stopped = false;
      const stop = () => {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        for (const t of pending) clearTimeout(t);
        a.close();
        b.close();
      };
      links.push(stop);
      return stop;
    },
    async close() {
      for (const stop of links.splice(0)) stop();
      await service.stop();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
