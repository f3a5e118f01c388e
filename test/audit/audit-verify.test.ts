/**
 * `concord audit verify | anchor | keygen` in-process against a real SQLite state store: signed anchors
 * make truncation and rewrites with recomputed hashes detectable, the ledger is reconciled with the audit,
 * and only `serve` needs the serve token.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, describe, expect, it, vi } from "vitest";
import { writeAuditAnchor } from "../../src/audit/write-audit-anchor.js";
import { runAuditAnchor, runAuditKeygen, runAuditShow, runAuditVerify } from "../../src/cli/audit.js";
import type { CliIo } from "../../src/cli/io.js";
import { hashAuditEntry } from "../../src/core/audit-chain.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { LedgerEntry } from "../../src/state/state-store.js";
import { POSTGRES, TEST_PREFIX } from "../support/services.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

/** The CLI's surroundings with output captured on `stdout` (and `stderr`). */
function io(stdout: PassThrough, stderr: PassThrough = new PassThrough()): CliIo {
  return { stdout, stderr, env: process.env, cwd: process.cwd() };
}

interface Setup {
  readonly dir: string;
  readonly config: string;
  readonly state: string;
  readonly anchors: string;
}

/** A config (with anchoring unless `anchored: false`) over a state store holding `repairs` settled repairs. */
async function setup(options: { anchored?: boolean; extra?: string; repairs?: number } = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), "concord-audit-"));
  dirs.push(dir);
  const keys = capture();
  if (options.anchored !== false) await runAuditKeygen({ dir: join(dir, "keys") }, io(keys.stream));
  const anchoring =
    options.anchored === false
      ? ""
      : "audit:\n  anchor:\n    file: anchors/audit.jsonl\n    privateKey: keys/audit-anchor.key\n    publicKey: keys/audit-anchor.pub\n";
  const config = join(dir, "concord.yaml");
  writeFileSync(
    config,
    `state: sqlite:state.db\n${anchoring}${options.extra ?? ""}datasets:\n  items:\n    key: id\n    replicas:\n      a: { url: sqlite:a.db, table: items }\n      b: { url: sqlite:b.db, table: items }\n`,
  );
  const state = join(dir, "state.db");
  const store = await openStateStore(`sqlite:${state}`);
  try {
    await store.appendAudit([
      { ts: 1, runId: "r1", type: "detected", dataset: "items", key: '["1"]', data: { class: "stale" } },
    ]);
    const n = options.repairs ?? 3;
    const entries = Array.from({ length: n }, (_, i) => ledgerEntry(`rep${i}`, String(i)));
    await store.recordRepairs(entries);
    await store.settleRepairs(
      entries.map((e) => ({
        id: e.id,
        key: e.key,
        runId: "r1",
        outcome: "applied",
        attempts: 1,
        updatedAt: 2,
      })),
      entries.map((e) => ({
        ts: 2,
        runId: "r1",
        type: "applied",
        dataset: "items",
        key: JSON.stringify(e.key),
        data: { repair: e.id, target: "b" },
      })),
    );
  } finally {
    await store.close();
  }
  return { dir, config, state, anchors: join(dir, "anchors", "audit.jsonl") };
}

function ledgerEntry(id: string, key: string): LedgerEntry {
  return {
    id,
    runId: "r1",
    dataset: "items",
    key: [key],
    target: "b",
    expected: null,
    nextFingerprint: "f".repeat(16),
    before: null,
    after: ["x"],
    outcome: "pending",
    attempts: 1,
    updatedAt: 1,
  };
}

async function verify(s: Setup, extra: { json?: boolean; anchors?: string } = {}) {
  const out = capture();
  const code = await runAuditVerify({ config: s.config, ...extra }, io(out.stream));
  return { code, stdout: out.text() };
}

async function anchor(s: Setup) {
  const out = capture();
  const err = capture();
  const code = await runAuditAnchor({ config: s.config }, io(out.stream, err.stream));
  return { code, stdout: out.text(), stderr: err.text() };
}

function sql(path: string, text: string): void {
  const db = new Database(path);
  try {
    db.exec(text);
  } finally {
    db.close();
  }
}

