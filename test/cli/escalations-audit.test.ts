/**
 * The person-facing side of repair through the real binary: the escalation queue (list, resolve by pick or
 * reject), the hash-chained audit log (verify against raw tampering of the state store, show with filters)
 * and rollback of a run or of one repair.
 */
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { canonicalJson, hashAuditEntry } from "../../src/core/audit-chain.js";
import {
  type AuditJson,
  byKey,
  execSql,
  expectOneLineError,
  itemsConfig,
  itemsSnapshot,
  type PlanJson,
  parseJson,
  query,
  readRows,
  runConcord,
  SEEDED_POLICY,
  seededItems,
  tempDir,
  writeConfig,
} from "./helpers.js";

interface EscalationJson {
  id: string;
  dataset: string;
  key: (string | number)[];
  class: string;
  reason: string;
  options: string[];
  status: string;
  runId: string;
  createdAt: string;
}

function row(rows: Record<string, unknown>[], id: number): Record<string, unknown> | undefined {
  return rows.find((r) => r.id === id);
}

function without(rows: Record<string, unknown>[], ...ids: number[]): Record<string, unknown>[] {
  return rows.filter((r) => !ids.includes(r.id as number));
}

async function auditEntries(config: string, ...filter: string[]): Promise<AuditJson[]> {
  const r = await runConcord(["audit", "show", "--json", ...filter, "-c", config]);
  if (r.code !== 0) throw new Error(`audit show: exit ${r.code}: ${r.stderr}`);
  return parseJson<{ entries: AuditJson[] }>(r).entries;
}

