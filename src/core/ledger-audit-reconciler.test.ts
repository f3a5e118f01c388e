import { describe, expect, it } from "vitest";
import { type AuditEntry, GENESIS_HASH } from "./audit-chain.js";
import { fingerprintRow } from "./fingerprint.js";
import { LedgerAuditReconciler, type LedgerFacts, type ReconcileVerdict } from "./ledger-audit-reconciler.js";
import { repairId } from "./repair-id.js";

/** Audit entries as [type, repair id] (hashes do not matter here). */
function audit(events: readonly [string, string | undefined][]): AuditEntry[] {
  return events.map(([type, repair], i) => ({
    seq: i + 1,
    ts: 0,
    runId: "r",
    type: type as AuditEntry["type"],
    dataset: "d",
    key: '["1"]',
    data: repair === undefined ? { class: "stale" } : { repair, target: "b" },
    prevHash: GENESIS_HASH,
    hash: GENESIS_HASH,
  }));
}

const BEFORE = ["old"];
const AFTER = ["new"];
function ledger(id: string, outcome: string, key = "1"): LedgerFacts {
  return {
    id,
    dataset: "d",
    key: [key],
    target: "b",
    outcome,
    nextFingerprint: fingerprintRow([key], AFTER),
    before: BEFORE,
    expected: null,
    after: AFTER,
  };
}

function reconcile(
  events: readonly [string, string | undefined][],
  entries: LedgerFacts[],
): ReconcileVerdict {
  const r = new LedgerAuditReconciler();
  for (const e of audit(events)) r.pushAudit(e);
  for (const e of entries) r.pushLedger(e);
  return r.verdict();
}

/** The id `concord rollback` gives the inverse of ledger("x", …, key). */
const inverse = (key = "1") =>
  repairId("d", [key], "b", fingerprintRow([key], AFTER), fingerprintRow([key], BEFORE));

