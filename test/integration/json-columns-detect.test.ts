/**
 * Detection over JSON columns finds exactly the documents that differ canonically, whichever path runs:
 * PostgreSQL jsonb by native row hash or by canonical JSON built in SQL, MariaDB JSON by native row hash,
 * and MariaDB beside PostgreSQL (canonical JSON built in both stores; documents MariaDB's SQL leaves to the
 * engine fingerprinted there). Documents spelled differently but equal (member order, spacing, 1.0 and 1)
 * are no divergence; 2^53 + 1 and 2^53 are.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import { canonicalJsonText } from "../../src/core/canonical-json-text.js";
import type { RecordShape } from "../../src/core/model.js";
import { detectDivergences } from "../../src/detect/detect-divergences.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const available = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "doc", type: "json" }],
};
const ROWS = 600;

/** Row i's document on the first replica. */
function doc(i: number): string {
  return JSON.stringify({
    n: i,
    price: `${i}.5`,
    tags: ["a", i % 3, { deep: [i, null, true] }],
    "😀": i % 5,
    "\uE000": "x",
    10: "ten",
    2: "two",
  }).replace(`"${i}.5"`, `${i}.50`);
}

/**
 * Row i's document for the MariaDB ↔ PostgreSQL pass: keys and strings MariaDB's SQL canonicalises, but
 * every 50th document has an array-index key, every 70th a string with an escape JSON.stringify would not
 * write: those are left to the engine.
 */
function plainDoc(i: number): string {
  const hazard = i % 50 === 0 ? ', "10": 1' : i % 70 === 0 ? ', "s": "\\u00e9"' : "";
  return `{"n": ${i}, "price": ${i}.50, "tags": ["a", ${i % 3}, {"deep": [${i}, null, true, 1e-7]}], "name": "row\\n${i}"${hazard}}`;
}

/** Row i's document on the second replica, and whether it differs canonically; undefined: row deleted. */
function other(i: number): { text: string; differs: boolean } | undefined {
  if (i % 97 === 0) return undefined;
  if (i % 7 === 0)
    return { text: doc(i).replace(`"n":${i},`, `"n":${i}.0,`).replace(/,/g, " , "), differs: false };
  if (i % 11 === 0)
    return { text: doc(i).replace(`"n":${i}`, `"n":${BigInt(i) + 9007199254740992n}`), differs: true };
  if (i % 13 === 0)
    return { text: doc(i).replace('"tags":[', '"tags":[[').replace("true]}]", "true]}]]"), differs: true };
  return { text: doc(i), differs: false };
}

const expected = [
  ...Array.from({ length: ROWS }, (_, i) => i + 1).filter((i) => other(i)?.differs !== false),
  ROWS + 1,
  ROWS + 2,
]
  .map(String)
  .sort((a, b) => Number(a) - Number(b));

let pgdb: PostgresTestSchema;
let mydb: MysqlTestDatabase;
const open: Connector[] = [];

