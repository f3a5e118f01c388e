/**
 * `concord token hash` and a real `concord serve` with tokens declared by hash: SIGHUP reads the config
 * again (a bad file is refused in one line and the running config kept), and roles hold over HTTP.
 */
import { Readable, Writable } from "node:stream";
import { describe, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { itemsConfig, SEEDED_POLICY, seededItems, spawnConcord, tempDir, writeConfig } from "./helpers.js";

/** Runs the CLI in-process with `input` piped on stdin (not a terminal). */
async function withStdin(args: string[], input: string | undefined) {
  // No input: a terminal nobody types on.
  const terminal = () => Object.assign(Readable.from([]), { isTTY: true as const });
  let out = "";
  let err = "";
  const sink = (write: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, done) {
        write(String(chunk));
        done();
      },
    });
  const code = await main(["node", "concord", ...args], {
    stdout: sink((s) => {
      out += s;
    }),
    stderr: sink((s) => {
      err += s;
    }),
    stdin: input === undefined ? terminal : () => Readable.from([input]),
  });
  return { code, stdout: out, stderr: err };
}

const ADMIN = "serve-reload-admin-token-0123456789";
const VIEWER = "serve-reload-viewer-token-0123456789";

describe("token hash and SIGHUP", () => {
  it("hashes a token read on stdin, never printing it, and makes new ones", async ({ expect }) => {
    const r = await withStdin(["token", "hash"], `${ADMIN}\n`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(r.stdout).not.toContain(ADMIN);
    const salted = await withStdin(["token", "hash", "--scrypt", "--json"], ADMIN);
    const doc = JSON.parse(salted.stdout) as { schemaVersion: number; hash: string };
    expect(doc.hash).toMatch(/^scrypt:[0-9a-f]{32}:[0-9a-f]{64}$/);
    const made = await withStdin(["token", "hash", "--generate", "--json"], undefined);
    const fresh = JSON.parse(made.stdout) as { token: string; hash: string };
    expect(fresh.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const again = await withStdin(["token", "hash"], fresh.token);
    expect(again.stdout.trim()).toBe(fresh.hash);
    const short = await withStdin(["token", "hash"], "short\n");
    expect([short.code, short.stderr]).toEqual([
      2,
      "concord: token hash: a token needs at least 16 characters (read on stdin)\n",
    ]);
    const none = await withStdin(["token", "hash"], undefined);
    expect(none.code).toBe(2);
  });

  it("refuses a token written in plain text in the config", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(
      dir,
      itemsConfig(SEEDED_POLICY).replace(
        "state: sqlite:state.db\n",
        `state: sqlite:state.db\nserve: { tokens: { ops: { role: operator, token: "${ADMIN}" } } }\n`,
      ),
    );
    const r = await withStdin(["serve", "-c", config], undefined);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "concord: serve.tokens.ops.token: never write a token in plain text: declare its hash (concord token hash)\n",
    );
    expect(r.stderr).not.toContain(ADMIN);
  });

  it("reloads on SIGHUP: a bad file is refused in one line, a good one applied; roles hold", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const hash = async (t: string) => (await withStdin(["token", "hash"], t)).stdout.trim();
    const tokens = `serve: { listen: "127.0.0.1:0", tokens: { root: { role: admin, hash: "${await hash(ADMIN)}" }, eyes: { role: viewer, hash: "${await hash(VIEWER)}" } } }\n`;
    const text = (policy: string) =>
      itemsConfig(policy, "    schedule: 1h\n").replace(
        "state: sqlite:state.db\n",
        `state: sqlite:state.db\n${tokens}`,
      );
    const config = writeConfig(dir, text(SEEDED_POLICY));
    const run = spawnConcord(["serve", "-c", config], { env: { CONCORD_TOKEN: undefined }, onTestFinished });
    const base = (await run.untilStderr(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    await run.untilStderr(/pass \S+ \(repair\) finished/);
    const as = (token: string, method = "GET", path = "/api/whoami") =>
      fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(method === "POST" ? { "content-type": "application/json" } : {}),
        },
        ...(method === "POST" ? { body: "{}" } : {}),
      });
    expect(await (await as(VIEWER)).json()).toEqual({ actor: "token:eyes", role: "viewer" });
    expect((await as(VIEWER, "POST", "/api/datasets/items/scan")).status).toBe(403);

    writeConfig(dir, text("resolve: sideways"));
    run.child.kill("SIGHUP");
    const refused = (await run.untilStderr(/reload refused[^\n]*\n/))[0];
    expect(refused).toMatch(/reload refused, the running config is kept: .*policy\.resolve: expected one of/);
    expect((await as(ADMIN)).status).toBe(200);

    writeConfig(dir, text(`${SEEDED_POLICY}\nlimits: { maxRepairs: 1000 }`));
    run.child.kill("SIGHUP");
    expect((await run.untilStderr(/config reloaded by signal:SIGHUP: ([^\n]*)\n/))[1]).toBe("items (policy)");

    run.child.kill("SIGTERM");
    const done = await run.done;
    expect(done.code).toBe(0);
    expect(done.stderr).not.toContain(ADMIN);
  });
});
