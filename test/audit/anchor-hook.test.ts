/** Commands that append audit entries sign the log's head themselves: a later truncation is caught. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { makeItemsReplicas, writeItemsConfig } from "../support/sqlite-items.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Output nobody reads (the tests check state, not text). */
function quiet() {
  return { stdout: new PassThrough().resume(), stderr: new PassThrough().resume() };
}

describe("anchoring after a run", () => {
  it("repair appends a signed anchor of the head; deleting the newest entries then fails verify (exit 3)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-anchor-"));
    dirs.push(dir);
    makeItemsReplicas(dir, { rows: 20, stale: [5, 10, 15, 20] });
    const config = writeItemsConfig(dir, {
      top: "audit:\n  anchor:\n    file: anchors.jsonl\n    privateKey: keys/audit-anchor.key\n    publicKey: keys/audit-anchor.pub\n",
    });
    expect(await main(["node", "concord", "audit", "keygen", "--dir", join(dir, "keys")], quiet())).toBe(0);
    expect(existsSync(join(dir, "anchors.jsonl"))).toBe(false);
    expect(await main(["node", "concord", "repair", "-c", config], quiet())).toBe(0);
    const anchors = readFileSync(join(dir, "anchors.jsonl"), "utf8").trim().split("\n");
    expect(anchors).toHaveLength(1);
    const state = new Database(join(dir, "state.db"));
    const { n } = state.prepare("SELECT MAX(seq) AS n FROM audit").get() as { n: number };
    expect(JSON.parse(anchors[0]!).seq).toBe(n);
    expect(await main(["node", "concord", "audit", "verify", "-c", config], quiet())).toBe(0);
    // Truncate the tail: the chain that is left still links, but the anchor vouches for more.
    state.prepare("DELETE FROM audit WHERE seq > ?").run(n - 2);
    state.close();
    expect(await main(["node", "concord", "audit", "verify", "-c", config], quiet())).toBe(3);
  });
});
