/**
 * Differential test: two MariaDB replicas on one server (two tables, or two databases) compared inside MariaDB
 * (`pairDiff`: a keyed LEFT JOIN and an anti-join in one statement) report exactly what the engine's own
 * comparison (range checksums and fingerprints) reports, over values that compare equal under a collation
 * or as numbers but differ in bytes; pairs the join cannot compare exactly are declined with a note.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PairedKey } from "../../src/connectors/connector.js";
import { openMysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import type { RecordShape } from "../../src/core/model.js";
import { runConcord, tempDir } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);
let db: MysqlTestDatabase;
let other: MysqlTestDatabase;

/** Value columns: every kind whose equality and bytes part ways somewhere. */
const COLUMNS =
  "tx VARCHAR(20) COLLATE utf8mb4_general_ci, tb TEXT COLLATE utf8mb4_bin, n DECIMAL(10,2), " +
  "ts DATETIME(6), d DATE, bl VARBINARY(8), flag TINYINT(1), y YEAR, big BIGINT UNSIGNED, " +
  "j LONGTEXT CHECK (json_valid(j)), ver BIGINT NOT NULL";
const NAMES = ["tx", "tb", "n", "ts", "d", "bl", "flag", "y", "big", "j", "ver"];

/** [a's values, b's values (undefined: b lacks the row)] after the key, as SQL literals. */
type Pair = readonly [string | undefined, string | undefined];
const row = (over: Partial<Record<string, string>> = {}) => {
  const v: Record<string, string> = {
    tx: "'x'",
    tb: "'y'",
    n: "2.5",
    ts: "'2024-02-29 12:00:00'",
    d: "'2024-02-29'",
    bl: "X'00'",
    flag: "1",
    y: "2024",
    big: "18446744073709551615",
    j: `'{"a":1}'`,
    ver: "1",
    ...over,
  };
  return NAMES.map((c) => v[c]).join(", ");
};

/** Rows of a and b: the same value written two ways, values equal under a collation only, NULLs, one side only. */
const PAIRS: readonly Pair[] = [
  [row(), row()],
  [row({ tx: "'A'" }), row({ tx: "'a'" })],
  [row({ tx: "'a '" }), row({ tx: "'a'" })],
  [row({ tb: "'b '" }), row({ tb: "'b'" })],
  [row({ tx: "'é'" }), row({ tx: `'e${"\u0301"}'` })],
  [row({ n: "1.0" }), row({ n: "1.00" })],
  [row({ n: "1.01" }), row({ n: "1.00" })],
  [row({ ts: "'2024-01-01 00:00:00.000001'" }), row({ ts: "'2024-01-01 00:00:00'" })],
  [row({ bl: "X'00'" }), row({ bl: "X'0000'" })],
  [row({ bl: "X'61'" }), row({ bl: "'a'" })],
  [row({ j: `'{"a":1.0}'` }), row({ j: `'{"a":1}'` })],
  [row({ j: `'{"b":1,"a":2}'` }), row({ j: `'{"a":2,"b":1}'` })],
  [row({ flag: "0" }), row({ flag: "1" })],
  [row({ big: "0" }), row()],
  [row({ tx: "NULL" }), row({ tx: "''" })],
  [
    row({ tx: "NULL", tb: "NULL", bl: "NULL", j: "NULL" }),
    row({ tx: "NULL", tb: "NULL", bl: "NULL", j: "NULL" }),
  ],
  [row({ d: "NULL" }), row()],
  [row(), undefined],
  [undefined, row()],
  [row({ ver: "2" }), row()],
];

/** Keys of the n-th pair, by key kind: integers, text in a NO PAD binary collation (quotes too), composite. */
const KEYS = {
  int: { ddl: "id BIGINT PRIMARY KEY", key: "id", of: (n: number) => `${n * 7 - 40}` },
  text: {
    ddl: "k VARCHAR(40) COLLATE utf8mb4_nopad_bin PRIMARY KEY",
    key: "k",
    of: (n: number) =>
      `'${["a", "B", "b", "é", "Z", "a b", "ab", "_x", "Ä", "z", "o''k", "b\\\\s", "a "][n % 13]}${Math.floor(n / 13)}'`,
  },
  composite: {
    ddl: "region VARCHAR(10) COLLATE utf8mb4_nopad_bin NOT NULL, seq INT NOT NULL, PRIMARY KEY (region, seq)",
    key: "[region, seq]",
    of: (n: number) => `'${["eu", "us", "é", "Z"][n % 4]}', ${n}`,
  },
} as const;
type KeyKind = keyof typeof KEYS;

