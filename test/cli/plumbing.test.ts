/**
 * What a CLI user expects of the plumbing: differing values shown side by side, plan totals in words that
 * cannot be read backwards, help that names exit codes, environment and config, JSON documents with a
 * schema version and every list present, and an audit trail that reads by column name and typed key,
 * newest first on request, and says when it was cut short.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  type AuditJson,
  execSql,
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  makeSqliteTable,
  type PlanJson,
  parseJson,
  REPO,
  runConcord,
  SEEDED_POLICY,
  seededItems,
  tempDir,
  writeConfig,
} from "./helpers.js";

interface AuditView extends AuditJson {
  time: string;
  keyJson: unknown[] | null;
  images?: { before: Record<string, unknown> | null; after: Record<string, unknown> | null };
}

describe.concurrent("plumbing", () => {
  it("--values shows each divergent record's values side by side, printable, and in JSON by column", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    execSql(join(dir, "b.db"), "UPDATE items SET note = 'edited' || char(27) || '[2J' WHERE id = 40");
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
    const text = await runConcord(["scan", "--values", "-c", config]);
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(
      /\n {2}40 +conflict .*note\n {6}COLUMN +a +b\n {6}note \* +NULL +edited\\x1b\[2J\n/,
    );
    expect(text.stdout).not.toContain("\u001b");
    // A record one replica lacks: every column, the absent side marked.
    expect(text.stdout).toMatch(
      /\n {2}10 +missing .*\n {6}COLUMN +a +b\n {6}name +item 10 +\(absent\)\n {6}note +NULL +\(absent\)\n/,
    );
    const plain = await runConcord(["scan", "-c", config]);
    expect(plain.stdout).not.toContain("COLUMN");

    const json = parseJson(await runConcord(["scan", "--json", "--values", "-c", config]));
    const d40 = json.datasets[0]!.divergences.find((d) => d.key[0] === 40)!;
    expect(d40.replicas).toMatchObject({
      a: { present: true, values: { name: "item 40", note: null } },
      b: { present: true, values: { note: "edited\u001b[2J" } },
    });
    const withoutValues = parseJson(await runConcord(["scan", "--json", "-c", config]));
    expect(withoutValues.datasets[0]!.divergences[0]!.replicas!.a).not.toHaveProperty("values");

    const plan = await runConcord(["plan", "--values", "-c", config]);
    expect(plan.stdout).toMatch(/ {6}note \* +NULL +edited\\x1b\[2J/);
  });

  it("plan counts decisions by action and says what each does, in aligned columns", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir); // missing [10] on b, [20] on a, [301] only on b; owner a below
    const config = writeConfig(dir, itemsConfig(`owner: a\nresolve: owner\n${SEEDED_POLICY}`));
    const r = await runConcord(["plan", "-c", config]);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout.split("\n");
    const counts = lines.find((l) => /^ {2}\d+ decisions: /.test(l))!;
    const doc = parseJson<PlanJson & { datasets: { actions: Record<string, number> }[] }>(
      await runConcord(["plan", "--json", "-c", config]),
    );
    const actions = doc.datasets[0]!.actions;
    expect(Object.values(actions).reduce((a, b) => a + b, 0)).toBe(doc.datasets[0]!.decisions.length);
    expect(counts).toBe(
      `  ${doc.datasets[0]!.decisions.length} decisions: ${[
        "propagate",
        "delete",
        "merge",
        "escalate",
        "wait",
        "ignore",
      ]
        .filter((a) => actions[a])
        .map((a) => `${a} ${actions[a]}`)
        .join(" · ")}`,
    );
    const header = lines.findIndex((l) => /^ {4}KEY +CLASS +ACTION +RULE +REASON$/.test(l));
    expect(header).toBeGreaterThan(0);
    const at = (l: string, word: string) =>
      lines[header]!.indexOf(word) === l.indexOf(l.slice(lines[header]!.indexOf(word)));
    const rows = lines.slice(header + 1).filter((l) => /^ {4}\d/.test(l));
    expect(rows.length).toBe(doc.datasets[0]!.decisions.length);
    for (const row of rows) expect(at(row, "ACTION"), row).toBe(true);
    const row = (key: number) => rows.find((l) => l.startsWith(`    ${key} `))!;
    const action = (l: string) =>
      l.slice(lines[header]!.indexOf("ACTION"), lines[header]!.indexOf("RULE")).trim();
    expect(action(row(10))).toBe("write a's record to b");
    expect(action(row(20))).toBe("delete on b (a lacks it)");
    expect(action(row(301))).toBe("delete on b (a lacks it)");
    expect(action(row(50))).toBe("none (within tolerance)");
    expect(action(row(60))).toBe("wait (re-checked next run)");
  });

  it("--help names exit codes, environment and config file; simulate --help its faults; --version the package's", async ({
    expect,
  }) => {
    const help = await runConcord(["--help"]);
    expect(help.code).toBe(0);
    for (const text of [
      "Exit codes:",
      "  1    divergence remains",
      "  130  interrupted",
      "  143  stopped by SIGTERM",
      "CONCORD_TOKEN",
      "CONCORD_DEBUG",
      "${VAR} in the config file",
      "Config file:",
      "concord.yaml",
    ])
      expect(help.stdout).toContain(text);
    const scanHelp = await runConcord(["scan", "--help"]);
    expect(scanHelp.stdout).toContain("Exit codes:");
    expect(scanHelp.stdout).toContain("--values");
    const sim = await runConcord(["simulate", "--help"]);
    expect(sim.stdout.replace(/\s+/g, " ")).toContain(
      "the faults: partition, loss, duplicate, reorder, skew, crash, corrupt, write-fault, engine-crash",
    );
    const version = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
    expect(await runConcord(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("every --json document carries schemaVersion 1 and its lists even when empty", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
    const scan = JSON.parse((await runConcord(["scan", "--json", "-c", config])).stdout);
    expect(Object.keys(scan).slice(0, 3)).toEqual(["schemaVersion", "runId", "interrupted"]);
    expect([scan.schemaVersion, scan.interrupted]).toEqual([1, false]);
    expect(scan.datasets[0].notes).toEqual([]);
    for (const d of scan.datasets[0].divergences) {
      expect(Array.isArray(d.columns), JSON.stringify(d)).toBe(true);
      expect(d.regressed).toEqual([]);
    }
    const plan = JSON.parse((await runConcord(["plan", "--json", "-c", config])).stdout);
    expect([plan.schemaVersion, plan.datasets[0].guard]).toEqual([1, null]);
    const repair = JSON.parse((await runConcord(["repair", "--json", "-c", config])).stdout);
    expect([repair.schemaVersion, repair.datasets[0].recovered]).toEqual([1, []]);
    const docs = await Promise.all(
      [
        ["escalations", "list", "--json"],
        ["audit", "show", "--json", "--limit", "2"],
        ["audit", "verify", "--json"],
        ["rollback", "--json", "--run", repair.runId],
      ].map((args) => runConcord([...args, "-c", config])),
    );
    for (const d of docs) expect(JSON.parse(d.stdout).schemaVersion, d.stdout.slice(0, 200)).toBe(1);
    const sim = await runConcord([
      "simulate",
      "--json",
      "--keys",
      "20",
      "--writes",
      "50",
      "--faults",
      "none",
    ]);
    expect(JSON.parse(sim.stdout).schemaVersion).toBe(1);
  });

  it("audit show: images by column name, keys typed as scan's, --tail, --since, and the default limit said", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    // 450 stale rows on b under owner a: 3 entries each (detected, decided, applied): past the default 1,000.
    const rows = itemRows(600);
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, rows);
    makeSqliteTable(join(dir, "b.db"), "items", ITEMS_DDL, rows, {
      sql: "UPDATE items SET name = 'old ' || id, version = version - 1 WHERE id <= 450",
    });
    const ddl = "region TEXT NOT NULL, id INTEGER NOT NULL, value TEXT, PRIMARY KEY (region, id)";
    makeSqliteTable(join(dir, "a.db"), "pairs", ddl, [["eu", 7, "x"]]);
    makeSqliteTable(join(dir, "b.db"), "pairs", ddl, [["eu", 7, "y"]]);
    const config = writeConfig(
      dir,
      itemsConfig(
        "owner: a\nresolve: owner",
        `  pairs:
    key: [region, id]
    replicas:
      a: { url: "sqlite:a.db", table: pairs }
      b: { url: "sqlite:b.db", table: pairs }
    policy: { owner: a, resolve: owner }
`,
      ),
    );
    expect((await runConcord(["repair", "-c", config])).code).toBe(0);

    const all = parseJson<{ entries: AuditView[]; truncated: boolean }>(
      await runConcord(["audit", "show", "--json", "--limit", "5000", "-c", config]),
    );
    expect(all.truncated).toBe(false);
    const applied = all.entries.find(
      (e) => e.type === "applied" && e.dataset === "items" && e.key === '["3"]',
    )!;
    expect(applied.keyJson).toEqual([3]);
    expect(applied.time).toBe(new Date(applied.ts).toISOString());
    expect(applied.images!.before).toMatchObject({ name: "old 3" });
    expect(applied.images!.after).toMatchObject({ name: "item 3" });
    const pair = all.entries.filter((e) => e.dataset === "pairs");
    expect(pair.map((e) => [e.type, e.key, e.keyJson])).toEqual([
      // The dataset's first repair records its policy, before its first decision.
      ["policy-changed", null, null],
      ["detected", '["eu","7"]', ["eu", 7]],
      ["decided", '["eu","7"]', ["eu", 7]],
      ["applied", '["eu","7"]', ["eu", 7]],
    ]);
    const text = await runConcord(["audit", "show", "--key", "eu,7", "-c", config]);
    expect(text.stdout).toMatch(/ applied pairs eu,7 {2}b: value "y" → "x"\n$/);

    // The default limit: the first 1,000, and a note saying so and what to do.
    const head = await runConcord(["audit", "show", "-c", config]);
    const lines = head.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(1001);
    expect(lines.at(-1)).toBe(
      "… more entries follow #1000; showing the first 1,000 entries (the default --limit): raise --limit, use --tail N for the newest, or filter with --since / --run / --key",
    );
    // --tail: the newest, oldest first among them, with a note that more precede.
    const tail = await runConcord(["audit", "show", "--tail", "3", "-c", config]);
    const last = all.entries.at(-1)!.seq;
    expect(
      tail.stdout
        .split("\n")
        .slice(0, 4)
        .map((l) => l.split(" ")[0]),
    ).toEqual(["…", `#${last - 2}`, `#${last - 1}`, `#${last}`]);
    const tailJson = parseJson<{ entries: AuditView[]; order: string }>(
      await runConcord(["audit", "show", "--json", "--tail", "2", "-c", config]),
    );
    expect([tailJson.order, tailJson.entries.map((e) => e.seq)]).toEqual(["newest", [last - 1, last]]);
    // --since: from a time on (a future one matches nothing; an hour back, everything).
    const future = await runConcord(["audit", "show", "--since", "2999-01-01T00:00:00Z", "-c", config]);
    expect(future.stdout).toBe("No audit entries match.\n");
    const hour = parseJson<{ entries: AuditView[] }>(
      await runConcord(["audit", "show", "--json", "--since", "1h", "--limit", "5000", "-c", config]),
    );
    expect(hour.entries.length).toBe(all.entries.length);
    const from = all.entries[700]!;
    const since = parseJson<{ entries: AuditView[] }>(
      await runConcord([
        "audit",
        "show",
        "--json",
        "--since",
        new Date(from.ts).toISOString(),
        "--limit",
        "5000",
        "-c",
        config,
      ]),
    );
    expect(since.entries.every((e) => e.ts >= from.ts)).toBe(true);
    expect(since.entries.map((e) => e.seq)).toEqual(
      all.entries.filter((e) => e.ts >= from.ts).map((e) => e.seq),
    );
    const bad = await runConcord(["audit", "show", "--since", "yesterday", "-c", config]);
    expect([bad.code, bad.stderr]).toEqual([
      2,
      "concord: --since yesterday: expected an ISO 8601 date-time (2024-05-01T12:00Z) or a duration (30m, 2h, 7d)\n",
    ]);
    const both = await runConcord(["audit", "show", "--tail", "2", "--limit", "3", "-c", config]);
    expect(both.stderr).toBe("concord: give --limit (the first entries) or --tail (the newest), not both\n");
  });
});
