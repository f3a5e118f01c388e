/**
 * Differential property: two SQLite replicas compared inside SQLite (`pairDiff`: ATTACH, EXCEPT)
 * give exactly what the engine's own comparison (range checksums and fingerprints in JS) gives: the same
 * `repair --json` document (divergences, classes, decisions, repair ids, which hash the fingerprints the
 * conditional writes expect) and the same files afterwards, over generated pairs of every column type SQLite
 * replicas hold, values stored differently but read as equal included.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readRows, runConcord, tempDir } from "../cli/helpers.js";

type Raw = bigint | number | string | Buffer | null;

/** Columns after the key: name, declared type on a, declared type on b (same affinity), values. */
const COLUMNS = [
  "i INTEGER",
  "r REAL",
  "t TEXT",
  "bl BLOB",
  "an",
  "d DECIMAL(12,2)",
  "ts TIMESTAMP",
  "j JSON",
  "f BOOLEAN",
  "ver INTEGER NOT NULL",
] as const;
/** b's declarations when it spells the same affinities otherwise. */
const RESPELLED: Readonly<Record<string, string>> = { "i INTEGER": "i BIGINT", "t TEXT": "t VARCHAR(40)" };

const KEYS = {
  rowid: { ddl: "id INTEGER PRIMARY KEY", key: "id", names: ["id"] },
  text: { ddl: "id TEXT PRIMARY KEY", key: "id", names: ["id"] },
  composite: {
    ddl: "region TEXT NOT NULL, seq INTEGER NOT NULL",
    key: "[region, seq]",
    names: ["region", "seq"],
    pk: "PRIMARY KEY (region, seq)",
  },
} as const;
type KeyKind = keyof typeof KEYS;

const nullable = (a: fc.Arbitrary<Raw>) => fc.option(a, { nil: null, freq: 6 });
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const texts = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.string({ unit: "grapheme", maxLength: 4 }),
  fc.constantFrom("a", "A", "a ", "a  ", "é", "e\u0301", "😀", "x\u0000y", "x\u0000z", ""),
);
const doubles = fc.oneof(
  fc.double({ noNaN: true }),
  fc.constantFrom(-0, 0, 0.1 + 0.2, 0.3, 5e-324, 1e308, 1, 2 ** 53, 2 ** 53 + 2, -1.5),
);
const instant = fc.integer({ min: 0, max: 4_000_000_000 }).map((s) => {
  const iso = new Date(s * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
});

/** One row's values after the key, in COLUMNS order. Values stored differently may read as equal. */
const values: fc.Arbitrary<Raw[]> = fc.tuple(
  nullable(fc.oneof(int64, fc.constantFrom(0n, -1n, 2n ** 53n + 1n))),
  nullable(doubles),
  nullable(texts),
  nullable(fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u))),
  // No affinity: integers, reals, text and blobs kept as given, all read as text (1, 1.0 and '1' alike).
  nullable(
    fc.oneof(
      fc.constantFrom<Raw>(1n, 1, "1", 0n, -0, "0", Buffer.from("1"), 2n ** 60n),
      fc.integer({ min: -3, max: 3 }).map(BigInt),
      texts,
    ),
  ),
  nullable(
    fc.oneof(
      fc.integer({ min: -9999, max: 9999 }).map((n) => n / 100),
      fc.constantFrom<Raw>(0n, 5n),
    ),
  ),
  nullable(instant),
  nullable(
    fc.constantFrom('{"a":1,"b":[1,2]}', '{"b":[1,2],"a":1}', '{"a":1.0}', '{"a":1}', "[]", "null", '"x"'),
  ),
  nullable(fc.constantFrom<Raw>(0n, 1n)),
  fc.integer({ min: 1, max: 3 }).map(BigInt),
);

/** What b does with a key of a: keeps it, drops it, holds other values, or holds the same values respelled. */
type Edit = { kind: "keep" } | { kind: "delete" } | { kind: "write"; values: Raw[] } | { kind: "respell" };
const edit: fc.Arbitrary<Edit> = fc.oneof(
  { arbitrary: fc.constant({ kind: "keep" as const }), weight: 6 },
  { arbitrary: fc.constant({ kind: "delete" as const }), weight: 1 },
  { arbitrary: values.map((v) => ({ kind: "write" as const, values: v })), weight: 2 },
  { arbitrary: fc.constant({ kind: "respell" as const }), weight: 1 },
);

