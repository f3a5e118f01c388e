/**
 * Versions past 2^53 order exactly in every store, and a malformed version vector is refused, never read as
 * a smaller one. Each store holds tables a and b of one dataset: counters one apart at the top of the
 * column's range (PostgreSQL bigint and numeric, MariaDB BIGINT UNSIGNED, SQLite's 64-bit integers, Redis
 * strings) and vectors whose entries are 2^53 + 1 beside 2^53 (as JSON numbers and as strings of digits).
 * Before, vectors were read through doubles: 2^53 + 1 and 2^53 were equal, so the newer record was a
 * `conflict` and escalated, and an entry that was not a number was dropped (`{"x":"abc","y":1}` read as
 * `{"y":1}`, ordered below the other replica's vector, and overwritten).
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneLineError, makeSqliteTable, runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

/** One record of one table: its counter (as decimal text) and its version vector's JSON text. */
interface Held {
  readonly name: string;
  readonly c: string;
  readonly vv: string;
}

/** A store holding tables a and b of the dataset, with the replicas' config lines. */
interface Store {
  /** `      a: {…}\n      b: {…}\n` */
  readonly replicas: string;
  /** Extra lines of dataset cnt or vec (types of a schemaless store's columns). */
  readonly extra?: (dataset: "cnt" | "vec") => string;
  /** Puts `row` under `id` in table `side`, replacing what was there. */
  put(side: "a" | "b", id: number, row: Held): Promise<void>;
}

const TOP = { a: "new", b: "old" } as const;

/** a's record is newer than b's by one, past 2^53, by counter and by vector (number and string entries). */
const ROWS = (cA: string, cB: string): Record<"a" | "b", Held> => ({
  a: { name: TOP.a, c: cA, vv: '{"x":9007199254740993,"y":1,"z":"18446744073709551617"}' },
  b: { name: TOP.b, c: cB, vv: '{"x":9007199254740992,"y":1,"z":"18446744073709551616"}' },
});

