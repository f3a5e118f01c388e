/**
 * Keys PostgreSQL cannot hold beside it: text keys holding U+0000 (SQLite and MariaDB keep them; PostgreSQL text cannot) beside PostgreSQL. Before, a
 * range bound cut at such a key (detection splits on the bigger replica's keys) failed the scan with
 * PostgreSQL's "invalid byte sequence for encoding UTF8: 0x00", and a repair batch holding such a key judged
 * the replica down when its read of that key failed, so every later row of the batch failed with that key's
 * message and was never written. Now the keys are missing on PostgreSQL, each fails its own repair in one line,
 * every other row is written, and bounds cut PostgreSQL's keys where the NUL keys would sit. Likewise text
 * keys that are no canonical uuid beside a PostgreSQL uuid key ("invalid input syntax for type uuid").
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);

/** Texts that sort around the NUL keys, by code point: '' < '\0' < '\u0001' … and 'k' < 'k\0' < 'k\u0001'. */
const PLAIN = ["", "j", "k", "k\u0001", "k\u0001a", "k\u0002", "k0", "ka", "kb", "l", "m", "zz"];
const WITH_NUL = ["\u0000", "k\u0000", "k\u0000a", "k\u0000\u0000", "ka\u0000b", "l\u0000", "zz\u0000"];

interface Doc {
  datasets: {
    divergences: { key: unknown[]; class: string }[];
    repairs?: { key: unknown[]; outcome: string; error?: string }[];
  }[];
}

