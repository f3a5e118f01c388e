/**
 * `concord replay` holds the dataset's pass lease as serve's replay does (SQLite replicas and state file, the
 * real binary for the process that holds it): a second process is refused while it runs, with one line
 * naming the holder; another process taking the lease stops it between batches with one line naming the
 * new holder, exit 2, and its replay cursor after the last batch it finished.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, it } from "vitest";
import { LEASE_TTL_MS } from "../../src/engine/run-liveness.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";
import { makeItemsReplicas, staleOnB, writeItemsConfig } from "../support/sqlite-items.js";
import { execSql, expectOneLineError, query, runConcord, spawnConcord, tempDir } from "./helpers.js";

const THIEF = "thief-host:4242:beef";
const STALE = Array.from({ length: 60 }, (_, i) => i + 1);

/**
 * a and b with 60 keys stale on b, all in a's change log; writes limited to 5 a second, so that each batch of
 * 5 after the first waits about a second for its tokens (the replay lasts ~12 s unless stopped).
 */
async function seed(dir: string): Promise<{ config: string; state: string }> {
  makeItemsReplicas(dir, { rows: 80, stale: STALE });
  const config = writeItemsConfig(dir, {
    policy: "owner: a, resolve: replay, limits: { writesPerSecond: 5 }",
    extra: "    watch: { replicas: [a], maxKeys: 5 }\n",
  });
  const state = join(dir, "state.db");
  const store = SqliteStateStore.open(state);
  try {
    await store.appendChanges(
      "items",
      "a",
      STALE.map((id) => [String(id)]),
      Date.now(),
    );
  } finally {
    await store.close();
  }
  return { config, state };
}

function cursor(state: string): number {
  const rows = query<{ seq: number }>(
    state,
    "SELECT seq FROM replay_cursors WHERE dataset = 'items' AND replica = 'b'",
  );
  return rows[0]?.seq ?? 0;
}

function leaseOwner(state: string): string | undefined {
  return query<{ owner: string }>(state, "SELECT owner FROM leases WHERE name = 'pass:items'")[0]?.owner;
}

describe.concurrent("concord replay and the pass lease", () => {
  it("refuses to start while another process holds the pass lease: one line naming it, nothing replayed", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { config, state } = await seed(dir);
    const store = SqliteStateStore.open(state);
    expect(await store.acquireLease("pass:items", THIEF, Date.now(), LEASE_TTL_MS)).toBe(true);
    await store.close();

    const r = await runConcord(["replay", "-c", config, "-d", "items", "--replica", "b"]);
    expect(expectOneLineError(r, expect)).toBe(
      `concord: items: the pass lease is held by ${THIEF} (a pass or a replay of the dataset); not replaying onto b meanwhile: replay again once it is done`,
    );
    expect(cursor(state)).toBe(0);
    expect(staleOnB(dir)).toEqual(STALE);
    expect(leaseOwner(state)).toBe(THIEF);
  });

  it("holds the lease while it runs (a second replay is refused naming it) and stops between batches once another takes it", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { config, state } = await seed(dir);
    const run = spawnConcord(["replay", "-c", config, "-d", "items", "--replica", "b", "--batch", "5"], {
      onTestFinished,
    });
    // The first batch is done (its line printed); the next ones wait for the rate limit.
    await run.untilStdout(/replayed seqs 1–5 /);
    const holder = leaseOwner(state);
    expect(holder).toMatch(new RegExp(`^${hostname()}:${run.child.pid}:[0-9a-f]+$`));

    // Another process is refused while the replay runs, naming the process that runs it.
    const second = await runConcord(["replay", "-c", config, "-d", "items", "--replica", "b"]);
    expect(expectOneLineError(second, expect)).toBe(
      `concord: items: the pass lease is held by ${holder} (a pass or a replay of the dataset); not replaying onto b meanwhile: replay again once it is done`,
    );

    // Another process takes the lease (as after the replay's lease had lapsed).
    execSql(
      state,
      `UPDATE leases SET owner = '${THIEF}', expires_at = ${Date.now() + LEASE_TTL_MS} WHERE name = 'pass:items'`,
    );
    const r = await run.done;
    const done = [...r.stdout.matchAll(/replayed seqs \d+–(\d+) /g)].map((m) => Number(m[1]));
    const at = done.at(-1)!;
    expect(at).toBeLessThan(STALE.length);
    expect({ code: r.code, stderr: r.stderr.trimEnd().split("\n").at(-1) }).toEqual({
      code: 2,
      stderr: `concord: items: the pass lease was taken by ${THIEF} while replaying onto b; stopped with its replay cursor at ${at} (the log ends at ${STALE.length}); replay again`,
    });
    // No summary line: the error is its last word. The cursor is after the last batch done, and nothing past it
    // was written; the lease stays the new holder's.
    expect(r.stdout.trimEnd().split("\n").at(-1)).toMatch(new RegExp(`replayed seqs \\d+–${at} `));
    expect(cursor(state)).toBe(at);
    expect(staleOnB(dir)).toEqual(STALE.slice(at));
    expect(leaseOwner(state)).toBe(THIEF);
  });
});
