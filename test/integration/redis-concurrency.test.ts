/**
 * The Redis connector under concurrency and at detection, on a real server: a record another client
 * changes while a batch of conditional writes runs is never overwritten (the write is `superseded` and
 * their value survives), and detection between Redis and SQLite finds exactly the differing keys,
 * in memory or spilled to partitions.
 */
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { ConditionalWrite } from "../../src/connectors/connector.js";
import type { RedisFormat } from "../../src/connectors/redis/redis-connector.js";
import { SqliteConnector } from "../../src/connectors/sqlite/sqlite-connector.js";
import type { CanonicalValue } from "../../src/core/canonical.js";
import { fingerprintRow } from "../../src/core/fingerprint.js";
import { keyId, type RecordShape } from "../../src/core/model.js";
import { seededRandom } from "../../src/core/random.js";
import { detectDivergences } from "../../src/detect/detect-divergences.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { REDIS, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(REDIS);

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "balance", type: "decimal" },
    { name: "active", type: "boolean" },
    { name: "updated_at", type: "timestamp" },
    { name: "version", type: "integer" },
  ],
};

const prefixes: RedisTestPrefix[] = [];
function testPrefix(what: string): RedisTestPrefix {
  const t = createRedisTestPrefix(what);
  prefixes.push(t);
  return t;
}
afterEach(async () => {
  for (const t of prefixes.splice(0)) await t.drop();
});

/** The canonical values of record `id` in generation `gen`. */
function values(id: number, gen = 0): CanonicalValue[] {
  return [
    id % 11 === 0 ? null : `name ${id}|${gen}`,
    `${(id * 37 + gen) % 1000}.${id % 100}`.replace(/\.0$/, "").replace(/(\.\d)0$/, "$1"),
    id % 3 === 0 ? "t" : "f",
    `2024-01-${String(1 + (id % 28)).padStart(2, "0")}T10:00:00.${String(id % 1000).padStart(3, "0")}000Z`,
    String(gen + 1),
  ];
}

describe.skipIf(!available)("redis conditional writes against a concurrent writer", () => {
  it.each(["hash", "json"] as const)("never overwrite a change made meanwhile (%s)", async (format) => {
    const N = 2000;
    const t = testPrefix(`concurrency-${format}`);
    const c = await t.open({ format, pipelineSize: 50 });
    const ids = Array.from({ length: N }, (_, i) => i + 1);
    const seeded = await c.applyWrites(
      SHAPE,
      ids.map((id) => ({ key: [String(id)], expected: null, next: values(id) })),
    );
    expect(seeded.every((o) => o === "applied")).toBe(true);

    // Their writes: a record rewritten by the application as a whole, with a value only they write.
    const theirs = new Map<number, number>();
    const random = seededRandom(format === "hash" ? 1 : 2);
    const write = async (n: number) => {
      const p = t.admin.pipeline();
      for (let i = 0; i < n; i++) {
        const id = 1 + Math.floor(random() * N);
        const gen = (theirs.get(id) ?? 1000) + 1;
        theirs.set(id, gen);
        const v = values(id, gen);
        if (format === "hash") p.hset(`${t.prefix}${id}`, "name", v[0] ?? "", "version", v[4]!);
        else {
          const doc = {
            id,
            name: v[0],
            balance: v[1],
            active: v[2] === "t",
            updated_at: v[3],
            version: Number(v[4]),
          };
          p.set(`${t.prefix}${id}`, JSON.stringify(doc));
        }
      }
      await p.exec();
    };
    await write(100); // before the batch reads: stale expectations
    let running = true;
    const writer = (async () => {
      while (running) await write(5);
    })();
    const writes: ConditionalWrite[] = ids.map((id) => ({
      key: [String(id)],
      expected: fingerprintRow([String(id)], values(id)),
      next: values(id, 1),
    }));
    const outcomes = await c.applyWrites(SHAPE, writes);
    running = false;
    await writer;

    const now = new Map(
      (
        await c.fetchRecords(
          SHAPE,
          writes.map((w) => w.key),
        )
      ).map((r) => [keyId(r.key), r]),
    );
    let superseded = 0;
    for (const [i, id] of ids.entries()) {
      const got = now.get(keyId([String(id)]))!;
      const their = theirs.get(id);
      if (their !== undefined) {
        // Touched by them at some point: whatever the order, their last write is what the record holds.
        expect(got.values[4], `id ${id}: ${outcomes[i]}`).toBe(String(their + 1));
      } else {
        expect(outcomes[i], `id ${id}`).toBe("applied");
        expect(got.values).toEqual(values(id, 1));
      }
      if (outcomes[i] === "superseded") {
        superseded++;
        expect(their, `id ${id} superseded but never written by them`).toBeDefined();
      }
    }
    expect(superseded).toBeGreaterThan(0);
    // Idempotent: the same batch again writes nothing new.
    const again = await c.applyWrites(SHAPE, writes);
    again.forEach((o, i) => {
      expect(o, `id ${ids[i]}`).toBe(
        outcomes[i] === "applied" && !theirs.has(ids[i]!) ? "noop" : "superseded",
      );
    });
  });
});

