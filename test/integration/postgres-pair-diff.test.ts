/**
 * Differential test: two PostgreSQL replicas in one database compared inside PostgreSQL (`pairDiff`: one keyed
 * FULL OUTER JOIN) report exactly what the engine's own comparison (range checksums and fingerprints) reports,
 * over values stored differently but read as equal and values that differ only in bytes; pairs one statement
 * cannot join are declined with a note.
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { PairedKey } from "../../src/connectors/connector.js";
import {
  openPostgresConnector,
  PostgresConnector,
} from "../../src/connectors/postgres/postgres-connector.js";
import type { KeyRange, RecordShape } from "../../src/core/model.js";
import { runConcord, tempDir } from "../cli/helpers.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);
const SCHEMA = `pgpair_${process.pid}_${randomUUID().slice(0, 8)}`;
let admin: pg.Pool;

/** Value columns: every kind whose equality and canonical text part ways somewhere. */
const COLUMNS =
  "f float8, r real, n numeric, ts timestamptz, tx text, by bytea, j jsonb, arr int[], iv interval, ver bigint NOT NULL";

/** [a's values, b's values (undefined: b lacks the row)] after the key, as SQL literals. */
type Pair = readonly [string | undefined, string | undefined];
const row = (over: Partial<Record<string, string>> = {}) => {
  const v: Record<string, string> = {
    f: "1.5",
    r: "0.25",
    n: "2.5",
    ts: "'2024-02-29 12:00:00+00'",
    tx: "'x'",
    by: "'\\x00'",
    j: `'{"a":1}'`,
    arr: "'{1,2}'",
    iv: "'1 day'",
    ver: "1",
    ...over,
  };
  return ["f", "r", "n", "ts", "tx", "by", "j", "arr", "iv", "ver"].map((c) => v[c]).join(", ");
};

/** Rows of a and b: the same value written two ways (read as equal or not), NULLs, rows on one side only. */
const PAIRS: readonly Pair[] = [
  [row(), row()],
  [row({ f: "'-0'" }), row({ f: "0" })],
  [row({ f: "'NaN'" }), row({ f: "'NaN'" })],
  [row({ n: "1.0" }), row({ n: "1.00" })],
  [row({ n: "'NaN'" }), row({ n: "'NaN'" })],
  [row({ ts: "'2024-01-01 00:00:00+00'" }), row({ ts: "'2024-01-01 01:00:00+01'" })],
  [row({ ts: "'2024-01-01 00:00:00.000001+00'" }), row({ ts: "'2024-01-01 00:00:00+00'" })],
  [row({ tx: "'é'" }), row({ tx: `'e${"\u0301"}'` })],
  [row({ tx: "'a '" }), row({ tx: "'a'" })],
  [row({ tx: "'A'" }), row({ tx: "'a'" })],
  [row({ by: "'\\x00'" }), row({ by: "'\\x0000'" })],
  [row({ j: `'{"a":1.0}'` }), row({ j: `'{"a":1}'` })],
  [row({ j: `'{"b":1,"a":2}'` }), row({ j: `'{"a":2,"b":1}'` })],
  [row({ arr: "'{2,1}'" }), row({ arr: "'{1,2}'" })],
  [row({ iv: "'1 day'" }), row({ iv: "'24:00:00'" })],
  [row({ r: "'-0'" }), row({ r: "0" })],
  [row({ f: "NULL" }), row({ f: "0" })],
  [row({ tx: "NULL", by: "NULL", j: "NULL" }), row({ tx: "NULL", by: "NULL", j: "NULL" })],
  [row({ tx: "NULL" }), row({ tx: "''" })],
  [row(), undefined],
  [undefined, row()],
  [row({ ver: "2" }), row()],
];

