import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  AnchorChecker,
  type AuditAnchor,
  anchorKeyId,
  formatAuditAnchor,
  type LocatedAnchor,
  parseAuditAnchor,
  signAuditAnchor,
  verifyAnchorSignature,
} from "./audit-anchor.js";
import { type AuditEntry, GENESIS_HASH, hashAuditEntry } from "./audit-chain.js";

const KEYS = generateKeyPairSync("ed25519");
const OTHER = generateKeyPairSync("ed25519");
const AT = Date.UTC(2026, 5, 1);

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const content = {
      seq,
      ts: AT + seq,
      runId: "r1",
      type: "applied" as const,
      dataset: "d",
      key: `["${seq}"]`,
      data: { repair: `r${seq}` },
    };
    const hash = hashAuditEntry(prevHash, content);
    out.push({ ...content, prevHash, hash });
    prevHash = hash;
  }
  return out;
}

const anchorOf = (e: AuditEntry | undefined, keys = KEYS, at = AT): AuditAnchor =>
  signAuditAnchor(e ? e : { seq: 0, hash: GENESIS_HASH }, at, keys.privateKey, keys.publicKey);

const located = (anchors: AuditAnchor[]): LocatedAnchor[] =>
  anchors.map((anchor, i) => ({ anchor, where: `anchors.jsonl line ${i + 1}` }));

function check(entries: readonly AuditEntry[], anchors: AuditAnchor[], publicKey = KEYS.publicKey) {
  const checker = new AnchorChecker(located(anchors), publicKey);
  for (const e of entries) checker.push(e);
  return checker.verdict(entries.length);
}

describe("signAuditAnchor and verifyAnchorSignature", () => {
  it("signs the head with the key it names, and round-trips through one line", () => {
    const e = chain(3)[2]!;
    const a = anchorOf(e);
    expect(a).toMatchObject({ v: 1, seq: 3, hash: e.hash, at: AT, key: anchorKeyId(KEYS.publicKey) });
    expect(a.key).toMatch(/^[0-9a-f]{16}$/);
    expect(verifyAnchorSignature(a, KEYS.publicKey)).toBe(true);
    const line = formatAuditAnchor(a);
    expect(line).not.toContain("\n");
    expect(parseAuditAnchor(line)).toEqual(a);
  });

  it.each<[string, (a: AuditAnchor) => AuditAnchor]>([
    ["another seq", (a) => ({ ...a, seq: a.seq + 1 })],
    ["another hash", (a) => ({ ...a, hash: "0".repeat(64) })],
    ["another time", (a) => ({ ...a, at: a.at + 1 })],
    ["another key id", (a) => ({ ...a, key: "0".repeat(16) })],
    ["a damaged signature", (a) => ({ ...a, sig: `A${a.sig.slice(1)}` })],
    ["no signature", (a) => ({ ...a, sig: "" })],
  ])("does not verify with %s", (_name, change) => {
    expect(verifyAnchorSignature(change(anchorOf(chain(2)[1])), KEYS.publicKey)).toBe(false);
  });

  it("does not verify with another key", () => {
    expect(verifyAnchorSignature(anchorOf(chain(1)[0]), OTHER.publicKey)).toBe(false);
  });

  it.each<[string, string]>([
    ["{", "not JSON"],
    ["[1]", "not a JSON object"],
    ['{"v":2}', "unknown anchor format 2"],
    ['{"v":1,"seq":-1}', "seq is not a count"],
    ['{"v":1,"seq":1,"hash":"xyz"}', "hash is not SHA-256 hex"],
    [`{"v":1,"seq":1,"hash":"${"a".repeat(64)}","at":"now"}`, "at is not a time"],
    [`{"v":1,"seq":1,"hash":"${"a".repeat(64)}","at":1}`, "key or sig is missing"],
  ])("parseAuditAnchor(%s): %s", (line, problem) => {
    expect(parseAuditAnchor(line)).toEqual({ problem });
  });
});

describe("AnchorChecker", () => {
  const log = chain(6);

  it("accepts anchors that match their entries, in any order, and counts the entries since the latest", () => {
    const verdict = check(log, [anchorOf(log[3]), anchorOf(undefined), anchorOf(log[1]), anchorOf(log[3])]);
    expect(verdict).toEqual({ ok: true, anchors: 4, latest: anchorOf(log[3]), unanchored: 2 });
  });

  it("accepts no anchors at all (the caller decides whether that is enough)", () => {
    expect(check(log, [])).toEqual({ ok: true, anchors: 0, latest: undefined, unanchored: 6 });
  });

  it("detects entries removed from the end after the latest anchor's entry", () => {
    // The reproduction: the newest entries deleted, the rest still chains from entry 1.
    const verdict = check(log.slice(0, 4), [anchorOf(log[1]), anchorOf(log[5])]);
    expect(verdict).toEqual({
      ok: false,
      problem: `the log ends at entry 4, but the anchor of 2026-06-01T00:00:00.000Z (anchors.jsonl line 2) vouches for entry 6: entries were removed from the end`,
    });
  });

  it("detects a chain rewritten from an entry onwards with every hash recomputed", () => {
    // The reproduction: entries 3… replaced by a forged chain that links to entry 2 and hashes correctly.
    const forged: AuditEntry[] = log.slice(0, 2);
    for (const e of log.slice(2)) {
      const content = { ...e, data: { repair: "forged" } };
      const prevHash = forged.at(-1)!.hash;
      forged.push({ ...content, prevHash, hash: hashAuditEntry(prevHash, content) });
    }
    const verdict = check(forged, [anchorOf(log[1]), anchorOf(log[4])]);
    expect(verdict).toEqual({
      ok: false,
      problem:
        "entry 5 does not match the anchor of 2026-06-01T00:00:00.000Z (anchors.jsonl line 2): the log was rewritten at or before entry 5",
    });
  });

  it("detects an altered anchor and one signed by another key", () => {
    const altered = { ...anchorOf(log[2]), seq: 2 };
    expect(check(log, [anchorOf(log[0]), altered])).toEqual({
      ok: false,
      problem:
        "the anchor at anchors.jsonl line 2 (entry 2) has a signature that does not verify: it was altered or forged",
    });
    expect(check(log, [anchorOf(log[2], OTHER)])).toEqual({
      ok: false,
      problem: `the anchor at anchors.jsonl line 1 was signed by key ${anchorKeyId(OTHER.publicKey)}, not by audit.anchor.publicKey (key ${anchorKeyId(KEYS.publicKey)})`,
    });
  });

  it("an anchor of the empty log vouches for the empty log only", () => {
    expect(check([], [anchorOf(undefined)])).toEqual({
      ok: true,
      anchors: 1,
      latest: anchorOf(undefined),
      unanchored: 0,
    });
    expect(check([], [anchorOf(log[0])])).toMatchObject({ ok: false });
  });
});