async function createPair(
  kind: KeyKind,
  suffix: string,
  opts: { bColumns?: string; bDb?: MysqlTestDatabase; bKey?: string } = {},
): Promise<string> {
  const k = KEYS[kind];
  const bDb = opts.bDb ?? db;
  await db.admin.query(`CREATE TABLE \`a_${suffix}\` (${k.ddl}, ${COLUMNS})`);
  await bDb.admin.query(`CREATE TABLE \`b_${suffix}\` (${opts.bKey ?? k.ddl}, ${opts.bColumns ?? COLUMNS})`);
  for (const [n, [a, b]] of PAIRS.entries()) {
    if (a) await db.admin.query(`INSERT INTO \`a_${suffix}\` VALUES (${k.of(n)}, ${a})`);
    if (b) await bDb.admin.query(`INSERT INTO \`b_${suffix}\` VALUES (${k.of(n)}, ${b})`);
  }
  return suffix;
}

function config(
  kind: KeyKind,
  suffix: string,
  inStore: boolean,
  extra: { bUrl?: string; bTable?: string; rows?: number; where?: string } = {},
) {
  return `state: sqlite:state.db
datasets:
  t:
    key: ${KEYS[kind].key}
    versions: { counter: ver }
    checkpointRows: ${extra.rows ?? 100000}
${extra.where ? `    where: "${extra.where}"\n` : ""}${inStore ? "" : "    detect: { inStore: false }\n"}    replicas:
      a: { url: "${db.url}", table: a_${suffix} }
      b: { url: "${extra.bUrl ?? db.url}", table: ${extra.bTable ?? `b_${suffix}`} }
    policy: { owner: a, resolve: highest-version }
`;
}

interface Scan {
  code: number;
  divergences: unknown[];
  notes: string[];
  stderr: string;
}

async function scan(text: string): Promise<Scan> {
  const dir = tempDir();
  writeFileSync(join(dir, "concord.yaml"), text);
  const r = await runConcord(["scan", "--json", "-c", join(dir, "concord.yaml")]);
  const doc = r.stdout
    ? (JSON.parse(r.stdout) as { datasets: { divergences?: unknown[]; notes?: string[] }[] })
    : undefined;
  return {
    code: r.code,
    divergences: doc?.datasets[0]?.divergences ?? [],
    notes: doc?.datasets[0]?.notes ?? [],
    stderr: r.stderr,
  };
}

const fallback = (s: Scan) => s.notes.filter((n) => /inside (their|the) store/.test(n));

