/**
 * `concord serve` as a user runs it: the real binary, a token, HTTP on loopback, SIGTERM to stop (a
 * process of its own, for the signal); refusing to start is checked in-process.
 */
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import {
  expectOneLineError,
  itemsConfig,
  runConcord,
  SEEDED_POLICY,
  seededItems,
  spawnConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

const TOKEN = "serve-test-token-0123456789";

describe("concord serve", () => {
  it("repairs on its schedule, answers the API with the token only, and stops cleanly on SIGTERM", async ({
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(
      dir,
      itemsConfig(SEEDED_POLICY, "    schedule: 1h\n    checkpointRows: 100\n").replace(
        "state: sqlite:state.db\n",
        'state: sqlite:state.db\nserve: { listen: "127.0.0.1:0" }\n',
      ),
    );
    const run = spawnConcord(["serve", "-c", config], { env: { CONCORD_TOKEN: TOKEN }, onTestFinished });
    // The port is chosen by the system: read it from the log line.
    const base = (await run.untilStderr(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    await run.untilStderr(/pass \S+ \(repair\) finished/);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/api/datasets`)).status).toBe(401);
    const res = await fetch(`${base}/api/datasets`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const { datasets } = (await res.json()) as { datasets: { name: string; lastRun: { status: string } }[] };
    expect(datasets.map((d) => d.name)).toEqual(["items"]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^concord_repairs_total\{dataset="items",replica="b",outcome="applied"\} [1-9]/m);

    run.child.kill("SIGTERM");
    const done = await run.done;
    expect(done.code).toBe(0);
    expect(done.stderr).toMatch(/SIGTERM: finishing the batches in flight and checkpointing\n.*stopped\n$/);
    expect(done.stderr).not.toContain(TOKEN);
  });

  it("refuses to start without a token, and with a bad --listen", async () => {
    const dir = tempDir();
    seededItems(dir);
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
    const env = { CONCORD_TOKEN: "" };
    expect(expectOneLineError(await runConcord(["serve", "-c", config], { env }))).toBe(
      "concord: serve needs an API token: set CONCORD_TOKEN (at least 16 characters) or serve.token in the config, or declare serve.tokens (concord token hash)",
    );
    expect(
      expectOneLineError(
        await runConcord(["serve", "-c", config, "--listen", "nowhere"], { env: { CONCORD_TOKEN: TOKEN } }),
      ),
    ).toBe('concord: --listen: expected HOST:PORT such as 127.0.0.1:7070, got "nowhere"');
  });

  it("exits 2 naming the address when it cannot listen, with its state store closed", async () => {
    const dir = tempDir();
    seededItems(dir);
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = taken.address() as { port: number };
      // runConcord fails the test if state.db or a replica is still open when serve has returned.
      const r = await runConcord(["serve", "-c", config, "--listen", `127.0.0.1:${port}`], {
        env: { CONCORD_TOKEN: TOKEN },
      });
      expect(expectOneLineError(r)).toBe(`concord: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
