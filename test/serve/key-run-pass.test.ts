/**
 * Serve judges a dirty-segment pass by both of its runs, on the real servers (PostgreSQL watched → MariaDB,
 * SQLite state): the API's last pass, its divergence and repair figures, the history and the divergence gauge
 * count what the check of the changed keys (`<runId>-keys`) found and repaired, beside the segments' run, and a
 * repair the key run failed fires the `repair-failures` alert.
 */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { createService } from "../../src/serve/service.js";
import type { MysqlTestDatabase } from "../support/mysql-test-database.js";
import type { PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";
import { createWatchedItems, type WatchedItems } from "../support/watched-items.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));
const ROWS = 2000;

describe.skipIf(!up)("serve: a pass's key run counts in the pass", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let dir: string;
  let items: WatchedItems | undefined;
  let receiver: Server;
  let url: string;
  const got: { status: string; alert: string; dataset: string | null; summary: string }[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        got.push(JSON.parse(body));
        res.end("ok");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    items = await createWatchedItems(ROWS, "concord-key-run-pass-");
    ({ pg, my, dir } = items);
  });
  afterAll(async () => {
    await items?.drop();
    await new Promise((r) => receiver.close(r));
  });

  it("shows the pass with its key run's divergences and repairs folded in", async () => {
    const name = pg.name;
    const config = parseConfig(
      `state: sqlite:state.db
datasets:
  ${name}:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      maria: { url: "${my.url}", table: items }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], batch: 50ms, segmentRows: 200, sweepSegments: 0, dirtyKeys: 4 }
alerts:
  - { when: "repair-failures > 0", webhook: "${url}" }
`,
      join(dir, "concord.yaml"),
    );
    const lines: string[] = [];
    const service = await createService(config, { log: (l) => lines.push(l) });
    const maria = async (id: number) =>
      (
        (await my.admin.query("SELECT name FROM items WHERE id = ?", [id])) as unknown as [{ name: string }[]]
      )[0][0]!.name;
    const pass = async () => {
      const { runId } = await service.api.trigger(name, "repair");
      await service.idle();
      return runId;
    };
    try {
      await service.start();
      await until(() => lines.some((l) => l.startsWith(`${name}.pg: watching its change feed`)));
      await pass(); // whole: makes and verifies the segment summary
      // Six changed keys in the first segment (more than dirtyKeys: marked whole, re-read by the segments'
      // run) and one far away (its mark lists it: checked by key). The watcher repairs them at once; MariaDB
      // then loses one of each, so each of the pass's runs finds and repairs one.
      const crowded = [1, 2, 3, 4, 5, 6];
      const far = 1507;
      await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'changed' WHERE id = ANY($1::bigint[])`, [
        [...crowded, far],
      ]);
      for (const id of [...crowded, far]) await until(async () => (await maria(id)) === "changed");
      await until(async () => !lines.some((l) => /pending|unsettled/.test(l)));
      await my.admin.query("UPDATE items SET name = 'lost' WHERE id IN (3, ?)", [far]);

      const runId = await pass();
      expect(lines).toContainEqual(
        expect.stringMatching(
          new RegExp(`^${name}: 1 changed keys checked by key \\(run ${runId}-keys\\): ok`),
        ),
      );
      expect(await maria(3)).toBe("changed");
      expect(await maria(far)).toBe("changed");
      // The pass as the API shows it: its own id, both divergences, both repairs.
      const status = (await service.api.datasets())[0]!;
      expect(status.lastRun?.id).toBe(runId);
      expect(status.lastRun?.status).toBe("ok");
      expect(Object.values(status.counts).reduce((a, b) => a + b, 0)).toBe(2);
      expect(status.repairs).toMatchObject({ applied: 2 });
      // One history entry for the pass, none for its key run.
      const history = await service.api.history({ dataset: name });
      expect(history.runs.map((r) => r.runId)).not.toContain(`${runId}-keys`);
      expect(history.runs.at(-1)).toMatchObject({ runId, repairs: { applied: 2 } });
      // The divergence gauge counts both.
      const gauge = [
        ...(await service.metrics.text()).body.matchAll(
          new RegExp(`^concord_divergences\\{dataset="${name}",class="[^"]+"\\} (\\d+)$`, "gm"),
        ),
      ].reduce((n, m) => n + Number(m[1]), 0);
      expect(gauge).toBe(2);
      expect(got).toEqual([]);

      // A changed key whose repair MariaDB refuses (a trigger): the key run fails to repair it, and the pass
      // does, as the API and the alert report it.
      const refused = 1207;
      await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'again' WHERE id = $1`, [refused]);
      await until(async () => (await maria(refused)) === "again");
      await my.admin.query("UPDATE items SET name = 'lost' WHERE id = ?", [refused]);
      await my.admin.query(
        `CREATE TRIGGER refuse BEFORE UPDATE ON items FOR EACH ROW BEGIN
           IF NEW.id = ${refused} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF; END`,
      );
      const failing = await pass();
      const after = (await service.api.datasets())[0]!;
      expect(after.lastRun).toMatchObject({ id: failing, status: "diverged" });
      expect(after.repairs).toMatchObject({ failed: 1 });
      await until(() => got.length > 0);
      expect(got[0]).toMatchObject({ status: "firing", alert: "repair-failures > 0", dataset: name });
      await my.admin.query("DROP TRIGGER refuse");
    } finally {
      await service.stop();
    }
  }, 120_000);
});

/** Polls a condition until it holds (the test's timeout bounds it). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, 25));
}