/**
 * The same value stored another way where the column reads both alike (no affinity, JSON key order), and
 * one value SQLite holds equal but the engine reads differently (2^60 as an integer and as a real).
 */
function respell(row: Raw[]): Raw[] {
  const out = [...row];
  const an = out[4];
  if (an === 1n) out[4] = "1";
  else if (an === "1") out[4] = 1;
  else if (an === 0n) out[4] = -0;
  // Equal to SQLite (an integer and a real of the same value), yet read as different text.
  else if (an === 2n ** 60n) out[4] = 2 ** 60;
  if (out[7] === '{"a":1,"b":[1,2]}') out[7] = '{"b":[1,2],"a":1}';
  return out;
}

interface Case {
  keyKind: KeyKind;
  variant: "same" | "respelled" | "other-affinity" | "other-timestamps";
  base: Raw[][];
  edits: Edit[];
  inserts: Raw[][];
  checkpointRows: number;
}

const cases: fc.Arbitrary<Case> = fc.record({
  keyKind: fc.constantFrom<KeyKind>("rowid", "text", "composite"),
  variant: fc.constantFrom<Case["variant"]>(
    "same",
    "same",
    "respelled",
    "other-affinity",
    "other-timestamps",
  ),
  base: fc.array(values, { maxLength: 40 }),
  edits: fc.array(edit, { minLength: 40, maxLength: 40 }),
  inserts: fc.array(values, { maxLength: 6 }),
  checkpointRows: fc.constantFrom(4, 16, 100_000),
});

/** Key values of the n-th key. */
function keyOf(kind: KeyKind, n: number): Raw[] {
  if (kind === "rowid") return [BigInt(n * 3 - 50)];
  if (kind === "text") return [`k${String(n).padStart(3, "0")}${n % 5 === 0 ? " " : ""}`];
  return [["eu", "us", "é", "Z"][n % 4]!, BigInt(n)];
}

function createTable(path: string, kind: KeyKind, columns: readonly string[]): Database.Database {
  const db = new Database(path);
  const k = KEYS[kind];
  db.exec(`CREATE TABLE t (${k.ddl}, ${columns.join(", ")}${"pk" in k ? `, ${k.pk}` : ""})`);
  return db;
}

function write(dir: string, c: Case): void {
  const bColumns = COLUMNS.map((col) => {
    if (c.variant === "respelled") return RESPELLED[col] ?? col;
    // Still read as text, but stored as given (no affinity) instead of as text.
    if (c.variant === "other-affinity" && col === "t TEXT") return "t";
    return col;
  });
  const a = createTable(join(dir, "a.db"), c.keyKind, COLUMNS);
  const b = createTable(join(dir, "b.db"), c.keyKind, bColumns);
  const marks = Array(KEYS[c.keyKind].names.length + COLUMNS.length)
    .fill("?")
    .join(", ");
  const insA = a.prepare(`INSERT INTO t VALUES (${marks})`);
  const insB = b.prepare(`INSERT INTO t VALUES (${marks})`);
  const restyle = (row: Raw[]): Raw[] =>
    c.variant === "other-timestamps" && typeof row[6] === "string"
      ? [...row.slice(0, 6), `${row[6].replace(" ", "T")}Z`, ...row.slice(7)]
      : row;
  c.base.forEach((row, n) => {
    const key = keyOf(c.keyKind, n);
    insA.run(...key, ...row);
    const e = c.edits[n]!;
    if (e.kind === "keep") insB.run(...key, ...restyle(row));
    else if (e.kind === "write") insB.run(...key, ...restyle(e.values));
    else if (e.kind === "respell") insB.run(...key, ...restyle(respell(row)));
  });
  for (const [i, row] of c.inserts.entries()) insB.run(...keyOf(c.keyKind, 100 + i), ...restyle(row));
  a.close();
  b.close();
}

