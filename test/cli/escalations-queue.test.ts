/**
 * The escalation queue at scale from the command line: 43 escalations over three replicas, filtered by
 * dataset, class, column and replica, paged, folded into groups, shown with their values side by side, and
 * resolved a group at a time after a confirmation, each write conditional and audited with who did it.
 */
import { userInfo } from "node:os";
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  type AuditJson,
  execSql,
  expectOneLineError,
  makeSqliteTable,
  parseJson,
  query,
  runConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

const DDL = "id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT, version INTEGER NOT NULL";

/**
 * Replicas a, b, c of `t` (counter versions, no owner: nothing is decided alone). Missing on c: ids 1–30.
 * Conflict in note on b: 31–41 (b holds the odd value). Conflict in name and note on c: 42, 43. One row
 * with a hostile note: 44 (b's note holds an escape sequence).
 */
function queueReplicas(dir: string): string {
  const rows = Array.from({ length: 60 }, (_, i) => [i + 1, `name ${i + 1}`, `note ${i + 1}`, 1]);
  for (const r of ["a", "b", "c"]) makeSqliteTable(join(dir, `${r}.db`), "t", DDL, rows);
  execSql(
    join(dir, "b.db"),
    "UPDATE t SET note = 'b says ' || id WHERE id BETWEEN 31 AND 41; UPDATE t SET note = 'x' || char(27) || '[2J' WHERE id = 44;",
  );
  execSql(
    join(dir, "c.db"),
    "DELETE FROM t WHERE id <= 30; UPDATE t SET name = 'c name', note = 'c note' WHERE id IN (42, 43);",
  );
  return writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  t:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
      c: { url: "sqlite:c.db", table: t }
    policy: { resolve: highest-version }
`,
  );
}

interface Listed {
  schemaVersion: number;
  total: number;
  page?: number;
  limit?: number;
  escalations: {
    id: string;
    key: number[];
    class: string;
    columns: string[];
    absent: string[];
    group: string;
    status: string;
    resolvedAt: string | null;
    resolvedBy: string | null;
    pick: string | null;
    note: string | null;
    replicas: Record<string, { present: boolean; fingerprint: string | null }>;
    current?: {
      state: string;
      differing: string[];
      replicas: Record<string, { present: boolean; values: Record<string, string | null> | null }>;
    } | null;
  }[];
}

interface Groups {
  schemaVersion: number;
  groups: {
    id: string;
    dataset: string;
    class: string;
    columns: string[];
    absent: string[];
    count: number;
    description: string;
  }[];
}

async function list(config: string, ...args: string[]): Promise<Listed> {
  const r = await runConcord(["escalations", "list", "--json", ...args, "-c", config]);
  if (r.code !== 0) throw new Error(`list: exit ${r.code}: ${r.stderr}`);
  return parseJson<Listed>(r);
}

const keys = (l: Listed) => l.escalations.map((e) => e.key[0]!).sort((x, y) => x - y);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.concurrent("the escalation queue", () => {
  it("filters by class, column, replica and dataset, pages with a visible note, and groups by pattern", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const config = queueReplicas(dir);
    expect((await runConcord(["repair", "-c", config])).code).toBe(1);

    const all = await list(config);
    expect(all.schemaVersion).toBe(1);
    expect(all.total).toBe(44);
    expect(keys(all)).toEqual(range(1, 44));
    expect(all.page).toBeUndefined();
    expect(keys(await list(config, "--class", "missing"))).toEqual(range(1, 30));
    expect(keys(await list(config, "--column", "name"))).toEqual([42, 43]);
    expect(keys(await list(config, "--column", "note"))).toEqual([...range(31, 44)]);
    expect(keys(await list(config, "--replica", "b"))).toEqual([...range(31, 41), 44]);
    expect(keys(await list(config, "--replica", "c"))).toEqual([...range(1, 30), 42, 43]);
    expect(keys(await list(config, "--replica", "a"))).toEqual([]);
    expect(keys(await list(config, "--class", "conflict", "--replica", "c"))).toEqual([42, 43]);
    // A misspelt dataset is named, not listed as an empty queue.
    const other = await runConcord(["escalations", "list", "-c", config, "-d", "other", "--json"]);
    expect({ code: other.code, stdout: other.stdout }).toEqual({ code: 2, stdout: "" });
    expect(other.stderr).toBe(
      'concord: -d other: no dataset named "other" in the config, nor escalations of one (have: t)\n',
    );
    const resolveOther = await runConcord([
      "escalations",
      "resolve",
      "--all-matching",
      "-d",
      "other",
      "--reject",
      "--yes",
      "-c",
      config,
    ]);
    expect(resolveOther.code).toBe(2);
    expect(resolveOther.stderr).toMatch(/^concord: -d other: no dataset named "other"/);
    const nobody = await runConcord(["escalations", "list", "-c", config, "--replica", "z"]);
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toBe(
      'concord: --replica z: no replica named "z" in the config, nor escalations concerning one (have: a, b, c)\n',
    );
    const missing = (await list(config, "--class", "missing")).escalations[0]!;
    expect(missing).toMatchObject({ class: "missing", columns: [], absent: ["c"], status: "open" });
    expect(missing.replicas).toEqual({
      a: { present: true, fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) },
      b: { present: true, fingerprint: missing.replicas.a!.fingerprint },
      c: { present: false, fingerprint: null },
    });

    // Pages: JSON pages when asked; text pages by 50 unless --limit, and says so.
    const page2 = await list(config, "--limit", "20", "--page", "2");
    expect([page2.total, page2.page, page2.limit, page2.escalations.length]).toEqual([44, 2, 20, 20]);
    expect(page2.escalations.map((e) => e.id)).toEqual(all.escalations.slice(20, 40).map((e) => e.id));
    const text = await runConcord(["escalations", "list", "--limit", "20", "--page", "3", "-c", config]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      "Showing 41–44 of 44 open escalations (page 3 of 3, 20 per page; --page N for more).",
    );
    const first = await runConcord(["escalations", "list", "-c", config]);
    expect(first.stdout).toContain("Showing 1–44 of 44 open escalations.");
    expect(first.stdout.split("\n")[0]).toMatch(/^ {2}ID +DATASET +KEY +CLASS +PATTERN +OPENED$/);
    expect(first.stdout).toMatch(/\n {2}[0-9a-f]{16} {2}t {8}1 {4}missing {3}absent on c +\d{4}-/);
    const past = await runConcord(["escalations", "list", "--page", "9", "-c", config]);
    expect(past.stdout).toBe("44 open escalations match; page 9 is past the last (1).\n");
    for (const [flag, value, want] of [
      ["--limit", "0", "a whole number from 1 to 10000"],
      ["--page", "x", "a positive whole number"],
      ["--limit", "10001", "a whole number from 1 to 10000"],
      ["--limit", "1e3", "a whole number from 1 to 10000"],
      ["--page", "0x2", "a positive whole number"],
    ] as const)
      expect(
        expectOneLineError(await runConcord(["escalations", "list", flag, value, "-c", config]), expect),
      ).toContain(`${flag}: expected ${want}, got "${value}"`);
    expect(
      expectOneLineError(await runConcord(["escalations", "list", "--class", "nope", "-c", config]), expect),
    ).toContain("--class nope: expected one of missing, stale");

    // Groups: by pattern, largest first; a group's id lists it.
    const g = await runConcord(["escalations", "list", "--group", "--json", "-c", config]);
    const { groups } = parseJson<Groups>(g);
    expect(groups.map((x) => [x.class, x.columns, x.absent, x.count, x.description])).toEqual([
      ["missing", [], ["c"], 30, "absent on c"],
      ["conflict", ["note"], [], 12, "differs in note"],
      ["conflict", ["name", "note"], [], 2, "differs in name, note"],
    ]);
    expect(keys(await list(config, "--group", groups[2]!.id))).toEqual([42, 43]);
    expect(new Set((await list(config, "--group", groups[0]!.id)).escalations.map((e) => e.group))).toEqual(
      new Set([groups[0]!.id]),
    );
    expect((await list(config, "--group", "0123456789ab")).total).toBe(0);
    const gText = await runConcord(["escalations", "list", "--group", "-c", config]);
    expect(gText.stdout).toContain("44 open escalations in 3 groups:");
    expect(gText.stdout).toMatch(new RegExp(`\\n {2}${groups[0]!.id} {2}30 {5}t {8}missing {3}absent on c`));
    expect(gText.stdout).toContain(
      "Resolve a group: concord escalations resolve --all-matching --group GROUP",
    );
  });

  it("shows the values each replica holds now, side by side and printable, read on demand", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const config = queueReplicas(dir);
    await runConcord(["repair", "-c", config]);
    const withValues = await list(config, "--values", "--column", "name");
    expect(withValues.escalations.map((e) => e.current)).toEqual([
      {
        id: withValues.escalations[0]!.id,
        dataset: "t",
        key: [42],
        columns: ["name", "note", "version"],
        state: "diverged",
        changed: false,
        differing: ["name", "note"],
        replicas: {
          a: {
            present: true,
            values: { name: "name 42", note: "note 42", version: "1" },
            version: { counter: "1" },
          },
          b: {
            present: true,
            values: { name: "name 42", note: "note 42", version: "1" },
            version: { counter: "1" },
          },
          c: {
            present: true,
            values: { name: "c name", note: "c note", version: "1" },
            version: { counter: "1" },
          },
        },
      },
      expect.objectContaining({ key: [43] }),
    ]);
    // Read now, not stored: a value changed after the plan shows, marked as changed.
    execSql(join(dir, "c.db"), "UPDATE t SET name = 'changed later' WHERE id = 42");
    const text = await runConcord(["escalations", "list", "--values", "--column", "name", "-c", config]);
    expect(text.stdout).toContain("now (changed since it was escalated: a pick writes nothing):");
    expect(text.stdout).toMatch(
      /COLUMN +a +b +c\n +name \* +name 42 +name 42 +changed later\n +note \* +note 42 +note 42 +c note/,
    );
    // A hostile value is printed inert.
    const shown = await runConcord([
      "escalations",
      "list",
      "--values",
      "--replica",
      "b",
      "--limit",
      "50",
      "-c",
      config,
    ]);
    expect(shown.stdout).toContain("x\\x1b[2J");
    expect(shown.stdout).not.toContain("\u001b");
    // A missing record: every column, the absent replica marked.
    const one = (await list(config, "--class", "missing", "--limit", "1")).escalations[0]!;
    const show = await runConcord(["escalations", "show", one.id, "-c", config]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(
      /COLUMN +a +b +c\n +name +name 1 +name 1 +\(absent\)\n +note +note 1 +note 1 +\(absent\)/,
    );
    expect(show.stdout).toContain(`resolve: concord escalations resolve ${one.id} --pick a|b|c`);
  });

  it("resolves a group after confirmation: each write conditional and audited with who, when and which pick", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const config = queueReplicas(dir);
    await runConcord(["repair", "-c", config]);
    const { groups } = parseJson<Groups>(
      await runConcord(["escalations", "list", "--group", "--json", "-c", config]),
    );
    const noteGroup = groups.find((x) => x.description === "differs in note")!;
    const state = join(dir, "state.db");
    const ledger = () => query<{ n: number }>(state, "SELECT count(*) AS n FROM ledger")[0]!.n;

    // No terminal to ask on, no --yes: refused, nothing written.
    const refused = await runConcord([
      "escalations",
      "resolve",
      "--all-matching",
      "--group",
      noteGroup.id,
      "--pick",
      "a",
      "-c",
      config,
    ]);
    expect(expectOneLineError(refused, expect)).toBe(
      "concord: 12 open escalations match; add --yes to resolve them all (stdin is not a terminal to confirm on)",
    );
    // Asked on a terminal, answered no: nothing written.
    const no = await runConcord(
      ["escalations", "resolve", "--all-matching", "--group", noteGroup.id, "--pick", "a", "-c", config],
      { typed: "n\n" },
    );
    expect([no.code, no.stdout]).toEqual([2, ""]);
    expect(no.stderr).toBe(
      "12 open escalations match: make a's state win for all of them? Each write is conditional and audited. [y/N] concord: not confirmed; nothing written\n",
    );
    expect(ledger()).toBe(0);
    // A page past any list (its offset past 2^53): one line naming the flag, and no half a JSON document.
    for (const json of [[], ["--json"]])
      expect(
        expectOneLineError(
          await runConcord([
            "escalations",
            "list",
            "--page",
            "9007199254740991",
            "--limit",
            "10000",
            ...json,
            "-c",
            config,
          ]),
          expect,
        ),
      ).toBe("concord: --page 9007199254740991: past any list (at most 900719925475 pages of 10000)");
    // A pick no dataset has a replica of: refused in one line before anything matches, nothing written.
    for (const filter of [
      ["--group", noteGroup.id],
      ["--class", "schema"],
    ])
      expect(
        expectOneLineError(
          await runConcord([
            "escalations",
            "resolve",
            "--all-matching",
            ...filter,
            "--pick",
            "zz",
            "--yes",
            "-c",
            config,
          ]),
          expect,
        ),
      ).toBe('concord: --pick zz: no replica named "zz" in the config (have: a, b, c)');
    expect(ledger()).toBe(0);
    expect(
      expectOneLineError(
        await runConcord(["escalations", "resolve", "abc", "--all-matching", "--pick", "a", "-c", config]),
        expect,
      ),
    ).toContain("give an id or --all-matching, not both");
    expect(
      expectOneLineError(
        await runConcord(["escalations", "resolve", "--class", "conflict", "--pick", "a", "-c", config]),
        expect,
      ),
    ).toContain("give the escalation's id, or --all-matching with filters");

    // One of the group changed on b since: left open, nothing written to it. The rest: a wins, on b.
    execSql(join(dir, "b.db"), "UPDATE t SET note = 'moved on' WHERE id = 35");
    const yes = await runConcord(
      [
        "escalations",
        "resolve",
        "--all-matching",
        "--group",
        noteGroup.id,
        "--pick",
        "a",
        "--json",
        "-c",
        config,
      ],
      { typed: "y\n" },
    );
    expect(yes.code, yes.stderr).toBe(1);
    const doc = parseJson<{
      schemaVersion: number;
      matched: number;
      resolved: number;
      open: number;
      repairs: Record<string, number>;
      outcomes: {
        key: number[];
        status: string;
        note?: string;
        repairs: { target: string; outcome: string }[];
      }[];
    }>(yes);
    expect([doc.schemaVersion, doc.matched, doc.resolved, doc.open, doc.repairs]).toEqual([
      1,
      12,
      11,
      1,
      { applied: 11 },
    ]);
    expect(doc.outcomes.find((o) => o.key[0] === 35)).toEqual({
      id: expect.any(String),
      dataset: "t",
      key: [35],
      status: "open",
      note: "the record changed since it was escalated",
      repairs: [],
    });
    expect(doc.outcomes.find((o) => o.key[0] === 31)!.repairs).toEqual([
      { id: expect.any(String), target: "b", outcome: "applied" },
    ]);
    const b = query<{ id: number; note: string }>(
      join(dir, "b.db"),
      "SELECT id, note FROM t WHERE id BETWEEN 31 AND 44 ORDER BY id",
    );
    expect(b.map((r) => r.note)).toEqual([
      ...range(31, 34).map((i) => `note ${i}`),
      "moved on",
      ...range(36, 44).map((i) => `note ${i}`),
    ]);

    // Who, when and which pick, on each resolved one.
    const me = `cli:${userInfo().username}`;
    const resolved = await list(config, "--status", "resolved");
    expect(resolved.total).toBe(11);
    for (const e of resolved.escalations) {
      expect(e).toMatchObject({ status: "resolved", resolvedBy: me, pick: "a", note: null });
      expect(Date.parse(e.resolvedAt!)).toBeGreaterThan(Date.now() - 60_000);
    }
    const allText = await runConcord([
      "escalations",
      "list",
      "--all",
      "--class",
      "conflict",
      "--limit",
      "100",
      "-c",
      config,
    ]);
    expect(allText.stdout).toMatch(new RegExp(`resolved \\d{4}-\\S+Z by ${me} \\(pick a\\)`));
    // Audited: one resolved entry per escalation, naming who, with the repair it made.
    const audit = parseJson<{ entries: AuditJson[] }>(
      await runConcord(["audit", "show", "--json", "--limit", "10000", "-c", config]),
    ).entries.filter((e) => e.type === "resolved");
    expect(audit).toHaveLength(11);
    for (const e of audit) expect(e.data).toMatchObject({ by: me, pick: "a", ok: true });
    expect((await runConcord(["audit", "verify", "-c", config])).code).toBe(0);

    // A reject of what is left in the group needs no terminal with --yes; the changed one closes too.
    const reject = await runConcord([
      "escalations",
      "resolve",
      "--all-matching",
      "--group",
      noteGroup.id,
      "--reject",
      "--yes",
      "-c",
      config,
    ]);
    expect([reject.code, reject.stdout]).toEqual([
      0,
      "1 escalation of 1: 0 resolved, 1 rejected, 0 left open.\n",
    ]);
    const nothing = await runConcord([
      "escalations",
      "resolve",
      "--all-matching",
      "--group",
      noteGroup.id,
      "--reject",
      "--yes",
      "-c",
      config,
    ]);
    expect([nothing.code, nothing.stdout]).toEqual([0, "No open escalations match; nothing to resolve.\n"]);
  });
});
