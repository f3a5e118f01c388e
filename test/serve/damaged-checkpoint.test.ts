/**
 * A damaged pass checkpoint stops its own dataset, not `serve`: the others start and run, the damaged one
 * backs off with its status (and the `pass-failing` alert) naming it, until `concord checkpoint drop` removes
 * the checkpoint (the old pass recorded failed, the drop audited) and its next pass starts afresh.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { errorReply } from "../../src/serve/http/http-error.js";
import { createService } from "../../src/serve/service.js";
import { runConcord, tempDir } from "../cli/helpers.js";

const YAML = `state: sqlite:../state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: "sqlite:../a.db", table: items }
      b: { url: "sqlite:../b.db", table: items }
    policy: { owner: a }
  other:
    key: id
    replicas:
      a: { url: "sqlite:../a.db", table: other }
      b: { url: "sqlite:../b.db", table: other }
    policy: { owner: a }
`;

/** Two SQLite replicas with tables items and other in a fresh folder; `dir/cfg/concord.yaml` for the CLI. */
function setUp(): { dir: string; file: string } {
  const dir = tempDir();
  for (const r of ["a", "b"]) {
    const db = new Database(join(dir, `${r}.db`));
    db.exec(
      "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT)",
    );
    db.exec(`INSERT INTO items VALUES (1, 'x'), (2, 'y'); INSERT INTO other VALUES (1, 'x')`);
    if (r === "a") db.exec("INSERT INTO items VALUES (3, 'z'); INSERT INTO other VALUES (2, 'w')");
    db.close();
  }
  // The config in a folder of its own: the CLI's open-file check looks there, while serve holds the stores.
  mkdirSync(join(dir, "cfg"));
  const file = join(dir, "cfg", "concord.yaml");
  writeFileSync(file, YAML);
  return { dir, file };
}

it("stops only its dataset; checkpoint drop starts it afresh", async () => {
  const { dir, file } = setUp();
  const logs: string[] = [];
  const service = await createService(parseConfig(YAML, file), { log: (l) => logs.push(l) });
  try {
    // An unfinished pass of items, its checkpoint then edited behind the store's back.
    await service.state.beginRun({ id: "run-cp", dataset: "items", command: "serve", startedAt: 1 });
    await service.state.putCheckpoint({
      dataset: "items",
      runId: "run-cp",
      mode: "repair",
      bounds: [["2"]],
      done: 1,
      totals: {},
      startedAt: 1,
      updatedAt: 2,
    });
    const db = new Database(join(dir, "state.db"));
    db.exec(`UPDATE checkpoints SET bounds = '[[2' WHERE dataset = 'items'`);
    db.close();

    await service.start();
    const damaged = `items: cannot read its checkpoint: the state store's checkpoint of dataset items (run run-cp) has bounds that are not JSON`;
    const status = async (name: string) => (await service.api.datasets()).find((d) => d.name === name)!;
    expect(await status("items")).toMatchObject({ state: "backing-off" });
    expect((await status("items")).error).toContain(damaged);
    expect(logs.some((l) => l.startsWith(damaged))).toBe(true);
    await expect(service.api.trigger("items", "repair")).rejects.toMatchObject({
      kind: "damaged-checkpoint",
      message: expect.stringContaining(damaged),
    });

    // The other dataset runs meanwhile.
    const { runId: otherRun } = await service.api.trigger("other", "repair");
    await service.runner("other").idle();
    expect((await service.state.getRun(otherRun))[0]).toMatchObject({ status: "ok" });
    expect(await status("other")).toMatchObject({ error: null });

    // While another process holds the dataset's pass, the drop is refused and changes nothing.
    await service.state.acquireLease("pass:items", "elsewhere:1:x", Date.now(), 60_000);
    const held = await runConcord(["checkpoint", "drop", "items", "-c", file], { cwd: dir });
    expect(held.code).toBe(2);
    expect(held.stderr).toBe(
      "concord: checkpoint drop: dataset items: another process (elsewhere:1:x) is running its pass; abort it (POST /api/datasets/items/abort) instead\n",
    );
    expect((await service.state.getRun("run-cp"))[0]).toMatchObject({ status: "running" });
    await service.state.releaseLease("pass:items", "elsewhere:1:x");

    const dropped = await runConcord(["checkpoint", "drop", "items", "-c", file, "--json"], { cwd: dir });
    expect(dropped.stderr).toBe("");
    expect(dropped.code).toBe(0);
    expect(JSON.parse(dropped.stdout)).toMatchObject({
      dataset: "items",
      dropped: true,
      runId: "run-cp",
      runFailed: true,
    });
    expect((await service.state.getRun("run-cp"))[0]).toMatchObject({
      status: "failed",
      stats: { checkpointDropped: 1 },
    });
    const entry = (await service.state.readAudit({ runId: "run-cp" })).find(
      (e) => e.type === "checkpoint-dropped",
    );
    expect(entry).toMatchObject({ runId: "run-cp", dataset: "items" });
    expect((entry!.data as { by: string }).by).toMatch(/^cli:/);

    const again = await runConcord(["checkpoint", "drop", "items", "-c", file], { cwd: dir });
    expect(again).toMatchObject({ code: 0, stdout: "dataset items has no checkpoint\n" });
    const unknown = await runConcord(["checkpoint", "drop", "nope", "-c", file], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(`concord: checkpoint drop: no dataset named "nope" in ${file}\n`);

    // Its next pass starts afresh and repairs the whole key space.
    const { runId } = await service.api.trigger("items", "repair");
    expect(runId).not.toBe("run-cp");
    await service.runner("items").idle();
    expect((await service.state.getRun(runId))[0]).toMatchObject({ status: "ok" });
    expect(await status("items")).toMatchObject({ error: null });
  } finally {
    await service.stop();
  }
});

it("a state store that cannot answer is a state-store error (503), not a damaged checkpoint", async () => {
  const { dir, file } = setUp();
  const service = await createService(parseConfig(YAML, file), { log: () => {} });
  try {
    await service.start();
    await service.state.beginRun({ id: "run-cp", dataset: "items", command: "serve", startedAt: 1 });
    await service.state.putCheckpoint({
      dataset: "items",
      runId: "run-cp",
      mode: "repair",
      bounds: [["2"]],
      done: 1,
      totals: {},
      startedAt: 1,
      updatedAt: 2,
    });
    // The state file's checkpoints table out of reach (SQLite names the failure; a lock is met the same way):
    // the read fails with a StateStoreError while the checkpoint itself is sound.
    const db = new Database(join(dir, "state.db"));
    db.exec("ALTER TABLE checkpoints RENAME TO hm_away");
    let err: unknown;
    try {
      await service.api.trigger("items", "repair");
    } catch (e) {
      err = e;
    } finally {
      db.exec("ALTER TABLE hm_away RENAME TO checkpoints");
      db.close();
    }
    expect(err).toMatchObject({ kind: "state-store" });
    expect((err as Error).message).toMatch(
      /^items: cannot read its checkpoint: state .*state\.db: no such table: checkpoints \(SQLITE_ERROR\)$/,
    );
    expect(errorReply(err)).toMatchObject({ status: 503 });
    expect((await service.api.datasets()).find((d) => d.name === "items")).toMatchObject({
      state: "backing-off",
      error: (err as Error).message,
    });

    // Once the store answers, the same checkpoint is sound: the pass resumes it.
    const { runId } = await service.api.trigger("items", "repair");
    expect(runId).toBe("run-cp");
    await service.runner("items").idle();
    expect((await service.state.getRun("run-cp"))[0]).toMatchObject({ status: "ok" });
  } finally {
    await service.stop();
  }
});