function config(c: Case, inStore: boolean): string {
  return `state: sqlite:state.db
datasets:
  t:
    key: ${KEYS[c.keyKind].key}
    versions: { counter: ver }
    checkpointRows: ${c.checkpointRows}
${inStore ? "" : "    detect: { inStore: false }\n"}    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
    policy: { owner: a, resolve: highest-version, tolerance: { d: 0.01 } }
`;
}

/** The document without what differs between any two runs (run id, timings, counters) or by design (notes). */
function comparable(stdout: string): unknown {
  const doc = JSON.parse(stdout) as { runId?: unknown; datasets: Record<string, unknown>[] };
  delete doc.runId;
  for (const ds of doc.datasets) {
    delete ds.stats;
    delete ds.notes;
    // Repairs are listed in the order their segments ran, and a pair compared in the store is cut into
    // segments on its first replica alone (the other is not counted): the same repairs, maybe in another order.
    if (Array.isArray(ds.repairs))
      ds.repairs = (ds.repairs as { id: string }[]).toSorted((x, y) => x.id.localeCompare(y.id));
  }
  return doc;
}

async function repairBoth(c: Case, root: string) {
  const out: { code: number; doc: unknown; notes: string[]; a: unknown; b: unknown; stderr: string }[] = [];
  write(root, c);
  for (const inStore of [false, true]) {
    const dir = join(root, inStore ? "in-store" : "engine");
    mkdirSync(dir);
    for (const f of ["a.db", "b.db"]) copyFileSync(join(root, f), join(dir, f));
    writeFileSync(join(dir, "concord.yaml"), config(c, inStore));
    const r = await runConcord(["repair", "--json", "-c", join(dir, "concord.yaml")]);
    const notes = r.stdout ? ((JSON.parse(r.stdout).datasets[0]?.notes as string[] | undefined) ?? []) : [];
    out.push({
      code: r.code,
      doc: r.stdout ? comparable(r.stdout) : r.stdout,
      notes,
      a: readRows(join(dir, "a.db"), "t", KEYS[c.keyKind].names.join(", ")),
      b: readRows(join(dir, "b.db"), "t", KEYS[c.keyKind].names.join(", ")),
      stderr: r.stderr,
    });
  }
  return out as [(typeof out)[number], (typeof out)[number]];
}

/** A row of a with `an` and `t` as given, the rest fixed. */
function row(an: Raw, t: Raw, ver = 1n): Raw[] {
  return [1n, -0, t, Buffer.from([0]), an, 1.5, "2024-02-29 12:00:00", '"x"', 1n, ver];
}

describe("two SQLite replicas compared inside SQLite", () => {
  it("finds what only the engine reads as different, and nothing that only SQLite stores differently", async () => {
    const base = [row(2n ** 60n, "a"), row(1n, "x\u0000y"), row(0n, "a "), row("1", "é"), row(1n, "A")];
    // -2^63 in a DECIMAL column: an integer on a, a real on b (NUMERIC affinity keeps it a real), equal to
    // SQLite, read as other decimals.
    const low = [...row(3n, "b")];
    low[5] = -(2n ** 63n);
    const lowReal = [...low];
    lowReal[5] = -(2 ** 63);
    base.push(low);
    const c: Case = {
      keyKind: "rowid",
      variant: "same",
      base,
      edits: [
        { kind: "respell" }, // 2^60 as a real: SQLite holds it equal, the engine reads other text
        { kind: "write", values: row(1n, "x\u0000z", 2n) }, // differs after a NUL
        { kind: "respell" }, // 0 as -0.0: read alike
        { kind: "respell" }, // '1' as 1.0: read alike
        { kind: "write", values: row(1n, "a", 2n) }, // 'A' and 'a': differ in bytes
        { kind: "write", values: lowReal },
      ],
      inserts: [],
      checkpointRows: 100_000,
    };
    const [engine, inStore] = await repairBoth(c, tempDir());
    expect(inStore.doc).toEqual(engine.doc);
    expect(inStore.b).toEqual(engine.b);
    const doc = inStore.doc as { datasets: { divergences: { key: string[] }[] }[] };
    expect(doc.datasets[0]!.divergences.map((d) => d.key)).toEqual([[-50], [-47], [-38], [-35]]);
    expect(inStore.notes).toEqual(engine.notes);
  });

  it("repair the same as compared in the engine: same document, same files", async () => {
    let n = 0;
    const root = tempDir();
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const dir = join(root, String(n++));
        mkdirSync(dir);
        const [engine, inStore] = await repairBoth(c, dir);
        expect(inStore.stderr).toBe(engine.stderr);
        expect(inStore.code).toBe(engine.code);
        expect(inStore.doc).toEqual(engine.doc);
        expect(inStore.a).toEqual(engine.a);
        expect(inStore.b).toEqual(engine.b);
        // Falling back is said in the notes (only with the capability on); comparing in SQLite is not.
        const said = inStore.notes.filter((x) => !engine.notes.includes(x));
        // Timestamps are laid out differently only when both replicas hold one.
        const held = ["a.db", "b.db"].map(
          (f) => readRows(join(dir, f), "t").filter((r) => r.ts !== null).length > 0,
        );
        const refused =
          c.variant === "other-affinity" || (c.variant === "other-timestamps" && held[0] && held[1]);
        if (!refused) expect(said).toEqual([]);
        else {
          expect(said).toHaveLength(1);
          expect(said[0]).toMatch(/compared with range checksums and fingerprints computed in the engine/);
        }
      }),
      { numRuns: 25 },
    );
  }, 300_000);
});

