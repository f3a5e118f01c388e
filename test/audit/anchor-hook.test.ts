/** Commands that append audit entries sign the log's head themselves: a later truncation is caught. */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { verifyAudit } from "../../src/audit/verify-audit.js";
import { writeAuditAnchor } from "../../src/audit/write-audit-anchor.js";
import { main } from "../../src/cli/main.js";
import type { AuditConfig } from "../../src/config/load-config.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";
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

describe("anchoring beside another process", () => {
  // Two processes finishing at once each anchor the head they read. One that read its head, then found the
  // other's newer anchor already appended, took the log for cut short ("refusing to anchor: the log ends at
  // entry 1, and the last anchor vouches for entry 2", exit 3 from a repair that did nothing wrong).
  it("anchors the head it read when another process anchored a newer head meanwhile, and verify passes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-anchor-"));
    dirs.push(dir);
    const keys = generateKeyPairSync("ed25519");
    const audit: AuditConfig = {
      anchor: {
        file: join(dir, "anchors.jsonl"),
        privateKey: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        publicKey: keys.publicKey.export({ type: "spki", format: "pem" }).toString(),
      },
    };
    const store = SqliteStateStore.open(join(dir, "state.db"));
    const entry = (n: number) => ({
      ts: n,
      runId: "r",
      type: "guard" as const,
      dataset: "d",
      key: null,
      data: { n },
    });
    await store.appendAudit([entry(1)]);
    let other = false;
    // This process reads the head (entry 1); the other then appends entry 2 and anchors it, before this one
    // looks at the anchor log.
    const beside = new Proxy(store, {
      get(target, name) {
        const value = Reflect.get(target, name, target);
        if (name !== "readAudit" || typeof value !== "function") return value;
        return async (...args: Parameters<SqliteStateStore["readAudit"]>) => {
          const read = await value.apply(target, args);
          if (!other && args[0]?.newest) {
            other = true;
            await store.appendAudit([entry(2)]);
            await writeAuditAnchor(store, audit, 2);
          }
          return read;
        };
      },
    });
    const result = await writeAuditAnchor(beside, audit, 3);
    expect(other).toBe(true);
    expect(result?.anchor.seq).toBe(1);
    const seqs = readFileSync(audit.anchor!.file, "utf8")
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual([2, 1]);
    expect(await verifyAudit(store, audit)).toMatchObject({ ok: true, count: 2, anchors: { anchors: 2 } });
    await store.close();
  });
});
