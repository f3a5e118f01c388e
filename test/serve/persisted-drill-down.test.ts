/**
 * The run drill-down is kept in the state store: a CLI run's segment groups show in serve, and a restarted
 * serve lists the groups of a pass it ran before the restart. SQLite replicas; state on SQLite and PostgreSQL.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { parseConfig } from "../../src/config/load-config.js";
import { createService } from "../../src/serve/service.js";
import { itemsYaml, makeItemsReplicas } from "../support/sqlite-items.js";
import { STATE_KINDS } from "./persisted-state.fixture.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function cli(dir: string, ...args: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const sink = new Writable({
    write: (c, _e, done) => {
      out += String(c);
      done();
    },
  });
  const code = await main(["node", "concord", ...args], { stdout: sink, stderr: sink, env: {}, cwd: dir });
  return { code, out };
}

for (const kind of STATE_KINDS) {
  describe.skipIf(!kind.available)(`run drill-down kept in ${kind.name} state`, () => {
    it("shows a CLI run's groups in serve, and a pass's groups after serve restarts", async () => {
      const dir = mkdtempSync(join(tmpdir(), "concord-drill-"));
      const state = kind.create();
      cleanups.push(async () => {
        await state.drop();
        rmSync(dir, { recursive: true, force: true });
      });
      makeItemsReplicas(dir, { rows: 400, stale: [5, 150, 390] });
      const text = itemsYaml({ extra: "    checkpointRows: 100\n    intensity: 1\n" }).replace(
        "state: sqlite:state.db",
        `state: ${state.url}`,
      );
      const path = join(dir, "concord.yaml");
      writeFileSync(path, text);

      const scan = await cli(dir, "scan", "-c", path, "--json");
      expect(scan.code, scan.out).toBe(1);
      const cliRun = (JSON.parse(scan.out) as { runId: string }).runId;

      const config = parseConfig(text, path);
      const first = await createService(config, { log: () => {} });
      let second: typeof first | undefined;
      cleanups.push(async () => {
        await second?.stop();
      });
      try {
        const fromCli = await first.api.segments(cliRun);
        expect(fromCli.length).toBeGreaterThan(1);
        expect(fromCli[0]!.from).toBe(0);
        expect(fromCli.at(-1)!.to).toBe(fromCli[0]!.of);
        expect(fromCli.reduce((n, s) => n + (s.rows.a ?? 0), 0)).toBe(400);
        expect(fromCli.reduce((n, s) => n + (s.counts.stale ?? 0), 0)).toBe(3);

        const { runId } = await first.api.trigger("items", "repair");
        await first.idle();
        const [run] = await first.api.run(runId);
        expect(run!.status).toBe("ok");
        const before = await first.api.segments(runId);
        expect(before.reduce((n, s) => n + (s.repairs.applied ?? 0), 0)).toBe(3);
        for (let i = 1; i < before.length; i++) expect(before[i]!.from).toBe(before[i - 1]!.to);
        await first.stop();

        second = await createService(parseConfig(text, path), { log: () => {} });
        expect(await second.api.segments(runId)).toEqual(before);
        expect(await second.api.segments(cliRun)).toEqual(fromCli);
        expect(await second.api.segments("no-such-run")).toEqual([]);
      } finally {
        await first.stop().catch(() => {});
      }
    });
  });
}
