/** Keys, values and reasons from a store are printed inert: no escape sequence reaches the terminal. */
import { join } from "node:path";
import { describe, it } from "vitest";
import { makeSqliteTable, runConcord, tempDir, writeConfig } from "./helpers.js";

const HOSTILE_KEY = "k\u001b]0;owned\u0007\u001b[2J\nforged: replicas agree";
// biome-ignore lint/suspicious/noControlCharactersInRegex: exactly the characters that must never be printed raw
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const HOSTILE_NAME = "n\u001b[31m\u202eevil";

describe.concurrent("terminal injection", () => {
  it("scan, plan and escalations print control and bidi characters as escapes", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const ddl = "code TEXT PRIMARY KEY, name TEXT NOT NULL";
    makeSqliteTable(join(dir, "a.db"), "t", ddl, [
      [HOSTILE_KEY, HOSTILE_NAME],
      ["plain", "x"],
    ]);
    makeSqliteTable(join(dir, "b.db"), "t", ddl, [["plain", "y"]]);
    const config = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  t:
    key: code
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
`,
    );
    for (const args of [["scan"], ["plan"], ["repair"], ["escalations", "list"]]) {
      const r = await runConcord([...args, "-c", config]);
      const out = r.stdout + r.stderr;
      expect(out, args.join(" ")).not.toMatch(UNSAFE);
      // The key's newline does not start a line of its own.
      expect(out, args.join(" ")).not.toMatch(/^forged/m);
      if (args[0] !== "escalations")
        expect(out, args.join(" ")).toContain("k\\x1b]0;owned\\x07\\x1b[2J\\nforged");
    }
    const list = await runConcord(["escalations", "list", "-c", config]);
    expect(list.stdout).toContain("k\\x1b]0;owned");
  });
});