beforeAll(async () => {
  if (!available) return;
  pgdb = await createPostgresTestSchema();
  mydb = await createMysqlTestDatabase();
  const first = Array.from({ length: ROWS }, (_, i) => [i + 1, doc(i + 1)] as const);
  const second = [
    ...first.flatMap(([i]) => {
      const o = other(i);
      return o ? [[i, o.text] as const] : [];
    }),
    [ROWS + 1, '{"new":1}'] as const,
    [ROWS + 2, "[]"] as const,
  ];
  for (const [table, key, rows] of [
    ["a", "bigint", first],
    ["b", "bigint", second],
    ["c", "integer", second],
  ] as const) {
    await pgdb.admin.query(`CREATE TABLE ${pgdb.table(table)} (id ${key} PRIMARY KEY, doc jsonb)`);
    await pgdb.admin.query(
      `INSERT INTO ${pgdb.table(table)} SELECT i, d::jsonb FROM unnest($1::int8[], $2::text[]) u(i, d)`,
      [rows.map((r) => r[0]), rows.map((r) => r[1])],
    );
  }
  for (const [table, rows] of [
    ["a", first],
    ["b", second],
  ] as const) {
    await mydb.admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, doc JSON)`);
    await mydb.admin.query(`INSERT INTO ${table} VALUES ?`, [rows.map((r) => [...r])]);
  }
  // MariaDB with documents its SQL canonicalises (but a few), PostgreSQL differing from it.
  const plainFirst = Array.from({ length: ROWS }, (_, i) => [i + 1, plainDoc(i + 1)] as const);
  const plainSecond = [
    ...plainFirst.flatMap(([i, text]) => {
      const o = other(i);
      if (!o) return [];
      // The same differences as `other`, on plain documents.
      if (!o.differs)
        return [[i, i % 7 === 0 ? text.replace(`.50,`, ".5, ").replace(/, /g, ",") : text] as const];
      return [[i, text.replace(`"n": ${i}`, `"n": ${BigInt(i) + 9007199254740992n}`)] as const];
    }),
    [ROWS + 1, '{"new":1}'] as const,
    [ROWS + 2, "[]"] as const,
  ];
  await mydb.admin.query("CREATE TABLE p (id BIGINT PRIMARY KEY, doc JSON)");
  await mydb.admin.query("INSERT INTO p VALUES ?", [plainFirst.map((r) => [...r])]);
  await pgdb.admin.query(`CREATE TABLE ${pgdb.table("p")} (id bigint PRIMARY KEY, doc jsonb)`);
  await pgdb.admin.query(
    `INSERT INTO ${pgdb.table("p")} SELECT i, d::jsonb FROM unnest($1::int8[], $2::text[]) u(i, d)`,
    [plainSecond.map((r) => r[0]), plainSecond.map((r) => r[1])],
  );
  // The oracle: the first replica's documents, canonicalised by the engine, differ from the second's.
  for (const [i, text] of first) {
    const o = other(i);
    if (o && !o.differs) expect(canonicalJsonText(o.text)).toBe(canonicalJsonText(text));
  }
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await pgdb?.drop();
  await mydb?.drop();
});

function pg(table: string): PostgresConnector {
  const c = new PostgresConnector(pgdb.pool(1), pgdb.table(table), { label: `pg.${table}` });
  open.push(c);
  return c;
}

function maria(table: string): MysqlConnector {
  const c = new MysqlConnector(mydb.pool(), table, {
    label: `maria.${table}`,
    ownsPool: true,
    readonly: true,
  });
  open.push(c);
  return c;
}

/** The keys detection lists whose fetched records still differ (what the engine reports). */
async function differing(a: Connector, b: Connector): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of detectDivergences(
    SHAPE,
    [
      { name: "a", connector: a },
      { name: "b", connector: b },
    ],
    { segmentRows: 32, leafRows: 8 },
  )) {
    const keys = batch.map((o) => o.key);
    const [ra, rb] = await Promise.all([a.fetchRecords(SHAPE, keys), b.fetchRecords(SHAPE, keys)]);
    const fa = new Map(ra.map((r) => [r.key[0], r.fingerprint]));
    const fb = new Map(rb.map((r) => [r.key[0], r.fingerprint]));
    for (const [k] of keys) if (fa.get(k) !== fb.get(k)) out.push(k!);
  }
  return out.sort((x, y) => Number(x) - Number(y));
}

describe.skipIf(!available)("detection over JSON columns", () => {
  it.each(["json", "jsonb"])(
    "PostgreSQL %s beside a text key no index serves (key-hash buckets where pushed down, else key ranges)",
    async (type) => {
      const keyed: RecordShape = {
        key: [
          { name: "k", type: "text" },
          { name: "seq", type: "integer" },
        ],
        columns: [{ name: "doc", type: "json" }],
      };
      for (const t of [`k${type}a`, `k${type}b`]) {
        // The database's default collation: not binary, so no index serves Concord's key order.
        await pgdb.admin.query(
          `CREATE TABLE ${pgdb.table(t)} (k text, seq int8, doc ${type}, PRIMARY KEY (k, seq))`,
        );
        await pgdb.admin.query(
          `INSERT INTO ${pgdb.table(t)} SELECT 'k' || g, g, '{"b": 1, "a": [1.0]}' FROM generate_series(1, 300) g`,
        );
      }
      await pgdb.admin.query(
        `UPDATE ${pgdb.table(`k${type}b`)} SET doc = '{"a": [1], "b": 2}' WHERE seq = 7`,
      );
      await pgdb.admin.query(
        `UPDATE ${pgdb.table(`k${type}b`)} SET doc = '{"a": [1], "b": 1}' WHERE seq = 8`,
      );
      const [a, b] = [pg(`k${type}a`), pg(`k${type}b`)];
      const found: string[] = [];
      for await (const batch of detectDivergences(keyed, [
        { name: "a", connector: a },
        { name: "b", connector: b },
      ])) {
        const keys = batch.map((o) => o.key);
        const [ra, rb] = await Promise.all([a.fetchRecords(keyed, keys), b.fetchRecords(keyed, keys)]);
        for (const [i, r] of ra.entries()) if (r.fingerprint !== rb[i]?.fingerprint) found.push(r.key[0]!);
      }
      expect(found).toEqual(["k7"]);
    },
  );

  it("PostgreSQL jsonb by native row hash (same types): exactly the canonical differences", async () => {
    const [a, b] = [pg("a"), pg("b")];
    expect(await a.nativeHash.signature(SHAPE)).toBe(await b.nativeHash.signature(SHAPE));
    expect(await differing(a, b)).toEqual(expected);
  });

  it("PostgreSQL jsonb by canonical JSON in SQL (other key type): exactly the canonical differences", async () => {
    const [a, c] = [pg("a"), pg("c")];
    expect(await a.pushdownLimits(SHAPE)).toEqual([]);
    expect(await a.nativeHash.signature(SHAPE)).not.toBe(await c.nativeHash.signature(SHAPE));
    expect(await differing(a, c)).toEqual(expected);
  });

  it("MariaDB JSON by native row hash: exactly the canonical differences", async () => {
    const [a, b] = [maria("a"), maria("b")];
    expect(await a.nativeHash.signature(SHAPE)).not.toBeNull();
    expect(await differing(a, b)).toEqual(expected);
  });

  it("MariaDB beside PostgreSQL, canonical JSON in both stores: exactly the canonical differences, checksummed in the stores", async () => {
    const [m, p] = [maria("p"), pg("p")];
    expect(await m.pushdownLimits(SHAPE)).toEqual([]);
    expect(await differing(m, p)).toEqual(expected);
    // Checksums ran in MariaDB (before, it streamed every row of every range instead).
    expect(m.stats.rowsScanned).toBeGreaterThanOrEqual(ROWS);
    // Every row's fingerprint as MariaDB lists it is the engine's own, but for the documents left to the
    // engine (array-index key, an escape JSON.stringify would not write): theirs match no canonical one.
    const listed = new Map<string, string>();
    for await (const batch of m.streamFingerprints(SHAPE, { lo: null, hi: null }, 1000))
      for (const p of batch) listed.set(p.key[0]!, p.fingerprint);
    const keys = Array.from({ length: ROWS }, (_, i) => [String(i + 1)]);
    const fetched = await m.fetchRecords(SHAPE, keys);
    const apart = fetched.filter((r) => listed.get(r.key[0]!) !== r.fingerprint).map((r) => Number(r.key[0]));
    expect(apart).toEqual(keys.map(([k]) => Number(k)).filter((i) => i % 50 === 0 || i % 70 === 0));
  });

  it("MariaDB beside PostgreSQL (array-index keys: every document left to the engine) agrees, and so do their fingerprints", async () => {
    expect(await differing(maria("a"), pg("c"))).toEqual(expected);
    const keys = Array.from({ length: ROWS }, (_, i) => [String(i + 1)]);
    const [m, p] = await Promise.all([
      maria("a").fetchRecords(SHAPE, keys),
      pg("a").fetchRecords(SHAPE, keys),
    ]);
    expect(m.map((r) => r.fingerprint)).toEqual(p.map((r) => r.fingerprint));
  });

  it("a conditional write over a MariaDB document left to the engine checks the engine's fingerprint", async () => {
    const writable = new MysqlConnector(mydb.pool(), "p", { label: "maria.p.rw", ownsPool: true });
    open.push(writable);
    const key = ["550"]; // an array-index key (left to the engine by the SQL), and 2^53 + 550 on PostgreSQL
    const [mine] = await writable.fetchRecords(SHAPE, [key]);
    const [theirs] = await pg("p").fetchRecords(SHAPE, [key]);
    expect(mine!.fingerprint).not.toBe(theirs!.fingerprint);
    const write = { key, expected: mine!.fingerprint, next: theirs!.values };
    expect(await writable.applyWrites(SHAPE, [write])).toEqual(["applied"]);
    expect((await writable.fetchRecords(SHAPE, [key]))[0]!.fingerprint).toBe(theirs!.fingerprint);
  });
});
