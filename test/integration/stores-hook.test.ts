/**
 * The harness's Concord detect command (bench/stores-hook.mjs) against real PostgreSQL replicas: the lines it
 * prints are the `--json` document's divergences read as JSON, and the differences one SQL join finds.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, runConcord, tempDir } from "../cli/helpers.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);
const SCHEMA = `storeshook_${process.pid}_${randomUUID().slice(0, 8)}`;
let admin: pg.Pool;

/** `node bench/stores-hook.mjs detect CONFIG`'s output lines. */
function hook(config: string): Promise<string[]> {
  return new Promise((done, fail) =>
    execFile(
      process.execPath,
      [join(REPO, "bench", "stores-hook.mjs"), "detect", config],
      { maxBuffer: 1 << 26 },
      (err, stdout) => (err ? fail(err) : done(stdout.split("\n").filter((l) => l !== ""))),
    ),
  );
}

describe.skipIf(!available)("bench/stores-hook.mjs detect", () => {
  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: POSTGRES.url, max: 2 });
    await admin.query(`CREATE SCHEMA "${SCHEMA}"`);
  });
  afterAll(async () => {
    await admin?.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
    await admin?.end();
  });

  it("prints one upd/del/ins line per divergence of the document, keys with quotes, backslashes and colons included", async () => {
    // Keys whose JSON needs escapes, and parts that hold the separator the lines join them with.
    const region = (n: number) => ["eu", 'u"s', "a\\b", "x:y", "é"][n % 5]!;
    for (const t of ["a", "b"])
      await admin.query(
        `CREATE TABLE "${SCHEMA}".${t} (region text NOT NULL, seq int NOT NULL, v text, PRIMARY KEY (region, seq))`,
      );
    await admin.query(`CREATE INDEX ON "${SCHEMA}".a (region COLLATE "C", seq)`);
    await admin.query(`CREATE INDEX ON "${SCHEMA}".b (region COLLATE "C", seq)`);
    for (let n = 0; n < 300; n++) {
      const key = [region(n), n];
      await admin.query(`INSERT INTO "${SCHEMA}".a VALUES ($1, $2, $3)`, [...key, `v${n}`]);
      // Every 7th updated, every 11th deleted from b; 20 rows only in b.
      if (n % 11 !== 3)
        await admin.query(`INSERT INTO "${SCHEMA}".b VALUES ($1, $2, $3)`, [
          ...key,
          n % 7 === 0 ? "x" : `v${n}`,
        ]);
    }
    for (let n = 300; n < 320; n++)
      await admin.query(`INSERT INTO "${SCHEMA}".b VALUES ($1, $2, 'new')`, [region(n), n]);
    const dir = tempDir();
    const config = join(dir, "concord.yaml");
    writeFileSync(
      config,
      `state: sqlite:${join(dir, "state.db")}
datasets:
  items:
    key: [region, seq]
    columns: [v]
    replicas:
      a: { url: "${POSTGRES.url}", table: ${SCHEMA}.a }
      b: { url: "${POSTGRES.url}", table: ${SCHEMA}.b }
`,
    );
    const scan = await runConcord(["scan", "--json", "-c", config]);
    expect(scan.code).toBe(1);
    const doc = JSON.parse(scan.stdout) as {
      datasets: {
        divergences: { key: (string | number)[]; replicas: Record<string, { present: boolean }> }[];
      }[];
    };
    const fromDocument = doc.datasets[0]!.divergences.map((d) => {
      const a = d.replicas.a?.present ?? false;
      const b = d.replicas.b?.present ?? false;
      return `${a && b ? "upd" : a ? "del" : "ins"} ${d.key.join(":")}`;
    });
    const { rows } = await admin.query<{ line: string }>(
      `SELECT CASE WHEN b.seq IS NULL THEN 'del' WHEN a.seq IS NULL THEN 'ins' ELSE 'upd' END || ' ' ||
              coalesce(a.region, b.region) || ':' || coalesce(a.seq, b.seq) AS line
       FROM "${SCHEMA}".a a FULL JOIN "${SCHEMA}".b b ON a.region = b.region AND a.seq = b.seq
       WHERE a.seq IS NULL OR b.seq IS NULL OR a.v IS DISTINCT FROM b.v`,
    );
    const lines = await hook(config);
    const printed = lines.filter((l) => !l.startsWith("# concord "));
    expect(printed.length).toBeGreaterThan(60);
    expect(printed).toEqual(fromDocument);
    expect([...printed].sort()).toEqual(rows.map((r) => r.line).sort());
    expect(printed.some((l) => l.includes('u"s') && l.startsWith("upd"))).toBe(true);
    expect(lines.filter((l) => l.startsWith("# concord "))).toHaveLength(1);
  }, 120_000);
});
