/**
 * Issue 12's PostgreSQL failures, each as a user meets it through the CLI (scan, repair, scan) between two
 * PostgreSQL tables: JSON numbers beyond 2^53 and beyond double range, timestamps' infinities and BC years,
 * single-precision floats beside doubles, times, keys under a nondeterministic ICU collation, and values a
 * column cannot hold. The type matrix (test/matrix) covers every type and store pair; these name the cases.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import { emptyStats } from "../../src/connectors/connector.js";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import { PostgresSession } from "../../src/connectors/postgres/postgres-session.js";
import type { RecordShape } from "../../src/core/model.js";
import {
  parseJson,
  type RunResult,
  runConcord,
  type ScanJson,
  tempDir,
  writeConfig,
} from "../cli/helpers.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);

let db: PostgresTestSchema;
const connectors: Connector[] = [];

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
  await db.admin.query(
    `CREATE COLLATION "${db.name}".ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
  );
});

afterAll(async () => {
  for (const c of connectors.splice(0)) await c.close();
  if (db) await db.drop();
});

/** Creates tables a and b (`columns` after `k`) and fills them with `a` and `b`: rows of SQL literals. */
async function tables(name: string, columns: string, a: string[], b: string[]): Promise<void> {
  for (const [t, rows] of [
    [`${name}_a`, a],
    [`${name}_b`, b],
  ] as const) {
    await db.admin.query(`CREATE TABLE ${db.table(t)} (${columns})`);
    if (rows.length) await db.admin.query(`INSERT INTO ${db.table(t)} VALUES ${rows.join(", ")}`);
  }
}

/** A config comparing `<name>_a` (the owner) with `<name>_b`. */
function config(name: string): string {
  return writeConfig(
    tempDir(),
    `state: sqlite:state.db
datasets:
  ${name}:
    key: k
    replicas:
      a: { url: "${POSTGRES.url}", table: ${db.table(`${name}_a`)} }
      b: { url: "${POSTGRES.url}", table: ${db.table(`${name}_b`)} }
    policy: { owner: a, resolve: owner }
`,
  );
}

type Dataset = ScanJson["datasets"][number] & { notes?: string[] };

async function scan(path: string): Promise<Dataset> {
  const r = await runConcord(["scan", "--json", "-c", path]);
  if (r.code > 1) throw new Error(`scan exit ${r.code}: ${r.stderr}`);
  return parseJson(r).datasets[0]!;
}

/** The divergent keys of a scan, each with its differing columns. */
function divergent(d: Dataset): Record<string, string[] | undefined> {
  return Object.fromEntries(d.divergences.map((x) => [String(x.key[0]), x.columns]));
}

async function repair(
  path: string,
): Promise<RunResult & { repairs: { key: unknown[]; outcome: string; error?: string }[] }> {
  const r = await runConcord(["repair", "--json", "-c", path]);
  const doc = JSON.parse(r.stdout) as {
    datasets: { repairs?: { key: unknown[]; outcome: string; error?: string }[] }[];
  };
  return { ...r, repairs: doc.datasets[0]?.repairs ?? [] };
}

/** The rows of a table as PostgreSQL prints them (`::text`), by key. */
async function native(table: string, columns: string): Promise<Record<string, (string | null)[]>> {
  const r = await db.admin.query<string[]>({
    text: `SELECT k::text, ${columns} FROM ${db.table(table)} ORDER BY k`,
    rowMode: "array",
  });
  return Object.fromEntries(r.rows.map((row) => [row[0]!, row.slice(1)]));
}

