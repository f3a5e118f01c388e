/**
 * Bad input: every usage, configuration, connection or data error exits 2 with exactly one
 * `concord: …` line on stderr naming what is wrong and where, nothing on stdout, and no secrets.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, type TestContext, test } from "vitest";
import {
  expectOneLineError,
  ITEMS_DDL,
  itemRows,
  itemsConfig,
  makeItemsReplicas,
  makeSqliteTable,
  runConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

/** A `${NAME}` reference as the config file spells it. */
function envRef(name: string): string {
  return `\${${name}}`;
}

/** Two replicas of `items` declared in a config; `dataset` replaces the dataset body. */
function configWith(dataset: string): string {
  return `state: sqlite:state.db\ndatasets:\n  items:\n${dataset.replace(/^/gm, "    ")}\n`;
}

const REPLICAS = `key: id
replicas:
  a: { url: "sqlite:a.db", table: items }
  b: { url: "sqlite:b.db", table: items }`;

/** Writes `yaml` as concord.yaml in a fresh dir and scans it; returns the one error line. */
async function scanError(ctx: TestContext, yaml: string, args: string[] = [], env = {}): Promise<string> {
  const dir = tempDir(ctx.onTestFinished);
  const config = writeConfig(dir, yaml);
  return expectOneLineError(await runConcord(["scan", "-c", config, ...args], { env }), ctx.expect);
}