/** Rewrites entries from `fromSeq` on with new data and recomputed hashes, linked to the entry before. */
function rewriteFrom(path: string, fromSeq: number): void {
  const db = new Database(path);
  try {
    const rows = db.prepare("SELECT * FROM audit WHERE seq >= ? ORDER BY seq").all(fromSeq) as {
      seq: number;
      ts: number;
      run_id: string | null;
      type: string;
      dataset: string | null;
      key: string | null;
    }[];
    let prevHash = (db.prepare("SELECT hash FROM audit WHERE seq = ?").get(fromSeq - 1) as { hash: string })
      .hash;
    for (const r of rows) {
      const content = {
        seq: r.seq,
        ts: r.ts,
        runId: r.run_id,
        type: "detected" as const,
        dataset: r.dataset,
        key: r.key,
        data: { forged: true },
      };
      const hash = hashAuditEntry(prevHash, content);
      db.prepare("UPDATE audit SET type = ?, data = ?, prev_hash = ?, hash = ? WHERE seq = ?").run(
        "detected",
        JSON.stringify(content.data),
        prevHash,
        hash,
        r.seq,
      );
      prevHash = hash;
    }
  } finally {
    db.close();
  }
}

const INTACT = "Audit log intact: 4 entries, every hash chains to the one before.\n";
const LEDGER = "Ledger agrees: 3 settled repairs, each with its audit entry.\n";

