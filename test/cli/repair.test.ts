/**
 * `concord plan` and `concord repair` through the real binary: decisions by policy on two and three SQLite
 * replicas, what repair writes (checked row by row with better-sqlite3), idempotent re-runs, the policies
 * (owner, site ownership, highest-version, lww, merge, ambiguity threshold) and the blast-radius guard.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  byKey,
  type DecisionJson,
  execSql,
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  itemsSnapshot,
  keyClasses,
  makeItemsReplicas,
  makeSeededReplicas,
  makeSqliteTable,
  type PlanJson,
  parseJson,
  query,
  readRows,
  runConcord,
  SEEDED_POLICY,
  seededItems,
  sha256,
  sqlTime,
  storedEscalations,
  tempDir,
  writeConfig,
} from "./helpers.js";

interface EscalationsJson {
  escalations: {
    id: string;
    dataset: string;
    key: (string | number)[];
    class: string;
    reason: string;
    options: string[];
    status: string;
  }[];
}

/** The rows of `rows` whose first column is not in `ids`. */
function without(rows: Record<string, unknown>[], ...ids: unknown[]): Record<string, unknown>[] {
  return rows.filter((r) => !ids.includes(Object.values(r)[0]));
}

/** The row whose first column is `id`. */
function row(rows: Record<string, unknown>[], id: unknown): Record<string, unknown> | undefined {
  return rows.find((r) => Object.values(r)[0] === id);
}

const THREE = ["a", "b", "c"] as const;

/**
 * Three replicas a, b, c (a.db, b.db, c.db) of three datasets with every class of divergence:
 * - items (counter + timestamp versions; tolerance, window, merge qty: max): missing [10] (absent on c),
 *   stale [30] (a newer), conflict [40] (b's note, uncovered), conflict [45] (c's qty, merged), tolerated
 *   [50], in-flight [60], regression [80] (b restored from a backup after a first scan saw it newer).
 * - events (timestamp version only; owner c, resolve lww): lww-tie [1], missing [2] (absent on the owner),
 *   missing [3] (only on the owner), stale [4] (a newer).
 * - plain (text key that looks numeric; no versions; merge amount: max; c has an extra column): unversioned
 *   ["005"] (label, uncovered),
 *   unversioned ["017"] (amount, merged), and a schema divergence.
 */
