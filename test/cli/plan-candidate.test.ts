/**
 * The policy sandbox, `concord plan --candidate FILE [--run ID]`, on SQLite and on PostgreSQL replicas:
 * every divergence decided under the live and the candidate policy side by side, every disagreement with
 * both decisions' rule and reason, the counts, and nothing written (replicas and state untouched).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import {
  execSql,
  ITEMS_DDL,
  itemRows,
  makeSqliteTable,
  parseJson,
  query,
  runConcord,
  sha256,
  tempDir,
  writeConfig,
} from "./helpers.js";

const pgAvailable = await serviceAvailable(POSTGRES);

interface Side {
  action: string;
  source: string | null;
  targets: string[];
  rule: string;
  reason: string;
}

interface CandidateJson {
  schemaVersion: number;
  candidate: string;
  run: string | null;
  datasets: {
    name: string;
    live: { policyVersion: string; guard: unknown };
    candidate: { policyVersion: string; guard: unknown };
    agree: number;
    disagree: number;
    disagreements: { key: number[]; class: string; live: Side; candidate: Side }[];
  }[];
}

/**
 * b differs from a on: 3 (b is behind: a older version), 5 (b is ahead: a newer version and another name),
 * 7 (absent on b), 9 (same version, another name: a conflict).
 */
const CHANGES_ON_B = [
  "UPDATE items SET name = 'old 3', version = 0 WHERE id = 3",
  "UPDATE items SET name = 'newer 5', version = 9 WHERE id = 5",
  "DELETE FROM items WHERE id = 7",
  "UPDATE items SET name = 'other 9' WHERE id = 9",
];
const ROWS = 40;

/** Live: the highest version wins (a conflict escalates). Candidate: a owns every record. */
const LIVE = "policy: { resolve: highest-version }";
const CANDIDATE = "owner: a\nresolve: owner\n";

interface Store {
  readonly name: string;
  readonly available: () => boolean;
  /** Makes replicas a and b in `dir` (or in the server) and returns the dataset's replicas block. */
  setup(dir: string): Promise<string>;
  /** A fingerprint of both replicas' contents. */
  contents(dir: string): Promise<string>;
}

let pg: PostgresTestSchema | undefined;

beforeAll(async () => {
  if (pgAvailable) pg = await createPostgresTestSchema();
});

afterAll(async () => {
  await pg?.drop();
});

let tables = 0;

const STORES: readonly Store[] = [
  {
    name: "SQLite",
    available: () => true,
    async setup(dir) {
      for (const side of ["a", "b"])
        makeSqliteTable(join(dir, `${side}.db`), "items", ITEMS_DDL, itemRows(ROWS), {
          sql: side === "b" ? CHANGES_ON_B.join(";") : undefined,
        });
      return `      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }`;
    },
    async contents(dir) {
      return `${sha256(join(dir, "a.db"))} ${sha256(join(dir, "b.db"))}`;
    },
  },
  {
    name: "PostgreSQL",
    available: () => pgAvailable,
    async setup(dir) {
      const n = ++tables;
      const url = JSON.stringify(POSTGRES.url);
      for (const side of ["a", "b"]) {
        const table = `"${pg!.name}".items_${side}${n}`;
        await pg!.admin.query(
          `CREATE TABLE ${table} (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL,
           price numeric(10,2) NOT NULL, note text, updated_at timestamptz NOT NULL, version bigint NOT NULL)`,
        );
        await pg!.admin.query(
          `INSERT INTO ${table} SELECT g, 'item ' || g, (g * 7) % 50, (g * 37) % 1000, NULL,
             timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', 1 + g % 4
           FROM generate_series(1, ${ROWS}) g`,
        );
        if (side === "b") for (const sql of CHANGES_ON_B) await pg!.admin.query(sql.replace("items", table));
      }
      void dir;
      return `      a: { url: ${url}, table: "${pg!.name}.items_a${n}" }
      b: { url: ${url}, table: "${pg!.name}.items_b${n}" }`;
    },
    async contents() {
      const n = tables;
      const rows = await pg!.admin.query(
        `SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM "${pg!.name}".items_a${n} t) AS a,
                (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM "${pg!.name}".items_b${n} t) AS b`,
      );
      return JSON.stringify(rows.rows);
    },
  },
];

function config(replicas: string): string {
  return `state: sqlite:state.db
datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
${replicas}
    ${LIVE}
`;
}