describe("concord audit verify: the ledger against the audit", () => {
  it("refuses --anchors when the config has no audit.anchor to check them with (not ignored)", async () => {
    const s = await setup({ anchored: false });
    await expect(verify(s, { anchors: join(s.dir, "anchors.jsonl") })).rejects.toThrow(
      `--anchors ${join(s.dir, "anchors.jsonl")}: ${s.config} has no audit.anchor (its publicKey checks the anchors' signatures)`,
    );
    expect((await verify(s)).code).toBe(0);
  });

  it("passes when every settled repair has its audit entry, and says the log is not anchored", async () => {
    const s = await setup({ anchored: false });
    expect(await verify(s)).toEqual({
      code: 0,
      stdout: `${INTACT}${LEDGER}Not anchored: removing the newest entries, or rewriting the log with recomputed hashes, would go unseen (configure audit.anchor).\n`,
    });
  });

  it("fails (exit 3) when the state file is gone, instead of creating an empty log it reports intact", async () => {
    const s = await setup({ anchored: false, repairs: 2 });
    unlinkSync(s.state);
    const out = capture();
    expect(await runAuditVerify({ config: s.config }, io(out.stream))).toBe(3);
    expect(out.text()).toBe(
      `Audit log BROKEN: there is no audit log: the state file ${s.state} does not exist (deleted, or nothing has run with this config)\n`,
    );
    expect(existsSync(s.state)).toBe(false);
  });

  it("show and anchor on a state file that is gone say there is no log, and create none", async () => {
    const s = await setup({ anchored: true, repairs: 1 });
    unlinkSync(s.state);
    for (const run of [runAuditShow, runAuditAnchor]) {
      const out = capture();
      await expect(run({ config: s.config }, io(out.stream))).rejects.toThrow(
        `there is no audit log: the state file ${s.state} does not exist (deleted, or nothing has run with this config)`,
      );
      expect(out.text()).toBe("");
      expect(existsSync(s.state)).toBe(false);
    }
  });

  it("fails (exit 3) when the state file was truncated to nothing, and writes nothing into it", async () => {
    const s = await setup({ anchored: false, repairs: 2 });
    // SQLite takes a zero-byte file for a new database: opening it would write an empty log, reported intact.
    truncateSync(s.state, 0);
    const out = capture();
    expect(await runAuditVerify({ config: s.config }, io(out.stream))).toBe(3);
    expect(out.text()).toBe(
      `Audit log BROKEN: there is no audit log: the state file ${s.state} is empty (truncated, or nothing has run with this config)\n`,
    );
    expect(statSync(s.state).size).toBe(0);
  });

  it("fails (exit 3), not 2, when the state file is damaged (cut short), naming what SQLite found", async () => {
    const s = await setup({ anchored: false, repairs: 2 });
    truncateSync(s.state, Math.floor(statSync(s.state).size / 2));
    const out = capture();
    expect(await runAuditVerify({ config: s.config }, io(out.stream))).toBe(3);
    expect(out.text()).toBe(
      `Audit log BROKEN: the state store cannot be read: state sqlite:${s.state}: database disk image is malformed\n`,
    );
  });

  it("fails (exit 3) when the PostgreSQL state schema is gone, and creates nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-audit-"));
    dirs.push(dir);
    const schema = `${TEST_PREFIX}hm_gone_${process.pid}`;
    // A password in the URL (the test server may not need one): the report must not show it.
    const server = new URL(POSTGRES.url);
    if (!server.password) server.password = "s3cret";
    server.searchParams.set("schema", schema);
    const url = server.toString();
    const config = join(dir, "concord.yaml");
    writeFileSync(
      config,
      `state: "${url}"\ndatasets:\n  items:\n    key: id\n    replicas:\n      a: { url: sqlite:a.db, table: items }\n      b: { url: sqlite:b.db, table: items }\n`,
    );
    const admin = new pg.Client({ connectionString: POSTGRES.url });
    await admin.connect();
    const exists = async () =>
      (await admin.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])).rowCount === 1;
    try {
      // A store that held a log, its schema then dropped.
      const store = await openStateStore(url);
      await store.appendAudit([
        { ts: 1, runId: "r1", type: "detected", dataset: "items", key: null, data: {} },
      ]);
      await store.close();
      // One connection: the check that the log exists runs on the store's own pool, not a client of its own.
      const connects = vi.spyOn(pg.Client.prototype, "connect");
      const held = capture();
      try {
        expect(await runAuditVerify({ config }, io(held.stream))).toBe(0);
        expect(connects).toHaveBeenCalledTimes(1);
      } finally {
        connects.mockRestore();
      }
      expect(held.text()).toContain("Audit log intact: 1 entries");
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);

      const out = capture();
      expect(await runAuditVerify({ config }, io(out.stream))).toBe(3);
      const store_ = `postgres://${server.username}:***@${server.host}${server.pathname}?schema=${schema}`;
      expect(out.text()).toBe(
        `Audit log BROKEN: there is no audit log: the state schema "${schema}" of ${store_} does not exist (deleted, or nothing has run with this config)\n`,
      );
      expect(out.text()).not.toContain(server.password);
      expect(await exists()).toBe(false);

      const json = capture();
      expect(await runAuditVerify({ config, json: true }, io(json.stream))).toBe(3);
      expect(JSON.parse(json.text())).toMatchObject({ ok: false });
      expect(await exists()).toBe(false);
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  });

  it("fails (exit 3) when the ledger holds applied repairs the audit does not record", async () => {
    // The reproduction: 12 applied repairs in the ledger against 2 applied audit entries.
    const s = await setup({ anchored: false, repairs: 2 });
    const store = await openStateStore(`sqlite:${s.state}`);
    await store.recordRepairs(
      Array.from({ length: 10 }, (_, i) => ({
        ...ledgerEntry(`extra${i}`, `x${i}`),
        outcome: "applied" as const,
      })),
    );
    await store.close();
    expect(await verify(s)).toEqual({
      code: 3,
      stdout:
        'Audit log BROKEN: the ledger says repair extra0 (items key ["x0"] on b) is applied, but no audit entry records it\n',
    });
  });

  it("fails when the audit records a repair the ledger does not hold", async () => {
    const s = await setup({ anchored: false });
    sql(s.state, "DELETE FROM ledger WHERE id = 'rep1'");
    const r = await verify(s, { json: true });
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({
      schemaVersion: 1,
      ok: false,
      count: 4,
      problem: "audit entry 3 records repair rep1 as applied, but the ledger does not hold that repair",
    });
  });
});

