/**
 * A process stopped while it creates the SQLite state file (a SIGTERM during start-up, before any handler is
 * installed, kills at once) leaves no empty or half-made state file behind: the file is made whole beside its
 * place and linked in. Without that, the next `audit verify` called the empty file a truncated audit log
 * (exit 3). The next run removes what the stopped one left and creates the file as usual.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { BIN, execConcord, itemsConfig, makeItemsReplicas, tempDir, writeConfig } from "./helpers.js";

/** A preload that sends SIGTERM to its own process the moment better-sqlite3 opens a file under `dir`. */
function killOnOpen(dir: string, under: string): string {
  const hook = join(dir, "kill-on-open.cjs");
  writeFileSync(
    hook,
    `const Module = require("node:module");
const load = Module._load;
let wrapped;
Module._load = function (request) {
  const m = load.apply(this, arguments);
  if (request !== "better-sqlite3") return m;
  wrapped ??= Object.assign(function (path, opts) {
    const db = new m(path, opts);
    if (String(path).startsWith(${JSON.stringify(under)})) process.kill(process.pid, "SIGTERM");
    return db;
  }, m);
  wrapped.prototype = m.prototype;
  return wrapped;
};
`,
  );
  return hook;
}

function run(
  args: string[],
  cwd: string,
  preload: string,
): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ["--require", preload, BIN, ...args], { cwd, stdio: "ignore" });
    child.on("exit", (code, signal) => done({ code, signal }));
  });
}

describe.concurrent("state file creation", () => {
  it("a SIGTERM while the state file is being created leaves none half-made", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, { rows: 20 });
    const stateDir = join(dir, "st");
    const config = writeConfig(dir, itemsConfig().replace("sqlite:state.db", "sqlite:st/state.db"));
    const preload = killOnOpen(dir, stateDir);
    // escalations resolve opens the state store before it installs any signal handler.
    const killed = await run(["escalations", "resolve", "nope", "--reject", "-c", config], dir, preload);
    expect(killed).toEqual({ code: null, signal: "SIGTERM" });
    const state = join(stateDir, "state.db");
    if (existsSync(state)) expect(statSync(state).size).toBeGreaterThan(0);
    const verify = await execConcord(["audit", "verify", "-c", config], { cwd: dir });
    expect(verify.stdout).not.toMatch(/is empty/);
    // The next run creates the state file and removes what the stopped one left.
    const scan = await execConcord(["scan", "-c", config], { cwd: dir });
    expect(scan.code, scan.stderr).toBe(0);
    expect(readdirSync(stateDir).filter((f) => f !== "state.db" && !/^state\.db-(wal|shm)$/.test(f))).toEqual(
      [],
    );
    const after = await execConcord(["audit", "verify", "-c", config], { cwd: dir });
    expect(after.code, after.stdout).toBe(0);
  });
});
