/**
 * The bundled CLI (dist/bundle/, CommonJS: scripts/bundle-cli.mjs) loads every chunk with require(). A chunk
 * that imports an ES-module-only package at its top (zongji, say) would fail only when a command first loads
 * it, with ERR_REQUIRE_ESM on the Node 20 releases before 20.19 (which `engines` allows; 20.19 loads such a
 * package by require() by default). Every chunk is loaded here, in a process of its own that forbids require()
 * of an ES module as those releases do, so such an import fails the build's tests instead of a user's command.
 */
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers.js";

const BUNDLE = join(REPO, "dist", "bundle");

describe("the bundled CLI's chunks", () => {
  it("each loads with require(), without require() of ES modules (Node 20 before 20.19)", async () => {
    const chunks = readdirSync(BUNDLE).filter((f) => f.endsWith(".cjs"));
    expect(chunks).toContain("main.cjs");
    const script = `for (const f of ${JSON.stringify(chunks)}) { try { require(${JSON.stringify(BUNDLE)} + "/" + f); } catch (e) { console.log(f + ": " + (e.code ?? "") + " " + String(e.message).split("\\n")[0]); } }`;
    const failed = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["--no-experimental-require-module", "-e", script],
        { cwd: REPO },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    expect(failed).toBe("");
  });
});