describe.skipIf(!available)("detection between Redis and SQLite", () => {
  /**
   * SQLite holds N records; Redis holds them as an application writes them (other texts of the same
   * values), except for about 3% random differences: updated, deleted, inserted.
   */
  async function replicas(format: RedisFormat, seed: number) {
    const N = 3000;
    const random = seededRandom(seed);
    const db = new Database(":memory:");
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, balance DECIMAL(10,2), active BOOLEAN,
      updated_at TIMESTAMP, version INTEGER)`);
    const insert = db.prepare("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)");
    const t = testPrefix(`detect-${format}`);
    const p = t.admin.pipeline();
    const differing = new Set<string>();
    const put = (id: number, v: readonly CanonicalValue[]) => {
      const [name = null, balance = null, active, at, version] = v;
      // Equal values in other spellings: trailing zeros, "true"/"false", a space and an offset in timestamps.
      const text = {
        name,
        balance: balance === null ? null : `${balance}${balance.includes(".") ? "0" : ".00"}`,
        active: active === "t" ? "true" : "false",
        updated_at: at?.replace("T", " ").replace("Z", "+00:00") ?? null,
        version,
      };
      if (format === "hash") {
        const fields = Object.entries(text).flatMap(([k, x]) =>
          x === null || x === undefined ? [] : [k, x],
        );
        p.hset(`${t.prefix}${id}`, ...fields);
      } else {
        p.set(
          `${t.prefix}${id}`,
          JSON.stringify({ ...text, active: active === "t", version: Number(version) }),
        );
      }
    };
    db.transaction(() => {
      for (let id = 1; id <= N; id++) {
        const v = values(id);
        insert.run(id, v[0], v[1], v[2] === "t" ? 1 : 0, v[3], Number(v[4]));
        const r = random();
        if (r < 0.01)
          differing.add(keyId([String(id)])); // deleted from Redis
        else if (r < 0.02) {
          differing.add(keyId([String(id)]));
          put(id, values(id, 1));
        } else put(id, v);
        if (r >= 0.02 && r < 0.03) {
          differing.add(keyId([String(N + id)]));
          put(N + id, values(N + id));
        }
      }
    })();
    await p.exec();
    return {
      sqlite: new SqliteConnector(db, "items", { label: "test.sqlite" }),
      redis: await t.open({ format }),
      differing,
    };
  }

  it.each([
    { format: "hash" as const, seed: 11, options: {} },
    { format: "json" as const, seed: 12, options: {} },
    { format: "hash" as const, seed: 13, options: { partitionRows: 97, batchSize: 13 } },
    { format: "json" as const, seed: 14, options: { partitionRows: 250, batchSize: 1 } },
  ])(
    "finds exactly the differing keys ($format, seed $seed, $options)",
    async ({ format, seed, options }) => {
      const { sqlite, redis, differing } = await replicas(format, seed);
      const found: string[] = [];
      for await (const batch of detectDivergences(
        SHAPE,
        [
          { name: "sqlite", connector: sqlite },
          { name: "redis", connector: redis },
        ],
        options,
      )) {
        for (const o of batch) {
          found.push(keyId(o.key));
          const s = o.replicas.sqlite!;
          const r = o.replicas.redis!;
          expect(s.present && r.present && s.fingerprint === r.fingerprint, `${keyId(o.key)} agrees`).toBe(
            false,
          );
        }
      }
      expect(new Set(found).size, "each key once").toBe(found.length);
      expect(found.sort()).toEqual([...differing].sort());
      expect(differing.size).toBeGreaterThan(50);
      await sqlite.close();
    },
  );
});