/** One trap: the table's DDL on each side and the rows each holds (key first). */
interface Trap {
  name: string;
  ddl: [string, string];
  a: Raw[][];
  b: Raw[][];
  /** The keys the engine (and so the pair) reports. */
  keys: unknown[][];
  /** Whether the pair is compared inside SQLite (false: refused, and compared in the engine). */
  inStore: boolean;
}

const TRAP_COLUMNS = "r REAL, an, d DECIMAL(12,2), i INTEGER, t TEXT, ver INTEGER NOT NULL";
/** A row of the trap table: every column equal on both sides unless a trap sets it. */
const trapRow = (id: number, set: Partial<Record<"r" | "an" | "d" | "i" | "t", Raw>> = {}): Raw[] => [
  BigInt(id),
  set.r ?? 1.25,
  set.an ?? "x",
  set.d ?? 2.5,
  set.i ?? 7n,
  set.t ?? "t",
  1n,
];

const TRAPS: Trap[] = [
  {
    name: "values SQLite stores or compares alike, and values it keeps apart",
    ddl: [
      `CREATE TABLE t (id INTEGER PRIMARY KEY, ${TRAP_COLUMNS})`,
      `CREATE TABLE t (id INTEGER PRIMARY KEY, ${TRAP_COLUMNS})`,
    ],
    a: [
      trapRow(1, { r: 3n }), // a REAL column holding an integer (stored as the real 3.0)
      trapRow(2, { an: 1n }), // no affinity: the integer 1 against the text '1'
      trapRow(3, { r: -0 }), // -0.0 against 0.0
      trapRow(4, { an: -0 }), // -0.0 against the integer 0, kept as given
      trapRow(5, { d: "1.50" }), // a decimal written as text, normalised by NUMERIC affinity
      trapRow(6, { d: "1.50" }),
      trapRow(7, { an: Buffer.from("1") }), // a blob against text of the same bytes
      trapRow(8, { i: 2n ** 53n + 1n }), // a large integer against the nearest double
      trapRow(9, { an: 2n ** 53n + 1n }),
      trapRow(10, { t: "a" }), // text that only a case-insensitive collation holds equal
      trapRow(11, { t: "1" }), // TEXT affinity stores the integer 1 as the text '1'
      trapRow(12, { an: 1.5 }), // the real 1.5 against the text '1.5'
      trapRow(13, { an: 1n }), // no affinity: the integer 1 against the real 1.0, equal to SQLite
      trapRow(14, { an: 2n ** 60n }), // equal to SQLite too, but the real reads as other text
    ],
    b: [
      trapRow(1, { r: 3.0 }),
      trapRow(2, { an: "1" }),
      trapRow(3, { r: 0 }),
      trapRow(4, { an: 0n }),
      trapRow(5, { d: "1.5" }),
      trapRow(6, { d: 1.5 }),
      trapRow(7, { an: "1" }),
      trapRow(8, { i: 2 ** 53 }),
      trapRow(9, { an: 2 ** 53 }),
      trapRow(10, { t: "A" }),
      trapRow(11, { t: 1n }),
      trapRow(12, { an: "1.5" }),
      trapRow(13, { an: 1 }),
      trapRow(14, { an: 2 ** 60 }),
    ],
    keys: [[8], [9], [10], [14]],
    inStore: true,
  },
  {
    name: "text keys that differ only in case or trailing spaces, in binary order",
    ddl: [
      `CREATE TABLE t (id TEXT PRIMARY KEY, ${TRAP_COLUMNS})`,
      `CREATE TABLE t (id TEXT PRIMARY KEY, ${TRAP_COLUMNS})`,
    ],
    a: ["a", "B", "b ", "é"].map((k) => [k, ...trapRow(0).slice(1)]),
    b: ["A", "B", "b", "e\u0301"].map((k) => [k, ...trapRow(0).slice(1)]),
    keys: [["A"], ["a"], ["b"], ["b "], ["e\u0301"], ["é"]],
    inStore: true,
  },
  {
    name: "text keys in a case-insensitive collation (no index serves binary order: compared in the engine)",
    ddl: [
      `CREATE TABLE t (id TEXT COLLATE NOCASE PRIMARY KEY, ${TRAP_COLUMNS})`,
      `CREATE TABLE t (id TEXT COLLATE NOCASE PRIMARY KEY, ${TRAP_COLUMNS})`,
    ],
    a: ["a", "B"].map((k) => [k, ...trapRow(0).slice(1)]),
    b: ["A", "B"].map((k) => [k, ...trapRow(0).slice(1)]),
    keys: [["A"], ["a"]],
    inStore: false,
  },
];

