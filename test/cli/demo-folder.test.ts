/**
 * `demo --dir` deletes primary.db, replica.db and state.db in its folder and writes concord.yaml: in a
 * folder holding those of no demo (`demo --dir .` in a project) it refuses, naming them, and leaves them; an
 * earlier demo's folder is made again.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { expectOneLineError, runConcord, tempDir } from "./helpers.js";

describe.concurrent("demo --dir", () => {
  it("refuses a folder holding a config or state file of no demo, leaving them", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const mine = "state: sqlite:state.db\ndatasets: {}\n# the project's own config\n";
    writeFileSync(join(dir, "concord.yaml"), mine);
    writeFileSync(join(dir, "state.db"), "the project's audit log");
    const refused = await runConcord(["demo", "--dir", "."], { cwd: dir });
    expect(expectOneLineError(refused, expect)).toBe(
      "concord: demo --dir .: holds concord.yaml of no demo, which the demo would replace: choose an empty folder (or an earlier demo's)",
    );
    expect(readFileSync(join(dir, "concord.yaml"), "utf8")).toBe(mine);
    expect(readFileSync(join(dir, "state.db"), "utf8")).toBe("the project's audit log");

    // No config, but a state file of no demo: refused too.
    mkdirSync(join(dir, "only-state"));
    writeFileSync(join(dir, "only-state", "state.db"), "another audit log");
    const stateOnly = await runConcord(["demo", "--dir", "only-state"], { cwd: dir });
    expect(expectOneLineError(stateOnly, expect)).toBe(
      "concord: demo --dir only-state: holds state.db of no demo, which the demo would replace: choose an empty folder (or an earlier demo's)",
    );
    expect(readFileSync(join(dir, "only-state", "state.db"), "utf8")).toBe("another audit log");
  });

  it("makes an earlier demo's folder again", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const first = await runConcord(["demo", "--dir", "d"], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    const second = await runConcord(["demo", "--dir", "d"], { cwd: dir });
    expect(second.code, second.stderr).toBe(0);
    expect(existsSync(join(dir, "d", "state.db"))).toBe(true);
  });
});