describe.concurrent("concord escalations", () => {
  it("lists open escalations; resolve --pick writes conditionally and is audited, --reject writes nothing", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir); // no owner: missing [10] [20] [301] and conflict [40] are escalated
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
    const a = join(dir, "a.db");
    const b = join(dir, "b.db");

    const repair = await runConcord(["repair", "--json", "-c", config]);
    expect(repair.code, repair.stderr).toBe(1);
    const runId = parseJson<PlanJson>(repair).runId;

    const list = await runConcord(["escalations", "list", "--json", "-c", config]);
    expect(list.stderr).toBe("");
    expect(list.code, list.stderr).toBe(0);
    const escalations = byKey(parseJson<{ escalations: EscalationJson[] }>(list).escalations);
    expect(escalations.map((e) => [e.key, e.class])).toEqual([
      [[10], "missing"],
      [[20], "missing"],
      [[40], "conflict"],
      [[301], "missing"],
    ]);
    for (const e of escalations) {
      expect(e).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{16}$/),
        dataset: "items",
        key: e.key,
        class: e.class,
        reason: expect.any(String),
        options: ["a", "b"],
        status: "open",
        runId,
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        // Added members: what differs, who lacks it, what each held, its group, and who closed it (open: null).
        columns: e.class === "conflict" ? ["note"] : [],
        absent: e.class !== "missing" ? [] : [20, 301].includes(e.key[0] as number) ? ["a"] : ["b"],
        replicas: {
          a: {
            present: expect.any(Boolean),
            fingerprint: expect.toBeOneOf([null, expect.stringMatching(/^[0-9a-f]{16}$/)]),
          },
          b: {
            present: expect.any(Boolean),
            fingerprint: expect.toBeOneOf([null, expect.stringMatching(/^[0-9a-f]{16}$/)]),
          },
        },
        group: expect.stringMatching(/^[0-9a-f]{12}$/),
        resolvedAt: null,
        resolvedBy: null,
        pick: null,
        note: null,
      });
    }
    expect(escalations[0]!.reason).toContain("no owner is declared");
    expect(escalations[2]!.reason).toContain("no merge rule covers note");
    const [e10, e20, e40, e301] = escalations.map((e) => e.id);

    // Usage errors: exit 2, one line, nothing written.
    const bad = await Promise.all([
      runConcord(["escalations", "resolve", "0123456789abcdef", "--pick", "a", "-c", config]),
      runConcord(["escalations", "resolve", e40!, "--pick", "a", "--reject", "-c", config]),
      runConcord(["escalations", "resolve", e40!, "-c", config]),
      runConcord(["escalations", "resolve", e40!, "--pick", "c", "-c", config]),
    ]);
    const lines = bad.map((r) => expectOneLineError(r, expect));
    expect(lines[0]).toContain("no escalation with id 0123456789abcdef");
    expect(lines[1]).toContain("exactly one of --pick REPLICA or --reject");
    expect(lines[2]).toContain("exactly one of --pick REPLICA or --reject");
    expect(lines[3]).toContain("--pick c: not an option");

    // --pick b on the conflict: b's row is written to a, through the conditional path.
    const before = { a: itemsSnapshot(a), b: itemsSnapshot(b) };
    const pick = await runConcord(["escalations", "resolve", e40!, "--pick", "b", "--json", "-c", config]);
    expect(pick.stderr).toBe("");
    expect(pick.code, pick.stderr).toBe(0);
    const picked = parseJson<{
      id: string;
      status: string;
      repairs: { id: string; key: unknown[]; target: string; outcome: string }[];
    }>(pick);
    expect(picked).toEqual({
      schemaVersion: 1,
      id: e40,
      status: "resolved",
      repairs: [{ id: expect.stringMatching(/^[0-9a-f]{24}$/), key: [40], target: "a", outcome: "applied" }],
      warnings: [],
    });
    const afterPick = { a: itemsSnapshot(a), b: itemsSnapshot(b) };
    expect(row(afterPick.a, 40)).toEqual(row(before.b, 40));
    expect(without(afterPick.a, 40)).toEqual(without(before.a, 40));
    expect(afterPick.b).toEqual(before.b);

    // --pick b on [10], which b lacks: deleted on a.
    const pickAbsent = await runConcord(["escalations", "resolve", e10!, "--pick", "b", "-c", config]);
    expect(pickAbsent.code, pickAbsent.stderr).toBe(0);
    expect(pickAbsent.stdout).toContain("b's state now holds on every replica");
    expect(row(itemsSnapshot(a), 10)).toBeUndefined();

    // --reject closes [20] without writing.
    const raw = { a: readRows(a, "items"), b: readRows(b, "items") };
    const reject = await runConcord(["escalations", "resolve", e20!, "--reject", "--json", "-c", config]);
    expect(reject.code, reject.stderr).toBe(0);
    expect(JSON.parse(reject.stdout)).toEqual({
      schemaVersion: 1,
      id: e20,
      status: "rejected",
      warnings: [],
    });
    expect({ a: readRows(a, "items"), b: readRows(b, "items") }).toEqual(raw);

    // [301] changed on b since it was escalated: nothing is written, the escalation stays open, exit 1.
    execSql(b, "UPDATE items SET name = 'changed since' WHERE id = 301;");
    const stale = await runConcord(["escalations", "resolve", e301!, "--pick", "b", "--json", "-c", config]);
    expect(stale.code, stale.stderr).toBe(1);
    expect(JSON.parse(stale.stdout)).toEqual({
      schemaVersion: 1,
      id: e301,
      status: "open",
      note: "the record changed since it was escalated",
      warnings: [],
    });
    expect(row(itemsSnapshot(a), 301)).toBeUndefined();

    const [open, again] = await Promise.all([
      runConcord(["escalations", "list", "--json", "-c", config]),
      runConcord(["escalations", "resolve", e40!, "--pick", "b", "-c", config]),
    ]);
    expect(parseJson<{ escalations: EscalationJson[] }>(open).escalations.map((e) => e.id)).toEqual([e301]);
    const statuses = query<{ id: string; status: string }>(
      join(dir, "state.db"),
      "SELECT id, status FROM escalations",
    );
    expect(Object.fromEntries(statuses.map((e) => [e.id, e.status]))).toEqual({
      [e10!]: "resolved",
      [e20!]: "rejected",
      [e40!]: "resolved",
      [e301!]: "open",
    });
    expect(expectOneLineError(again, expect)).toContain(`escalation ${e40} is already resolved`);

    // Audited: one resolved entry per pick, with its repair applied in the same run; one rejected entry.
    const entries = await auditEntries(config);
    const resolved = entries.filter((e) => e.type === "resolved");
    expect(resolved.map((e) => [e.data.escalation, e.data.pick, e.data.ok])).toEqual([
      [e40, "b", true],
      [e10, "b", true],
    ]);
    expect(resolved[0]!.key).toBe('["40"]');
    expect(resolved[0]!.data.repairs).toEqual([
      { id: picked.repairs[0]!.id, target: "a", outcome: "applied" },
    ]);
    const applied = entries.filter((e) => e.type === "applied" && e.runId === resolved[0]!.runId);
    expect(applied.map((e) => [e.key, e.data.repair, e.data.target])).toEqual([
      ['["40"]', picked.repairs[0]!.id, "a"],
    ]);
    expect(entries.filter((e) => e.type === "rejected").map((e) => [e.key, e.data.escalation])).toEqual([
      ['["20"]', e20],
    ]);
    expect((await runConcord(["audit", "verify", "-c", config])).code).toBe(0);
  });
});

