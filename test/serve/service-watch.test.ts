/**
 * `watch:` in the config and under `serve`: the block is validated naming the field, and a served dataset
 * with a watched replica repairs a changed key seconds after the write, beside its schedule, with the watch
 * metrics counting it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { ConfigError, parseConfig } from "../../src/config/load-config.js";
import { createService } from "../../src/serve/service.js";

const yaml = (watch: string, dir = "/tmp") =>
  parseConfig(
    `state: sqlite:state.db
datasets:
  t:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
      m: { url: "memory:m" }
    policy: { owner: a, resolve: owner }
    watch: ${watch}
`,
    join(dir, "concord.yaml"),
  );

describe("watch: configuration", () => {
  it("takes the watched replicas and defaults, and refuses what cannot be watched, naming the field", () => {
    expect(yaml("{ replicas: [a] }").datasets[0]!.watch).toEqual({
      replicas: ["a"],
      batchMs: 200,
      maxKeys: 1000,
      checkTargetMs: 1000,
      bufferKeys: 100_000,
      maxLagBytes: 2 ** 30,
      incremental: true,
      segmentRows: 10_000,
      sweepSegments: 1,
      dirtyKeys: 100,
      keepRuns: 1000,
      logKeys: 1_000_000,
      describeEveryMs: 30_000,
      retryKeys: 10_000,
      wholeEveryMs: 86_400_000,
    });
    expect(
      yaml("{ replicas: [a, b], batch: 1s, maxKeys: 10, bufferKeys: 50, maxLagBytes: 4096 }").datasets[0]!
        .watch,
    ).toEqual({
      replicas: ["a", "b"],
      batchMs: 1000,
      maxKeys: 10,
      checkTargetMs: 1000,
      bufferKeys: 50,
      maxLagBytes: 4096,
      incremental: true,
      segmentRows: 10_000,
      sweepSegments: 1,
      dirtyKeys: 100,
      keepRuns: 1000,
      logKeys: 1_000_000,
      describeEveryMs: 30_000,
      retryKeys: 10_000,
      wholeEveryMs: 86_400_000,
    });
    expect(() => yaml("{ replicas: [a], retryKeys: -1 }")).toThrow(/datasets\.t\.watch\.retryKeys: /);
    expect(() => yaml("{ replicas: [c] }")).toThrow(
      new ConfigError('datasets.t.watch.replicas.0: "c" is not a replica of t'),
    );
    expect(() => yaml("{ replicas: [m] }")).toThrow(
      new ConfigError(
        'datasets.t.watch.replicas.0: "m" is a memory: replica, which has no change feed (postgres, mysql, mariadb, redis, sqlite have)',
      ),
    );
    expect(() => yaml("{ replicas: [a, a] }")).toThrow(
      new ConfigError('datasets.t.watch.replicas.1: "a" is listed twice'),
    );
    expect(() => yaml("{ replicas: [] }")).toThrow(/^datasets\.t\.watch\.replicas: /);
    expect(() => yaml("{ replicas: [a], every: 1s }")).toThrow(/^datasets\.t\.watch\.every: unknown key/);
  });
});

describe("concord watch without watch:", () => {
  it("is a usage error naming the config, or the dataset given with -d", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-watch-usage-"));
    try {
      writeFileSync(
        join(dir, "concord.yaml"),
        `datasets:
  t:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
  u:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: u }
      b: { url: "sqlite:b.db", table: u }
    watch: { replicas: [a] }
`,
      );
      const run = async (...args: string[]) => {
        let err = "";
        const stderr = new Writable({
          write: (c, _e, done) => {
            err += String(c);
            done();
          },
        });
        const code = await main(["node", "concord", "watch", ...args], {
          stdout: stderr,
          stderr,
          env: {},
          cwd: dir,
        });
        return { code, err };
      };
      expect(await run("-d", "t")).toEqual({
        code: 2,
        err: 'concord: -d t: dataset "t" has no watch: in concord.yaml\n',
      });
      writeFileSync(
        join(dir, "none.yaml"),
        'datasets:\n  t:\n    key: id\n    replicas:\n      a: { url: "sqlite:a.db", table: t }\n      b: { url: "sqlite:b.db", table: t }\n',
      );
      expect(await run("-c", "none.yaml")).toEqual({
        code: 2,
        err: "concord: no dataset in none.yaml has watch: { replicas: [...] }\n",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("serve with watch:", () => {
  let dir: string;
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("repairs a key written to the watched replica within seconds, and counts the check", async () => {
    dir = mkdtempSync(join(tmpdir(), "concord-serve-watch-"));
    for (const r of ["a", "b"]) {
      const db = new Database(join(dir, `${r}.db`));
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      db.close();
    }
    const config = parseConfig(
      `state: sqlite:state.db
datasets:
  t:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
    policy: { owner: a, resolve: owner }
    watch: { replicas: [a], batch: 20ms, checkTarget: 1m }
`,
      join(dir, "concord.yaml"),
    );
    const lines: string[] = [];
    const service = await createService(config, { log: (l) => lines.push(l) });
    const a = new Database(join(dir, "a.db"));
    const b = new Database(join(dir, "b.db"));
    try {
      await service.start();
      await until(() => lines.some((l) => l === "t.a: watching its change feed from now"));
      a.prepare("INSERT INTO t VALUES (1, 'one')").run();
      await until(() => b.prepare("SELECT v FROM t WHERE id = 1").get() !== undefined);
      expect(b.prepare("SELECT * FROM t").all()).toEqual([{ id: 1, v: "one" }]);
      await until(async () =>
        /concord_watch_checks_total\{dataset="t",replica="a"\} [1-9]/.test(
          (await service.metrics.text()).body,
        ),
      );
      const body = (await service.metrics.text()).body;
      expect(body).toMatch(/concord_watch_keys_total\{dataset="t",replica="a"\} 1\n/);
      expect(body).toMatch(/concord_watch_gaps_total\{dataset="t",replica="a"\} 0\n/);
      // A fast check raised the batch size back to its ceiling. (Fast: within a minute. The default second is
      // a one-key check's time on a loaded machine, which then halves the size.)
      expect(body).toMatch(/concord_watch_batch_limit\{dataset="t",replica="a"\} 1000\n/);
      // The check settled its key: nothing held for a re-check; the re-check series exist from the start.
      expect(body).toMatch(/concord_watch_retry_keys\{dataset="t"\} 0\n/);
      expect(body).toMatch(/concord_watch_rechecked_keys_total\{dataset="t",outcome="settled"\} 0\n/);
      expect(body).toMatch(/concord_watch_retry_overflow_total\{dataset="t",reason="full"\} 0\n/);
      // Scheduled passes: the first is whole and makes the segment summary (no tree yet); the next is a
      // dirty-segment pass that hashes its segment into both replicas' trees, whose roots then agree.
      expect((await service.api.datasets())[0]?.segmentTrees).toBeNull();
      await service.api.trigger("t", "repair");
      await service.idle();
      expect((await service.api.datasets())[0]?.segmentTrees).toMatchObject({
        segments: 1,
        replicas: [],
        agree: null,
      });
      await service.api.trigger("t", "repair");
      await service.idle();
      const trees = (await service.api.datasets())[0]?.segmentTrees;
      expect(trees).toMatchObject({ segments: 1, dirty: 0, stale: 0, agree: true });
      expect(trees?.replicas.map((r) => [r.replica, r.known])).toEqual([
        ["a", 1],
        ["b", 1],
      ]);
      expect(trees?.completeAt).toEqual(expect.any(Number));
      // A change the feed marks by its key: the next pass checks that key alone (logged), and the segment's
      // leaves are forgotten (checked by key, not re-hashed), so the trees vouch for nothing until re-read.
      a.prepare("INSERT INTO t VALUES (2, 'two')").run();
      await until(() => b.prepare("SELECT v FROM t WHERE id = 2").get() !== undefined);
      await service.api.trigger("t", "repair");
      await service.idle();
      expect(lines).toContainEqual(
        expect.stringMatching(/^t: 1 changed keys checked by key \(run .*-keys\): ok, 0 left divergent$/),
      );
      expect((await service.api.datasets())[0]?.segmentTrees).toMatchObject({ dirty: 0, agree: null });
    } finally {
      await service.stop();
      a.close();
      b.close();
    }
  });
});

/** Polls a condition until it holds (the test's timeout bounds it). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, 25));
}
