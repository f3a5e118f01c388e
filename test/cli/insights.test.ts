/**
 * `concord insights` end to end, with state on SQLite and on PostgreSQL: repair runs and a person's pick
 * record evidence; insights rank the replica that keeps losing last with an interval below the other's,
 * find the key range where drift concentrates, recommend the reliable replica as owner with its evidence,
 * and export that recommendation as a file `plan --candidate` reads.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";
import { execSql, makeItemsReplicas, parseJson, runConcord, tempDir, writeConfig } from "./helpers.js";

const pgAvailable = await serviceAvailable(POSTGRES);
let pg: PostgresTestSchema | undefined;

beforeAll(async () => {
  if (pgAvailable) pg = await createPostgresTestSchema();
});

afterAll(async () => {
  await pg?.drop();
});

interface InsightsJson {
  schemaVersion: number;
  datasets: {
    name: string;
    replicas: {
      name: string;
      reliability: { score: number; low: number; high: number; settled: number; lost: number };
      flagged: boolean;
    }[];
    hotspots: {
      kind: string;
      where: string;
      divergences: number;
      rate: number;
      trend: string;
      nature: string;
    }[];
    patterns: { kind: string; summary: string }[];
    recommendations: {
      id: string;
      kind: string;
      summary: string;
      evidence: { counts: Record<string, number>; exampleKeys: unknown[]; auditIds: number[] };
      candidatePolicy: Record<string, unknown> | null;
    }[];
  }[];
}

/** b falls behind a (older version) on 16 keys of range 3 (ids 61–76 of 20-row ranges) and 2 elsewhere. */
const BEHIND = [...Array.from({ length: 16 }, (_, i) => 61 + i), 5, 150];
const behindSql = (ids: readonly number[]) =>
  `UPDATE items SET name = 'old ' || id, version = 0 WHERE id IN (${ids.join(", ")})`;

function config(state: string): string {
  return `state: ${state}
datasets:
  items:
    key: id
    versions: { counter: version }
    checkpointRows: 20
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    policy: { resolve: highest-version }
`;
}

const STATES = [
  { name: "SQLite", available: true, url: () => "sqlite:state.db" },
  {
    name: "PostgreSQL",
    available: pgAvailable,
    // The test's own schema (dropped at the end) holds the state tables.
    url: () => `${POSTGRES.url}?schema=${pg!.name}`,
  },
];

describe.each(STATES)("concord insights, state on $name", ({ available, url }) => {
  it.skipIf(!available)(
    "ranks the replica that keeps losing last, finds the hot range, recommends and exports an owner",
    async () => {
      const dir = tempDir();
      makeItemsReplicas(dir, { rows: 200, sqlB: behindSql(BEHIND) });
      const cfg = writeConfig(dir, config(url()));
      const c = ["-c", cfg];

      // Nothing recorded yet: every list empty, exit 0.
      const empty = parseJson<InsightsJson>(await runConcord(["insights", ...c, "--json"]));
      expect(empty.datasets[0]!.replicas.every((r) => r.reliability.settled === 0)).toBe(true);
      expect(empty.datasets[0]!.recommendations).toEqual([]);

      expect((await runConcord(["repair", ...c])).code).toBe(0);
      // b falls behind again in range 3: a second run adds to the same evidence.
      execSql(join(dir, "b.db"), behindSql([61, 62, 63, 64]));
      expect((await runConcord(["repair", ...c])).code).toBe(0);

      const r = await runConcord(["insights", ...c, "--json"]);
      expect(r.code).toBe(0);
      const doc = parseJson<InsightsJson>(r);
      expect(doc.schemaVersion).toBe(1);
      const [items] = doc.datasets;
      expect(items!.name).toBe("items");
      expect(
        items!.replicas.map((x) => [x.name, x.reliability.settled, x.reliability.lost, x.flagged]),
      ).toEqual([
        ["a", 22, 0, false],
        ["b", 22, 22, true],
      ]);
      expect(items!.replicas[1]!.reliability.high).toBeLessThan(items!.replicas[0]!.reliability.low);
      expect(items!.hotspots[0]).toMatchObject({
        kind: "range",
        where: "3",
        divergences: 20,
        trend: "new",
        nature: "drift",
      });
      // The second time b fell behind, its version went backwards from what was seen: regressions.
      expect(items!.patterns.map((p) => p.summary)).toEqual(
        expect.arrayContaining([
          "stale records on name: b held the losing value in 18 of 18",
          "stale records in range 3: b held the losing value in 16 of 16",
          "regressions on name: b held the losing value in 4 of 4",
        ]),
      );
      const owner = items!.recommendations.find((x) => x.kind === "owner")!;
      expect(owner.candidatePolicy).toEqual({ owner: "a", resolve: "highest-version" });
      expect(owner.evidence.counts).toMatchObject({ settled: 22, lost: 0, "lost.b": 22 });
      expect(owner.evidence.exampleKeys.length).toBeGreaterThan(0);
      expect(owner.evidence.auditIds.length).toBeGreaterThan(0);
      expect(items!.recommendations.some((x) => x.kind === "scan-hotspot")).toBe(true);

      // The text report: aligned tables, the export command.
      const text = await runConcord(["insights", ...c, "-d", "items"]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(
        /^items\n {2}replicas, most reliable first:\n {4}replica +score +95% interval/,
      );
      expect(text.stdout).toMatch(
        /\n {4}b +0\.0% +0\.0%–\d+\.\d% +22 +22 .*below another replica's interval/,
      );
      expect(text.stdout).toContain(`--export ${owner.id} -o candidate.yaml`);

      // Exported, the candidate is a policy file plan --candidate reads.
      const out = await runConcord([
        "insights",
        ...c,
        "--export",
        owner.id,
        "-o",
        join(dir, "candidate.yaml"),
      ]);
      expect(out.code).toBe(0);
      const file = readFileSync(join(dir, "candidate.yaml"), "utf8");
      expect(file).toMatch(/^# Candidate policy for dataset items: make a the owner/);
      expect(file).toMatch(/\nresolve: highest-version\nowner: a\n$/);
      execSql(join(dir, "b.db"), "UPDATE items SET name = 'other 9' WHERE id = 9");
      const plan = await runConcord(["plan", ...c, "--candidate", join(dir, "candidate.yaml"), "--json"]);
      expect(plan.stderr).toBe("");
      expect(plan.code).toBe(1);

      // Bad input: one line, exit 2, nothing written.
      const bad = await runConcord(["insights", ...c, "--export", "nope"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe("concord: --export nope: no recommendation with this id now\n");
      const unknown = await runConcord(["insights", ...c, "-d", "nothing"]);
      expect(unknown.code).toBe(2);
      // An -o path that cannot be written: one line naming it (was: internal error), no temporary left.
      for (const [o, code] of [
        [join(dir, "no", "such.yaml"), "ENOENT"],
        [dir, "EISDIR"],
      ] as const) {
        const unwritable = await runConcord(["insights", ...c, "--export", owner.id, "-o", o]);
        expect([unwritable.code, unwritable.stdout, unwritable.stderr]).toEqual([
          2,
          "",
          `concord: -o ${o}: cannot write (${code})\n`,
        ]);
      }
      expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    },
  );
});