describe("concord audit anchor and verify: signed anchors", () => {
  it("anchors the head, skips an unchanged head, and verifies every anchor", async () => {
    const s = await setup();
    const first = await anchor(s);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(
      /^Anchored: entry 4 \(hash [0-9a-f]{16}…, .*, key [0-9a-f]{16}\) in .*audit\.jsonl\.\n$/,
    );
    expect((await anchor(s)).stdout).toMatch(/^Already anchored: entry 4 /);
    expect(readFileSync(s.anchors, "utf8").trim().split("\n")).toHaveLength(1);

    const r = await verify(s);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^${INTACT}${LEDGER}Anchored: 1 signed anchor in ${s.anchors.replaceAll(".", "\\.")} match; the latest vouches for entry 4 \\(.*\\)\\.\\n$`,
      ),
    );

    // More entries: the latest anchor still matches, and says how many came since.
    const store = await openStateStore(`sqlite:${s.state}`);
    await store.appendAudit([{ ts: 3, runId: "r2", type: "guard", dataset: "items", key: null, data: {} }]);
    await store.close();
    expect((await verify(s)).stdout).toMatch(/vouches for entry 4 \(.*\), 1 entry since\.\n$/);
    expect((await anchor(s)).stdout).toMatch(/^Anchored: entry 5 /);
    const json = JSON.parse((await verify(s, { json: true })).stdout);
    expect(json).toMatchObject({
      ok: true,
      count: 5,
      ledger: { settled: 3, outcomes: 3 },
      anchors: { anchors: 2, latest: { seq: 5 }, unanchored: 0 },
    });
  });

  it("detects the newest entries deleted after an anchor (undetectable without one)", async () => {
    const s = await setup();
    await anchor(s);
    sql(s.state, "DELETE FROM audit WHERE seq = 4; DELETE FROM ledger WHERE id = 'rep2'");
    const r = await verify(s);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(
      /^Audit log BROKEN: the log ends at entry 3, but the anchor of .* \(.*audit\.jsonl line 1\) vouches for entry 4: entries were removed from the end\n$/,
    );
  });

  it("detects the chain rewritten from an entry onwards with every hash recomputed", async () => {
    const s = await setup();
    await anchor(s);
    rewriteFrom(s.state, 2);
    sql(s.state, "DELETE FROM ledger");
    const r = await verify(s);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(
      /^Audit log BROKEN: entry 4 does not match the anchor of .* \(.*line 1\): the log was rewritten at or before entry 4\n$/,
    );
    // The same rewrite passes the chain check alone: that is what the anchor adds.
    const without = await setup({ anchored: false });
    rewriteFrom(without.state, 2);
    sql(without.state, "DELETE FROM ledger");
    expect((await verify(without)).code).toBe(0);
  });

  it("refuses to anchor a log that no longer extends the last anchor", async () => {
    const s = await setup();
    await anchor(s);
    rewriteFrom(s.state, 3);
    const r = await anchor(s);
    expect(r).toMatchObject({ code: 3, stdout: "" });
    expect(r.stderr).toMatch(
      /^concord: refusing to anchor: entry 4 no longer has the hash it was anchored with, and the last anchor in .* vouches for entry 4 \(run concord audit verify\)\n$/,
    );
    expect(readFileSync(s.anchors, "utf8").trim().split("\n")).toHaveLength(1);
  });

  it("fails when the anchor log is emptied, damaged, or an anchor is altered", async () => {
    const s = await setup();
    await anchor(s);
    const line = readFileSync(s.anchors, "utf8");

    writeFileSync(s.anchors, line.replace(/"seq":4/, '"seq":3'));
    expect((await verify(s)).stdout).toMatch(
      /^Audit log BROKEN: the anchor at .*line 1 \(entry 3\) has a signature that does not verify: it was altered or forged\n$/,
    );
    writeFileSync(s.anchors, `${line}not an anchor\n`);
    expect((await verify(s)).stdout).toMatch(
      /^Audit log BROKEN: .*audit\.jsonl line 2 is not an anchor \(not JSON\)\n$/,
    );
    unlinkSync(s.anchors);
    const r = await verify(s);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^Audit log BROKEN: no anchor in .* vouches for the 4 entries /);
  });

  it("reads anchors from another file with --anchors (a copy kept by an external log)", async () => {
    const s = await setup();
    const out = capture();
    await runAuditAnchor({ config: s.config, json: true }, io(out.stream));
    const external = join(s.dir, "external.jsonl");
    writeFileSync(external, out.text());
    unlinkSync(s.anchors);
    expect((await verify(s, { anchors: external })).code).toBe(0);
    // A path named that is not there is a mistyped one (2, one line), not an emptied anchor log (3).
    const missing = join(s.dir, "no-such.jsonl");
    await expect(verify(s, { anchors: missing })).rejects.toThrow(
      `--anchors ${missing}: cannot read (not found)`,
    );
    // A directory opens, then fails to read: one line naming it (was: internal error: EISDIR).
    expect(await verify(s, { anchors: s.dir })).toEqual({
      code: 3,
      stdout: `Audit log BROKEN: cannot read the anchor log ${s.dir} (EISDIR)\n`,
    });
  });

  it("anchor names an anchor log that is a directory in one line (was: internal error: EISDIR)", async () => {
    const s = await setup();
    mkdirSync(s.anchors, { recursive: true });
    expect(await anchor(s)).toEqual({
      code: 2,
      stdout: "",
      stderr: `concord: cannot read the anchor log ${s.anchors} (EISDIR)\n`,
    });
  });
});

describe("concord audit: keys and secrets", () => {
  it("keygen never replaces a key", async () => {
    const s = await setup();
    await expect(runAuditKeygen({ dir: join(s.dir, "keys") }, io(capture().stream))).rejects.toThrow(
      /audit-anchor\.key exists; keygen never replaces a key/,
    );
  });

  it("verify needs neither the serve token nor the signing key; anchor names the missing variable", async () => {
    delete process.env.CONCORD_TEST_UNSET_TOKEN;
    delete process.env.CONCORD_TEST_UNSET_KEY;
    const s = await setup({ extra: 'serve: { token: "${CONCORD_TEST_UNSET_TOKEN}" }\n' });
    writeFileSync(
      s.config,
      readFileSync(s.config, "utf8").replace("keys/audit-anchor.key", '"${CONCORD_TEST_UNSET_KEY}"'),
    );
    // The PEM text itself, from the variable, signs.
    process.env.CONCORD_TEST_UNSET_KEY = readFileSync(join(s.dir, "keys", "audit-anchor.key"), "utf8");
    try {
      expect((await anchor(s)).code).toBe(0);
    } finally {
      delete process.env.CONCORD_TEST_UNSET_KEY;
    }
    expect(await verify(s)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Audit log intact/) });
    await expect(anchor(s)).rejects.toThrow(
      "audit.anchor.privateKey: environment variable CONCORD_TEST_UNSET_KEY is not set",
    );
  });

  it("rejects a signing key that does not match the public key, and keys that are not Ed25519 PEM", async () => {
    const s = await setup();
    await runAuditKeygen({ dir: join(s.dir, "other") }, io(capture().stream));
    const text = readFileSync(s.config, "utf8");
    writeFileSync(s.config, text.replace("keys/audit-anchor.pub", "other/audit-anchor.pub"));
    await expect(anchor(s)).rejects.toThrow(
      "audit.anchor.privateKey: does not match audit.anchor.publicKey (anchors it signed would not verify)",
    );
    writeFileSync(join(s.dir, "bad.pub"), "not a key");
    writeFileSync(s.config, text.replace("keys/audit-anchor.pub", "bad.pub"));
    await expect(verify(s)).rejects.toThrow(
      "audit.anchor.publicKey: not a PEM public key (generate one with concord audit keygen)",
    );
    writeFileSync(s.config, text.replace("keys/audit-anchor.pub", "missing.pub"));
    await expect(verify(s)).rejects.toThrow(
      /^audit\.anchor\.publicKey: cannot read .*missing\.pub \(ENOENT\)$/,
    );
  });

  it("writeAuditAnchor is a no-op without audit.anchor (a run may call it unconditionally)", async () => {
    const s = await setup({ anchored: false });
    const store = await openStateStore(`sqlite:${s.state}`);
    try {
      expect(await writeAuditAnchor(store, {}, Date.now())).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
