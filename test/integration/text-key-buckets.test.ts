/**
 * Text keys in a linguistic collation (ICU "und-x-icu": case, accents, spaces and punctuation sort unlike
 * their bytes): detection finds exactly the same divergences as over the same keys in binary order, whether
 * it compares key-hash buckets (PostgreSQL ↔ PostgreSQL, no index serving Concord's order) or key ranges
 * (PostgreSQL ↔ MariaDB, PostgreSQL ↔ SQLite).
 */
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import { SqliteConnector } from "../../src/connectors/sqlite/sqlite-connector.js";
import type { Observation } from "../../src/core/classify.js";
import { fingerprintRow } from "../../src/core/fingerprint.js";
import { keyBucket } from "../../src/core/key-bucket.js";
import { compareKeys, keyId, type RecordShape } from "../../src/core/model.js";
import { bucketedReason } from "../../src/detect/bucketed-diff.js";
import { type DetectOptions, detectDivergences } from "../../src/detect/detect-divergences.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const pgUp = await serviceAvailable(POSTGRES);
const myUp = await serviceAvailable(MYSQL);

const SHAPE: RecordShape = {
  key: [
    { name: "k", type: "text" },
    { name: "seq", type: "integer" },
  ],
  columns: [{ name: "v", type: "text" }],
};

/** Texts whose linguistic order differs from their byte order. No trailing spaces (PAD SPACE stores). */
const TRICKY = [
  "a",
  "A",
  "b",
  "B",
  "z",
  "Z",
  "e",
  "E",
  "é",
  "É",
  "è",
  "ê",
  "ä",
  "Ä",
  "ß",
  "ss",
  "SS",
  "a b",
  "ab",
  "a-b",
  "a_b",
  "a.b",
  "a,b",
  " a",
  "-",
  "_",
  ".",
  "!",
  "0",
  "10",
  "9",
  "Œ",
  "oe",
  "ø",
  "Å",
  "å",
  "aa",
  "ǅ",
  "ﬁ",
  "fi",
  "x|y",
  "x\\y",
  "中",
  "日本",
  "😀",
  "a\u0301",
  "Ω",
  "ω",
];
const SEQS = 12;

type Row = { k: string; seq: number; v: string };

/** Replica A's rows, and B's: some updated, some deleted, some only in B. */
function rows(): { a: Row[]; b: Row[] } {
  const a: Row[] = [];
  const b: Row[] = [];
  let n = 0;
  for (const k of TRICKY)
    for (let seq = 1; seq <= SEQS; seq++) {
      const row = { k, seq, v: `${k}:${seq}` };
      a.push(row);
      n++;
      if (n % 11 === 0) continue;
      b.push(n % 7 === 0 ? { ...row, v: `${row.v}x` } : row);
    }
  for (const k of TRICKY.slice(0, 10)) b.push({ k: `${k}!`, seq: 1, v: "new" });
  return { a, b };
}

/** What detection must report: every key held differently, with each side's fingerprint. */
function expected(a: readonly Row[], b: readonly Row[]): string[] {
  const fp = (r: Row) => fingerprintRow([r.k, String(r.seq)], [r.v]);
  const ma = new Map(a.map((r) => [keyId([r.k, String(r.seq)]), fp(r)]));
  const mb = new Map(b.map((r) => [keyId([r.k, String(r.seq)]), fp(r)]));
  const out: string[] = [];
  for (const id of new Set([...ma.keys(), ...mb.keys()]))
    if (ma.get(id) !== mb.get(id)) out.push(`${id} ${ma.get(id) ?? "-"} ${mb.get(id) ?? "-"}`);
  return out.sort();
}

/** Observations as sorted lines (the bucket path yields them per listing group, not in one key order). */
function lines(obs: readonly Observation[]): string[] {
  return obs
    .map((o) => {
      const [x, y] = Object.values(o.replicas);
      const f = (r: typeof x) => (r?.present ? r.fingerprint : "-");
      return `${keyId(o.key)} ${f(x)} ${f(y)}`;
    })
    .sort();
}

/** Each side's hash reduced to present (+) or absent (-). */
function presence(ls: readonly string[]): string[] {
  return ls.map((l) => {
    const parts = l.split(" ");
    const [x, y] = parts.slice(-2);
    return `${parts.slice(0, -2).join(" ")} ${x === "-" ? "-" : "+"} ${y === "-" ? "-" : "+"}`;
  });
}

/** `c` without its native hash: detection then compares canonical fingerprints only. */
function canonical(c: Connector): Connector {
  return new Proxy(c, { get: (t, p) => (p === "nativeHash" ? undefined : Reflect.get(t, p, t)) });
}

