/**
 * A PostgreSQL timestamptz printed at a local-mean-time offset with seconds (`1850-01-01 00:00:00+00:19:32`
 * in Europe/Amsterdam, the text psql and pg_dump give) and copied as that text into SQLite and Redis reads as
 * the same instant: the copies scan equal, and a copy one second off differs. The text was refused as "not a
 * timestamp", failing the scan.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

const available = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(REDIS));

/** Rows by key: the zone a local wall time was entered in (all before those zones' standard time). */
const ROWS = [
  [1, "Europe/Amsterdam", "1850-01-01 00:00:00"],
  [2, "America/New_York", "1850-06-30 23:59:59.25"],
  [3, "Europe/Amsterdam", "1700-03-01 12:00:00"],
  [4, "Asia/Kolkata", "1850-01-01 00:00:00"],
] as const;

interface ScanJson {
  datasets: { divergences: { key: unknown[]; columns?: string[] }[] }[];
}

describe.skipIf(!available)("timestamptz at an offset with seconds, copied as text", () => {
  let pg: PostgresTestSchema;
  let rd: RedisTestPrefix;
  const texts = new Map<number, string>();
  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    rd = createRedisTestPrefix("lmt");
    const t = pg.table("events");
    await pg.admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, at timestamptz NOT NULL)`);
    for (const [id, zone, local] of ROWS) {
      await pg.admin.query(`SET TIME ZONE '${zone}'`);
      await pg.admin.query(`INSERT INTO ${t} VALUES ($1, $2::timestamp::timestamptz)`, [id, local]);
      // PostgreSQL's own text of the value, as a copy would carry it.
      const { rows } = await pg.admin.query(`SELECT at::text AS text FROM ${t} WHERE id = $1`, [id]);
      texts.set(id, (rows[0] as { text: string }).text);
    }
    await pg.admin.query("RESET TIME ZONE");
  });
  afterAll(async () => {
    await pg?.drop();
    await rd?.drop();
  });

  /** Scans PostgreSQL against a SQLite and a Redis copy of the texts (`edit` changes one copy's). */
  async function scan(edit: { store: "local" | "cache"; id: number; text: string } | undefined) {
    const dir = tempDir();
    const lite = new Database(join(dir, "local.db"));
    lite.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, at TIMESTAMP NOT NULL)");
    const multi = rd.admin.multi();
    for (const [id, text] of texts) {
      const of = (store: string) => (edit?.store === store && edit.id === id ? edit.text : text);
      lite.prepare("INSERT INTO events VALUES (?, ?)").run(id, of("local"));
      multi.hset(`${rd.prefix}${id}`, { at: of("cache") });
    }
    lite.close();
    await multi.exec();
    const config = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  events:
    key: id
    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${pg.table("events")} }
      local: { url: "sqlite:local.db", table: events }
      cache: { url: "${REDIS.url}", prefix: "${rd.prefix}", format: hash }
    policy: { owner: pg, resolve: owner }
`,
    );
    const r = await runConcord(["scan", "--json", "-c", config], { cwd: dir });
    if (r.code > 1) throw new Error(`scan exit ${r.code}: ${r.stderr}`);
    return {
      code: r.code,
      keys: (JSON.parse(r.stdout) as ScanJson).datasets[0]!.divergences.map((d) => d.key),
    };
  }

  it("reads PostgreSQL's text at such an offset as the same instant", async () => {
    // The offsets the texts carry: PostgreSQL prints local mean time to the second.
    expect([...texts.values()]).toEqual([
      "1850-01-01 00:00:00+00:19:32",
      "1850-06-30 23:59:59.25-04:56:02",
      "1700-03-01 12:00:00+00:19:32",
      "1850-01-01 00:00:00+05:53:28",
    ]);
    expect(await scan(undefined)).toEqual({ code: 0, keys: [] });
  });

  it.each([
    ["local", 1, "1850-01-01 00:00:01+00:19:32"],
    ["cache", 1, "1850-01-01 00:00:00+00:19:31"],
    ["local", 2, "1850-06-30 23:59:59.25-04:56:03"],
    ["cache", 4, "1850-01-01 00:00:00+05:53:29"],
  ] as const)("finds a %s copy of key %i one second off (%s)", async (store, id, text) => {
    expect(await scan({ store, id, text })).toEqual({ code: 1, keys: [[id]] });
  });
});
