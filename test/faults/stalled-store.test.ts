/**
 * A replica's server that stops answering mid-scan or mid-repair (a stalled network path: the fault proxy
 * stops forwarding and keeps the sockets open) ends the command with a one-line error naming the replica,
 * within the configured deadlines, exit 2, and the run recorded `failed`; never a hang, never a silent
 * success. A transaction cut off before its COMMIT is ended by the server after `timeouts.idle`, so a
 * writer waiting on its row locks goes on; once the path heals, a rerun settles what was left pending.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { ledgerRows, query, runConcord, spawnConcord, tempDir } from "../cli/helpers.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { availableFaultStores, type FaultStore, faultConfig, items, openFaultStore } from "./fault-stores.js";

const kinds = await availableFaultStores();

/** Rows per replica, and how many a holds newer (to be repaired on b). */
const ROWS = 3000;
const NEWER = 600;
/** The deadlines the tests configure (`faultConfig`'s default): connect 1 s, query 1 s, idle 2 s. */
const CONNECT_MS = 1000;
const QUERY_MS = 1000;
const IDLE_MS = 2000;
/**
 * The longest a stalled store may take to fail a command: the silence deadline, the still-running check's
 * connection, closing the connections, plus slack for process start-up and a crowded machine.
 */
const GIVE_UP_MS = QUERY_MS + CONNECT_MS + CONNECT_MS + 4000;

/** Run statuses in the order the runs began. */
function runStatuses(state: string): string[] {
  return query<{ status: string }>(state, "SELECT status FROM runs ORDER BY started_at, rowid").map(
    (r) => r.status,
  );
}

describe.each(kinds)("a stalled %s replica", (kind) => {
  let store: FaultStore;
  let proxy: FaultProxy;

  beforeAll(async () => {
    store = await openFaultStore(kind);
    proxy = await startFaultProxy(store.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await store?.drop();
  });

  it("from the start (nothing answers the connect): exit 2, one line saying the server was not reached in timeouts.connect", async ({
    expect,
    onTestFinished,
  }) => {
    onTestFinished(() => proxy.forward());
    const dir = tempDir(onTestFinished);
    await store.load(items(ROWS));
    const config = faultConfig(dir, store.replica(proxy.url(store.url)), items(ROWS, NEWER));
    proxy.stall();
    const r = await spawnConcord(["scan", "-c", config], { onTestFinished }).done;
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(r.stderr).toMatch(/^concord: items\.b: [^\n]*timeouts\.connect[^\n]*\n$/);
  });

  it("mid-scan: exit 2 with one line naming the replica within the deadlines, the run failed", async ({
    expect,
    onTestFinished,
  }) => {
    onTestFinished(() => proxy.forward());
    const dir = tempDir(onTestFinished);
    await store.load(items(ROWS));
    const config = faultConfig(dir, store.replica(proxy.url(store.url)), items(ROWS, NEWER));
    const state = join(dir, "state.db");

    // Undisturbed, through the proxy: what a whole scan reads from b.
    const before = proxy.bytes.down;
    const clean = await runConcord(["scan", "-c", config]);
    expect(clean.code, clean.stderr).toBe(1);
    const total = proxy.bytes.down - before;

    // The real binary (its exit code, and no silent exit 0), stalled halfway through what it reads.
    let stalledAt = 0;
    void proxy.arm({ bytes: Math.floor(total / 2), direction: "down" }, "stall").then(() => {
      stalledAt = Date.now();
    });
    const r = await spawnConcord(["scan", "-c", config], { onTestFinished }).done;
    const took = Date.now() - stalledAt;
    expect(stalledAt, "the stall fired").toBeGreaterThan(0);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(r.stderr).toMatch(/^concord: items\.b: [^\n]*timed out[^\n]*\n$/);
    expect(r.stderr).toMatch(/timeouts\.(query|connect)/);
    expect(took, r.stderr).toBeLessThan(GIVE_UP_MS);
    expect(runStatuses(state)).toEqual(["diverged", "failed"]);
  });

  it("mid-repair (a write cut off before it commits): exit 2 naming the replica, the run failed, entries pending; healed, a rerun converges", async ({
    expect,
    onTestFinished,
  }) => {
    onTestFinished(() => proxy.forward());
    const dir = tempDir(onTestFinished);
    await store.load(items(ROWS));
    const config = faultConfig(dir, store.replica(proxy.url(store.url)), items(ROWS, NEWER));
    const state = join(dir, "state.db");

    // Only the connection carrying the write is cut off: the server stays reachable, so the deadline's
    // still-running check gets an answer (the statement is not running) and the call fails after `query`.
    let stalledAt = 0;
    void proxy.arm({ match: store.writeMatch }, "stall-connection").then(() => {
      stalledAt = Date.now();
    });
    const r = await runConcord(["repair", "-c", config]);
    const took = Date.now() - stalledAt;
    expect(stalledAt, "the stall fired").toBeGreaterThan(0);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(r.stderr).toMatch(/^concord: items\.b: [^\n]*timed out[^\n]*\n$/);
    expect(took, r.stderr).toBeLessThan(GIVE_UP_MS);
    expect(runStatuses(state)).toEqual(["failed"]);
    // The write's outcome is unknown: its ledger entries stay pending, none is recorded failed or applied.
    const outcomes = new Set(ledgerRows(state).map((l) => l.outcome));
    expect([...outcomes]).toEqual(["pending"]);

    if (kind !== "redis") {
      // The stalled transaction holds row locks on the server; `idle` ends it there, so a writer waiting
      // on one of those rows goes on instead of waiting for the partition to heal.
      const started = Date.now();
      await store.write({ id: 1, name: "written meanwhile", version: 9 });
      expect(Date.now() - started).toBeLessThan(IDLE_MS + 3000);
    }

    proxy.forward();
    const rerun = await runConcord(["repair", "--json", "-c", config]);
    expect(rerun.code, rerun.stderr).toBe(0);
    const b = await store.read();
    const want = new Map(items(ROWS, NEWER).map((row) => [row.id, row]));
    // The writer's row is the newest: it wins (and is copied to a), it is never overwritten.
    if (kind !== "redis") want.set(1, { id: 1, name: "written meanwhile", version: 9 });
    expect(b.size).toBe(ROWS);
    const differ = [...want.values()].filter((row) => JSON.stringify(b.get(row.id)) !== JSON.stringify(row));
    expect(differ).toEqual([]);
    expect(new Set(ledgerRows(state).map((l) => l.outcome)).has("pending")).toBe(false);
    const verify = await runConcord(["audit", "verify", "-c", config]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