describe.concurrent("concord audit", () => {
  it("show says when --limit cut the list short, and refuses a bad --limit", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
    await runConcord(["repair", "--json", "-c", config]);
    const all = await auditEntries(config);
    expect(all.length).toBeGreaterThan(5);
    const cut = await runConcord(["audit", "show", "--json", "--limit", "5", "-c", config]);
    const doc = parseJson<{ entries: AuditJson[]; truncated?: boolean }>(cut);
    expect(doc.entries).toEqual(all.slice(0, 5));
    expect(doc.truncated).toBe(true);
    const whole = await runConcord(["audit", "show", "--json", "--limit", String(all.length), "-c", config]);
    expect(parseJson<{ truncated?: boolean }>(whole).truncated).toBe(false);
    const text = await runConcord(["audit", "show", "--limit", "5", "-c", config]);
    expect(text.stdout.trim().split("\n").at(-1)).toMatch(/^… more entries follow #5; raise --limit/);
    const bad = await runConcord(["audit", "show", "--limit", "many", "-c", config]);
    expect([bad.code, bad.stderr]).toEqual([
      2,
      'concord: --limit: expected a positive whole number, got "many"\n',
    ]);
  });

  it("verify exits 0 on an intact log and 3 naming the first bad entry after raw tampering", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
    const first = await runConcord(["repair", "--json", "-c", config]);
    const second = await runConcord(["repair", "--json", "-c", config]);
    expect([first.code, second.code]).toEqual([1, 1]);
    const [r1, r2] = [parseJson<PlanJson>(first).runId, parseJson<PlanJson>(second).runId];
    const state = join(dir, "state.db");
    const count = query<{ n: number }>(state, "SELECT COUNT(*) AS n FROM audit")[0]!.n;
    expect(count).toBeGreaterThan(20);

    // Tampered copies of the state store, each behind its own config.
    const hash6 = query<{ hash: string }>(state, "SELECT hash FROM audit WHERE seq = 6")[0]!.hash;
    const forged = {
      seq: 7,
      ts: Date.now(),
      runId: r1,
      type: "applied" as const,
      dataset: "items",
      key: '["1"]',
    };
    const forgedData = { repair: "f".repeat(24), target: "b", forged: true };
    const forgedHash = hashAuditEntry(hash6, { ...forged, data: forgedData });
    const tampering: Record<string, { sql: string; first: RegExp }> = {
      edit: {
        sql: `UPDATE audit SET data = '{"class":"missing"}' WHERE seq = 7;`,
        first: /^Audit log BROKEN at entry 7: content does not match its hash \(edited\)$/,
      },
      delete: {
        sql: "DELETE FROM audit WHERE seq = 7;",
        first: /^Audit log BROKEN at entry 8: expected seq 7 \(an entry was deleted or moved\)$/,
      },
      // A forged entry with a correct hash of its own, linked to entry 6: the next entry no longer links.
      insert: {
        sql: `UPDATE audit SET seq = -seq - 1 WHERE seq >= 7; UPDATE audit SET seq = -seq WHERE seq < 0;
              INSERT INTO audit (seq, ts, run_id, type, dataset, key, data, prev_hash, hash)
              VALUES (7, ${forged.ts}, '${r1}', 'applied', 'items', '["1"]', '${canonicalJson(forgedData)}',
                      '${hash6}', '${forgedHash}');`,
        first: /^Audit log BROKEN at entry 8: previous hash does not match entry 7 /,
      },
      swap: {
        sql: "UPDATE audit SET seq = -1 WHERE seq = 7; UPDATE audit SET seq = 7 WHERE seq = 8; UPDATE audit SET seq = 8 WHERE seq = -1;",
        first: /^Audit log BROKEN at entry 7: previous hash does not match entry 6 /,
      },
    };
    const configs: Record<string, string> = {};
    for (const [name, t] of Object.entries(tampering)) {
      copyFileSync(state, join(dir, `${name}.db`));
      execSql(join(dir, `${name}.db`), t.sql);
      configs[name] = writeConfig(
        dir,
        itemsConfig(SEEDED_POLICY).replace("sqlite:state.db", `sqlite:${name}.db`),
        `${name}.yaml`,
      );
    }

    // The edited copy is verified with --json (the verdict as a document), the others as text.
    const [intact, editJson, ...broken] = await Promise.all([
      runConcord(["audit", "verify", "-c", config]),
      runConcord(["audit", "verify", "--json", "-c", configs.edit!]),
      ...Object.keys(tampering)
        .filter((name) => name !== "edit")
        .map((name) => runConcord(["audit", "verify", "-c", configs[name]!])),
    ]);
    expect(intact.code, intact.stderr).toBe(0);
    expect(intact.stdout.split("\n")[0]).toBe(
      `Audit log intact: ${count} entries, every hash chains to the one before.`,
    );
    expect(editJson.code, editJson.stderr).toBe(3);
    expect(JSON.parse(editJson.stdout)).toEqual({
      schemaVersion: 1,
      ok: false,
      seq: 7,
      problem: "entry 7: content does not match its hash (edited)",
    });
    Object.keys(tampering)
      .filter((name) => name !== "edit")
      .forEach((name, i) => {
        const r = broken[i]!;
        expect({ name, code: r.code, stderr: r.stderr }).toEqual({ name, code: 3, stderr: "" });
        expect(r.stdout.trimEnd(), name).toMatch(tampering[name]!.first);
      });

    // show filters by run and by key.
    const [byRun, byKey30] = await Promise.all([
      auditEntries(config, "--run", r2),
      auditEntries(config, "--key", "30"),
    ]);
    expect(byRun.length).toBe(
      query<{ n: number }>(state, "SELECT COUNT(*) AS n FROM audit WHERE run_id = ?", r2)[0]!.n,
    );
    expect(byRun.length).toBeGreaterThan(0);
    for (const e of byRun) expect(e.runId).toBe(r2);
    // The second run detected and decided again, but escalated nothing new and applied nothing.
    expect(new Set(byRun.map((e) => e.type))).toEqual(new Set(["detected", "decided"]));
    expect(byKey30.map((e) => [e.runId, e.type])).toEqual([
      [r1, "detected"],
      [r1, "decided"],
      [r1, "applied"],
    ]);
    for (const e of byKey30) expect(e.key).toBe('["30"]');
    expect(byKey30[2]!.data).toMatchObject({ target: "b", action: "propagate" });
  });
});