function config(dir: string, store: Store): string {
  return writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  cnt:
    key: id
    columns: [name, c]
${store.extra?.("cnt") ?? ""}    versions: { counter: c }
    replicas:
${store.replicas}    policy: { resolve: highest-version }
  vec:
    key: id
    columns: [name, vv]
${store.extra?.("vec") ?? ""}    versions: { vector: vv }
    replicas:
${store.replicas}    policy: { resolve: version-vector }
`,
  );
}

interface PlanJson {
  datasets: {
    name: string;
    divergences: {
      key: (number | string)[];
      class: string;
      replicas: Record<string, { version?: unknown }>;
    }[];
    decisions: { key: number[]; action: string; source: string | null; targets: string[]; reason: string }[];
  }[];
}

/** The checks every store passes: exact order past 2^53, and a malformed vector refused in one line. */
function versionCases(open: () => Store, counters: readonly [string, string]) {
  it("orders counters and vector entries one apart past 2^53: the newer record is stale-behind, not a conflict", async ({
    onTestFinished,
  }) => {
    const store = open();
    const rows = ROWS(...counters);
    await store.put("a", 1, rows.a);
    await store.put("b", 1, rows.b);
    const dir = tempDir(onTestFinished);
    const r = await runConcord(["plan", "--json", "-c", config(dir, store)]);
    expect(r.stderr).toBe("");
    const plan = JSON.parse(r.stdout) as PlanJson;
    const of = (name: string) => plan.datasets.find((d) => d.name === name)!;
    for (const ds of ["cnt", "vec"]) {
      // Key 1 (text in Redis, which keeps no types).
      expect(of(ds).divergences.map((d) => [d.key.map(String), d.class])).toEqual([[["1"], "stale"]]);
      expect(of(ds).decisions.map((d) => [d.action, d.source, d.targets])).toEqual([
        ["propagate", "a", ["b"]],
      ]);
    }
    expect(of("cnt").divergences[0]!.replicas.a!.version).toEqual({ counter: counters[0] });
    // Vector entries are printed as exact decimal strings (as counters are), never as rounded numbers.
    expect(of("vec").divergences[0]!.replicas.a!.version).toEqual({
      vector: { x: "9007199254740993", y: "1", z: "18446744073709551617" },
    });
    expect(of("vec").decisions[0]!.reason).toBe(
      'version vector {"x":9007199254740993,"y":1,"z":18446744073709551617} on a dominates {"x":9007199254740992,"y":1,"z":18446744073709551616} on b',
    );
  });

  it.each([
    ['{"x":"abc","y":1}', 'entry "x" is "abc", not a non-negative integer'],
    ['{"x":-1,"y":3}', 'entry "x" is -1, not a non-negative integer'],
    ['{"x":1.5,"y":3}', 'entry "x" is 1.5, not a non-negative integer'],
    ["[3,3]", '"[3,3]" is not a JSON object'],
  ])("refuses a malformed vector %s in one line naming replica, column and key", async (vv, why) => {
    const store = open();
    await store.put("a", 2, { name: "mangled", c: "1", vv });
    await store.put("b", 2, { name: "fine", c: "1", vv: '{"y":2}' });
    try {
      const dir = tempDir();
      const r = await runConcord(["plan", "-d", "vec", "-c", config(dir, store)]);
      expect(expectOneLineError(r)).toBe(
        `concord: bad data from a store: vec.a: column vv at key ["2"]: versions.vector: ${why}`,
      );
    } finally {
      await store.put("a", 2, { name: "fine", c: "1", vv: '{"y":2}' });
    }
  });
}

describe("SQLite: 64-bit integers and TEXT vectors", () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir(() => {});
    for (const side of ["a", "b"])
      makeSqliteTable(
        join(dir, `${side}.db`),
        "t",
        "id INTEGER PRIMARY KEY, name TEXT, c INTEGER, vv TEXT",
        [],
      );
  });
  versionCases(
    () => ({
      replicas: `      a: { url: "sqlite:${join(dir, "a.db")}", table: t }\n      b: { url: "sqlite:${join(dir, "b.db")}", table: t }\n`,
      async put(side, id, row) {
        const db = new Database(join(dir, `${side}.db`));
        try {
          // The counter as an SQL literal: bound from JavaScript it would pass through a double.
          db.prepare(`INSERT OR REPLACE INTO t VALUES (?, ?, ${row.c}, ?)`).run(id, row.name, row.vv);
        } finally {
          db.close();
        }
      },
    }),
    ["9223372036854775807", "9223372036854775806"],
  );
});

describe.skipIf(!(await serviceAvailable(POSTGRES)))(
  "PostgreSQL: bigint and numeric counters, jsonb vectors",
  () => {
    let pg: PostgresTestSchema;
    beforeAll(async () => {
      pg = await createPostgresTestSchema();
      for (const [t, type] of [
        ["a", "bigint"],
        ["b", "bigint"],
        ["na", "numeric(40,0)"],
        ["nb", "numeric(40,0)"],
      ])
        await pg.admin.query(
          `CREATE TABLE ${pg.table(t!)} (id int PRIMARY KEY, name text, c ${type}, vv jsonb)`,
        );
    });
    afterAll(async () => {
      await pg?.drop();
    });
    const open = (prefix: "" | "n", extra?: Store["extra"]) => (): Store => ({
      replicas: `      a: { url: "${POSTGRES.url}", table: ${pg.table(`${prefix}a`)} }\n      b: { url: "${POSTGRES.url}", table: ${pg.table(`${prefix}b`)} }\n`,
      extra,
      async put(side, id, row) {
        await pg.admin.query(
          `INSERT INTO ${pg.table(prefix + side)} VALUES ($1, $2, $3::numeric, $4::jsonb)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, c = excluded.c, vv = excluded.vv`,
          [id, row.name, row.c, row.vv],
        );
      },
    });
    describe("bigint", () => versionCases(open(""), ["9223372036854775807", "9223372036854775806"]));
    // A numeric counter column is compared as an integer when declared one.
    describe("numeric(40,0)", () =>
      versionCases(
        open("n", (ds) => (ds === "cnt" ? "    types: { c: integer }\n" : "")),
        ["1234567890123456789012345678901234567891", "1234567890123456789012345678901234567890"],
      ));
  },
);

describe.skipIf(!(await serviceAvailable(MYSQL)))("MariaDB: BIGINT UNSIGNED counters, JSON vectors", () => {
  let my: MysqlTestDatabase;
  beforeAll(async () => {
    my = await createMysqlTestDatabase();
    for (const t of ["a", "b"])
      await my.admin.query(
        `CREATE TABLE ${t} (id INT PRIMARY KEY, name VARCHAR(20), c BIGINT UNSIGNED, vv JSON)`,
      );
  });
  afterAll(async () => {
    await my?.drop();
  });
  versionCases(
    () => ({
      replicas: `      a: { url: "${my.url}", table: a }\n      b: { url: "${my.url}", table: b }\n`,
      async put(side, id, row) {
        await my.admin.query(`REPLACE INTO ${side} VALUES (?, ?, ${row.c}, ?)`, [id, row.name, row.vv]);
      },
    }),
    ["18446744073709551615", "18446744073709551614"],
  );
});

describe.skipIf(!(await serviceAvailable(REDIS)))("Redis: counters and vectors in hash fields", () => {
  let a: RedisTestPrefix;
  let b: RedisTestPrefix;
  beforeAll(() => {
    a = createRedisTestPrefix("vv-a");
    b = createRedisTestPrefix("vv-b");
  });
  afterAll(async () => {
    await a?.drop();
    await b?.drop();
  });
  versionCases(
    () => ({
      replicas: `      a: { url: "${REDIS.url}", prefix: "${a.prefix}", format: hash }\n      b: { url: "${REDIS.url}", prefix: "${b.prefix}", format: hash }\n`,
      extra: (ds) => (ds === "cnt" ? "    types: { c: integer }\n" : "    types: { vv: json }\n"),
      async put(side, id, row) {
        await (side === "a" ? a : b).admin.hset(`${(side === "a" ? a : b).prefix}${id}`, {
          name: row.name,
          c: row.c,
          vv: row.vv,
        });
      },
    }),
    ["18446744073709551617", "18446744073709551616"],
  );
});