describe("type affinity traps: the pair reports what the engine reports", () => {
  for (const trap of TRAPS) {
    it(trap.name, async () => {
      const dir = tempDir();
      const docs: { doc: unknown; notes: string[] }[] = [];
      for (const inStore of [false, true]) {
        for (const [side, ddl, rows] of [
          ["a", trap.ddl[0], trap.a],
          ["b", trap.ddl[1], trap.b],
        ] as const) {
          const db = new Database(join(dir, `${side}-${inStore}.db`));
          db.exec(ddl);
          const insert = db.prepare(`INSERT INTO t VALUES (${rows[0]!.map(() => "?").join(", ")})`);
          for (const row of rows) insert.run(...row);
          db.close();
        }
        const yaml = join(dir, `${inStore}.yaml`);
        writeFileSync(
          yaml,
          `state: sqlite:state-${inStore}.db\ndatasets:\n  t:\n    key: id\n` +
            (inStore ? "" : "    detect: { inStore: false }\n") +
            `    replicas:\n      a: { url: "sqlite:a-${inStore}.db", table: t }\n` +
            `      b: { url: "sqlite:b-${inStore}.db", table: t }\n`,
        );
        const r = await runConcord(["scan", "--json", "-c", yaml]);
        expect(r.stderr).toBe("");
        docs.push({ doc: comparable(r.stdout), notes: JSON.parse(r.stdout).datasets[0].notes ?? [] });
      }
      const [engine, pair] = docs as [(typeof docs)[0], (typeof docs)[0]];
      expect(pair.doc).toEqual(engine.doc);
      const found = (engine.doc as { datasets: { divergences: { key: unknown[] }[] }[] }).datasets[0]!
        .divergences;
      expect(found.map((d) => d.key)).toEqual(trap.keys);
      const refused = pair.notes.some((n) => /computed in the engine instead of inside the store/.test(n));
      expect(refused).toBe(!trap.inStore);
    });
  }
});