describe.concurrent("concord rollback", () => {
  it("restores before images of a repair and of a run, leaves a record changed since alone, and is audited", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(dir, itemsConfig(`owner: b\n${SEEDED_POLICY}`));
    const a = join(dir, "a.db");
    const pre = itemsSnapshot(a);

    const repair = await runConcord(["repair", "--json", "-c", config]);
    expect(repair.code, repair.stderr).toBe(0);
    const doc = parseJson<PlanJson>(repair);
    const repairs = doc.datasets[0]!.repairs!;
    expect(repairs.map((p) => p.outcome)).toEqual(Array(6).fill("applied")); // [10] [20] [301] [30] [70] [40] on a
    const id = (key: number) => repairs.find((p) => p.key[0] === key)!.id;
    const repaired = itemsSnapshot(a);

    // One repair: [30] goes back to what a held before; nothing else moves.
    const one = await runConcord(["rollback", "--repair", id(30), "--json", "-c", config]);
    expect(one.stderr).toBe("");
    expect(one.code, one.stderr).toBe(0);
    const oneDoc = JSON.parse(one.stdout) as { runId: string; rollbacks: Record<string, unknown>[] };
    expect(oneDoc.rollbacks).toEqual([{ repair: id(30), key: [30], target: "a", outcome: "rolled-back" }]);
    expect(row(itemsSnapshot(a), 30)).toEqual(row(pre, 30));
    expect(without(itemsSnapshot(a), 30)).toEqual(without(repaired, 30));

    // The rest of the run, after [20] (inserted by the repair) was changed again by someone else.
    execSql(a, "UPDATE items SET name = 'touched later' WHERE id = 20;");
    const run = await runConcord(["rollback", "--run", doc.runId, "--json", "-c", config]);
    expect(run.stderr).toBe("");
    expect(run.code, run.stderr).toBe(1);
    const runDoc = JSON.parse(run.stdout) as { runId: string; rollbacks: { key: number[] }[] };
    expect(byKey(runDoc.rollbacks)).toEqual(
      [10, 20, 40, 70, 301].map((k) => ({
        repair: id(k),
        key: [k],
        target: "a",
        outcome: k === 20 ? "superseded" : "rolled-back",
      })),
    );
    const after = itemsSnapshot(a);
    expect(without(after, 20)).toEqual(pre.filter((r) => r.id !== 20)); // [10] back, [301] gone, [40] [70] restored
    expect(row(after, 20)!.name).toBe("touched later");

    // Ledger: the rolled-back repairs say so; the superseded one is still applied.
    const ledger = new Map(
      query<{ id: string; outcome: string }>(join(dir, "state.db"), "SELECT id, outcome FROM ledger").map(
        (l) => [l.id, l.outcome],
      ),
    );
    for (const k of [10, 30, 40, 70, 301]) expect(ledger.get(id(k)), String(k)).toBe("rolled-back");
    expect(ledger.get(id(20))).toBe("applied");

    const oneAudit = query<{ type: string; key: string }>(
      join(dir, "state.db"),
      "SELECT type, key FROM audit WHERE run_id = ? ORDER BY seq",
      oneDoc.runId,
    );
    const [runAudit, verify, ...bad] = await Promise.all([
      auditEntries(config, "--run", runDoc.runId),
      runConcord(["audit", "verify", "-c", config]),
      runConcord(["rollback", "--run", "20200101T000000Z-000000", "-c", config]),
      runConcord(["rollback", "--repair", "0".repeat(24), "-c", config]),
      runConcord(["rollback", "--run", doc.runId, "--repair", id(20), "-c", config]),
    ]);
    expect(oneAudit.map((e) => [e.type, e.key])).toEqual([["rolled-back", '["30"]']]);
    expect(byKey(runAudit.map((e) => ({ key: [Number(JSON.parse(e.key!)[0])], type: e.type })))).toEqual(
      [10, 20, 40, 70, 301].map((k) => ({ key: [k], type: k === 20 ? "superseded" : "rolled-back" })),
    );
    expect(verify.code, verify.stderr).toBe(0);
    const lines = bad.map((r) => expectOneLineError(r, expect));
    expect(lines[0]).toContain("no applied repairs in that run");
    expect(lines[1]).toContain("no applied repair with that id");
    expect(lines[2]).toContain("exactly one of --run ID or --repair ID");
  });
});
