/**
 * `concord replay` end to end on the real servers: PostgreSQL (the owner, watched in scan mode so its
 * changes are logged but not repaired) → MariaDB (a replica whose replication missed them). The backlog is
 * replayed in commit order and converges the replica; a replay killed mid-way resumes without redoing a
 * batch or applying a repair twice; a pruned log is one line and a full pass; config errors are one line.
 */
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runWatch } from "../../src/cli/watch.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";
import {
  expectOneLineError,
  ledgerRows,
  type PlanJson,
  query,
  runConcord,
  spawnConcord,
  tempDir,
  waitFor,
  writeConfig,
} from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));

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

interface Row {
  id: number;
  name: string;
}

describe.skipIf(!up)("concord replay: PostgreSQL → MariaDB", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;

  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await pg.admin.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
        WHERE slot_name LIKE $1 AND NOT active`,
      [`concord_${pg.name}%`],
    );
    const pubs = await pg.admin.query<{ pubname: string }>(
      "SELECT pubname FROM pg_publication WHERE pubname LIKE $1",
      [`concord_${pg.name}%`],
    );
    for (const { pubname } of pubs.rows) await pg.admin.query(`DROP PUBLICATION "${pubname}"`);
    await pg.drop();
    await my.drop();
  });

  const config = (dir: string, dataset: string, table: string, extra = "", mode = "scan") =>
    writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  ${dataset}:
    key: id
    mode: ${mode}
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table(table)} }
      maria: { url: "${my.url}", table: ${table} }
    policy: { owner: pg, resolve: replay }
    watch: { replicas: [pg], batch: 50ms, maxKeys: 100${extra} }
`,
    );

  const pgRows = async (table: string) =>
    (await pg.admin.query<Row>(`SELECT id::int AS id, name FROM ${pg.table(table)} ORDER BY id`)).rows;
  const mariaRows = async (table: string) =>
    (await my.admin.query(`SELECT id, name FROM ${table} ORDER BY id`))[0] as Row[];

  /**
   * Both replicas start with rows 1000–1009 and MariaDB alone with 5000 (a stray the log never explains);
   * then, watched (scan mode: logged, not repaired), the owner inserts 1–n, renames 1–20 (a key changed
   * twice) and deletes 1000–1004, none of which reaches MariaDB. Resolves with the log's last seq once the
   * deletes are logged.
   */
  async function backlog(dir: string, dataset: string, table: string, n: number): Promise<number> {
    await pg.admin.query(`CREATE TABLE ${pg.table(table)} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await my.admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL)`);
    await pg.admin.query(
      `INSERT INTO ${pg.table(table)} SELECT g, 'old ' || g FROM generate_series(1000, 1009) g`,
    );
    await my.admin.query(
      `INSERT INTO ${table} VALUES ${Array.from({ length: 10 }, (_, i) => `(${1000 + i}, 'old ${1000 + i}')`).join(", ")}, (5000, 'stray')`,
    );
    const stdout = sink();
    const stderr = sink();
    const stop = new AbortController();
    const watching = runWatch(
      { config: config(dir, dataset, table) },
      { stdout, stderr, env: {}, cwd: dir },
      stop.signal,
    );
    try {
      await waitFor(() => /watching from now/.test(stderr.text()), 30_000);
      for (let from = 1; from <= n; from += 50)
        await pg.admin.query(
          `INSERT INTO ${pg.table(table)} SELECT g, 'v1 ' || g FROM generate_series($1::int, $2::int) g`,
          [from, Math.min(n, from + 49)],
        );
      await pg.admin.query(`UPDATE ${pg.table(table)} SET name = 'v2 ' || id WHERE id <= 20`);
      await pg.admin.query(`DELETE FROM ${pg.table(table)} WHERE id BETWEEN 1000 AND 1004`);
      const logged = () =>
        query<{ last_seq: number }>(
          `${dir}/state.db`,
          "SELECT last_seq FROM change_log_heads WHERE dataset = ? AND source = 'pg'",
          dataset,
        )[0]?.last_seq ?? 0;
      // The deletes were the last transaction: once their keys are logged, every change before them is. (A
      // key changed twice within one batch is logged once: the log holds changed keys, batch by batch.)
      const deletesLogged = () =>
        query<{ n: number }>(
          `${dir}/state.db`,
          `SELECT count(*) AS n FROM change_log WHERE dataset = ? AND key IN ('["1000"]', '["1001"]', '["1002"]', '["1003"]', '["1004"]')`,
          dataset,
        )[0]!.n;
      await waitFor(() => {
        try {
          return deletesLogged() === 5;
        } catch {
          return false;
        }
      }, 60_000);
      return logged();
    } finally {
      stop.abort();
      expect(await watching).toBe(0);
    }
  }

  /** The owner's rows, plus the stray only MariaDB had: what a replay leaves on MariaDB. */
  const expectReplayed = async (table: string) => {
    expect(await mariaRows(table)).toEqual([...(await pgRows(table)), { id: 5000, name: "stray" }]);
  };

  it("replays a backlog in commit order, in batches, converging the replica; a second replay has nothing to do", async () => {
    const dir = tempDir();
    const dataset = `${pg.name}_a`;
    const last = await backlog(dir, dataset, "items_a", 300);
    // Nothing was repaired while watching: the replica missed it all.
    expect(await mariaRows("items_a")).toHaveLength(11);
    const cfg = `${dir}/concord.yaml`;

    const r = await runConcord([
      "replay",
      "-c",
      cfg,
      "-d",
      dataset,
      "--replica",
      "maria",
      "--batch",
      "64",
      "--json",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      schemaVersion: 1,
      command: "replay",
      source: "pg",
      replica: "maria",
      cursor: { from: 0, to: last },
      logLast: last,
      batches: Math.ceil(last / 64),
      changes: last,
      gap: null,
      remaining: 0,
    });
    // 300 inserts and 5 deletes; the 20 renamed keys are written once, at their last value.
    expect(doc.repairs).toEqual({ applied: 305 });
    await expectReplayed("items_a");
    expect((await mariaRows("items_a")).find((x) => x.id === 7)).toEqual({ id: 7, name: "v2 7" });

    const again = await runConcord(["replay", "-c", cfg, "-d", dataset, "--replica", "maria", "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      cursor: { from: last, to: last },
      batches: 0,
      repairs: {},
    });

    // A full pass under resolve: replay escalates the stray: the log does not explain it.
    const plan = await runConcord(["plan", "-c", cfg, "-d", dataset, "--json"]);
    const decisions = (JSON.parse(plan.stdout) as PlanJson).datasets[0]!.decisions;
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ key: [5000], action: "escalate", rule: "resolve: replay" });

    const audit = await runConcord(["audit", "verify", "-c", cfg]);
    expect(audit.code).toBe(0);
  });

  it("resumes a replay killed mid-way: no batch redone, no repair applied twice, the audit chain verifies", async ({
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const dataset = `${pg.name}_b`;
    const last = await backlog(dir, dataset, "items_b", 400);
    const cfg = `${dir}/concord.yaml`;
    const state = `${dir}/state.db`;
    const cursor = () =>
      query<{ seq: number }>(
        state,
        "SELECT seq FROM replay_cursors WHERE dataset = ? AND replica = 'maria'",
        dataset,
      )[0]?.seq ?? 0;

    const child = spawnConcord(["replay", "-c", cfg, "-d", dataset, "--replica", "maria", "--batch", "10"], {
      onTestFinished,
    });
    await waitFor(() => cursor() >= 50, 60_000, 5);
    child.child.kill("SIGKILL");
    const killed = await child.done;
    expect(killed.signal).toBe("SIGKILL");
    const at = cursor();
    expect(at).toBeGreaterThanOrEqual(50);
    expect(at).toBeLessThan(last);

    const r = await runConcord([
      "replay",
      "-c",
      cfg,
      "-d",
      dataset,
      "--replica",
      "maria",
      "--batch",
      "10",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    // The rerun starts where the killed one's last finished batch ended, and replays only what follows.
    expect(doc.cursor).toEqual({ from: at, to: last });
    expect(doc.changes).toBe(last - at);
    await expectReplayed("items_b");

    const applied = ledgerRows(state).filter((e) => e.outcome === "applied");
    const byId = new Map<string, number>();
    for (const e of applied) byId.set(e.id, (byId.get(e.id) ?? 0) + 1);
    expect([...byId.values()].every((n) => n === 1)).toBe(true);
    // Each key written once overall: 400 inserts and 5 deletes.
    expect(new Set(applied.map((e) => e.key)).size).toBe(405);
    expect(applied).toHaveLength(405);
    expect((await runConcord(["audit", "verify", "-c", cfg])).code).toBe(0);
  });

  it("answers a pruned log with one line and a full pass, then moves the cursor to the log's end", async () => {
    const dir = tempDir();
    const dataset = `${pg.name}_c`;
    const last = await backlog(dir, dataset, "items_c", 60);
    const cfg = `${dir}/concord.yaml`;
    const store = SqliteStateStore.open(`${dir}/state.db`);
    try {
      expect(await store.pruneChanges(dataset, "pg", 10)).toBe(last - 10);
    } finally {
      await store.close();
    }
    const r = await runConcord(["replay", "-c", cfg, "-d", dataset, "--replica", "maria", "--json"]);
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `the change log of pg was pruned past retention \\(watch.logKeys\\) through seq ${last - 10}, past maria's replay cursor 0: .* a full repair pass runs instead`,
      ),
    );
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ cursor: { from: 0, to: last }, batches: 0, remaining: 0 });
    expect(doc.gap.runId).toEqual(expect.any(String));
    // The full pass decides by the owner: the stray goes too.
    expect(await mariaRows("items_c")).toEqual(await pgRows("items_c"));
    const again = await runConcord(["replay", "-c", cfg, "-d", dataset, "--replica", "maria", "--json"]);
    expect(JSON.parse(again.stdout)).toMatchObject({ cursor: { from: last, to: last }, gap: null });
  });

  it("answers a gap in the owner's feed with one line and a full pass", async () => {
    const dir = tempDir();
    const dataset = `${pg.name}_e`;
    await pg.admin.query(`CREATE TABLE ${pg.table("items_e")} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await my.admin.query("CREATE TABLE items_e (id BIGINT PRIMARY KEY, name TEXT NOT NULL)");
    const stdout = sink();
    const stderr = sink();
    const stop = new AbortController();
    // At most 10 changed keys held: a transaction of 50 is a gap (the feed cannot vouch for them).
    const cfg = config(dir, dataset, "items_e", ", bufferKeys: 10");
    const watching = runWatch({ config: cfg }, { stdout, stderr, env: {}, cwd: dir }, stop.signal);
    const state = `${dir}/state.db`;
    const logged = (id: number) => {
      try {
        return (
          query<{ n: number }>(
            state,
            "SELECT count(*) AS n FROM change_log WHERE dataset = ? AND key = ?",
            dataset,
            `["${id}"]`,
          )[0]!.n > 0
        );
      } catch {
        return false;
      }
    };
    try {
      await waitFor(() => /watching from now/.test(stderr.text()), 30_000);
      await pg.admin.query(
        `INSERT INTO ${pg.table("items_e")} SELECT g, 'n' || g FROM generate_series(1, 50) g`,
      );
      // A change after the gap is logged again; a marker absorbed by a gap still open is followed by another.
      for (let id = 9000; ; id++) {
        await pg.admin.query(`INSERT INTO ${pg.table("items_e")} VALUES ($1, 'marker')`, [id]);
        try {
          await waitFor(() => logged(id), 3000);
          break;
        } catch {}
      }
    } finally {
      stop.abort();
      expect(await watching).toBe(0);
    }
    const r = await runConcord(["replay", "-c", cfg, "-d", dataset, "--replica", "maria", "--json"]);
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /the change log of pg had a gap \(.+\) through seq \d+, past maria's replay cursor 0: .* a full repair pass runs instead/,
    );
    expect(JSON.parse(r.stdout).gap).toMatchObject({ runId: expect.any(String) });
    expect(await mariaRows("items_e")).toEqual(await pgRows("items_e"));
  });

  it("in repair mode, the watcher repairs the owner's batches as logged changes and keeps a caught-up cursor at the log's end", async () => {
    const dir = tempDir();
    const dataset = `${pg.name}_d`;
    await pg.admin.query(`CREATE TABLE ${pg.table("items_d")} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await my.admin.query("CREATE TABLE items_d (id BIGINT PRIMARY KEY, name TEXT NOT NULL)");
    const stdout = sink();
    const stderr = sink();
    const stop = new AbortController();
    const cfg = config(dir, dataset, "items_d", "", "repair");
    const watching = runWatch({ config: cfg }, { stdout, stderr, env: {}, cwd: dir }, stop.signal);
    const state = `${dir}/state.db`;
    const cursor = () =>
      query<{ seq: number }>(state, "SELECT seq FROM replay_cursors WHERE dataset = ?", dataset)[0]?.seq ?? 0;
    const last = () =>
      query<{ last_seq: number }>(
        state,
        "SELECT last_seq FROM change_log_heads WHERE dataset = ?",
        dataset,
      )[0]?.last_seq ?? -1;
    try {
      await waitFor(() => /watching from now/.test(stderr.text()), 30_000);
      await pg.admin.query(
        `INSERT INTO ${pg.table("items_d")} SELECT g, 'n' || g FROM generate_series(1, 30) g`,
      );
      await pg.admin.query(`UPDATE ${pg.table("items_d")} SET name = 'again' WHERE id <= 3`);
      await waitFor(() => {
        try {
          return cursor() > 0 && cursor() === last() && last() >= 30;
        } catch {
          return false;
        }
      }, 60_000);
    } finally {
      stop.abort();
      expect(await watching).toBe(0);
    }
    expect(await mariaRows("items_d")).toEqual(await pgRows("items_d"));
    // Nothing is left for a replay.
    const r = await runConcord(["replay", "-c", cfg, "-d", dataset, "--replica", "maria", "--json"]);
    expect(JSON.parse(r.stdout)).toMatchObject({ batches: 0, changes: 0, remaining: 0 });
  });

  it.each([
    [
      "no owner",
      "policy: { resolve: replay }\n    watch: { replicas: [pg] }",
      /"replay" needs policy.owner naming one replica/,
    ],
    [
      "the owner unwatched",
      "policy: { owner: pg, resolve: replay }\n    watch: { replicas: [maria] }",
      /"replay" needs watch: \{ replicas: \[pg\] \}/,
    ],
    ["no watch", "policy: { owner: pg, resolve: replay }", /"replay" needs watch: \{ replicas: \[pg\] \}/],
  ])("refuses a config with %s in one line", async (_what, block, message) => {
    const dir = tempDir();
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  d:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("none")} }
      maria: { url: "${my.url}", table: none }
    ${block}
`,
    );
    const r = await runConcord(["replay", "-c", cfg, "-d", "d", "--replica", "maria"]);
    expect(r.code).toBe(2);
    expect(expectOneLineError(r)).toMatch(message);
  });

  it.each([
    ["the owner itself", "pg", "policy: { owner: pg, resolve: replay }", /--replica pg: pg is d's owner/],
    [
      "an unknown replica",
      "nope",
      "policy: { owner: pg, resolve: replay }",
      /--replica nope: not a replica of d/,
    ],
    ["another strategy", "maria", "policy: { owner: pg, resolve: owner }", /d: policy.resolve is not replay/],
  ])("refuses a replay onto %s in one line", async (_what, replica, block, message) => {
    const dir = tempDir();
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  d:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("none")} }
      maria: { url: "${my.url}", table: none }
    ${block}
    watch: { replicas: [pg] }
`,
    );
    const r = await runConcord(["replay", "-c", cfg, "-d", "d", "--replica", replica]);
    expect(r.code).toBe(2);
    expect(expectOneLineError(r)).toMatch(message);
  });
});
