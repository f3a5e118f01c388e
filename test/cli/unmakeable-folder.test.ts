/**
 * A folder Concord must create where mkdir answers ENOENT although the parent exists (under /proc): Node's
 * recursive mkdir spins there forever, at full CPU and deaf to SIGTERM; each command must fail in one line.
 * Run as child processes killed with SIGKILL after a deadline, so a regression fails instead of hanging.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, it } from "vitest";
import {
  BIN,
  expectOneLineError,
  itemsConfig,
  makeItemsReplicas,
  type RunResult,
  tempDir,
  writeConfig,
} from "./helpers.js";

function run(args: readonly string[], cwd: string): Promise<RunResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd, timeout: 20_000, killSignal: "SIGKILL" },
      (err, stdout, stderr) =>
        done({ code: err ? ((err.code as number | undefined) ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(!existsSync("/proc/self"))("a folder that cannot be made under /proc", () => {
  it("state, demo and audit keygen fail in one line instead of spinning forever", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, { rows: 5 });
    const config = writeConfig(
      dir,
      itemsConfig().replace("sqlite:state.db", "sqlite:/proc/concord-x/state.db"),
    );
    const [state, demo, keygen] = await Promise.all([
      run(["scan", "-c", config], dir),
      run(["demo", "--dir", "/proc/concord-x"], dir),
      run(["audit", "keygen", "--dir", "/proc/concord-x/keys"], dir),
    ]);
    expect(expectOneLineError(state, expect)).toBe(
      "concord: state sqlite:/proc/concord-x/state.db: ENOENT: no such file or directory, mkdir '/proc/concord-x'",
    );
    expect(expectOneLineError(demo, expect)).toMatch(
      /^concord: demo --dir \/proc\/concord-x: cannot create the demo there \(ENOENT/,
    );
    expect(expectOneLineError(keygen, expect)).toMatch(
      /^concord: keygen --dir \/proc\/concord-x\/keys: ENOENT/,
    );
  }, 30_000);
});
