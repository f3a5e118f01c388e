/**
 * `main(argv, io)` in-process: a command reads and writes only through the io it is given (streams,
 * environment, working directory) and leaves the process as it found it, so that several can run at once.
 */
import { Writable } from "node:stream";
import { describe, it } from "vitest";
import { main } from "../../src/cli/main.js";
import {
  expectOneLineError,
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  makeSqliteTable,
  parseJson,
  REPO,
  runConcord,
  SEEDED_POLICY,
  seededItems,
  tempDir,
  writeConfig,
} from "./helpers.js";

/** A stream that keeps its text; `tty` makes it look like a terminal 100 columns wide. */
function sink(tty = false): Writable & { text: string; isTTY?: boolean; columns?: number } {
  const out = Object.assign(
    new Writable({
      decodeStrings: false,
      write(chunk, _encoding, done) {
        out.text += String(chunk);
        done();
      },
    }),
    { text: "" },
  );
  return tty ? Object.assign(out, { isTTY: true, columns: 100 }) : out;
}

describe.concurrent("main(argv, io)", () => {
  it("resolves -c against io.cwd and ${VAR} from io.env, never the process's", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    writeConfig(dir, itemsConfig(SEEDED_POLICY).replace("sqlite:b.db", "sqlite:${CONCORD_TEST_IO_B}"));
    expect(process.env.CONCORD_TEST_IO_B).toBeUndefined();
    const r = await runConcord(["scan", "--json", "-c", "concord.yaml"], {
      cwd: dir,
      env: { CONCORD_TEST_IO_B: "b.db" },
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(parseJson(r).datasets[0]!.replicas).toEqual({ a: { rows: 299 }, b: { rows: 300 } });
    // The same file, relative to the repository (the process's working directory here): not found.
    const elsewhere = await runConcord(["scan", "-c", "concord.yaml"], { cwd: REPO });
    expect(expectOneLineError(elsewhere, expect)).toMatch(/^concord: concord\.yaml: cannot read config file/);
  });

  it("runs commands in different directories at once, each with its own result", async ({
    expect,
    onTestFinished,
  }) => {
    const diverged = tempDir(onTestFinished);
    seededItems(diverged);
    writeConfig(diverged, itemsConfig(SEEDED_POLICY));
    const equal = tempDir(onTestFinished);
    makeSqliteTable(`${equal}/a.db`, "items", ITEMS_DDL, itemRows(50));
    makeSqliteTable(`${equal}/b.db`, "items", ITEMS_DDL, itemRows(50));
    writeConfig(equal, itemsConfig());
    const [one, two] = await Promise.all([
      runConcord(["scan", "--json", "-c", "concord.yaml"], { cwd: diverged }),
      runConcord(["scan", "--json", "-c", "concord.yaml"], { cwd: equal }),
    ]);
    expect([one.code, one.stderr, two.code, two.stderr]).toEqual([1, "", 0, ""]);
    expect(parseJson(one).datasets[0]!.replicas.a).toEqual({ rows: 299 });
    expect(parseJson(two).datasets[0]!.divergences).toEqual([]);
  });

  it("writes --version, --help and usage errors to io's streams", async ({ expect }) => {
    const run = async (argv: string[]) => {
      const stdout = sink();
      const stderr = sink();
      const code = await main(["node", "concord", ...argv], { stdout, stderr, env: {}, cwd: REPO });
      return { code, stdout: stdout.text, stderr: stderr.text };
    };
    expect(await run(["--version"])).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: concord \[options\] \[command\]\n/);
    expect(help.stderr).toBe("");
    expect(help.stdout).not.toContain("\x1b[");
    // Colour: bold headings only when asked for (or on a colour terminal), NO_COLOR over FORCE_COLOR.
    const coloured = async (env: Record<string, string>) => {
      const stdout = sink();
      await main(["node", "concord", "scan", "--help"], { stdout, stderr: sink(), env, cwd: REPO });
      return stdout.text;
    };
    const forced = await coloured({ FORCE_COLOR: "1" });
    expect(forced).toContain("\x1b[1mUsage:\x1b[22m concord scan");
    expect(forced).toContain("\x1b[1mExit codes:\x1b[22m\n");
    expect(await coloured({ FORCE_COLOR: "1", NO_COLOR: "1" })).not.toContain("\x1b[");
    const bad = await run(["scan", "--jsn"]);
    expect(bad).toEqual({ code: 2, stdout: "", stderr: expect.stringMatching(/^concord: .*--jsn.*\n$/) });
  });

  it("leaves process.exitCode, process.env and the working directory as they were", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    writeConfig(dir, itemsConfig(SEEDED_POLICY));
    const processState = () => ({
      exitCode: process.exitCode,
      env: { ...process.env },
      cwd: process.cwd(),
      sigint: process.listenerCount("SIGINT"),
    });
    const before = processState();
    const results = await Promise.all([
      runConcord(["repair", "-c", "concord.yaml"], { cwd: dir, env: { CONCORD_TEST_IO_MARK: "x" } }),
      runConcord(["scan", "-c", "missing.yaml"], { cwd: dir }),
    ]);
    expect(results.map((r) => r.code)).toEqual([1, 2]);
    expect(processState()).toEqual(before);
  });

  it("draws the progress bar on a terminal's stderr, clears it, and keeps it off stdout", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    makeSqliteTable(`${dir}/a.db`, "items", ITEMS_DDL, itemRows(3000));
    makeSqliteTable(`${dir}/b.db`, "items", ITEMS_DDL, itemRows(3000));
    const config = writeConfig(dir, itemsConfig());
    const stdout = sink();
    const stderr = sink(true);
    const code = await main(["node", "concord", "scan", "-c", config], {
      stdout,
      stderr,
      env: {},
      cwd: dir,
    });
    expect(code).toBe(0);
    expect(stderr.text).toMatch(/^\ritems {2}\[[#-]{24}\] +\d+% {2}[\d,]+\/~?[\d,]+ rows/);
    expect(stderr.text).toContain(" rows\x1b[K");
    expect(stderr.text).toContain(`[${"#".repeat(24)}] 100%`);
    expect(stderr.text.endsWith("\r\x1b[K")).toBe(true);
    expect(stdout.text).not.toContain("\r");
    expect(stdout.text).toContain("items");
  });
});
