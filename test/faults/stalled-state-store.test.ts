/**
 * A PostgreSQL *state store* that stops answering (the fault proxy stops forwarding and keeps the sockets
 * open) ends the command with one line naming the state store, password redacted, within the configured
 * deadlines and with exit 2: never a hang, never exit 0. The replicas are SQLite files, so only the state
 * store's path is disturbed.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { makeSqliteTable, spawnConcord, tempDir } from "../cli/helpers.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { faultConfig, items } from "./fault-stores.js";

const CONNECT_MS = 1000;
const QUERY_MS = 1000;
/** The silence deadline, the still-running check's connection, closing, plus start-up on a crowded machine. */
const GIVE_UP_MS = QUERY_MS + CONNECT_MS + CONNECT_MS + 5000;

const postgres = await serviceAvailable(POSTGRES);

describe.skipIf(!postgres)("a stalled PostgreSQL state store", () => {
  let schema: PostgresTestSchema;
  let proxy: FaultProxy;

  beforeAll(async () => {
    schema = await createPostgresTestSchema();
    proxy = await startFaultProxy(POSTGRES.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await schema?.drop();
  });

  /** concord.yaml in `dir`: SQLite replicas a (200 rows, 20 newer) and b (one row); state through the proxy. */
  function config(dir: string): string {
    makeSqliteTable(
      join(dir, "b.db"),
      "items",
      "id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL",
      [[1, "x", 1]],
    );
    const path = faultConfig(dir, `{ url: "sqlite:b.db", table: items }`, items(200, 20));
    const url = new URL(proxy.url(POSTGRES.url));
    url.password = "s3cret-pw";
    url.searchParams.set("schema", schema.name);
    writeFileSync(path, readFileSync(path, "utf8").replace("state: sqlite:state.db", `state: "${url.href}"`));
    return path;
  }

  it("from the first byte: exit 2 with one line naming the state store once", async ({
    expect,
    onTestFinished,
  }) => {
    onTestFinished(() => proxy.forward());
    const dir = tempDir(onTestFinished);
    const path = config(dir);
    proxy.stall();
    const r = await spawnConcord(["scan", "-c", path], { onTestFinished }).done;
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^concord: state postgres(ql)?:\/\/[^\n]*(timed out|connection lost)[^\n]*\n$/);
    expect(r.stderr.match(/state postgres/g), r.stderr).toHaveLength(1);
    expect(r.stderr + r.stdout).not.toContain("s3cret-pw");
  });

  it("mid-run: exit 2 with one line naming the state store within the deadlines; the password never shown", async ({
    expect,
    onTestFinished,
  }) => {
    onTestFinished(() => proxy.forward());
    const dir = tempDir(onTestFinished);
    const path = config(dir);

    // Undisturbed: the scan runs through the proxy (the state tables are created) and reports divergence.
    const clean = await spawnConcord(["scan", "-c", path], { onTestFinished }).done;
    expect(clean.code, clean.stderr).toBe(1);

    // Stalled at the first statement that records the run's findings.
    let stalledAt = 0;
    void proxy.arm({ match: /divergen/i }, "stall").then(() => {
      stalledAt = Date.now();
    });
    const r = await spawnConcord(["scan", "-c", path], { onTestFinished }).done;
    const took = Date.now() - stalledAt;
    expect(stalledAt, "the stall fired").toBeGreaterThan(0);
    expect(r.code, r.stderr).toBe(2);
    // The deadline's message, or — when the stalled connection is dropped while the deadline asks whether
    // the statement still runs — the lost connection's: one line naming the state store either way.
    expect(r.stderr).toMatch(
      /^concord: state postgres(ql)?:\/\/[^\n]*(timed out[^\n]*timeouts\.query|connection lost)[^\n]*\n$/,
    );
    expect(r.stderr + r.stdout).not.toContain("s3cret-pw");
    expect(took, r.stderr).toBeLessThan(GIVE_UP_MS);
  });
});