describe("LedgerAuditReconciler", () => {
  it.each<[string, [string, string | undefined][], LedgerFacts[], ReconcileVerdict]>([
    [
      "every outcome has its entry, other events are ignored",
      [
        ["detected", undefined],
        ["applied", "a1"],
        ["noop", "n1"],
        ["superseded", "s1"],
      ],
      [ledger("a1", "applied"), ledger("n1", "noop"), ledger("s1", "superseded")],
      { ok: true, settled: 3, outcomes: 3 },
    ],
    [
      "a retried repair: failed, then applied; the ledger holds the last word",
      [
        ["failed", "a1"],
        ["applied", "a1"],
      ],
      [ledger("a1", "applied")],
      { ok: true, settled: 1, outcomes: 2 },
    ],
    [
      "a pending repair whose last entry says applied (an applied row edited to pending)",
      [["applied", "a1"]],
      [ledger("a1", "pending")],
      {
        ok: false,
        problem:
          'the ledger says repair a1 (d key ["1"] on b) is pending, but its audit entry 1 says it was applied (the row was edited)',
      },
    ],
    [
      "a repair rolled back, then claimed again (its divergence came back): pending after applied",
      [
        ["applied", "a1"],
        ["rolled-back", inverse()],
      ],
      [ledger("a1", "pending"), ledger(inverse(), "rolled-back")],
      { ok: true, settled: 1, outcomes: 2 },
    ],
    [
      "a pending repair needs no entry, and may follow an earlier attempt's",
      [["failed", "p2"]],
      [ledger("p1", "pending"), ledger("p2", "pending")],
      { ok: true, settled: 0, outcomes: 1 },
    ],
    [
      "a rolled-back repair is vouched for by its inverse's audit entry",
      [
        ["applied", "x"],
        ["rolled-back", inverse()],
      ],
      [ledger("x", "rolled-back"), ledger(inverse(), "rolled-back")],
      { ok: true, settled: 2, outcomes: 2 },
    ],
    [
      "… or by its inverse finding the before image already there (noop)",
      [
        ["applied", "x"],
        ["noop", inverse()],
      ],
      [ledger("x", "rolled-back"), ledger(inverse(), "noop")],
      { ok: true, settled: 2, outcomes: 2 },
    ],
    [
      "… or by its inverse's write settled by recovery (applied) after the rollback was killed",
      [
        ["applied", "x"],
        ["applied", inverse()],
      ],
      [ledger("x", "rolled-back"), ledger(inverse(), "applied")],
      { ok: true, settled: 2, outcomes: 2 },
    ],
    // The reproduction: applied repairs in the ledger without their audit entries.
    [
      "a ledger outcome without any audit entry",
      [
        ["applied", "a1"],
        ["applied", "a2"],
      ],
      [ledger("a1", "applied"), ledger("a2", "applied"), ledger("a3", "applied")],
      {
        ok: false,
        problem: 'the ledger says repair a3 (d key ["1"] on b) is applied, but no audit entry records it',
      },
    ],
    [
      "a ledger outcome the audit contradicts",
      [["failed", "a1"]],
      [ledger("a1", "applied")],
      {
        ok: false,
        problem:
          'the ledger says repair a1 (d key ["1"] on b) is applied, but its last audit entry (1) says failed',
      },
    ],
    [
      "an audit outcome for a repair the ledger does not hold",
      [
        ["applied", "a1"],
        ["applied", "ghost"],
      ],
      [ledger("a1", "applied")],
      {
        ok: false,
        problem: "audit entry 2 records repair ghost as applied, but the ledger does not hold that repair",
      },
    ],
    [
      "a rollback the audit does not show",
      [["applied", "x"]],
      [ledger("x", "rolled-back")],
      {
        ok: false,
        problem:
          'the ledger says repair x (d key ["1"] on b) is rolled-back, but no audit entry records its rollback',
      },
    ],
    [
      "an outcome entry without a repair id",
      [["applied", undefined]],
      [],
      { ok: false, problem: "audit entry 1 (applied) names no repair" },
    ],
  ])("%s", (_name, events, entries, expected) => {
    expect(reconcile(events, entries)).toEqual(expected);
  });

  /** An applied entry as executeRepairs writes it: target, fingerprints and both images. */
  function applied(seq: number, repair: string, data: Record<string, unknown> = {}): AuditEntry {
    return {
      ...audit([["applied", repair]])[0]!,
      seq,
      data: {
        repair,
        target: "b",
        expected: null,
        written: fingerprintRow(["1"], AFTER),
        before: BEFORE,
        after: AFTER,
        ...data,
      },
    };
  }

  it.each<[string, Partial<LedgerFacts>]>([
    ["the before image", { before: ["forged"] }],
    ["the after image", { after: ["forged"] }],
    ["an image removed", { before: null }],
    ["the written fingerprint", { nextFingerprint: "f0" }],
    ["the expected fingerprint", { expected: "f0" }],
    ["the target", { target: "c" }],
    ["the key", { key: ["2"] }],
  ])("an edit of the ledger row's %s since it was settled is found", (_name, edit) => {
    const r = new LedgerAuditReconciler();
    r.pushAudit(applied(1, "a1"));
    r.pushLedger({ ...ledger("a1", "applied"), ...edit });
    expect(r.verdict()).toMatchObject({
      ok: false,
      problem: expect.stringContaining("does not match its audit entry 1"),
    });
  });

  it.each<[string, string | undefined, Record<string, unknown>, boolean]>([
    ["the run that applied it", "r", {}, true],
    ["another run", "other", {}, false],
    ["the dead run recovery settled it for", "dead", { recovered: true, interruptedRun: "dead" }, true],
    ["the recovering run instead of the dead one", "r", { recovered: true, interruptedRun: "dead" }, false],
    ["no run (not checked)", undefined, {}, true],
  ])("an applied repair filed under %s", (_name, runId, data, ok) => {
    const r = new LedgerAuditReconciler();
    r.pushAudit(applied(1, "a1", data));
    r.pushLedger({ ...ledger("a1", "applied"), ...(runId === undefined ? {} : { runId }) });
    expect(r.verdict()).toEqual(
      ok
        ? { ok: true, settled: 1, outcomes: 1 }
        : {
            ok: false,
            problem: `the ledger files repair a1 (d key ["1"] on b) under run ${runId}, but its audit entry 1 says run ${(data.interruptedRun as string | undefined) ?? "r"} applied it (the row was edited)`,
          },
    );
  });

  it("the row as settled matches, and only the facts an entry records are compared", () => {
    const r = new LedgerAuditReconciler();
    r.pushAudit(applied(1, "a1"));
    // Recovery's entries record no images: the ledger's are not compared with anything.
    r.pushAudit({
      ...audit([["applied", "a2"]])[0]!,
      seq: 2,
      data: { repair: "a2", target: "b", recovered: true },
    });
    r.pushLedger(ledger("a1", "applied"));
    r.pushLedger({ ...ledger("a2", "applied"), before: ["any"] });
    expect(r.verdict()).toEqual({ ok: true, settled: 2, outcomes: 2 });
  });

  it.each<[string, string, string | undefined, ReconcileVerdict]>([
    ["a pending rollback of x", inverse(), "x", { ok: true, settled: 1, outcomes: 1 }],
    ["a later episode of x's rollback", `${inverse()}~2`, "x", { ok: true, settled: 1, outcomes: 1 }],
    [
      "a row that is not x's rollback",
      "y",
      "x",
      {
        ok: false,
        problem:
          'the ledger row of repair y (d key ["1"] on b) says it undoes repair x, but it is not that repair\'s rollback (the row was edited)',
      },
    ],
    [
      "a row naming a repair the ledger does not hold",
      inverse(),
      "gone",
      {
        ok: false,
        problem: `the ledger row of repair ${inverse()} (d key ["1"] on b) says it undoes repair gone, which the ledger does not hold for that key (the row was edited)`,
      },
    ],
  ])("checks what a row undoes against that repair's row: %s", (_name, id, undoes, verdict) => {
    const r = new LedgerAuditReconciler();
    for (const e of audit([["applied", "x"]])) r.pushAudit(e);
    const x = ledger("x", "applied");
    r.pushLedger(x);
    r.pushLedger({ ...ledger(id, "pending"), undoes }, undoes === "x" ? x : undefined);
    expect(r.verdict()).toEqual(verdict);
  });
});