/** Keys of the n-th pair, by key kind: integers, text with collation traps (and quoting's), composite. */
const KEYS = {
  int: { ddl: "id bigint PRIMARY KEY", key: "id", of: (n: number) => `${n * 7 - 40}` },
  text: {
    ddl: 'k text COLLATE "en-x-icu" PRIMARY KEY',
    ddlB: 'k text COLLATE "C" PRIMARY KEY',
    key: "k",
    of: (n: number) =>
      // A quote and a backslash too: range bounds are spelled into the join's text as literals.
      `'${["a", "B", "b", "é", "Z", "a b", "ab", "_x", "Ä", "z", "o''k", "b\\s"][n % 12]}${Math.floor(n / 12)}'`,
  },
  composite: {
    ddl: "region text NOT NULL, seq int NOT NULL, PRIMARY KEY (region, seq)",
    key: "[region, seq]",
    of: (n: number) => `'${["eu", "us", "é", "Z"][n % 4]}', ${n}`,
  },
} as const;
type KeyKind = keyof typeof KEYS;

async function createPair(kind: KeyKind, suffix: string, bColumns = COLUMNS): Promise<string> {
  const k = KEYS[kind];
  const names = [`a_${suffix}`, `b_${suffix}`];
  await admin.query(`CREATE TABLE "${SCHEMA}".${names[0]} (${k.ddl}, ${COLUMNS})`);
  await admin.query(`CREATE TABLE "${SCHEMA}".${names[1]} (${"ddlB" in k ? k.ddlB : k.ddl}, ${bColumns})`);
  // The engine path needs an index in Concord's key order (its key-hash buckets refuse shapes fingerprinted
  // client-side, float and json here); the primary keys keep their own collations for the join.
  if (kind !== "int")
    for (const t of names)
      await admin.query(
        `CREATE INDEX ON "${SCHEMA}".${t} (${kind === "text" ? 'k COLLATE "C"' : 'region COLLATE "C", seq'})`,
      );
  for (const [n, [a, b]] of PAIRS.entries()) {
    if (a) await admin.query(`INSERT INTO "${SCHEMA}".${names[0]} VALUES (${k.of(n)}, ${a})`);
    if (b) await admin.query(`INSERT INTO "${SCHEMA}".${names[1]} VALUES (${k.of(n)}, ${b})`);
  }
  return suffix;
}