async function detect(a: Connector, b: Connector, options: DetectOptions = {}): Promise<Observation[]> {
  const out: Observation[] = [];
  const replicas = [
    { name: "a", connector: a },
    { name: "b", connector: b },
  ];
  for await (const batch of detectDivergences(SHAPE, replicas, {
    segmentRows: 32,
    leafRows: 4,
    fanout: 4,
    // The bucketed path (two tables of one database would otherwise be compared by one join).
    inStore: false,
    ...options,
  }))
    out.push(...batch);
  return out;
}

let pg: PostgresTestSchema;
let my: MysqlTestDatabase | undefined;
const connectors: Connector[] = [];
const { a: ROWS_A, b: ROWS_B } = rows();
const EXPECTED = expected(ROWS_A, ROWS_B);

async function pgTable(name: string, collation: string, data: readonly Row[]): Promise<void> {
  const t = pg.table(name);
  await pg.admin.query(
    `CREATE TABLE ${t} (k text COLLATE "${collation}" NOT NULL, seq bigint NOT NULL, v text, PRIMARY KEY (k, seq))`,
  );
  await pg.admin.query(`INSERT INTO ${t} SELECT * FROM unnest($1::text[], $2::int8[], $3::text[])`, [
    data.map((r) => r.k),
    data.map((r) => r.seq),
    data.map((r) => r.v),
  ]);
  await pg.admin.query(`ANALYZE ${t}`);
}

function pgConnector(name: string): PostgresConnector {
  const c = new PostgresConnector(pg.pool(2), pg.table(name), { label: name });
  connectors.push(c);
  return c;
}

function sqliteConnector(data: readonly Row[]): SqliteConnector {
  const db = new Database(":memory:");
  db.exec("CREATE TABLE items (k TEXT NOT NULL, seq INTEGER NOT NULL, v TEXT, PRIMARY KEY (k, seq))");
  const insert = db.prepare("INSERT INTO items VALUES (?, ?, ?)");
  for (const r of data) insert.run(r.k, r.seq, r.v);
  return new SqliteConnector(db, "items", { label: "sqlite" });
}

beforeAll(async () => {
  if (!pgUp) return;
  pg = await createPostgresTestSchema();
  await pgTable("icu_a", "und-x-icu", ROWS_A);
  await pgTable("icu_b", "und-x-icu", ROWS_B);
  await pgTable("c_a", "C", ROWS_A);
  await pgTable("c_b", "C", ROWS_B);
  if (myUp) {
    my = await createMysqlTestDatabase();
    await my.admin.query(
      "CREATE TABLE items (k VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, seq BIGINT NOT NULL, v TEXT, PRIMARY KEY (k, seq))",
    );
    await my.admin.query("INSERT INTO items VALUES ?", [ROWS_B.map((r) => [r.k, r.seq, r.v])]);
  }
}, 60_000);

afterAll(async () => {
  for (const c of connectors) await c.close?.();
  await my?.drop();
  if (pgUp) await pg.drop();
});