describe.skipIf(!available)("two MariaDB replicas on one server compared inside MariaDB", () => {
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    other = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
    await other?.drop();
  });

  for (const kind of ["int", "text", "composite"] as const) {
    for (const rows of [100000, 3]) {
      it(`reports exactly what the engine reports: ${kind} keys, ${rows === 3 ? "ranges of 3 rows" : "one range"}`, async () => {
        if (!db.mariadb) return;
        const suffix = await createPair(kind, `${kind}_${rows}`);
        const engine = await scan(config(kind, suffix, false, { rows }));
        const inStore = await scan(config(kind, suffix, true, { rows }));
        expect(engine.stderr).toBe("");
        expect(inStore.stderr).toBe(engine.stderr);
        expect(inStore.code).toBe(engine.code);
        expect(inStore.divergences).toEqual(engine.divergences);
        // No note: the in-store path is taken (a fallback is what a note says).
        expect(fallback(inStore)).toEqual([]);
        expect(engine.divergences.length).toBeGreaterThanOrEqual(14);
      }, 120_000);
    }
  }

  it("texts equal only under a collation, padded bytes and extra fraction digits are divergences; 1.0 and 1.00 are not", async () => {
    if (!db.mariadb) return;
    const suffix = await createPair("int", "equal");
    const r = await scan(config("int", suffix, true));
    expect(fallback(r)).toEqual([]);
    const keys = (r.divergences as { key: unknown[] }[]).map((d) => String(d.key[0]));
    for (const n of [0, 5, 11, 15]) expect(keys).not.toContain(String(n * 7 - 40));
    for (const n of [1, 2, 3, 4, 6, 7, 8, 12, 13, 14, 16, 17, 18, 19])
      expect(keys).toContain(String(n * 7 - 40));
  }, 120_000);

  it("compares tables in two databases of one server, also reached through another host name", async () => {
    if (!db.mariadb) return;
    const suffix = await createPair("int", "twodb", { bDb: other });
    const bTable = `${other.name}.b_${suffix}`;
    const engine = await scan(config("int", suffix, false, { bTable }));
    const inStore = await scan(config("int", suffix, true, { bTable }));
    expect(inStore.stderr).toBe("");
    expect(fallback(inStore)).toEqual([]);
    expect(inStore.divergences).toEqual(engine.divergences);
    // Another name for the same server, and b's URL naming b's database: the server is recognised as one.
    const bUrl = other.url.replace("127.0.0.1", "localhost");
    const moved = await scan(config("int", suffix, true, { bUrl }));
    expect(moved.stderr).toBe("");
    expect(fallback(moved)).toEqual([]);
    expect(moved.divergences).toEqual(engine.divergences);
  }, 120_000);

  it("declines columns of different types, floats and PAD SPACE keys, with a note, and still answers", async () => {
    if (!db.mariadb) return;
    const typed = await createPair("int", "types", {
      bColumns: COLUMNS.replace("n DECIMAL(10,2)", "n DECIMAL(12,2)"),
    });
    const t1 = await scan(config("int", typed, true));
    expect(t1.divergences).toEqual((await scan(config("int", typed, false))).divergences);
    expect(t1.notes.join("\n")).toMatch(
      /column n is decimal\(10,2\) on t\.a and decimal\(12,2\) on t\.b: compared with range checksums/,
    );
    const floats = await createPair("int", "floats", {
      bColumns: COLUMNS.replace("n DECIMAL(10,2)", "n DOUBLE"),
    });
    await db.admin.query(`ALTER TABLE a_${floats} MODIFY n DOUBLE`);
    const t2 = await scan(config("int", floats, true));
    expect(t2.divergences).toEqual((await scan(config("int", floats, false))).divergences);
    expect(t2.notes.join("\n")).toMatch(/a type the in-store comparison cannot compare exactly/);
    const ci = await createPair("text", "ci", {
      bKey: "k VARCHAR(40) COLLATE utf8mb4_bin PRIMARY KEY",
    });
    const t3 = await scan(config("text", ci, true));
    expect(t3.notes.join("\n")).toMatch(/collation that does not order keys as Concord does/);
    expect(t3.divergences).toEqual((await scan(config("text", ci, false))).divergences);
  }, 180_000);

  it("applies each replica's row filter (where:) on both sides of the join", async () => {
    if (!db.mariadb) return;
    const suffix = await createPair("int", "where");
    const where = "d IS NOT NULL AND id % 2 = 0";
    const engine = await scan(config("int", suffix, false, { where }));
    const inStore = await scan(config("int", suffix, true, { where }));
    expect(inStore.stderr).toBe("");
    expect(fallback(inStore)).toEqual([]);
    expect(inStore.divergences).toEqual(engine.divergences);
    expect(engine.divergences.length).toBeGreaterThan(2);
    const all = await scan(config("int", suffix, false));
    expect(engine.divergences.length).toBeLessThan(all.divergences.length);
  }, 120_000);

  it("repairs the same as compared in the engine: same document, same tables", async () => {
    if (!db.mariadb) return;
    const docs: string[] = [];
    const tables: unknown[] = [];
    for (const inStore of [false, true]) {
      const suffix = await createPair("composite", `repair_${inStore}`);
      const dir = tempDir();
      writeFileSync(join(dir, "concord.yaml"), config("composite", suffix, inStore, { rows: 5 }));
      const r = await runConcord(["repair", "--json", "-c", join(dir, "concord.yaml")]);
      expect(r.stderr).toBe("");
      const doc = JSON.parse(r.stdout) as { runId?: unknown; datasets: Record<string, unknown>[] };
      delete doc.runId;
      for (const ds of doc.datasets) {
        delete ds.stats;
        delete ds.notes;
      }
      docs.push(JSON.stringify(doc).replaceAll(suffix, "<suffix>"));
      const [rows] = await db.admin.query(
        `SELECT region, seq, tx, HEX(tb), n, ts, HEX(bl), j, ver FROM b_${suffix} ORDER BY CAST(region AS BINARY), seq`,
      );
      tables.push(rows);
    }
    const repaired = JSON.parse(docs[0]!) as { datasets: { divergences: unknown[] }[] };
    expect(repaired.datasets[0]!.divergences.length).toBeGreaterThanOrEqual(14);
    expect(docs[1]).toEqual(docs[0]);
    expect(tables[1]).toEqual(tables[0]);
  }, 180_000);

  it("lists a range's differing keys in order with both records and tells this replica's rows once", async () => {
    if (!db.mariadb) return;
    await db.admin.query("CREATE TABLE ha (id BIGINT PRIMARY KEY, v TEXT)");
    await db.admin.query("CREATE TABLE hb (id BIGINT PRIMARY KEY, v TEXT)");
    await db.admin.query("INSERT INTO ha SELECT seq, CONCAT('v', seq) FROM seq_1_to_2000");
    await db.admin.query(
      "INSERT INTO hb SELECT seq, IF(seq % 21 = 0, 'changed', CONCAT('v', seq)) FROM seq_1_to_2000 WHERE seq % 21 <> 7",
    );
    await db.admin.query("INSERT INTO hb SELECT seq, 'new' FROM seq_2001_to_2100");
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [{ name: "v", type: "text" }],
    };
    const a = openMysqlConnector(db.url, "ha", { label: "t.a" });
    const b = openMysqlConnector(db.url, "hb", { label: "t.b" });
    try {
      const pair = await a.pairDiff.pair(shape, b);
      if (typeof pair === "string") throw new Error(pair);
      const listed: PairedKey[] = [];
      const told: number[] = [];
      const before = a.stats.queries;
      for await (const batch of pair.diff({ lo: ["100"], hi: ["2050"] }, 16, (n) => told.push(n))) {
        expect(batch.length).toBeLessThanOrEqual(16);
        listed.push(...batch);
      }
      // Two halves at once, each one statement that also counts this replica's rows in it.
      expect(a.stats.queries - before).toBe(2);
      const [rows] = (await db.admin.query(
        "SELECT id, 1 AS here, hb.id IS NOT NULL AS there FROM ha LEFT JOIN hb USING (id) " +
          "WHERE id >= 100 AND id < 2050 AND NOT (ha.v <=> hb.v) " +
          "UNION ALL SELECT id, 0, 1 FROM hb WHERE id >= 100 AND id < 2050 AND id NOT IN (SELECT id FROM ha) ORDER BY id",
      )) as unknown as [{ id: number; here: number; there: number }[]];
      expect(rows.length).toBeGreaterThan(100);
      expect(listed.map((k) => [k.key[0], k.here, k.there])).toEqual(
        rows.map((r) => [String(r.id), r.here === 1, Number(r.there) === 1]),
      );
      // ha holds 1..2000: 1,901 of them in [100, 2050).
      expect(told).toEqual([1901]);
      // Each listed key comes with the records a fetch reads on the sides that hold it.
      const sample = listed.filter((_, i) => i % 10 === 0);
      const fetchedA = new Map(
        (
          await a.fetchRecords(
            shape,
            sample.map((k) => k.key),
          )
        ).map((r) => [r.key[0], r]),
      );
      const fetchedB = new Map(
        (
          await b.fetchRecords(
            shape,
            sample.map((k) => k.key),
          )
        ).map((r) => [r.key[0], r]),
      );
      for (const k of sample) {
        expect(k.records?.here).toEqual(fetchedA.get(k.key[0]!));
        expect(k.records?.there).toEqual(fetchedB.get(k.key[0]!));
      }
      // A listing left after its first batch (both halves' statements running) leaves no connection held:
      // ten more, each left early, then a whole one, on a pool of four.
      for (let i = 0; i < 10; i++) {
        for await (const batch of pair.diff({ lo: ["1"], hi: ["2100"] }, 4, () => undefined)) {
          expect(batch.length).toBeGreaterThan(0);
          break;
        }
      }
      // Open at both ends: cut at this replica's first and last keys, keys only b holds past them still listed.
      const whole: PairedKey[] = [];
      for await (const batch of pair.diff({ lo: null, hi: null }, 64, () => undefined)) whole.push(...batch);
      expect(whole.filter((k) => !k.here).map((k) => k.key[0])).toContain("2100");
      // 95 changed (21, 42, …, 1995), 95 deleted (7, 28, …, 1981) and 100 added (2001-2100).
      expect(whole.length).toBe(95 + 95 + 100);
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);
});