function config(
  kind: KeyKind,
  suffix: string,
  inStore: boolean,
  extra: { bUrl?: string; rows?: number; where?: string } = {},
) {
  return `state: sqlite:state.db
datasets:
  t:
    key: ${KEYS[kind].key}
    versions: { counter: ver }
    checkpointRows: ${extra.rows ?? 100000}
${extra.where ? `    where: "${extra.where}"\n` : ""}${inStore ? "" : "    detect: { inStore: false }\n"}    replicas:
      a: { url: "${POSTGRES.url}", table: ${SCHEMA}.a_${suffix} }
      b: { url: "${extra.bUrl ?? POSTGRES.url}", table: ${SCHEMA}.b_${suffix} }
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

describe.skipIf(!available)("two PostgreSQL replicas in one database compared inside PostgreSQL", () => {
  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: POSTGRES.url, max: 2 });
    await admin.query(`CREATE SCHEMA "${SCHEMA}"`);
  });
  afterAll(async () => {
    await admin?.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
    await admin?.end();
  });

  for (const kind of ["int", "text", "composite"] as const) {
    for (const rows of [100000, 3]) {
      it(`reports exactly what the engine reports: ${kind} keys, ${rows === 3 ? "ranges of 3 rows" : "one range"}`, async () => {
        const suffix = await createPair(kind, `${kind}_${rows}`);
        const engine = await scan(config(kind, suffix, false, { rows }));
        const inStore = await scan(config(kind, suffix, true, { rows }));
        expect(engine.stderr).toBe("");
        expect(inStore.stderr).toBe(engine.stderr);
        expect(inStore.code).toBe(engine.code);
        expect(inStore.divergences).toEqual(engine.divergences);
        // No note: the in-store path is taken (a fallback is what a note says).
        expect(inStore.notes.filter((n) => /inside (their|the) store/.test(n))).toEqual([]);
        expect(engine.divergences.length).toBeGreaterThanOrEqual(12);
      }, 120_000);
    }
  }

  it("numeric 1.0 against 1.00 and equal instants written in two zones are no divergence", async () => {
    const suffix = await createPair("int", "equal");
    const r = await scan(config("int", suffix, true));
    const keys = (r.divergences as { key: unknown[] }[]).map((d) => String(d.key[0]));
    for (const n of [3, 4, 5, 0, 2, 17]) expect(keys).not.toContain(String(n * 7 - 40));
    // -0 and 0 as text, bytes, the row only on a or b and the version are divergences.
    for (const n of [7, 8, 9, 10, 19, 20, 21]) expect(keys).toContain(String(n * 7 - 40));
  }, 120_000);

  it("declines columns of different types, and replicas reached through another connection, with a note", async () => {
    const suffix = await createPair("int", "types", COLUMNS.replace("f float8", "f numeric"));
    const typed = await scan(config("int", suffix, true));
    const engineTyped = await scan(config("int", suffix, false));
    expect(typed.divergences).toEqual(engineTyped.divergences);
    expect(typed.notes.join("\n")).toMatch(
      /column f is double precision on t\.a and numeric on t\.b: compared with range checksums and fingerprints computed in the engine/,
    );
    const other = POSTGRES.url.replace("127.0.0.1", "localhost");
    const suffix2 = await createPair("int", "target");
    const moved = await scan(config("int", suffix2, true, { bUrl: other }));
    expect(moved.notes.join("\n")).toMatch(
      /reached through different connections \(another host or socket\)/,
    );
    expect(moved.notes.join("\n")).not.toMatch(/@|password/);
    expect(moved.divergences).toEqual((await scan(config("int", suffix2, false))).divergences);
  }, 120_000);
  it("repairs the same as compared in the engine: same document, same tables", async () => {
    const docs: unknown[] = [];
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
      const { rows } = await admin.query(
        `SELECT region, seq, f::text, n::text, tx, j::text, iv::text, ver FROM "${SCHEMA}".b_${suffix} ORDER BY region COLLATE "C", seq`,
      );
      tables.push(rows);
    }
    const repaired = JSON.parse(docs[0] as string) as { datasets: { divergences: unknown[] }[] };
    expect(repaired.datasets[0]!.divergences.length).toBeGreaterThanOrEqual(12);
    expect(docs[1]).toEqual(docs[0]);
    expect(tables[1]).toEqual(tables[0]);
  }, 180_000);
  it("applies each replica's row filter (where:) on both sides of the join", async () => {
    const suffix = await createPair("int", "where");
    const where = "f IS NOT NULL AND id % 2 = 0";
    const engine = await scan(config("int", suffix, false, { where }));
    const inStore = await scan(config("int", suffix, true, { where }));
    expect(inStore.stderr).toBe("");
    expect(inStore.divergences).toEqual(engine.divergences);
    expect(inStore.notes.filter((n) => /inside (their|the) store/.test(n))).toEqual([]);
    expect(engine.divergences.length).toBeGreaterThan(2);
    const all = await scan(config("int", suffix, false));
    expect(engine.divergences.length).toBeLessThan(all.divergences.length);
  }, 120_000);
  it("compares a bounded integer range in two halves at once: the same keys, in order, and stops cleanly", async () => {
    // 2,000 rows, every 7th differing (updated, deleted or inserted): several batches of 16 in each half.
    await admin.query(`CREATE TABLE "${SCHEMA}".ha (id bigint PRIMARY KEY, v text)`);
    await admin.query(`CREATE TABLE "${SCHEMA}".hb (id bigint PRIMARY KEY, v text)`);
    await admin.query(`INSERT INTO "${SCHEMA}".ha SELECT i, 'v' || i FROM generate_series(1, 2000) i`);
    await admin.query(
      `INSERT INTO "${SCHEMA}".hb SELECT i, CASE WHEN i % 21 = 0 THEN 'changed' ELSE 'v' || i END ` +
        `FROM generate_series(1, 2000) i WHERE i % 21 <> 7`,
    );
    await admin.query(`INSERT INTO "${SCHEMA}".hb SELECT i, 'new' FROM generate_series(2001, 2100) i`);
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [{ name: "v", type: "text" }],
    };
    const a = openPostgresConnector(POSTGRES.url, `${SCHEMA}.ha`, { label: "t.a" });
    const b = openPostgresConnector(POSTGRES.url, `${SCHEMA}.hb`, { label: "t.b" });
    try {
      const pair = await a.pairDiff.pair(shape, b);
      if (typeof pair === "string") throw new Error(pair);
      const range = { lo: ["100"], hi: ["2050"] };
      const listed: PairedKey[] = [];
      let told: number | undefined;
      let tellings = 0;
      // The second half runs on b's connection, set up when b described its table: its statements are b's.
      await a.warmed();
      const queries = a.stats.queries + b.stats.queries;
      for await (const batch of pair.diff(range, 16, (n) => {
        told = n;
        tellings++;
      })) {
        listed.push(...batch);
      }
      // Each half is one statement that also counts this replica's rows in it: no count statement beside.
      const statements = a.stats.queries + b.stats.queries - queries;
      // Two cursors' statements over 16-key pages: 17, or 16 when the second half's cursor needs one
      // statement less (seen once in CI); with a count of each half beside them it was 19.
      expect(statements).toBeGreaterThanOrEqual(16);
      expect(statements).toBeLessThanOrEqual(17);
      expect(tellings).toBe(1);
      // What differs, computed by the server in one statement over the whole range.
      const { rows } = await admin.query<{ id: string; here: boolean; there: boolean }>(
        `SELECT coalesce(x.id, y.id)::text AS id, x.id IS NOT NULL AS here, y.id IS NOT NULL AS there ` +
          `FROM (SELECT * FROM "${SCHEMA}".ha WHERE id >= 100 AND id < 2050) x ` +
          `FULL JOIN (SELECT * FROM "${SCHEMA}".hb WHERE id >= 100 AND id < 2050) y ON x.id = y.id ` +
          `WHERE x.id IS NULL OR y.id IS NULL OR x.v <> y.v ORDER BY coalesce(x.id, y.id)`,
      );
      const { rows: counted } = await admin.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM "${SCHEMA}".ha WHERE id >= 100 AND id < 2050`,
      );
      expect(rows.length).toBeGreaterThan(64);
      expect(listed.map((k) => [k.key[0], k.here, k.there])).toEqual(
        rows.map((r) => [r.id, r.here, r.there]),
      );
      expect(told).toBe(Number(counted[0]!.n));
      // Each listed key comes with the records a fetch reads on the sides that hold it: the engine fetches neither.
      const fetched = async (c: typeof a, keys: PairedKey[]) =>
        new Map(
          (
            await c.fetchRecords(
              shape,
              keys.map((k) => k.key),
            )
          ).map((r) => [r.key[0], r]),
        );
      const here = await fetched(
        a,
        listed.filter((k) => k.here),
      );
      const there = await fetched(
        b,
        listed.filter((k) => k.there),
      );
      expect(listed.map((k) => [k.key[0], k.records?.here, k.records?.there])).toEqual(
        listed.map((k) => [k.key[0], here.get(k.key[0]), there.get(k.key[0])]),
      );
      expect(listed.filter((k) => k.here && k.there).length).toBeGreaterThan(16);
      // A caller that stops after the first batch leaves no cursor open on either connection.
      for await (const batch of pair.diff(range, 16, () => undefined)) {
        expect(batch.length).toBe(16);
        break;
      }
      // A cursor left open keeps its transaction, and that transaction's lock on the tables it reads. Only this
      // test's tables count: other tests' (and other processes') connections with the same application name
      // can stay idle in a transaction for seconds on a loaded machine (a stalled fault proxy holds one).
      const openNow = async () =>
        (
          await admin.query(
            `SELECT DISTINCT s.pid FROM pg_locks l JOIN pg_stat_activity s USING (pid)
             WHERE l.relation IN ('"${SCHEMA}".ha'::regclass, '"${SCHEMA}".hb'::regclass)
               AND s.state = 'idle in transaction' AND s.pid <> pg_backend_pid()`,
          )
        ).rowCount;
      const until = Date.now() + 5000;
      let open = await openNow();
      while (open && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        open = await openNow();
      }
      expect(open).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  it("compares the first and last segments (open ranges) in halves too, cut at this replica's bounds: keys beyond them still listed", async () => {
    // 1,000 rows on the first replica; the second lacks some, changes some and holds keys below and above
    // the first's (only there: in the open halves beyond the cut).
    await admin.query(`CREATE TABLE "${SCHEMA}".oa (id bigint PRIMARY KEY, v text)`);
    await admin.query(`CREATE TABLE "${SCHEMA}".ob (id bigint PRIMARY KEY, v text)`);
    await admin.query(`INSERT INTO "${SCHEMA}".oa SELECT i, 'v' || i FROM generate_series(100, 1099) i`);
    await admin.query(
      `INSERT INTO "${SCHEMA}".ob SELECT i, CASE WHEN i % 13 = 0 THEN 'changed' ELSE 'v' || i END ` +
        `FROM generate_series(100, 1099) i WHERE i % 17 <> 3`,
    );
    await admin.query(
      `INSERT INTO "${SCHEMA}".ob SELECT i, 'new' FROM generate_series(1, 20) i UNION ALL ` +
        `SELECT i, 'new' FROM generate_series(1100, 1120) i`,
    );
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [{ name: "v", type: "text" }],
    };
    const a = openPostgresConnector(POSTGRES.url, `${SCHEMA}.oa`, { label: "t.a" });
    const b = openPostgresConnector(POSTGRES.url, `${SCHEMA}.ob`, { label: "t.b" });
    try {
      const pair = await a.pairDiff.pair(shape, b);
      if (typeof pair === "string") throw new Error(pair);
      const bounds = vi.spyOn(a, "keyBounds");
      const ranges: [KeyRange, string][] = [
        [{ lo: null, hi: ["600"] }, "id < 600"],
        [{ lo: ["600"], hi: null }, "id >= 600"],
        [{ lo: null, hi: null }, "true"],
      ];
      for (const [range, where] of ranges) {
        const listed: PairedKey[] = [];
        let told: number | undefined;
        for await (const batch of pair.diff(range, 16, (n) => {
          told = n;
        })) {
          listed.push(...batch);
        }
        const { rows } = await admin.query<{ id: string; here: boolean; there: boolean }>(
          `SELECT coalesce(x.id, y.id)::text AS id, x.id IS NOT NULL AS here, y.id IS NOT NULL AS there ` +
            `FROM (SELECT * FROM "${SCHEMA}".oa WHERE ${where}) x ` +
            `FULL JOIN (SELECT * FROM "${SCHEMA}".ob WHERE ${where}) y ON x.id = y.id ` +
            `WHERE x.id IS NULL OR y.id IS NULL OR x.v <> y.v ORDER BY coalesce(x.id, y.id)`,
        );
        const { rows: counted } = await admin.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM "${SCHEMA}".oa WHERE ${where}`,
        );
        expect(rows.length).toBeGreaterThan(32);
        expect(listed.map((k) => [k.key[0], k.here, k.there])).toEqual(
          rows.map((r) => [r.id, r.here, r.there]),
        );
        expect(told).toBe(Number(counted[0]!.n));
      }
      // Each open range was closed for the cut at the first replica's own keys: it was compared in halves.
      expect(bounds.mock.calls.map(([, range]) => range)).toEqual(ranges.map(([range]) => range));
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  it("cuts open ranges at the whole table's bounds its split points read, rows added beyond them since still listed", async () => {
    await admin.query(`CREATE TABLE "${SCHEMA}".qa (id bigint PRIMARY KEY, v text)`);
    await admin.query(`CREATE TABLE "${SCHEMA}".qb (id bigint PRIMARY KEY, v text)`);
    await admin.query(`INSERT INTO "${SCHEMA}".qa SELECT i, 'v' || i FROM generate_series(100, 1099) i`);
    await admin.query(
      `INSERT INTO "${SCHEMA}".qb SELECT i, CASE WHEN i % 13 = 0 THEN 'changed' ELSE 'v' || i END ` +
        `FROM generate_series(90, 1110) i WHERE i % 17 <> 3`,
    );
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [{ name: "v", type: "text" }],
    };
    const a = openPostgresConnector(POSTGRES.url, `${SCHEMA}.qa`, { label: "t.a" });
    const b = openPostgresConnector(POSTGRES.url, `${SCHEMA}.qb`, { label: "t.b" });
    try {
      const pair = await a.pairDiff.pair(shape, b);
      if (typeof pair === "string") throw new Error(pair);
      // A run's split points read the whole table's bounds (100 and 1099); rows then land beyond both.
      expect(await a.keyBounds(shape, { lo: null, hi: null })).toEqual({ first: ["100"], last: ["1099"] });
      await admin.query(
        `INSERT INTO "${SCHEMA}".qa SELECT i, 'late' FROM generate_series(1, 30) i UNION ALL ` +
          `SELECT i, 'late' FROM generate_series(1100, 1130) i`,
      );
      const bounds = vi.spyOn(a, "keyBounds");
      const ranges: [KeyRange, string][] = [
        [{ lo: null, hi: ["600"] }, "id < 600"],
        [{ lo: ["600"], hi: null }, "id >= 600"],
      ];
      for (const [range, where] of ranges) {
        const listed: PairedKey[] = [];
        let told: number | undefined;
        for await (const batch of pair.diff(range, 16, (n) => {
          told = n;
        })) {
          listed.push(...batch);
        }
        const { rows } = await admin.query<{ id: string; here: boolean; there: boolean }>(
          `SELECT coalesce(x.id, y.id)::text AS id, x.id IS NOT NULL AS here, y.id IS NOT NULL AS there ` +
            `FROM (SELECT * FROM "${SCHEMA}".qa WHERE ${where}) x ` +
            `FULL JOIN (SELECT * FROM "${SCHEMA}".qb WHERE ${where}) y ON x.id = y.id ` +
            `WHERE x.id IS NULL OR y.id IS NULL OR x.v <> y.v ORDER BY coalesce(x.id, y.id)`,
        );
        const { rows: counted } = await admin.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM "${SCHEMA}".qa WHERE ${where}`,
        );
        expect(listed.map((k) => [k.key[0], k.here, k.there])).toEqual(
          rows.map((r) => [r.id, r.here, r.there]),
        );
        expect(told).toBe(Number(counted[0]!.n));
      }
      // Both cut at the bounds already read: no probe of either range.
      expect(bounds).not.toHaveBeenCalled();
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);
  it("a closed pair keeps no connection holding the process open, the connections warmed for it included", async () => {
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [{ name: "v", type: "text" }],
    };
    await admin.query(`CREATE TABLE "${SCHEMA}".ca (id bigint PRIMARY KEY, v text)`);
    await admin.query(`CREATE TABLE "${SCHEMA}".cb (id bigint PRIMARY KEY, v text)`);
    await admin.query(`INSERT INTO "${SCHEMA}".ca SELECT i, 'v' FROM generate_series(1, 100) i`);
    await admin.query(`INSERT INTO "${SCHEMA}".cb SELECT i, 'w' FROM generate_series(1, 100) i`);
    // Sockets that keep the event loop alive (an unreferenced one is not listed).
    const sockets = () => process.getActiveResourcesInfo().filter((r) => /Socket|Pipe/.test(r)).length;
    const before = sockets();
    const a = openPostgresConnector(POSTGRES.url, `${SCHEMA}.ca`, { label: "t.a" });
    const b = openPostgresConnector(POSTGRES.url, `${SCHEMA}.cb`, { label: "t.b" });
    const pair = await a.pairDiff.pair(shape, b);
    if (typeof pair === "string") throw new Error(pair);
    let listed = 0;
    for await (const batch of pair.diff({ lo: ["1"], hi: ["101"] }, 16, () => undefined))
      listed += batch.length;
    expect(listed).toBe(100);
    expect(sockets()).toBeGreaterThan(before);
    await a.close();
    await b.close();
    // Each socket closes once its backend has exited; the process does not wait for that.
    expect(sockets()).toBe(before);
  }, 60_000);
  it("opens no connection for an in-PostgreSQL pair beyond the two that described the tables", async () => {
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [{ name: "v", type: "text" }],
    };
    await admin.query(`CREATE TABLE "${SCHEMA}".wa (id bigint PRIMARY KEY, v text)`);
    await admin.query(`CREATE TABLE "${SCHEMA}".wb (id bigint PRIMARY KEY, v text)`);
    await admin.query(`INSERT INTO "${SCHEMA}".wa SELECT i, 'v' FROM generate_series(1, 1000) i`);
    await admin.query(`INSERT INTO "${SCHEMA}".wb SELECT i, 'w' FROM generate_series(1, 1000) i`);
    const app = `concord_conn_${process.pid}_${randomUUID().slice(0, 8)}`;
    const url = new URL(POSTGRES.url);
    url.searchParams.set("application_name", app);
    const a = openPostgresConnector(url.toString(), `${SCHEMA}.wa`, { label: "t.a" });
    const b = openPostgresConnector(url.toString(), `${SCHEMA}.wb`, { label: "t.b" });
    try {
      await Promise.all([a.describe(), b.describe()]);
      const pair = await a.pairDiff.pair(shape, b);
      if (typeof pair === "string") throw new Error(pair);
      let listed = 0;
      for await (const batch of pair.diff({ lo: ["1"], hi: ["1001"] }, 64, () => undefined))
        listed += batch.length;
      expect(listed).toBe(1000);
      await a.warmed();
      const { rows } = await admin.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = $1",
        [app],
      );
      // a's describing connection runs the first half, b's the second. Before, a's spare ran the second and a
      // second connection of a's pool was opened on the run's path (four backends; six before that).
      expect(Number(rows[0]!.n)).toBe(2);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);
  it("runs the second half on this replica's spare when the other holds a single connection, which stays free", async () => {
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [{ name: "v", type: "text" }],
    };
    await admin.query(`CREATE TABLE "${SCHEMA}".sa (id bigint PRIMARY KEY, v text)`);
    await admin.query(`CREATE TABLE "${SCHEMA}".sb (id bigint PRIMARY KEY, v text)`);
    await admin.query(`INSERT INTO "${SCHEMA}".sa SELECT i, 'v' FROM generate_series(1, 1000) i`);
    await admin.query(`INSERT INTO "${SCHEMA}".sb SELECT i, 'w' FROM generate_series(1, 1000) i`);
    const app = `concord_conn_${process.pid}_${randomUUID().slice(0, 8)}`;
    const url = new URL(POSTGRES.url);
    url.searchParams.set("application_name", app);
    const a = openPostgresConnector(url.toString(), `${SCHEMA}.sa`, { label: "t.a" });
    const client = new pg.Client(url.toString());
    await client.connect();
    const b = new PostgresConnector(client, `${SCHEMA}.sb`, { label: "t.b" });
    try {
      const pair = await a.pairDiff.pair(shape, b);
      if (typeof pair === "string") throw new Error(pair);
      let listed = 0;
      let counted: number | undefined;
      for await (const batch of pair.diff({ lo: ["1"], hi: ["1001"] }, 64, () => undefined)) {
        listed += batch.length;
        // b's one connection is not held by a cursor: its own statements still run mid-comparison.
        counted ??= await b.count(shape, { lo: null, hi: null });
      }
      expect(listed).toBe(1000);
      expect(counted).toBe(1000);
      await a.warmed();
      const { rows } = await admin.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = $1",
        [app],
      );
      // b's client, a's describing connection (the first half) and a's spare (the second).
      expect(Number(rows[0]!.n)).toBe(3);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);
});