describe("when the replicas cannot be compared inside SQLite", () => {
  it("three replicas are compared in the engine, and the scan says why", async () => {
    const dir = tempDir();
    for (const [name, changed] of [
      ["a", 0],
      ["b", 3],
      ["c", 7],
    ] as const) {
      const db = new Database(join(dir, `${name}.db`));
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, ver INTEGER NOT NULL)");
      const insert = db.prepare("INSERT INTO t VALUES (?, ?, ?)");
      for (let i = 1; i <= 10; i++) insert.run(i, i === changed ? `${name} ${i}` : `v ${i}`, 1);
      db.close();
    }
    const replicas = ["a", "b", "c"].map((r) => `      ${r}: { url: "sqlite:${r}.db", table: t }`).join("\n");
    const yaml = (extra: string) =>
      `state: sqlite:state.db\ndatasets:\n  t:\n    key: id\n${extra}    replicas:\n${replicas}\n`;
    writeFileSync(join(dir, "in-store.yaml"), yaml(""));
    writeFileSync(join(dir, "engine.yaml"), yaml("    detect: { inStore: false }\n"));
    const inStore = await runConcord(["scan", "--json", "-c", join(dir, "in-store.yaml")]);
    const engine = await runConcord(["scan", "--json", "-c", join(dir, "engine.yaml")]);
    expect(inStore.code).toBe(1);
    expect(comparable(inStore.stdout)).toEqual(comparable(engine.stdout));
    const keys = (JSON.parse(inStore.stdout).datasets[0].divergences as { key: number[] }[]).map(
      (d) => d.key,
    );
    expect(keys).toEqual([[3], [7]]);
    expect(JSON.parse(inStore.stdout).datasets[0].notes).toEqual([
      "the 3 replicas are not compared inside their store, which compares two at a time: compared with range checksums and fingerprints computed in the engine instead of inside the store",
    ]);
    expect(JSON.parse(engine.stdout).datasets[0].notes).toEqual([]);
  });
});

describe("a key stored in another storage class than its column's", () => {
  const cases = [
    {
      name: "a text key stored as a blob",
      type: "TEXT",
      keys: ["a", Buffer.from("b")],
      // Inside SQLite the line names the replica holding it, as both tables are read at once.
      line: /key column k( on t\.a)? holds the blob X'62', where Concord compares its keys as text .*\(UPDATE "t" SET "k" = CAST\("k" AS TEXT\) WHERE typeof\("k"\) = 'blob'\)$/,
    },
    {
      name: "a bytes key stored as text",
      type: "BLOB",
      keys: [Buffer.from("a"), "b"],
      line: /key column k holds the text 'b', where Concord compares its keys as bytes .*\(UPDATE "t" SET "k" = CAST\("k" AS BLOB\) WHERE typeof\("k"\) IN \('text', 'integer', 'real'\)\)$/,
    },
  ] as const;
  for (const c of cases)
    for (const alike of [false, true])
      it(`${c.name} ${alike ? "on both replicas alike" : "on one replica"} stops the scan naming it, compared inside SQLite or in the engine, instead of passing over the row`, async () => {
        const dir = tempDir();
        const [first, other] = c.keys;
        // Held alike, the row is no difference: inside SQLite only the guard on every row meets it (before, such a
        // scan said the replicas agree).
        const both = [
          [first, "1"],
          [other, "2"],
        ] as const;
        for (const [name, rows] of [
          ["a", both],
          ["b", alike ? both : [[first, "1"]]],
        ] as const) {
          const db = new Database(join(dir, `${name}.db`));
          db.exec(`CREATE TABLE t (k ${c.type} PRIMARY KEY, v TEXT)`);
          for (const row of rows) db.prepare("INSERT INTO t VALUES (?, ?)").run(...row);
          db.close();
        }
        for (const inStore of [true, false]) {
          const yaml = join(dir, `${inStore}.yaml`);
          writeFileSync(
            yaml,
            `state: sqlite:state-${inStore}.db\ndatasets:\n  t:\n    key: k\n` +
              (inStore ? "" : "    detect: { inStore: false }\n") +
              `    replicas:\n      a: { url: "sqlite:a.db", table: t }\n      b: { url: "sqlite:b.db", table: t }\n`,
          );
          const r = await runConcord(["scan", "-c", yaml]);
          expect(r.code, `inStore: ${inStore}`).toBe(2);
          expect(r.stdout).toBe("");
          const lines = r.stderr.trimEnd().split("\n");
          expect(lines).toHaveLength(1);
          expect(lines[0]).toMatch(/^concord: t\.a: /);
          expect(lines[0]).toMatch(c.line);
        }
      });
});