async function threeReplicas(dir: string): Promise<{ config: string; paths: Record<string, string> }> {
  const paths = Object.fromEntries(THREE.map((r) => [r, join(dir, `${r}.db`)]));
  const recent = sqlTime(Date.now() - 2000);
  const itemsSql: Record<string, string> = {
    a: `UPDATE items SET name = 'renamed', version = version + 1 WHERE id = 30;
        UPDATE items SET qty = qty + 1, version = version + 1, updated_at = '${recent}' WHERE id = 60;`,
    b: `UPDATE items SET note = 'edited' WHERE id = 40;
        UPDATE items SET price = price + 0.004 WHERE id = 50;
        UPDATE items SET qty = 1000, version = version + 2 WHERE id = 80;`,
    c: `DELETE FROM items WHERE id = 10;
        UPDATE items SET qty = qty + 5 WHERE id = 45;`,
  };
  const events = Array.from({ length: 20 }, (_, i) => [
    i + 1,
    `event ${i + 1}`,
    sqlTime(Date.UTC(2024, 0, 1) + (i + 1) * 60_000),
  ]);
  const eventsSql: Record<string, string> = {
    a: `DELETE FROM events WHERE id = 3;
        UPDATE events SET body = 'newer', at = '${sqlTime(Date.UTC(2024, 0, 2))}' WHERE id = 4;`,
    b: "UPDATE events SET body = 'b-side' WHERE id = 1; DELETE FROM events WHERE id = 3;",
    c: "DELETE FROM events WHERE id = 2;",
  };
  const plain = Array.from({ length: 20 }, (_, i) => [String(i).padStart(3, "0"), `label ${i}`, i * 3]);
  for (const r of THREE) {
    makeSqliteTable(paths[r]!, "items", ITEMS_DDL, itemRows(300), { sql: itemsSql[r] });
    makeSqliteTable(
      paths[r]!,
      "events",
      "id INTEGER PRIMARY KEY, body TEXT NOT NULL, at TIMESTAMP NOT NULL",
      events,
      {
        sql: eventsSql[r],
      },
    );
    makeSqliteTable(
      paths[r]!,
      "plain",
      `code TEXT PRIMARY KEY, label TEXT, amount INTEGER${r === "c" ? ", extra TEXT" : ""}`,
      r === "c" ? plain.map((p) => [...p, "x"]) : plain,
      {
        sql:
          r === "b"
            ? "UPDATE plain SET label = 'changed' WHERE code = '005';"
            : r === "c"
              ? "UPDATE plain SET amount = amount + 100 WHERE code = '017';"
              : "",
      },
    );
  }
  const replicas = (table: string) =>
    THREE.map((r) => `      ${r}: { url: "sqlite:${r}.db", table: ${table} }`).join("\n");
  const config = writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  items:
    key: id
    versions: { counter: version, timestamp: updated_at }
    replicas:
${replicas("items")}
    policy:
      tolerance: { price: 0.01 }
      window: 1h
      merge: { qty: max }
  events:
    key: id
    versions: { timestamp: at }
    replicas:
${replicas("events")}
    policy: { owner: c, resolve: lww }
  plain:
    key: code
    replicas:
${replicas("plain")}
    policy: { merge: { amount: max } }
`,
  );
  // A first scan remembers b's version of [80]; then b is restored from an old backup below it.
  const first = await runConcord(["scan", "--json", "-c", config]);
  if (first.code !== 1) throw new Error(`first scan: exit ${first.code}: ${first.stderr}`);
  execSql(paths.b!, "UPDATE items SET qty = 3, version = version - 3 WHERE id = 80;");
  return { config, paths };
}

/** The events rows of a replica, `at` normalised (see itemsSnapshot). */
function eventRows(path: string): Record<string, unknown>[] {
  return query(path, "SELECT id, body, strftime('%Y-%m-%d %H:%M:%f', at) AS at FROM events ORDER BY id");
}

/** The decision fields that do not depend on the policy hash. */
function shape(d: DecisionJson): Omit<DecisionJson, "policyVersion" | "reason"> {
  const { policyVersion: _v, reason: _r, ...rest } = d;
  return rest;
}

describe.concurrent("concord plan --json and repair on three replicas", () => {
  it("decides every class by the policy on three replicas and writes nothing (exit 1); repair then applies exactly that", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { config, paths } = await threeReplicas(dir);
    const hashes = () => Object.fromEntries(THREE.map((r) => [r, sha256(paths[r]!)]));
    const before = hashes();

    const r = await runConcord(["plan", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code, r.stderr).toBe(1);
    const doc = parseJson<PlanJson>(r);
    expect(doc.datasets.map((d) => d.name)).toEqual(["items", "events", "plain"]);
    const [items, events, plain] = doc.datasets;

    expect(keyClasses(items!.divergences)).toEqual(
      keyClasses([
        { key: [10], class: "missing" },
        { key: [30], class: "stale" },
        { key: [40], class: "conflict" },
        { key: [45], class: "conflict" },
        { key: [50], class: "tolerated" },
        { key: [60], class: "in-flight" },
        { key: [80], class: "regression" },
      ]),
    );
    const none = { source: null, targets: [] as string[] };
    expect(byKey(items!.decisions).map(shape)).toEqual([
      { key: [10], class: "missing", action: "escalate", ...none, rule: "missing: no owner", ambiguity: 1 },
      {
        key: [30],
        class: "stale",
        action: "propagate",
        source: "a",
        targets: ["b", "c"],
        rule: "resolve: highest-version",
        ambiguity: 0.1,
      },
      { key: [40], class: "conflict", action: "escalate", ...none, rule: "conflict: escalate", ambiguity: 1 },
      {
        key: [45],
        class: "conflict",
        action: "merge",
        source: null,
        targets: ["a", "b"],
        rule: "policy.merge",
        ambiguity: 0.5,
      },
      { key: [50], class: "tolerated", action: "ignore", ...none, rule: "policy.tolerance", ambiguity: 0 },
      { key: [60], class: "in-flight", action: "wait", ...none, rule: "policy.window", ambiguity: 0 },
      {
        key: [80],
        class: "regression",
        action: "propagate",
        source: "a",
        targets: ["b"],
        rule: "resolve: highest-version",
        ambiguity: 0.4,
      },
    ]);
    const reason = (ds: PlanJson["datasets"][number], key: unknown[]) =>
      ds.decisions.find((d) => JSON.stringify(d.key) === JSON.stringify(key))!.reason;
    expect(reason(items!, [10])).toContain("no owner is declared");
    expect(reason(items!, [30])).toBe("counter 4 on a is higher than 3 on b and c");
    expect(reason(items!, [40])).toContain("no merge rule covers note");
    expect(reason(items!, [45])).toContain("merged column by column");
    expect(reason(items!, [80])).toContain("b went back from a version seen before");

    expect(byKey(events!.decisions).map(shape)).toEqual([
      {
        key: [1],
        class: "lww-tie",
        action: "propagate",
        source: "c",
        targets: ["b"],
        rule: "lww-tie: owner",
        ambiguity: 0.3,
      },
      {
        key: [2],
        class: "missing",
        action: "delete",
        source: "c",
        targets: ["a", "b"],
        rule: "missing: owner",
        ambiguity: 0.2,
      },
      {
        key: [3],
        class: "missing",
        action: "propagate",
        source: "c",
        targets: ["a", "b"],
        rule: "missing: owner",
        ambiguity: 0.2,
      },
      {
        key: [4],
        class: "stale",
        action: "propagate",
        source: "a",
        targets: ["b", "c"],
        rule: "resolve: lww",
        ambiguity: 0.3,
      },
    ]);
    expect(reason(events!, [1])).toContain("owner c's record wins");
    expect(reason(events!, [2])).toContain("owner c does not hold the record");

    // The schema divergence is reported (and escalated by repair), never decided key by key.
    expect(plain!.divergences.filter((d) => d.class === "schema").map((d) => d.column)).toEqual(["extra"]);
    expect(byKey(plain!.decisions).map(shape)).toEqual([
      {
        key: ["005"],
        class: "unversioned",
        action: "escalate",
        ...none,
        rule: "unversioned: escalate",
        ambiguity: 1,
      },
      {
        key: ["017"],
        class: "unversioned",
        action: "merge",
        source: null,
        targets: ["a", "b"],
        rule: "policy.merge",
        ambiguity: 0.5,
      },
    ]);
    expect(reason(plain!, ["005"])).toContain("no merge rule covers label");

    // Every decision names its dataset's policy version; each dataset has its own.
    const versions = doc.datasets.map((ds) => {
      const set = new Set(ds.decisions.map((d) => d.policyVersion));
      expect(set.size, ds.name).toBe(1);
      return [...set][0]!;
    });
    for (const v of versions) expect(v).toMatch(/^[0-9a-f]{12}$/);
    expect(new Set(versions).size).toBe(3);
    // plan never writes and has no repairs or summary.
    for (const ds of doc.datasets) {
      expect(ds.repairs).toBeUndefined();
      expect(ds.summary).toBeUndefined();
    }
    expect(hashes()).toEqual(before);

    // Another policy, another version.
    const other = writeConfig(
      dir,
      readFileSync(config, "utf8").replace("window: 1h", "window: 2h"),
      "other.yaml",
    );
    const changed = parseJson<PlanJson>(await runConcord(["plan", "--json", "-d", "items", "-c", other]));
    expect(changed.datasets[0]!.decisions[0]!.policyVersion).not.toBe(versions[0]);
    expect(hashes()).toEqual(before);

    // repair carries out exactly those decisions on every replica.
    const snap = Object.fromEntries(THREE.map((r) => [r, itemsSnapshot(paths[r]!)]));
    const evBefore = Object.fromEntries(THREE.map((r) => [r, eventRows(paths[r]!)]));
    const plBefore = Object.fromEntries(THREE.map((r) => [r, readRows(paths[r]!, "plain")]));

    const rep = await runConcord(["repair", "--json", "-c", config]);
    expect(rep.stderr).toBe("");
    expect(rep.code, rep.stderr).toBe(1); // [10], [40], ["005"] and the schema divergence are escalated
    const repaired = parseJson<PlanJson>(rep);
    // Deterministic: repair decided exactly what plan showed.
    expect(repaired.datasets.map((ds) => byKey(ds.decisions))).toEqual(
      doc.datasets.map((ds) => byKey(ds.decisions)),
    );
    const repairs = repaired.datasets.map((ds) =>
      byKey(ds.repairs!).map((p) => [JSON.stringify(p.key), p.target, p.outcome].join(" ")),
    );
    expect(repairs.map((list) => [...list].sort())).toEqual([
      ["[30] b applied", "[30] c applied", "[45] a applied", "[45] b applied", "[80] b applied"],
      [
        "[1] b applied",
        "[2] a applied",
        "[2] b applied",
        "[3] a applied",
        "[3] b applied",
        "[4] b applied",
        "[4] c applied",
      ],
      ['["017"] a applied', '["017"] b applied'],
    ]);
    expect(repaired.datasets.map((ds) => ds.summary!.escalated)).toEqual([2, 0, 2]);

    const now = Object.fromEntries(THREE.map((x) => [x, itemsSnapshot(paths[x]!)]));
    expect(row(now.b!, 30)).toEqual(row(snap.a!, 30));
    expect(row(now.c!, 30)).toEqual(row(snap.a!, 30));
    expect(row(now.a!, 45)).toEqual(row(snap.c!, 45)); // qty: max is c's
    expect(row(now.b!, 45)).toEqual(row(snap.c!, 45));
    expect(row(now.b!, 80)).toEqual(row(snap.a!, 80));
    expect(row(now.c!, 10)).toBeUndefined(); // escalated, not written
    expect(row(now.b!, 40)!.note).toBe("edited");
    expect(row(now.a!, 40)!.note).not.toBe("edited");
    for (const x of THREE) expect(without(now[x]!, 30, 45, 80)).toEqual(without(snap[x]!, 30, 45, 80));

    const ev = Object.fromEntries(THREE.map((x) => [x, eventRows(paths[x]!)]));
    // Owner c decided the tie and the missing rows; the newest timestamp won [4].
    expect(row(ev.b!, 1)).toEqual(row(evBefore.c!, 1));
    for (const x of ["a", "b"]) expect(row(ev[x]!, 2), x).toBeUndefined();
    for (const x of ["a", "b"]) expect(row(ev[x]!, 3)!.body, x).toBe("event 3");
    for (const x of ["b", "c"]) expect(row(ev[x]!, 4)!.body, x).toBe("newer");
    expect(ev.a).toEqual(ev.b);
    expect(ev.a!.map((e) => e.id)).toEqual(ev.c!.map((e) => e.id));
    expect(row(evBefore.a!, 4)!.at).toBe(row(ev.a!, 4)!.at); // the source is never written

    const pl = Object.fromEntries(THREE.map((x) => [x, readRows(paths[x]!, "plain")]));
    for (const x of ["a", "b"]) expect(row(pl[x]!, "017")!.amount, x).toBe(row(plBefore.c!, "017")!.amount);
    expect(row(pl.b!, "005")!.label).toBe("changed");
    expect(pl.c).toEqual(plBefore.c);

    // A second run writes nothing and reports the same escalations (exit 1).
    const second = await runConcord(["repair", "--json", "-c", config]);
    expect(second.code, second.stderr).toBe(1);
    for (const ds of parseJson<PlanJson>(second).datasets) {
      for (const p of ds.repairs!) expect(p.outcome).toBe("noop");
    }
    // Escalated keys are shown like every other key: integers as numbers, text (even "005") as text.
    const listed = await runConcord(["escalations", "list", "--json", "-c", config]);
    expect(
      parseJson<EscalationsJson>(listed).escalations.map((e) => [e.dataset, e.key, e.class, e.options]),
    ).toEqual([
      ["items", [10], "missing", ["a", "b", "c"]],
      ["items", [40], "conflict", ["a", "b", "c"]],
      ["plain", ["005"], "unversioned", ["a", "b", "c"]],
      ["plain", [], "schema", []],
    ]);
    const scan = await runConcord(["scan", "--json", "-c", config]);
    expect(parseJson(scan).datasets.map((ds) => keyClasses(ds.divergences))).toEqual([
      [
        ["[10]", "missing"],
        ["[40]", "conflict"],
        ["[50]", "tolerated"],
        ["[60]", "in-flight"],
      ],
      [],
      [
        ['["005"]', "unversioned"],
        ["[]", "schema"],
      ],
    ]);
  });
});

describe.concurrent("concord repair --json", () => {
  it("--dry-run writes nothing; repair applies the plan, a second run applies nothing; scan shows what is left", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const config = makeSeededReplicas(dir);
    const a = join(dir, "a.db");
    const b = join(dir, "b.db");
    const hashes = { a: sha256(a), b: sha256(b) };
    const snap = { a: itemsSnapshot(a), b: itemsSnapshot(b) };
    const plainBefore = { a: readRows(a, "plain"), b: readRows(b, "plain") };

    const dry = await runConcord(["repair", "--dry-run", "--json", "-c", config]);
    expect(dry.stderr).toBe("");
    expect(dry.code, dry.stderr).toBe(1);
    const planned = parseJson<PlanJson>(dry);
    expect({ a: sha256(a), b: sha256(b) }).toEqual(hashes);
    const [dryItems, dryPlain, dryPairs] = planned.datasets;
    expect(byKey(dryItems!.repairs!).map((p) => [p.key, p.target, p.outcome])).toEqual([
      [[30], "b", "planned"],
      [[70], "a", "planned"],
    ]);
    for (const p of dryItems!.repairs!) expect(p.id).toMatch(/^[0-9a-f]{24}$/);
    expect(dryPlain!.repairs).toEqual([]);
    expect(dryPairs!.repairs).toEqual([]);
    expect(dryItems!.summary).toEqual({
      applied: 0,
      noop: 0,
      superseded: 0,
      failed: 0,
      escalated: 4,
      waiting: 1,
      ignored: 1,
      heldBack: 0,
    });
    // A dry run records no escalation.
    expect(storedEscalations(join(dir, "state.db"))).toEqual([]);

    const r = await runConcord(["repair", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code, r.stderr).toBe(1); // escalations remain
    const doc = parseJson<PlanJson>(r);
    const [items, plain, pairs] = doc.datasets;
    // Exactly the planned repairs, with the same ids, applied.
    expect(byKey(items!.repairs!)).toEqual(
      byKey(dryItems!.repairs!).map((p) => ({ ...p, outcome: "applied" })),
    );
    expect(items!.summary).toEqual({
      applied: 2,
      noop: 0,
      superseded: 0,
      failed: 0,
      escalated: 4,
      waiting: 1,
      ignored: 1,
      heldBack: 0,
    });
    expect(plain!.repairs).toEqual([]);
    expect(plain!.summary!.escalated).toBe(2);
    expect(pairs!.summary!.escalated).toBe(2);

    // [30] went a → b and [70] b → a; nothing else changed on either replica.
    const now = { a: itemsSnapshot(a), b: itemsSnapshot(b) };
    expect(row(now.b, 30)).toEqual(row(snap.a, 30));
    expect(row(now.a, 70)).toEqual(row(snap.b, 70));
    expect(without(now.a, 70)).toEqual(without(snap.a, 70));
    expect(without(now.b, 30)).toEqual(without(snap.b, 30));
    expect({ a: readRows(a, "plain"), b: readRows(b, "plain") }).toEqual(plainBefore);

    const second = await runConcord(["repair", "--json", "-c", config]);
    expect(second.stderr).toBe("");
    expect(second.code, second.stderr).toBe(1);
    const again = parseJson<PlanJson>(second);
    for (const ds of again.datasets) {
      for (const p of ds.repairs!) expect(p.outcome, JSON.stringify(p)).toBe("noop");
      expect(ds.summary!.applied).toBe(0);
    }
    expect(itemsSnapshot(a)).toEqual(now.a);
    expect(itemsSnapshot(b)).toEqual(now.b);
    // Escalations are not opened twice for the same divergence in the same state.
    const open = storedEscalations(join(dir, "state.db"));
    expect(open).toHaveLength(8);

    const scan = await runConcord(["scan", "--json", "-c", config]);
    expect(scan.code, scan.stderr).toBe(1);
    const [sItems, sPlain, sPairs] = parseJson(scan).datasets;
    expect(keyClasses(sItems!.divergences)).toEqual(
      keyClasses([
        { key: [10], class: "missing" },
        { key: [20], class: "missing" },
        { key: [301], class: "missing" },
        { key: [40], class: "conflict" },
        { key: [50], class: "tolerated" },
        { key: [60], class: "in-flight" },
      ]),
    );
    expect(sPlain!.divergences).toHaveLength(2);
    expect(sPairs!.divergences).toHaveLength(2);
    // Every key still divergent (but benign) has an open escalation.
    const escalated = new Set(open.map((e) => `${e.dataset}:${JSON.stringify(e.key)}`));
    for (const ds of [sItems!, sPlain!, sPairs!])
      for (const d of ds.divergences)
        if (d.class !== "tolerated" && d.class !== "in-flight")
          expect(
            escalated.has(`${ds.name}:${JSON.stringify(d.key.map(String))}`),
            JSON.stringify(d.key),
          ).toBe(true);
  });
});

describe.concurrent("concord repair: policies", () => {
  it("resolve: owner — the owner's state wins everything, deletes included; exit 0 when only benign remains", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(dir, itemsConfig(`owner: b\nresolve: owner\n${SEEDED_POLICY}`));
    const a = join(dir, "a.db");
    const b = join(dir, "b.db");
    const snapB = itemsSnapshot(b);
    const rawB = readRows(b, "items");

    const r = await runConcord(["repair", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code, r.stderr).toBe(0);
    const [items] = parseJson<PlanJson>(r).datasets;
    expect(byKey(items!.decisions).map((d) => [d.key[0], d.action, d.source, d.targets, d.rule])).toEqual([
      [10, "delete", "b", ["a"], "resolve: owner"],
      [20, "propagate", "b", ["a"], "resolve: owner"],
      [30, "propagate", "b", ["a"], "resolve: owner"], // even though a holds the newer version
      [40, "propagate", "b", ["a"], "resolve: owner"],
      [50, "ignore", null, [], "policy.tolerance"],
      [60, "wait", null, [], "policy.window"],
      [70, "propagate", "b", ["a"], "resolve: owner"],
      [301, "propagate", "b", ["a"], "resolve: owner"],
    ]);
    expect(items!.repairs!.map((p) => p.outcome)).toEqual(Array(6).fill("applied"));
    expect(items!.summary).toMatchObject({ applied: 6, escalated: 0, waiting: 1, ignored: 1 });

    // a now equals b everywhere but the tolerated [50] and the in-flight [60]; b was never written.
    expect(readRows(b, "items")).toEqual(rawB);
    expect(without(itemsSnapshot(a), 50, 60)).toEqual(without(snapB, 50, 60));
    expect(row(itemsSnapshot(a), 10)).toBeUndefined();

    const second = await runConcord(["repair", "--json", "-c", config]);
    expect(second.code, second.stderr).toBe(0);
    expect(parseJson<PlanJson>(second).datasets[0]!.repairs).toEqual([]);
    const plan = await runConcord(["plan", "--json", "-c", config]);
    expect(plan.code, plan.stderr).toBe(0);
  });

  it("owner: { field: region, map } — each site's replica owns its rows", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const ddl = "id INTEGER PRIMARY KEY, region TEXT NOT NULL, name TEXT NOT NULL";
    const rows = Array.from({ length: 20 }, (_, i) => [i + 1, (i + 1) % 2 ? "eu" : "us", `site ${i + 1}`]);
    rows[6] = [7, "apac", "site 7"];
    const a = join(dir, "a.db");
    const b = join(dir, "b.db");
    makeSqliteTable(a, "sites", ddl, rows, {
      sql: "UPDATE sites SET name = 'a edit' WHERE id = 2; DELETE FROM sites WHERE id IN (3, 4);",
    });
    makeSqliteTable(b, "sites", ddl, rows, {
      sql: `UPDATE sites SET name = 'b edit' WHERE id = 1; UPDATE sites SET region = 'us' WHERE id = 5;
            UPDATE sites SET name = 'b edit' WHERE id = 7;`,
    });
    const config = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  sites:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: sites }
      b: { url: "sqlite:b.db", table: sites }
    policy:
      owner: { field: region, map: { eu: a, us: b } }
`,
    );
    const r = await runConcord(["repair", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code, r.stderr).toBe(1); // [5] and [7] are escalated
    const [sites] = parseJson<PlanJson>(r).datasets;
    expect(byKey(sites!.decisions).map((d) => [d.key[0], d.class, d.action, d.source, d.targets])).toEqual([
      [1, "unversioned", "propagate", "a", ["b"]],
      [2, "unversioned", "propagate", "b", ["a"]],
      [3, "missing", "delete", "a", ["b"]], // eu: a owns it and does not hold it
      [4, "missing", "propagate", "b", ["a"]], // us: b owns it
      [5, "unversioned", "escalate", null, []],
      [7, "unversioned", "escalate", null, []],
    ]);
    const reasons = new Map(sites!.decisions.map((d) => [d.key[0], d.reason]));
    expect(reasons.get(5)).toContain("disagree on region");
    expect(reasons.get(7)).toContain('region = "apac" maps to no owner');

    const ra = readRows(a, "sites");
    const rb = readRows(b, "sites");
    expect(without(ra, 5, 7)).toEqual(without(rb, 5, 7));
    expect(row(ra, 1)!.name).toBe("site 1");
    expect(row(ra, 2)!.name).toBe("site 2");
    expect(row(rb, 3)).toBeUndefined();
    expect(row(ra, 4)).toEqual({ id: 4, region: "us", name: "site 4" });
    expect([row(ra, 5)!.region, row(rb, 5)!.region]).toEqual(["eu", "us"]);
    expect([row(ra, 7)!.name, row(rb, 7)!.name]).toEqual(["site 7", "b edit"]);
    expect(storedEscalations(join(dir, "state.db")).map((e) => e.key)).toEqual([["5"], ["7"]]);
  });

  it("resolve: merge — balance: max and tags: union on a JSON column; stale still takes the newest", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const ddl =
      "id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance REAL NOT NULL, tags JSON, version INTEGER NOT NULL";
    const rows = Array.from({ length: 10 }, (_, i) => [i + 1, `acct ${i + 1}`, 100 + i, '["base"]', 1]);
    const a = join(dir, "a.db");
    const b = join(dir, "b.db");
    makeSqliteTable(a, "accounts", ddl, rows, {
      sql: `UPDATE accounts SET tags = '["vip"]' WHERE id = 2;
            UPDATE accounts SET balance = 200, tags = '["x", "y"]' WHERE id = 3;
            UPDATE accounts SET name = 'a name', balance = 1 WHERE id = 4;`,
    });
    makeSqliteTable(b, "accounts", ddl, rows, {
      sql: `UPDATE accounts SET balance = 150 WHERE id = 1;
            UPDATE accounts SET tags = '["eu"]' WHERE id = 2;
            UPDATE accounts SET balance = 120, tags = '["y","z"]' WHERE id = 3;
            UPDATE accounts SET name = 'b name' WHERE id = 4;
            UPDATE accounts SET balance = 5, version = 2 WHERE id = 5;`,
    });
    const config = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  accounts:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: accounts }
      b: { url: "sqlite:b.db", table: accounts }
    policy:
      resolve: merge
      merge: { balance: max, tags: union }