describe.skipIf(!pgUp)("text keys in a linguistic collation", () => {
  it("the collation really disagrees with byte order on these keys", async () => {
    const r = await pg.admin.query(`SELECT k FROM ${pg.table("icu_a")} WHERE seq = 1 ORDER BY k`);
    const icu = r.rows.map((x: { k: string }) => x.k);
    const bytes = [...TRICKY].sort((x, y) => compareKeys(SHAPE.key.slice(0, 1), [x], [y]));
    expect(icu).not.toEqual(bytes);
    expect([...icu].sort()).toEqual([...bytes].sort());
  });

  it("PostgreSQL computes every key's bucket exactly as the engine does", async () => {
    const t = pg.table("icu_a");
    const modulus = 977;
    const r = await pg.admin.query(
      `SELECT k, seq::text, (('x' || left(md5(replace(replace(k COLLATE "C", E'\\\\', E'\\\\\\\\'), '|', E'\\\\|') || '|' || seq::text), 8))::bit(32)::int8 % ${modulus})::int AS b FROM ${t}`,
    );
    for (const row of r.rows as { k: string; seq: string; b: number }[])
      expect(row.b).toBe(keyBucket([row.k, row.seq], modulus));
    // And the connector's bucket checksums agree with buckets computed here.
    const c = pgConnector("icu_a");
    const sums = await c.keyBuckets.checksumBuckets(SHAPE, modulus, [0, 1, 2, 500, 976], "fingerprint");
    const counts = [0, 1, 2, 500, 976].map(
      (b) => ROWS_A.filter((x) => keyBucket([x.k, String(x.seq)], modulus) === b).length,
    );
    expect(sums.map((s) => s.count)).toEqual(counts);
  });

  it("PostgreSQL ↔ PostgreSQL, same ICU collation: key-hash buckets, same result as binary order", async () => {
    const a = pgConnector("icu_a");
    const b = pgConnector("icu_b");
    const replicas = [
      { name: "a", connector: a },
      { name: "b", connector: b },
    ];
    const reason = await bucketedReason(SHAPE, replicas);
    expect(reason).toContain("key-hash buckets");
    expect(reason).toContain("on a, b");
    expect((await a.pushdownLimits(SHAPE)).join()).toContain("no btree index serves the key order");
    // Same-typed PostgreSQL tables compare native hashes (candidates the engine fetches and fingerprints
    // afterwards): the same keys, each present on the same sides; canonically, the same fingerprints too.
    expect(presence(lines(await detect(a, b)))).toEqual(presence(EXPECTED));
    expect(lines(await detect(canonical(a), canonical(b)))).toEqual(EXPECTED);

    const ca = pgConnector("c_a");
    const cb = pgConnector("c_b");
    expect(
      await bucketedReason(SHAPE, [
        { name: "a", connector: ca },
        { name: "b", connector: cb },
      ]),
    ).toBeUndefined();
    expect(presence(lines(await detect(ca, cb)))).toEqual(presence(EXPECTED));
    expect(lines(await detect(canonical(ca), canonical(cb)))).toEqual(EXPECTED);
    // Serial, and with coarser tuning (fewer rounds, bigger leaves): the same answer.
    const coarse = { serial: true, leafRows: 64, segmentRows: 128 };
    expect(lines(await detect(canonical(a), canonical(b), coarse))).toEqual(EXPECTED);
    expect(presence(lines(await detect(a, b, coarse)))).toEqual(presence(EXPECTED));
  });

  it("a replica whose order an index serves still compares by buckets against one it does not", async () => {
    const a = pgConnector("icu_a");
    const cb = pgConnector("c_b");
    const reason = await bucketedReason(SHAPE, [
      { name: "a", connector: a },
      { name: "b", connector: cb },
    ]);
    expect(reason).toContain("on a,");
    expect(presence(lines(await detect(a, cb)))).toEqual(presence(EXPECTED));
    expect(lines(await detect(canonical(a), canonical(cb)))).toEqual(EXPECTED);
  });

  it("PostgreSQL ↔ SQLite: key ranges in binary order, same result", async () => {
    const a = pgConnector("icu_a");
    const s = sqliteConnector(ROWS_B);
    expect(
      await bucketedReason(SHAPE, [
        { name: "a", connector: a },
        { name: "b", connector: s },
      ]),
    ).toBeUndefined();
    expect(lines(await detect(a, s))).toEqual(EXPECTED);
  });

  it.skipIf(!myUp)("PostgreSQL ↔ MariaDB: key ranges in binary order, same result", async () => {
    const a = pgConnector("icu_a");
    const m = new MysqlConnector(my!.pool(2), "items", { label: "mariadb", where: my!.url, ownsPool: true });
    connectors.push(m);
    expect(lines(await detect(a, m))).toEqual(EXPECTED);
  });

  it("property: buckets find exactly the differing keys, for random keys, edits and tunings", async () => {
    const chars = [
      "a",
      "A",
      "b",
      "B",
      "e",
      "E",
      "é",
      "É",
      "è",
      "ß",
      " ",
      ".",
      "_",
      "-",
      "!",
      "|",
      "\\",
      "😀",
      "中",
    ];
    const text = fc.array(fc.constantFrom(...chars), { maxLength: 4 }).map((cs) => cs.join(""));
    const row = fc.record({
      k: text,
      seq: fc.integer({ min: -3, max: 3 }),
      v: fc.constantFrom("x", "y", ""),
    });
    const edit = fc.constantFrom("keep", "keep", "update", "delete");
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(row, { minLength: 1, maxLength: 120, selector: (r) => `${r.k}\u0000${r.seq}` }),
        fc.array(edit, { minLength: 120, maxLength: 120 }),
        fc.uniqueArray(row, { maxLength: 10, selector: (r) => `${r.k}\u0000${r.seq}` }),
        fc.record({ leafRows: fc.integer({ min: 1, max: 16 }), fanout: fc.integer({ min: 2, max: 8 }) }),
        async (base, edits, extra, tuning) => {
          const a = base;
          const held = new Set(a.map((r) => `${r.k}\u0000${r.seq}`));
          const b = [
            ...a.flatMap((r, i) =>
              edits[i] === "delete" ? [] : edits[i] === "update" ? [{ ...r, v: `${r.v}!` }] : [r],
            ),
            ...extra.filter((r) => !held.has(`${r.k}\u0000${r.seq}`)),
          ];
          n++;
          await pgTable(`pa${n}`, "und-x-icu", a);
          await pgTable(`pb${n}`, "und-x-icu", b);
          const x = pgConnector(`pa${n}`);
          const y = pgConnector(`pb${n}`);
          const options = { ...tuning, segmentRows: 8 };
          expect(lines(await detect(canonical(x), canonical(y), options))).toEqual(expected(a, b));
          expect(presence(lines(await detect(x, y, options)))).toEqual(presence(expected(a, b)));
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);
});
