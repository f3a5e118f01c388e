/**
 * A dense group of one integer key over two PostgreSQL tables (compared inside PostgreSQL) is cut into pieces
 * by arithmetic on the rows the run already expects in it: no replica is counted for the cut, and the pieces
 * find what one unbounded pass finds. Real PostgreSQL replicas, SQLite state store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);
const ROWS = 30_000;
/** Each tenth row differs on b: 1,000 divergences in each of three 10,000-row segments. */
const STALE = ROWS / 10;

let schema: PostgresTestSchema;
const dirs: string[] = [];

beforeAll(async () => {
  if (!available) return;
  schema = await createPostgresTestSchema();
  for (const t of ["items_a", "items_b"]) {
    await schema.admin.query(
      `CREATE TABLE "${schema.name}".${t} (id bigint PRIMARY KEY, payload text NOT NULL, version bigint NOT NULL)`,
    );
    await schema.admin.query(
      `INSERT INTO "${schema.name}".${t} SELECT g, md5(g::text), 1 FROM generate_series(1, ${ROWS}) g`,
    );
  }
  await schema.admin.query(`UPDATE "${schema.name}".items_b SET payload = 'x' WHERE id % 10 = 3`);
});

afterAll(async () => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  if (available) await schema.drop();
});

async function scan(piece: number) {
  const dir = mkdtempSync(join(tmpdir(), "concord-dense-pg-"));
  dirs.push(dir);
  const url = JSON.stringify(POSTGRES.url);
  const cfg = parseConfig(
    `state: sqlite:state.db
datasets:
  items:
    key: id
    columns: [payload, version]
    checkpointRows: 10000
    replicas:
      a: { url: ${url}, table: "${schema.name}.items_a" }
      b: { url: ${url}, table: "${schema.name}.items_b" }
    policy: { owner: a, resolve: owner }
`,
    join(dir, "concord.yaml"),
  );
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  let counted = 0;
  for (const r of ds.replicas) {
    const connector = await openConnector(ds.name, r, { readonly: true });
    // How often the run counts a replica's rows of a range (one count(*) statement each).
    const count = connector.count.bind(connector);
    connector.count = (shape, range) => {
      counted++;
      return count(shape, range);
    };
    replicas.push({ name: r.name, connector });
  }
  const pieces: number[] = [];
  try {
    const result = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: "r",
        command: "scan",
        mode: "scan",
        pieceDivergences: piece,
        observer: {
          onSegment({ from }) {
            pieces[from] = (pieces[from] ?? 0) + 1;
          },
        },
      },
    );
    return { result, pieces, counted, listed: await state.listDivergences("r") };
  } finally {
    for (const r of replicas) await r.connector.close();
    await state.close();
  }
}

it.skipIf(!available)(
  "cuts dense groups of an integer key by arithmetic on their expected rows, counting no replica, and finds what one pass finds",
  async () => {
    const bounded = await scan(200);
    const whole = await scan(Number.POSITIVE_INFINITY);
    expect(whole.pieces).toEqual([1, 1, 1]);
    // 1,000 differing keys a group against a budget of 200: every group is done in several pieces.
    for (const n of bounded.pieces) expect(n).toBeGreaterThanOrEqual(3);
    // Each cut counted both replicas of its range before (two count(*) statements a cut); now none does.
    expect(bounded.counted).toBe(whole.counted);
    // The same divergences, classes and rows (the statements and time aside), recorded in the same order.
    const { stats: _b, ...found } = bounded.result.totals;
    const { stats: _w, ...all } = whole.result.totals;
    expect(found).toEqual(all);
    expect(found.counts).toEqual({ unversioned: STALE });
    expect(bounded.listed.map((d) => [d.key, d.class, d.detail])).toEqual(
      whole.listed.map((d) => [d.key, d.class, d.detail]),
    );
  },
);