`,
    );
    const r = await runConcord(["repair", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code, r.stderr).toBe(1); // [4] differs in name, which no rule covers
    const [accounts] = parseJson<PlanJson>(r).datasets;
    expect(byKey(accounts!.decisions).map((d) => [d.key[0], d.class, d.action, d.targets, d.rule])).toEqual([
      [1, "conflict", "merge", ["a"], "policy.merge"],
      [2, "conflict", "merge", ["a", "b"], "policy.merge"],
      [3, "conflict", "merge", ["a", "b"], "policy.merge"],
      [4, "conflict", "escalate", [], "conflict: escalate"],
      [5, "stale", "propagate", ["a"], "resolve: merge"],
    ]);
    const ra = readRows(a, "accounts");
    const rb = readRows(b, "accounts");
    expect(without(ra, 4)).toEqual(without(rb, 4));
    const pick = (id: number) => {
      const x = row(ra, id)!;
      return [x.balance, JSON.parse(String(x.tags)), x.version];
    };
    expect(pick(1)).toEqual([150, ["base"], 1]);
    expect(pick(2)).toEqual([101, ["vip", "eu"], 1]);
    expect(pick(3)).toEqual([200, ["x", "y", "z"], 1]);
    expect(pick(5)).toEqual([5, ["base"], 2]); // the newer version wins, although its balance is lower
    expect([row(ra, 4)!.name, row(rb, 4)!.name]).toEqual(["a name", "b name"]);

    const second = await runConcord(["repair", "--json", "-c", config]);
    expect(second.code, second.stderr).toBe(1);
    expect(parseJson<PlanJson>(second).datasets[0]!.repairs).toEqual([]);
  });

  it("escalate.ambiguity — a decision more ambiguous than the threshold is escalated, not written", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(
      dir,
      itemsConfig(`owner: a\nresolve: highest-version\nescalate: { ambiguity: 0.25 }\n${SEEDED_POLICY}`),
    );
    const a = join(dir, "a.db");
    const b = join(dir, "b.db");
    const snap = { a: itemsSnapshot(a), b: itemsSnapshot(b) };

    const r = await runConcord(["repair", "--json", "-c", config]);
    expect(r.stderr).toBe("");
    expect(r.code, r.stderr).toBe(1);
    const [items] = parseJson<PlanJson>(r).datasets;
    const decisions = byKey(items!.decisions);
    expect(decisions.map((d) => [d.key[0], d.action, d.ambiguity, d.rule])).toEqual([
      [10, "propagate", 0.2, "missing: owner"],
      [20, "delete", 0.2, "missing: owner"],
      [30, "propagate", 0.1, "resolve: highest-version"],
      [40, "escalate", 0.3, "escalate.ambiguity"],
      [50, "ignore", 0, "policy.tolerance"],
      [60, "wait", 0, "policy.window"],
      [70, "propagate", 0.1, "resolve: highest-version"],
      [301, "delete", 0.2, "missing: owner"],
    ]);
    expect(decisions[3]!.reason).toMatch(/^ambiguity 0\.3 is above the threshold 0\.25: /);
    expect(items!.repairs!.map((p) => p.outcome)).toEqual(Array(5).fill("applied"));

    const now = { a: itemsSnapshot(a), b: itemsSnapshot(b) };
    expect(row(now.a, 40)).toEqual(row(snap.a, 40));
    expect(row(now.b, 40)).toEqual(row(snap.b, 40));
    expect(without(now.a, 40, 50, 60)).toEqual(without(now.b, 40, 50, 60));
    expect(storedEscalations(join(dir, "state.db")).map((e) => [e.key, e.class, e.options])).toEqual([
      [["40"], "conflict", ["a", "b"]],
    ]);
  });

  it("limits.writesPerSecond below 1 still writes (it used to wait forever for a whole token)", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const { a, b } = makeItemsReplicas(dir, {
      rows: 20,
      sqlB: "UPDATE items SET qty = 99, version = version + 1 WHERE id = 7;",
    });
    const config = writeConfig(dir, itemsConfig("limits: { writesPerSecond: 0.5 }"));
    const r = await runConcord(["repair", "--json", "-c", config]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson<PlanJson>(r).datasets[0]!.repairs!.map((p) => [p.key, p.target, p.outcome])).toEqual([
      [[7], "a", "applied"],
    ]);
    expect(itemsSnapshot(a)).toEqual(itemsSnapshot(b));
  });

  it("blast-radius guard — maxDivergentFraction and maxRepairs: nothing written, one escalation with the figures", async ({
    expect,
    onTestFinished,
  }) => {
    const cases = [
      {
        limits: "limits: { maxDivergentFraction: 0.01 }",
        reason: "6 of 300 keys diverge (2.0%), above limits.maxDivergentFraction 0.01",
      },
      { limits: "limits: { maxRepairs: 5 }", reason: "6 repairs planned, above limits.maxRepairs 5" },
    ];
    await Promise.all(
      cases.map(async ({ limits, reason }) => {
        const dir = tempDir(onTestFinished);
        seededItems(dir);
        const config = writeConfig(dir, itemsConfig(`owner: b\n${SEEDED_POLICY}\n${limits}`));
        const files = [join(dir, "a.db"), join(dir, "b.db")];
        // Compared by content: a writable connection switches a replica to WAL mode, which changes its header.
        const before = files.map((f) => readRows(f, "items"));

        const r = await runConcord(["repair", "--json", "-c", config]);
        expect(r.stderr, limits).toBe("");
        expect(r.code, limits).toBe(1);
        const [items] = parseJson<PlanJson>(r).datasets;
        expect(items!.guard, limits).toEqual({ reason, divergent: 6, rows: 300, writes: 6 });
        expect(items!.repairs, limits).toEqual([]);
        expect(items!.summary, limits).toMatchObject({ applied: 0, escalated: 1 });
        // Decisions are still shown: the guard stops the writes, not the plan.
        expect(
          items!.decisions.filter((d) => d.targets.length > 0),
          limits,
        ).toHaveLength(6);
        expect(
          files.map((f) => readRows(f, "items")),
          limits,
        ).toEqual(before);

        const escalations = storedEscalations(join(dir, "state.db"));
        expect(escalations, limits).toHaveLength(1);
        expect(escalations[0], limits).toMatchObject({
          dataset: "items",
          key: [],
          class: "guard",
          options: [],
        });
        expect(escalations[0]!.reason, limits).toBe(`blast-radius guard: ${reason}; nothing was written`);
        const audit = query<{ type: string; data: string }>(
          join(dir, "state.db"),
          "SELECT type, data FROM audit WHERE run_id = ? AND type IN ('guard', 'applied')",
          parseJson<PlanJson>(r).runId,
        );
        expect(
          audit.map((e) => e.type),
          limits,
        ).toEqual(["guard"]);
        expect(JSON.parse(audit[0]!.data), limits).toMatchObject({
          class: "guard",
          reason: escalations[0]!.reason,
        });
      }),
    );
  });
});