for (const store of STORES) {
  describe.skipIf(!store.available())(`plan --candidate on ${store.name} replicas`, () => {
    it("decides every divergence under both policies, lists each disagreement and writes nothing", async ({
      expect,
      onTestFinished,
    }) => {
      const dir = tempDir(onTestFinished);
      const cfg = writeConfig(dir, config(await store.setup(dir)));
      writeConfig(dir, CANDIDATE, "candidate.yaml");
      const before = await store.contents(dir);

      const r = await runConcord(["plan", "-c", cfg, "--candidate", "candidate.yaml", "--json"], {
        cwd: dir,
      });
      expect(r.code, r.stderr).toBe(1);
      const doc = parseJson<CandidateJson>(r);
      expect(doc.schemaVersion).toBe(1);
      expect(doc.run).toBeNull();
      const [items] = doc.datasets;
      expect(items!.live.policyVersion).toMatch(/^[0-9a-f]{12}$/);
      expect(items!.candidate.policyVersion).toMatch(/^[0-9a-f]{12}$/);
      expect(items!.candidate.policyVersion).not.toBe(items!.live.policyVersion);
      // 3: both copy a to b. 5: live takes b's newer version, the candidate a's. 7: live escalates (no owner
      // for a missing record), the candidate copies a's. 9: live escalates the conflict, the candidate takes a's.
      expect([items!.agree, items!.disagree]).toEqual([1, 3]);
      const by = Object.fromEntries(items!.disagreements.map((d) => [d.key[0], d]));
      expect(Object.keys(by)).toEqual(["5", "7", "9"]);
      expect(by[5]).toMatchObject({
        class: "stale",
        live: { action: "propagate", source: "b", targets: ["a"], rule: "resolve: highest-version" },
        candidate: { action: "propagate", source: "a", targets: ["b"], rule: "resolve: owner" },
      });
      expect(by[7]).toMatchObject({
        class: "missing",
        live: { action: "escalate", source: null, targets: [] },
        candidate: { action: "propagate", source: "a", targets: ["b"] },
      });
      expect(by[9]).toMatchObject({
        class: "conflict",
        live: { action: "escalate" },
        candidate: { action: "propagate", source: "a", targets: ["b"] },
      });
      for (const d of items!.disagreements) {
        expect(d.live.reason.length).toBeGreaterThan(0);
        expect(d.candidate.reason.length).toBeGreaterThan(0);
      }
      // Nothing written: the replicas hold what they held, and there is no state at all.
      expect(await store.contents(dir)).toBe(before);
      expect(existsSync(join(dir, "state.db"))).toBe(false);

      // The text report: counts, and both decisions of each disagreement.
      const text = await runConcord(["plan", "-c", cfg, "--candidate", "candidate.yaml"], { cwd: dir });
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(
        `items: live policy ${items!.live.policyVersion} vs candidate ${items!.candidate.policyVersion}: 1 agree, 3 disagree (nothing written)`,
      );
      expect(text.stdout).toMatch(/\n {2}5 +stale +live +write b's record to a +resolve: highest-version/);
      expect(text.stdout).toMatch(/\n {2} +candidate +write a's record to b +resolve: owner/);
    });

    it("--run decides only the keys a recorded run found diverging, read again, and records no run", async ({
      expect,
      onTestFinished,
    }) => {
      const dir = tempDir(onTestFinished);
      const cfg = writeConfig(dir, config(await store.setup(dir)));
      writeConfig(dir, CANDIDATE, "candidate.yaml");
      const scan = await runConcord(["scan", "-c", cfg, "--json"], { cwd: dir });
      const runId = parseJson<{ runId: string }>(scan).runId;
      // Since the scan, 5 and 9 were made equal on a and b: only 3 and 7 still differ of the run's keys.
      const fix =
        store.name === "SQLite"
          ? () =>
              execSql(
                join(dir, "b.db"),
                "UPDATE items SET name = 'item 5', version = 2 WHERE id = 5; UPDATE items SET name = 'item 9' WHERE id = 9",
              )
          : async () => {
              const n = tables;
              await pg!.admin.query(
                `UPDATE "${pg!.name}".items_b${n} b SET name = a.name, version = a.version FROM "${pg!.name}".items_a${n} a WHERE a.id = b.id AND b.id IN (5, 9)`,
              );
            };
      await fix();
      const runs = () => query<{ n: number }>(join(dir, "state.db"), "SELECT count(*) AS n FROM runs")[0]!.n;
      const before = [await store.contents(dir), runs()];
      const r = await runConcord(
        ["plan", "-c", cfg, "--candidate", "candidate.yaml", "--run", runId, "--json"],
        { cwd: dir },
      );
      expect(r.code, r.stderr).toBe(1);
      const doc = parseJson<CandidateJson>(r);
      expect(doc.run).toBe(runId);
      const [items] = doc.datasets;
      expect([items!.agree, items!.disagree]).toEqual([1, 1]);
      expect(items!.disagreements.map((d) => [d.key, d.class])).toEqual([[[7], "missing"]]);
      expect([await store.contents(dir), runs()]).toEqual(before);
    });
  });
}

describe.concurrent("plan --candidate: bad input", () => {
  it("names the candidate file and what does not fit, on one line, and writes nothing", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const replicas = await STORES[0]!.setup(dir);
    const cfg = writeConfig(dir, config(replicas));
    const cases: [string, string | null, RegExp][] = [
      ["missing.yaml", null, /^concord: missing\.yaml: cannot read candidate policy file \(not found\)\n$/],
      [
        "bad.yaml",
        "owner: z\n",
        /^concord: bad\.yaml: datasets\.items\.policy\.owner: "z" is not a replica of items\n$/,
      ],
      [
        "lww.yaml",
        "resolve: lww\n",
        /^concord: lww\.yaml: datasets\.items\.policy\.resolve: lww needs versions\.timestamp\n$/,
      ],
      ["list.yaml", "- a\n", /^concord: list\.yaml: expected a policy block/],
      ["typo.yaml", "resolv: owner\n", /^concord: typo\.yaml: datasets\.items\.policy\.resolv: unknown key/],
    ];
    for (const [file, text, message] of cases) {
      if (text !== null) writeConfig(dir, text, file);
      const r = await runConcord(["plan", "-c", cfg, "--candidate", file], { cwd: dir });
      expect(r.code, file).toBe(2);
      expect(r.stderr, file).toMatch(message);
    }
    const orphan = await runConcord(["plan", "-c", cfg, "--run", "x"], { cwd: dir });
    expect(orphan.code).toBe(2);
    expect(orphan.stderr).toMatch(/--run goes with --candidate/);
    expect(existsSync(join(dir, "state.db"))).toBe(false);
  });
});