describe.skipIf(!available)("text keys holding NUL beside PostgreSQL", () => {
  let schema: PostgresTestSchema;
  beforeAll(async () => {
    schema = await createPostgresTestSchema();
  });
  afterAll(async () => {
    await schema?.drop();
  });

  it("uuid keys beside text keys that are no uuid: missing on PostgreSQL, every uuid written", async () => {
    const dir = tempDir();
    const valid = Array.from(
      { length: 30 },
      (_, i) => `${String(i).padStart(8, "0")}-0000-4000-8000-000000000000`,
    );
    const invalid = [
      "not-a-uuid",
      "00000001-0000-4000-8000-00000000000G",
      "0000000A-0000-4000-8000-00000000000B",
      "0000000",
      "zz",
    ];
    const sqlite = new Database(join(dir, "a.db"));
    sqlite.exec("CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)");
    for (const id of [...valid, ...invalid]) sqlite.prepare("INSERT INTO t VALUES (?, ?)").run(id, `v-${id}`);
    sqlite.close();
    await schema.admin.query(`CREATE TABLE ${schema.table("uu")} (id uuid PRIMARY KEY, v text)`);
    // PostgreSQL holds the even uuids, one of them changed.
    for (const id of valid.filter((_, i) => i % 2 === 0))
      await schema.admin.query(`INSERT INTO ${schema.table("uu")} VALUES ($1, $2)`, [
        id,
        id === valid[4] ? "x" : `v-${id}`,
      ]);
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    detect: { fanout: 2, leafRows: 2 }
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: ${JSON.stringify(POSTGRES.url)}, table: "${schema.table("uu")}" }
    policy: { owner: a, resolve: owner }
`,
    );
    const keys = (doc: Doc) => doc.datasets[0]!.divergences.map((d) => String(d.key[0])).sort();
    const scan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
    expect(scan.stderr).toBe("");
    const differing = [...valid.filter((_, i) => i % 2 === 1), valid[4]!, ...invalid].sort();
    expect(keys(JSON.parse(scan.stdout) as Doc)).toEqual(differing);
    const repair = await runConcord(["repair", "--json", "-c", cfg], { cwd: dir });
    for (const r of (JSON.parse(repair.stdout) as Doc).datasets[0]!.repairs!) {
      const id = String(r.key[0]);
      expect([id, r.outcome, r.error]).toEqual(
        invalid.includes(id)
          ? [
              id,
              "failed",
              `items.b: conditional write refused: column id (uuid) cannot store ${JSON.stringify(id)}: not a uuid in its canonical spelling (lowercase, hyphenated)`,
            ]
          : [id, "applied", undefined],
      );
    }
    const rescan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
    expect(keys(JSON.parse(rescan.stdout) as Doc)).toEqual([...invalid].sort());
  });

  it.each([
    ["one text key", ["k"]],
    ["a text key then an integer", ["k", "n"]],
  ] as const)(
    "%s: scan finds exactly the differences at every cut, and repair writes every row PostgreSQL can hold",
    async (_, key) => {
      const table = `nulk_${key.length}`;
      const dir = tempDir();
      const sqlite = new Database(join(dir, "a.db"));
      sqlite.exec(
        `CREATE TABLE t (k TEXT NOT NULL, n INTEGER NOT NULL, v TEXT, PRIMARY KEY (${key.join(", ")}))`,
      );
      const rows: [string, number, string][] = [];
      for (const k of [...PLAIN, ...WITH_NUL])
        for (let n = 0; n < (key.length === 2 ? 3 : 1); n++) rows.push([k, n, `v-${k}-${n}`]);
      for (const r of rows) sqlite.prepare("INSERT INTO t VALUES (?, ?, ?)").run(...r);
      sqlite.close();
      await schema.admin.query(
        `CREATE TABLE ${schema.table(table)} (k text COLLATE "C" NOT NULL, n int NOT NULL DEFAULT 0, v text, PRIMARY KEY (${key.join(", ")}))`,
      );
      // PostgreSQL: the plain rows, "k" and "zz" changed, "k\u0001" missing.
      for (const [k, n, v] of rows.filter(([k]) => !k.includes("\u0000") && k !== "k\u0001"))
        await schema.admin.query(`INSERT INTO ${schema.table(table)} VALUES ($1, $2, $3)`, [
          k,
          n,
          k === "k" || k === "zz" ? "changed" : v,
        ]);
      const cfg = writeConfig(
        dir,
        `state: sqlite:state.db
datasets:
  items:
    key: [${key.join(", ")}]
    columns: [v]
    detect: { fanout: 2, leafRows: 2 }
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: ${JSON.stringify(POSTGRES.url)}, table: "${schema.table(table)}" }
    policy: { owner: a, resolve: owner }
`,
      );
      const expected = (ks: readonly string[]): unknown[][] =>
        ks.flatMap((k) => (key.length === 1 ? [[k]] : [0, 1, 2].map((n) => [k, n])));
      const divergent = (doc: Doc) =>
        doc.datasets[0]!.divergences.map((d) =>
          JSON.stringify(d.key.map((p) => (typeof p === "number" ? p : String(p)))),
        );
      const asJson = (keys: unknown[][]) => keys.map((k) => JSON.stringify(k)).sort();

      const scan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
      expect(scan.stderr).toBe("");
      expect(divergent(JSON.parse(scan.stdout) as Doc).sort()).toEqual(
        asJson(expected(["k", "k\u0001", "zz", ...WITH_NUL])),
      );

      const repair = await runConcord(["repair", "--json", "-c", cfg], { cwd: dir });
      const repairs = (JSON.parse(repair.stdout) as Doc).datasets[0]!.repairs!;
      for (const r of repairs) {
        const k = String(r.key[0]);
        if (k.includes("\u0000")) {
          expect(r.outcome).toBe("failed");
          expect(r.error).toBe(
            `items.b: conditional write refused: column k (text) cannot store ${JSON.stringify(k)}: PostgreSQL text holds no U+0000 (NUL) character`,
          );
        } else expect([r.key, r.outcome, r.error]).toEqual([r.key, "applied", undefined]);
      }
      expect(repairs.filter((r) => r.outcome === "applied")).toHaveLength(
        expected(["k", "k\u0001", "zz"]).length,
      );

      const rescan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
      expect(rescan.stderr).toBe("");
      expect(divergent(JSON.parse(rescan.stdout) as Doc).sort()).toEqual(asJson(expected(WITH_NUL)));
    },
  );
});