describe.skipIf(!available)("PostgreSQL types, exactly", () => {
  it("JSON numbers beyond 2^53 and beyond double range differ, and a repair copies them digit for digit", async () => {
    await tables(
      "j",
      "k int PRIMARY KEY, doc jsonb",
      [`(1, '{"id":9007199254740993,"v":1}')`, `(2, '{"id":9007199254740993}')`, `(3, '{"x":1e400}')`],
      [`(1, '{"id":9007199254740993,"v":2}')`, `(2, '{"id":9007199254740992}')`, `(3, '{"x":null}')`],
    );
    const path = config("j");
    expect(divergent(await scan(path))).toEqual({ "1": ["doc"], "2": ["doc"], "3": ["doc"] });
    const r = await repair(path);
    expect(r.repairs.map((x) => x.outcome)).toEqual(["applied", "applied", "applied"]);
    expect(await native("j_b", "doc::text")).toEqual({
      "1": ['{"v": 1, "id": 9007199254740993}'],
      "2": ['{"id": 9007199254740993}'],
      "3": [`{"x": 1${"0".repeat(400)}}`],
    });
    expect((await scan(path)).divergences).toEqual([]);
  });

  // inet's `::text` adds the mask to a host (`10.0.0.1/32`): beside text holding what inet's clients read,
  // every host differed, and a repair wrote `192.168.0.1/32` where the owner's clients read `192.168.0.1`.
  it("reads inet as its clients do: a host without its mask, a network with it", async () => {
    await db.admin.query(`CREATE TABLE ${db.table("inet_a")} (k int PRIMARY KEY, v inet)`);
    await db.admin.query(`CREATE TABLE ${db.table("inet_b")} (k int PRIMARY KEY, v text)`);
    const rows = ["(1, '10.0.0.1')", "(2, '::1')", "(3, '10.0.0.0/8')", "(4, '2001:db8::/32')"];
    await db.admin.query(`INSERT INTO ${db.table("inet_a")} VALUES ${rows.join(", ")}, (5, '192.168.0.1')`);
    await db.admin.query(`INSERT INTO ${db.table("inet_b")} VALUES ${rows.join(", ")}, (5, NULL)`);
    const path = config("inet");
    expect(divergent(await scan(path))).toEqual({ "5": ["v"] });
    expect((await repair(path)).repairs.map((x) => x.outcome)).toEqual(["applied"]);
    expect((await native("inet_b", "v"))["5"]).toEqual(["192.168.0.1"]);
    expect((await scan(path)).divergences).toEqual([]);

    // The other way, a host written with its full mask would be stored without it: refused, not written.
    await db.admin.query(`UPDATE ${db.table("inet_b")} SET v = '10.0.0.9/32' WHERE k = 1`);
    await db.admin.query(`UPDATE ${db.table("inet_a")} SET v = NULL WHERE k = 1`);
    const back = writeConfig(tempDir(), readFileSync(path, "utf8").replace("owner: a", "owner: b"));
    expect((await repair(back)).repairs.map((x) => [x.outcome, x.error])).toEqual([
      [
        "failed",
        expect.stringMatching(
          /column v \(inet\) cannot store "10\.0\.0\.9\/32": inet drops a host's full mask/,
        ),
      ],
    ]);
    expect((await native("inet_a", "v"))["1"]).toEqual([null]);
  });

  it("hands json and jsonb over as the server's text, never parsed into doubles", async () => {
    const pool = db.pool(1);
    const session = new PostgresSession(pool, emptyStats(), {
      label: "s",
      server: "",
      table: "t",
      readAttempts: 1,
    });
    try {
      const rows = await session.read("read", (run) =>
        run(`SELECT '{"id":9007199254740993}'::json, '{"x":1e400}'::jsonb, 7::int4`, []),
      );
      expect(rows[0]!.slice(0, 2)).toEqual(['{"id":9007199254740993}', `{"x": 1${"0".repeat(400)}}`]);
    } finally {
      await pool.end();
    }
  });

  it("timestamps' infinities are not NULL, BC years are not AD, and repairs write them back", async () => {
    await tables(
      "ts",
      "k int PRIMARY KEY, at timestamptz, day date",
      [
        `(1, 'infinity', '0044-03-15 BC')`,
        `(2, '-infinity', '0001-01-01 BC')`,
        `(3, '0044-03-15 12:00:00+00 BC', '5874897-12-31')`,
        `(4, 'infinity', 'infinity')`,
      ],
      [
        `(1, NULL, '0044-03-15')`,
        `(2, NULL, '0001-01-01')`,
        `(3, '0044-03-15 12:00:00+00', '2024-01-01')`,
        `(4, 'infinity', 'infinity')`,
      ],
    );
    const path = config("ts");
    expect(divergent(await scan(path))).toEqual({
      "1": ["at", "day"],
      "2": ["at", "day"],
      "3": ["at", "day"],
    });
    expect((await repair(path)).repairs.map((x) => x.outcome)).toEqual(["applied", "applied", "applied"]);
    expect(await native("ts_b", "(at AT TIME ZONE 'UTC')::text, day::text")).toEqual({
      "1": ["infinity", "0044-03-15 BC"],
      "2": ["-infinity", "0001-01-01 BC"],
      "3": ["0044-03-15 12:00:00 BC", "5874897-12-31"],
      "4": ["infinity", "infinity"],
    });
    expect((await scan(path)).divergences).toEqual([]);
  });

  it("compares real beside double precision as the double the single is, says so, and at single precision when declared", async () => {
    await tables(
      "f",
      "k int PRIMARY KEY, r real",
      [`(1, 0.33333334)`, `(2, 1.0000012)`, `(3, 16777216)`, `(4, 3.4028234e38)`, `(5, 0.5)`, `(6, 0.1)`],
      [],
    );
    // b keeps doubles: the singles' exact values, then 0.25 and the decimal 0.1 (which no single is).
    await db.admin.query(`ALTER TABLE ${db.table("f_b")} ALTER COLUMN r TYPE double precision`);
    await db.admin.query(
      `INSERT INTO ${db.table("f_b")} SELECT k, CASE k WHEN 5 THEN 0.25 WHEN 6 THEN 0.1 ELSE r::double precision END FROM ${db.table("f_a")}`,
    );
    const path = config("f");
    const first = await scan(path);
    expect(divergent(first)).toEqual({ "5": ["r"], "6": ["r"] });
    expect(first.notes).toContain(
      "column r is compared as a 64-bit float (real on a, double precision on b): a keeps 32-bit floats, which hold few other values exactly (0.1 is 0.10000000149011612 there); declare types: { r: float32 } to compare at 32-bit precision",
    );
    // Declared float32: b's 0.1 rounds to a's single, so only key 5 differs.
    const declared = writeConfig(
      tempDir(),
      `state: sqlite:state.db
datasets:
  f:
    key: k
    types: { r: float32 }
    replicas:
      a: { url: "${POSTGRES.url}", table: ${db.table("f_a")} }
      b: { url: "${POSTGRES.url}", table: ${db.table("f_b")} }
    policy: { owner: a, resolve: owner }
`,
    );
    expect(divergent(await scan(declared))).toEqual({ "5": ["r"] });
    // The repair writes the singles' exact doubles, and the copies agree exactly.
    expect((await repair(path)).repairs.map((x) => x.outcome)).toEqual(["applied", "applied"]);
    expect(await native("f_b", "r::text")).toMatchObject({ "5": ["0.5"], "6": ["0.10000000149011612"] });
    expect((await scan(path)).divergences).toEqual([]);
  });

  it("reads time in one canonical text whatever its precision", async () => {
    await tables("tm", "k int PRIMARY KEY, t time(6)", [`(1, '10:00:00')`, `(2, '24:00:00')`], []);
    await db.admin.query(`ALTER TABLE ${db.table("tm_b")} ALTER COLUMN t TYPE time(0)`);
    await db.admin.query(`INSERT INTO ${db.table("tm_b")} VALUES (1, '10:00:00'), (2, '24:00:00')`);
    const c = new PostgresConnector(db.pool(1), db.table("tm_a"));
    connectors.push(c);
    const shape: RecordShape = {
      key: [{ name: "k", type: "integer" }],
      columns: [{ name: "t", type: "time" }],
    };
    expect((await c.fetchRecords(shape, [["1"], ["2"]])).map((r) => r.values[0])).toEqual([
      "10:00:00.000000",
      "24:00:00.000000",
    ]);
    expect((await scan(config("tm"))).divergences).toEqual([]);
  });

  it("compares and repairs keys under a nondeterministic collation byte by byte", async () => {
    const columns = `k text COLLATE "${db.name}".ci PRIMARY KEY, v text COLLATE "${db.name}".ci`;
    await tables("ci", columns, [`('a', 'x')`, `('b', 'y')`, `('c', 'z|')`], [`('a', 'X')`, `('c', 'z|')`]);
    const path = config("ci");
    // Before: every checksum and conditional write failed (replace() refuses a nondeterministic collation).
    expect(divergent(await scan(path))).toEqual({ a: ["v"], b: [] });
    expect((await repair(path)).repairs.map((x) => x.outcome)).toEqual(["applied", "applied"]);
    expect(await native("ci_b", "v")).toEqual({ a: ["x"], b: ["y"], c: ["z|"] });
    expect((await scan(path)).divergences).toEqual([]);
  });

  it("refuses a key its collation cannot hold beside another, naming the collation, and only that key", async () => {
    const columns = `k text COLLATE "${db.name}".ci PRIMARY KEY, v text`;
    await tables("cx", columns, [`('a', 'x')`], [`('A', 'x')`]);
    const c = new PostgresConnector(db.pool(1), db.table("cx_b"), { label: "cx.b" });
    connectors.push(c);
    const shape: RecordShape = { key: [{ name: "k", type: "text" }], columns: [{ name: "v", type: "text" }] };
    // 'a' is absent to Concord (it holds 'A'), but the table cannot take it.
    expect(await c.fetchRecords(shape, [["a"]])).toEqual([]);
    await expect(c.applyWrites(shape, [{ key: ["a"], expected: null, next: ["x"] }])).rejects.toThrow(
      /^cx\.b: conditional write refused: key "a" cannot be inserted: column k \(text\) has the nondeterministic collation "ci", under which it equals the key "A" already there/,
    );
    // Another key goes in, and the one already there is still written byte by byte.
    expect(
      await c.applyWrites(shape, [
        { key: ["b"], expected: null, next: ["y"] },
        { key: ["A"], expected: (await c.fetchRecords(shape, [["A"]]))[0]!.fingerprint, next: ["z"] },
      ]),
    ).toEqual(["applied", "applied"]);
    expect(await native("cx_b", "v")).toEqual({ A: ["z"], b: ["y"] });
  });

  // Columns compared by their text were written and then failed verification when the type keeps a text as
  // another (`25 hours` is `25:00:00` in an interval): the repair is now refused before anything is written.
  it("refuses a text its column would hold as another text, naming column and key, and writes nothing for it", async () => {
    const types = "iv interval, r int4range, ts tsvector, tz timetz, na numeric(10,2)[], bt bit(4), nm name";
    const texts = "iv text, r text, ts text, tz text, na text, bt text, nm text";
    const nulls = (i: number, v: string) => {
      const row = ["NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"];
      row[i] = v;
      return row.join(", ");
    };
    const bad = ["'25 hours'", "'[1,5]'", "'b a'", "'10:00+02'", "'{1.005}'", "'10'", "repeat('n', 70)"];
    await db.admin.query(`CREATE TABLE ${db.table("rb_a")} (k int PRIMARY KEY, ${texts})`);
    await db.admin.query(`CREATE TABLE ${db.table("rb_b")} (k int PRIMARY KEY, ${types})`);
    const good = `(0, '1 day 02:00:00', '[1,6)', $$'a' 'b'$$, '10:00:00+02', '{1.5,2}', '1010', 'x')`;
    await db.admin.query(
      `INSERT INTO ${db.table("rb_a")} VALUES ${good}, ${bad.map((v, i) => `(${i + 1}, ${nulls(i, v)})`).join(", ")}`,
    );
    await db.admin.query(`INSERT INTO ${db.table("rb_b")} (k) SELECT generate_series(1, ${bad.length})`);
    const path = config("rb");
    const r = await repair(path);
    const errors = Object.fromEntries(r.repairs.map((x) => [String(x.key[0]), x.error ?? x.outcome]));
    expect(errors).toEqual({
      "0": "applied",
      "1": expect.stringContaining(
        'rb.b: conditional write refused: column iv (interval) cannot store "25 hours" at key ["1"]: interval would hold it as "25:00:00"',
      ),
      "2": expect.stringContaining(
        'column r (int4range) cannot store "[1,5]" at key ["2"]: int4range would hold it as "[1,6)"',
      ),
      "3": expect.stringContaining(
        `column ts (tsvector) cannot store "b a" at key ["3"]: tsvector would hold it as "'a' 'b'"`,
      ),
      "4": expect.stringContaining('column tz (time with time zone) cannot store "10:00+02" at key ["4"]'),
      "5": expect.stringContaining(
        'column na (numeric(10,2)[]) cannot store "{1.005}" at key ["5"]: numeric(10,2)[] would hold it as "{1.01}"',
      ),
      "6": expect.stringContaining(
        'column bt (bit(4)) cannot store "10" at key ["6"]: bit(4) would hold it as "1000"',
      ),
      "7": expect.stringContaining('column nm (name) cannot store "nnnn'),
    });
    for (const x of Object.values(errors)) expect(String(x)).not.toContain("\n");
    // The refused rows are as they were (NULL); the good one holds the owner's texts.
    const rows = await native("rb_b", "iv::text, r::text, ts::text, tz::text, na::text, bt::text, nm::text");
    expect(rows["0"]).toEqual([
      "1 day 02:00:00",
      "[1,6)",
      "'a' 'b'",
      "10:00:00+02",
      "{1.50,2.00}",
      "1010",
      "x",
    ]);
    for (let k = 1; k <= bad.length; k++) expect(rows[String(k)]).toEqual(Array(7).fill(null));
    expect(Object.keys(divergent(await scan(path))).sort()).toEqual(["1", "2", "3", "4", "5", "6", "7"]);
  });

  // numeric[] and float arrays were compared by their text: numeric(10,2)[]'s {1.50} differed from numeric[]'s
  // {1.5}, and real[]'s {0.1} (0.10000000149011612) equalled double precision[]'s {0.1}.
  it("compares arrays of numbers element by element as their scalars are compared", async () => {
    await tables(
      "arr",
      "k int PRIMARY KEY, n numeric[], f float8[], r real[], g float8[]",
      [
        `(1, '{1.5,2,-0.25,NaN}', '{1e+16,-0,NaN,Infinity}', '{0.5}', '{0.5}')`,
        `(2, '{{1,2},{3,4}}', '{0.1}', '{0.1}', '{0.1}')`,
      ],
      [
        `(1, '{1.50,2.000,-0.250,NaN}', '{10000000000000000,0,NaN,Infinity}', '{0.5}', '{0.5}')`,
        `(2, '{{1.0,2},{3,4.00}}', '{0.1}', '{0.1}', '{0.1}')`,
      ],
    );
    await db.admin.query(
      `ALTER TABLE ${db.table("arr_b")} ALTER n TYPE numeric(10,3)[], ALTER r TYPE float8[], ALTER g TYPE real[]`,
    );
    // The conversion made b's r the doubles a's singles are: set the decimal 0.1 back.
    await db.admin.query(`UPDATE ${db.table("arr_b")} SET r = '{0.1}' WHERE k = 2`);
    const path = config("arr");
    expect(divergent(await scan(path))).toEqual({ "2": ["g", "r"] });
    const r = await repair(path);
    expect(r.repairs.map((x) => x.error ?? x.outcome)).toEqual([
      expect.stringContaining(
        'column g (real[]) cannot store "{0.1}" at key ["2"]: real[] would hold it as "{0.10000000149011612}"',
      ),
    ]);
    expect((await native("arr_b", "n::text, r::text, g::text"))["2"]).toEqual([
      "{{1.000,2.000},{3.000,4.000}}",
      "{0.1}",
      "{0.1}",
    ]);
  });

  // money rounds to its locale's fraction digits: 1.005 was written as 1.01 and then failed verification.
  it("refuses a decimal money would round, before writing it", async () => {
    await tables("mon", "k int PRIMARY KEY, m numeric", [`(1, 1.5)`, `(2, 1.005)`], []);
    await db.admin.query(`ALTER TABLE ${db.table("mon_b")} ALTER m TYPE money`);
    const r = await repair(config("mon"));
    expect(r.repairs.map((x) => x.error ?? x.outcome)).toEqual([
      "applied",
      expect.stringContaining(
        'mon.b: conditional write refused: column m (money) cannot store 1.005 at key ["2"]: money would hold it as "1.01"',
      ),
    ]);
    expect(await native("mon_b", "m::numeric::text")).toEqual({ "1": ["1.50"] });
  });

  // An integer column compared as boolean (beside MariaDB's TINYINT(1) or SQLite's BOOLEAN) was sent `t`,
  // which it refused as "not an integer": it is written 1 and 0.
  it("writes 1 and 0 into an integer column compared as boolean", async () => {
    await tables("bo", "k int PRIMARY KEY, v smallint", [`(1, 1)`, `(2, 0)`], [`(1, 0)`]);
    const path = writeConfig(
      tempDir(),
      `state: sqlite:state.db
datasets:
  bo:
    key: k
    types: { v: boolean }
    replicas:
      a: { url: "${POSTGRES.url}", table: ${db.table("bo_a")} }
      b: { url: "${POSTGRES.url}", table: ${db.table("bo_b")} }
    policy: { owner: a, resolve: owner }
`,
    );
    const r = await repair(path);
    expect(r.repairs.map((x) => x.error ?? x.outcome)).toEqual(["applied", "applied"]);
    expect(await native("bo_b", "v::text")).toEqual({ "1": ["1"], "2": ["0"] });
  });

  // tstzrange and timestamptz[] are compared by their text, which PostgreSQL prints in the session's time
  // zone: the same instants differed between a replica whose role or URL sets another TimeZone and one that
  // does not (bytea[] alike, in the session's bytea_output). Every session now reads them at UTC, in hex.
  it("reads time zone-dependent types as text at UTC, and bytea[] in hex, whatever the session's settings", async () => {
    const row = `(1, '[2024-01-01 00:00+00,2024-01-02 00:00+00)', '{2024-01-01 00:00+00}', '{"\\\\x00ff"}')`;
    await tables("tz", "k int PRIMARY KEY, r tstzrange, a timestamptz[], b bytea[]", [row], [row]);
    // b keeps the array's text where a keeps bytea[]: compared by text, not by a native hash of equal types.
    await db.admin.query(`ALTER TABLE ${db.table("tz_b")} ALTER b TYPE text`);
    const url = new URL(POSTGRES.url);
    url.searchParams.set("options", "-c TimeZone=Asia/Tokyo -c bytea_output=escape");
    const path = writeConfig(
      tempDir(),
      `state: sqlite:state.db
datasets:
  tz:
    key: k
    replicas:
      a: { url: "${url.href}", table: ${db.table("tz_a")} }
      b: { url: "${POSTGRES.url}", table: ${db.table("tz_b")} }
    policy: { owner: a, resolve: owner }
`,
    );
    expect((await scan(path)).divergences).toEqual([]);
  });

  it("refuses what a column would reject or silently change, in one line naming the column and its type", async () => {
    await db.admin.query(
      `CREATE TABLE ${db.table("narrow")} (k int PRIMARY KEY, s smallint, n numeric(6,2), d date, t timestamp(0), c char(4), r real)`,
    );
    const c = new PostgresConnector(db.pool(1), db.table("narrow"), { label: "narrow" });
    connectors.push(c);
    const shape: RecordShape = {
      key: [{ name: "k", type: "integer" }],
      columns: [
        { name: "s", type: "integer" },
        { name: "n", type: "decimal" },
        { name: "d", type: "timestamp" },
        { name: "t", type: "timestamp" },
        { name: "c", type: "text" },
        { name: "r", type: "float32" },
      ],
    };
    const row = (i: number, v: string) => {
      const next: (string | null)[] = [null, null, null, null, null, null];
      next[i] = v;
      return [{ key: ["1"], expected: null, next }];
    };
    for (const [i, v, message] of [
      [0, "40000", "column s (smallint) cannot store 40000: out of range for smallint"],
      [
        1,
        "1.005",
        "column n (numeric(6,2)) cannot store 1.005: numeric(6,2) would round it to 2 decimal places",
      ],
      [1, "10000", "column n (numeric(6,2)) cannot store 10000: too large for numeric(6,2)"],
      [1, "Infinity", "column n (numeric(6,2)) cannot store Infinity: numeric(6,2) holds no infinity"],
      [
        2,
        "2024-01-01T10:00:00.000000Z",
        "column d (date) cannot store 2024-01-01T10:00:00.000000Z: a date holds no time of day",
      ],
      [
        3,
        "2024-01-01T10:00:00.500000Z",
        "column t (timestamp(0) without time zone) cannot store 2024-01-01T10:00:00.500000Z: timestamp(0) without time zone would round it to 0 fractional digits",
      ],
      [
        3,
        "+5874897-12-31T00:00:00.000000Z",
        "column t (timestamp(0) without time zone) cannot store +5874897-12-31T00:00:00.000000Z: outside the range of timestamp(0) without time zone (4714-11-24 BC to 294276-12-31 AD)",
      ],
      [4, "ab ", 'column c (character(4)) cannot store "ab ": character(n) does not keep trailing spaces'],
      [
        4,
        "a\u0000",
        'column c (character(4)) cannot store "a\\u0000": PostgreSQL text holds no U+0000 (NUL) character',
      ],
      [5, "1e+39", "column r (real) cannot store 1e+39: beyond the range of real (single precision)"],
    ] as const) {
      await expect(c.applyWrites(shape, row(i, v)), v).rejects.toThrow(
        `narrow: conditional write refused: ${message}`,
      );
    }
    expect(await native("narrow", "s")).toEqual({});
  });
});