describe.concurrent("concord: bad input exits 2 with one line on stderr", () => {
  test("missing config file (default ./concord.yaml)", async (ctx) => {
    const dir = tempDir(ctx.onTestFinished);
    const line = expectOneLineError(await runConcord(["scan"], { cwd: dir }), ctx.expect);
    ctx.expect(line).toMatch(/^concord: concord\.yaml: cannot read config file \(not found/);
  });

  test("YAML syntax error names line and column", async (ctx) => {
    const line = await scanError(ctx, "datasets:\n  items:\n    key: id\n   replicas: [a\n");
    ctx.expect(line).toMatch(/^concord: \S*concord\.yaml:4:\d+: /);
  });

  test("unknown key (typo) names its path", async (ctx) => {
    const line = await scanError(ctx, configWith(`${REPLICAS}\npolcy: { owner: a }`));
    ctx.expect(line).toContain("datasets.items.polcy");
    ctx.expect(line).toContain("unknown key");
  });

  test("owner that is not a replica", async (ctx) => {
    const line = await scanError(ctx, configWith(`${REPLICAS}\npolicy: { owner: c }`));
    ctx.expect(line).toBe('concord: datasets.items.policy.owner: "c" is not a replica of items');
  });

  test("only one replica", async (ctx) => {
    const line = await scanError(
      ctx,
      configWith('key: id\nreplicas:\n  a: { url: "sqlite:a.db", table: items }'),
    );
    ctx.expect(line).toContain("datasets.items.replicas");
    ctx.expect(line).toContain("at least two replicas");
  });

  test("bad duration", async (ctx) => {
    const line = await scanError(ctx, configWith(`${REPLICAS}\npolicy: { window: 5 parsecs }`));
    ctx.expect(line).toContain("datasets.items.policy.window");
    ctx.expect(line).toContain("duration");
  });

  test("a timer's duration past 2^31 - 1 ms (Node would fire it after 1 ms: every call timed out at once)", async (ctx) => {
    const max = "must be at most 24d (the longest a timer can wait, 2^31 - 1 ms)";
    const top = await scanError(ctx, `timeouts: { connect: 30d }\n${configWith(REPLICAS)}`);
    ctx.expect(top).toBe(`concord: timeouts.connect: ${max}`);
    const replica = await scanError(
      ctx,
      configWith(REPLICAS.replace("table: items }", "table: items, timeouts: { query: 25d } }")),
    );
    ctx.expect(replica).toBe(`concord: datasets.items.replicas.a.timeouts.query: ${max}`);
    const probe = await scanError(ctx, configWith(`${REPLICAS}\nprobe: { every: 30d, key: -1 }`));
    ctx.expect(probe).toBe(`concord: datasets.items.probe.every: ${max}`);
  });

  test("unset environment variable", async (ctx) => {
    const yaml = configWith(REPLICAS.replace("sqlite:b.db", `sqlite:${envRef("CONCORD_TEST_UNSET_VAR")}`));
    const line = await scanError(ctx, yaml, [], { CONCORD_TEST_UNSET_VAR: undefined });
    ctx.expect(line).toContain("datasets.items.replicas.b.url");
    ctx.expect(line).toContain("CONCORD_TEST_UNSET_VAR");
  });

  test("unknown dataset with -d", async (ctx) => {
    const line = await scanError(ctx, configWith(REPLICAS), ["-d", "items,nope"]);
    ctx.expect(line).toContain('no dataset named "nope"');
    ctx.expect(line).toContain("items");
  });

  test("unknown CLI flag (with a suggestion)", async (ctx) => {
    const line = expectOneLineError(await runConcord(["scan", "--jsn"]), ctx.expect);
    ctx.expect(line).toContain("--jsn");
  });

  test("a whole-number flag takes decimal digits only, on every command", async (ctx) => {
    // JavaScript's Number() reads 1e3, 0x10, " 5" and 5.0 as numbers: each was taken by some command.
    for (const [args, flag] of [
      [["scan", "--limit", "1e3"], "--limit"],
      [["scan", "--limit", "0x10"], "--limit"],
      [["diff", "sqlite:a.db", "t", "sqlite:b.db", "t", "-k", "id", "--limit", " 5"], "--limit"],
      [["audit", "show", "--tail", "5.0"], "--tail"],
      [["simulate", "--replicas", "1e1"], "--replicas"],
      [["simulate", "--seed", "-1"], "--seed"],
      [["replay", "-d", "items", "--replica", "b", "--batch", "2e2"], "--batch"],
    ] as const) {
      const line = expectOneLineError(await runConcord([...args]), ctx.expect);
      ctx.expect(line).toMatch(new RegExp(`^concord: ${flag}: expected a (positive )?whole number`));
    }
  });

  test("a command taking one dataset refuses two, not keeping the last silently", async (ctx) => {
    for (const args of [
      ["replay", "-d", "items", "-d", "other", "--replica", "b"],
      ["escalations", "list", "-d", "items,other"],
      ["policy", "show", "-d", "items", "-d", "other"],
      ["policy", "history", "-d", "a", "-d", "b"],
    ]) {
      const line = expectOneLineError(await runConcord(args), ctx.expect);
      ctx.expect(line).toMatch(/-d, --dataset <name>' argument .* this command takes one/);
    }
  });

  test("unknown command", async (ctx) => {
    const line = expectOneLineError(await runConcord(["scna"]), ctx.expect);
    ctx.expect(line).toContain("scna");
  });

  test("missing sqlite replica file names the replica", async (ctx) => {
    const dir = tempDir(ctx.onTestFinished);
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, itemRows(10));
    const config = writeConfig(dir, itemsConfig());
    const line = expectOneLineError(await runConcord(["scan", "--json", "-c", config]), ctx.expect);
    ctx.expect(line).toMatch(/^concord: items\.b: /);
    ctx.expect(line).toContain("b.db");
  });

  test("missing table names the replica and the table", async (ctx) => {
    const dir = tempDir(ctx.onTestFinished);
    makeItemsReplicas(dir, { rows: 10 });
    const config = writeConfig(
      dir,
      itemsConfig().replace("table: items }\n      b:", "table: itemz }\n      b:"),
    );
    const line = expectOneLineError(await runConcord(["scan", "--json", "-c", config]), ctx.expect);
    ctx.expect(line).toMatch(/^concord: items\.a: /);
    ctx.expect(line).toContain("itemz");
  });

  test("a replica file that is not a SQLite database names the replica, and is closed again", async (ctx) => {
    const dir = tempDir(ctx.onTestFinished);
    makeSqliteTable(join(dir, "a.db"), "items", ITEMS_DDL, itemRows(10));
    writeFileSync(
      join(dir, "b.db"),
      "not a database, just text that is long enough to have a header\n".repeat(20),
    );
    const config = writeConfig(dir, itemsConfig());
    // repair opens the replicas for writing (WAL); runConcord fails the test if b.db is left open.
    const line = expectOneLineError(await runConcord(["repair", "-c", config]), ctx.expect);
    ctx.expect(line).toMatch(/^concord: items\.b: .*b\.db.*not a database/);
  });

  test("a state file that is not a SQLite database names it, and is closed again", async (ctx) => {
    const dir = tempDir(ctx.onTestFinished);
    makeItemsReplicas(dir, { rows: 10 });
    writeFileSync(
      join(dir, "state.db"),
      "not a database, just text that is long enough to have a header\n".repeat(20),
    );
    const config = writeConfig(dir, itemsConfig());
    const line = expectOneLineError(await runConcord(["scan", "-c", config]), ctx.expect);
    ctx.expect(line).toMatch(/^concord: state .*state\.db.*not a database/);
  });

  test("a postgres URL's password never appears in the output", async (ctx) => {
    const dir = tempDir(ctx.onTestFinished);
    makeItemsReplicas(dir, { rows: 10 });
    const literal = writeConfig(
      dir,
      itemsConfig().replace("sqlite:b.db", "postgres://user:s3cret@127.0.0.1/db"),
      "literal.yaml",
    );
    const fromEnv = writeConfig(
      dir,
      itemsConfig().replace("sqlite:b.db", `postgres://user:${envRef("CONCORD_TEST_PGPASS")}@127.0.0.1/db`),
      "env.yaml",
    );
    const env = { CONCORD_TEST_PGPASS: "s3cret" };
    const results = await Promise.all([
      runConcord(["scan", "--json", "-c", literal], { env }),
      runConcord(["scan", "-c", fromEnv], { env }),
    ]);
    for (const r of results) {
      ctx.expect(r.stdout + r.stderr).not.toContain("s3cret");
      const line = expectOneLineError(r, ctx.expect);
      ctx.expect(line).toContain("items.b");
    }
  });

  test("a password written unencoded (holding '@', '/', '?', '#' or a space) shows no part of itself", async (ctx) => {
    const dir = tempDir(ctx.onTestFinished);
    makeItemsReplicas(dir, { rows: 10 });
    // Port 1: nothing listens, so each connection is refused at once (a password with a space parses).
    const urls = [
      ["b", `postgres://user:${envRef("CONCORD_TEST_PW")}@127.0.0.1:1/db`],
      ["b", `mysql://root:${envRef("CONCORD_TEST_PW")}@127.0.0.1:1/db`],
      ["b", `redis://:${envRef("CONCORD_TEST_PW")}@127.0.0.1:1/0`],
      ["state", `postgres://user:${envRef("CONCORD_TEST_PW")}@127.0.0.1:1/db`],
      ["b", `postgres://user@127.0.0.1:1/db?password=${envRef("CONCORD_TEST_PW")}`],
      ["b", `mysql://root@127.0.0.1:1/db?ssl=false&password=${envRef("CONCORD_TEST_PW")}`],
    ] as const;
    const runs = [];
    for (const password of ["p@ss:w/rd?#tail", "open sesame"])
      for (const [i, [where, url]] of urls.entries()) {
        const text =
          where === "state"
            ? itemsConfig().replace("sqlite:state.db", `"${url}"`)
            : itemsConfig().replace(
                '{ url: "sqlite:b.db", table: items }',
                url.startsWith("redis")
                  ? `{ url: "${url}", prefix: "item:" }`
                  : `{ url: "${url}", table: items }`,
              );
        const config = writeConfig(dir, text, `${i}-${password.length}.yaml`);
        runs.push(runConcord(["scan", "-c", config], { env: { CONCORD_TEST_PW: password } }));
      }
    for (const r of await Promise.all(runs)) {
      const line = expectOneLineError(r, ctx.expect);
      // The URL shown redacted, or refused unread: a '/' before the last '@' of its password, or a query
      // parameter MariaDB/MySQL does not take (`?password=`: it never was read).
      ctx
        .expect(line)
        .toMatch(
          /:\*\*\*@|password=\*\*\*|the password holds '\/', '\?' or '#' before its '@'|\?password: not a parameter/,
        );
      for (const part of ["ss:w", "rd?#", "tail", "sesame"]) ctx.expect(line).not.toContain(part);
    }
  });

  test("a value that cannot be read as its declared type", async (ctx) => {
    const dir = tempDir(ctx.onTestFinished);
    const ddl = ITEMS_DDL.replace("qty INTEGER NOT NULL", "qty");
    const rows = itemRows(200);
    makeSqliteTable(join(dir, "a.db"), "items", ddl, rows);
    makeSqliteTable(join(dir, "b.db"), "items", ddl, rows, {
      sql: "UPDATE items SET qty = 'abc' WHERE id = 150;",
    });
    const config = writeConfig(dir, itemsConfig("", "    types: { qty: integer }\n"));
    const line = expectOneLineError(await runConcord(["scan", "--json", "-c", config]), ctx.expect);
    ctx.expect(line).toContain("qty");
    ctx.expect(line).toContain("abc");
  });
});
