import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_TIMEOUTS, loadConfig, parseConfig, serveToken } from "./load-config.js";
import { withRowFilter } from "./row-filter.js";

const PATH = "/etc/concord/concord.yaml";

/** The example from DESIGN.md. */
const DESIGN_EXAMPLE = `
state: sqlite:.concord/state.db          # or postgres://host/db
datasets:
  customers:
    key: id                              # or [tenant_id, id]
    columns: [name, email, balance, updated_at, version]   # default: all non-key columns
    versions: { counter: version, timestamp: updated_at }  # optional; also vector: <json column>
    replicas:
      primary:   { url: "postgres://127.0.0.1/app", table: customers }
      reporting: { url: "sqlite:./reporting.db", table: customers }
      cache:     { url: "redis://127.0.0.1:6379/0", prefix: "customer:" }
    policy:
      owner: primary                     # or { field: region, map: { eu: pg_eu, us: pg_us } }
      resolve: highest-version           # owner | lww | highest-version | version-vector | merge
      tolerance: { balance: 0.005 }
      window: 30s
      escalate: { ambiguity: 0.5 }
      limits: { maxRepairs: 10000, maxDivergentFraction: 0.2, writesPerSecond: 1000 }
    schedule: 5m                         # for serve
`;

/** A small valid dataset `items` with replicas a and b; `extra` lines are appended inside the dataset. */
function items(
  extra = "",
  replicas = "      a: { url: sqlite:a.db, table: items }\n      b: { url: sqlite:b.db, table: items }\n",
) {
  return `datasets:\n  items:\n    key: id\n    replicas:\n${replicas}${extra}`;
}

function errorOf(text: string, env: Record<string, string | undefined> = {}): string {
  try {
    parseConfig(text, PATH, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error("expected a ConfigError, but the config parsed");
}

describe("parseConfig: a valid config", () => {
  it("takes a zero window without a timestamp version (it waits for nothing)", () => {
    const text =
      "datasets:\n  items:\n    key: id\n    replicas:\n      a: { url: memory:a }\n      b: { url: memory:b }\n    policy: { owner: a, resolve: owner, window: 0s }\n";
    expect(parseConfig(text, PATH, {}).datasets[0]!.policy.windowMs).toBe(0);
  });

  it("parses the DESIGN.md example and normalises it", () => {
    const cfg = parseConfig(DESIGN_EXAMPLE, PATH, {});
    expect(cfg.path).toBe(PATH);
    expect(cfg.state).toBe("sqlite:/etc/concord/.concord/state.db");
    expect(cfg.datasets).toHaveLength(1);
    const ds = cfg.datasets[0]!;
    expect(ds).toEqual({
      name: "customers",
      policyApprovals: 0,
      key: ["id"],
      columns: ["name", "email", "balance", "updated_at", "version"],
      types: {},
      versions: { counter: "version", timestamp: "updated_at" },
      replicas: [
        {
          name: "primary",
          url: "postgres://127.0.0.1/app",
          table: "customers",
          timeouts: DEFAULT_TIMEOUTS,
        },
        {
          name: "reporting",
          url: "sqlite:/etc/concord/reporting.db",
          table: "customers",
          timeouts: DEFAULT_TIMEOUTS,
        },
        {
          name: "cache",
          url: "redis://127.0.0.1:6379/0",
          prefix: "customer:",
          timeouts: DEFAULT_TIMEOUTS,
        },
      ],
      policy: {
        owner: "primary",
        resolve: "highest-version",
        merge: {},
        tolerance: { balance: { kind: "numeric", bound: 0.005 } },
        windowMs: 30_000,
        escalateAmbiguity: 0.5,
        limits: { maxRepairs: 10000, maxDivergentFraction: 0.2, writesPerSecond: 1000 },
      },
      scheduleMs: 300_000,
      mode: "repair",
      repairMode: "all",
      intensity: 1,
      checkpointRows: 100_000,
      probe: undefined,
      detect: {},
    });
  });

  it("applies defaults to a minimal config", () => {
    const cfg = parseConfig(items(), PATH, {});
    const ds = cfg.datasets[0]!;
    expect(cfg.state).toBe("sqlite:/etc/concord/.concord/state.db");
    expect(ds.columns).toBeUndefined();
    expect(ds.versions).toEqual({});
    expect(ds.types).toEqual({});
    expect(ds.policy).toEqual({
      owner: undefined,
      resolve: undefined,
      merge: {},
      tolerance: {},
      windowMs: undefined,
      escalateAmbiguity: undefined,
      limits: {},
    });
    expect(ds.scheduleMs).toBeUndefined();
  });

  it.each<[string, unknown]>([
    ["key: [tenant_id, id]", ["tenant_id", "id"]],
    ["key: id", ["id"]],
  ])("%s → key %j", (keyLine, expected) => {
    const cfg = parseConfig(items().replace("key: id", keyLine), PATH, {});
    expect(cfg.datasets[0]!.key).toEqual(expected);
  });

  it("reads tolerances as numbers or durations, and an owner map", () => {
    const cfg = parseConfig(
      items(
        "    types: { seen_at: timestamp }\n" +
          "    policy:\n" +
          "      owner: { field: region, map: { eu: a, us: b } }\n" +
          "      tolerance: { balance: 0, seen_at: 1500ms }\n",
      ),
      PATH,
      {},
    );
    const policy = cfg.datasets[0]!.policy;
    expect(policy.owner).toEqual({ field: "region", map: { eu: "a", us: "b" } });
    expect(policy.tolerance).toEqual({
      balance: { kind: "numeric", bound: 0 },
      seen_at: { kind: "duration", ms: 1500 },
    });
    expect(cfg.datasets[0]!.types).toEqual({ seen_at: "timestamp" });
  });

  it.each(["recent-activity", "latency"])("reads an inferred owner by %s", (basis) => {
    const owner = (text: string) =>
      parseConfig(items(`    policy: { owner: ${text} }\n`), PATH, {}).datasets[0]!.policy.owner;
    expect(owner(`{ inferred: ${basis}, minConfidence: 0.8, fallback: a }`)).toEqual({
      inferred: basis,
      minConfidence: 0.8,
      fallback: "a",
    });
  });

  it("reads an inferred owner, minConfidence 0.9 unless given", () => {
    const owner = (line: string) =>
      parseConfig(items(`    policy: { owner: ${line} }\n`), PATH, {}).datasets[0]!.policy.owner;
    expect(owner("{ inferred: reliability }")).toEqual({ inferred: "reliability", minConfidence: 0.9 });
    expect(owner("{ inferred: reliability, minConfidence: 0.75, fallback: b }")).toEqual({
      inferred: "reliability",
      minConfidence: 0.75,
      fallback: "b",
    });
  });
});

describe("parseConfig: SQLite paths", () => {
  it.each<[string, string, string]>([
    ["sqlite:a.db", PATH, "sqlite:/etc/concord/a.db"],
    ["sqlite:./data/a.db", PATH, "sqlite:/etc/concord/data/a.db"],
    ["sqlite:../a.db", PATH, "sqlite:/etc/a.db"],
    ["sqlite:/var/lib/a.db", PATH, "sqlite:/var/lib/a.db"],
    ["sqlite:///var/lib/a.db", PATH, "sqlite:/var/lib/a.db"],
    ["sqlite::memory:", PATH, "sqlite::memory:"],
    ["sqlite:a.db", "/srv/app/conf/concord.yaml", "sqlite:/srv/app/conf/a.db"],
    ["postgres://127.0.0.1/app", PATH, "postgres://127.0.0.1/app"],
  ])("%s in %s → %s", (url, path, expected) => {
    const text = items("", `      a: { url: "${url}" }\n      b: { url: "memory:b" }\n`);
    expect(parseConfig(text, path, {}).datasets[0]!.replicas[0]!.url).toBe(expected);
  });

  it("resolves the state store path against the config file's folder", () => {
    const cfg = parseConfig(`state: sqlite:state/concord.db\n${items()}`, "/srv/app/concord.yaml", {});
    expect(cfg.state).toBe("sqlite:/srv/app/state/concord.db");
  });
});

describe("parseConfig: ${VAR} interpolation", () => {
  it.each<[string, Record<string, string | undefined>, string]>([
    ["${PG_URL}", { PG_URL: "postgres://u:p@db/app" }, "postgres://u:p@db/app"],
    ["postgres://${HOST}:${PORT}/app", { HOST: "db", PORT: "5433" }, "postgres://db:5433/app"],
    ["${PG_URL:-postgres://localhost/app}", {}, "postgres://localhost/app"],
    ["${PG_URL:-postgres://localhost/app}", { PG_URL: "postgres://db/app" }, "postgres://db/app"],
    ["${PG_URL:-postgres://localhost/app}", { PG_URL: "" }, "postgres://localhost/app"],
    ["memory:${NAME:-}x", {}, "memory:x"],
  ])("%s with %j → %s", (url, env, expected) => {
    const text = items("", `      a: { url: "${url}" }\n      b: { url: "memory:b" }\n`);
    expect(parseConfig(text, PATH, env).datasets[0]!.replicas[0]!.url).toBe(expected);
  });

  it.each<[string, Record<string, string | undefined>, string]>([
    ["${PG_URL}", {}, "datasets.items.replicas.a.url: environment variable PG_URL is not set"],
    [
      "${PG_URL}",
      { PG_URL: undefined },
      "datasets.items.replicas.a.url: environment variable PG_URL is not set",
    ],
    ["${HOST}/${DB}", { HOST: "h" }, "datasets.items.replicas.a.url: environment variable DB is not set"],
  ])("%s with %j → %s", (url, env, expected) => {
    const text = items("", `      a: { url: "${url}" }\n      b: { url: "memory:b" }\n`);
    expect(errorOf(text, env)).toBe(expected);
  });

  it("interpolates the state URL and names its path when unset", () => {
    expect(parseConfig(`state: \${STATE}\n${items()}`, PATH, { STATE: "postgres://s/db" }).state).toBe(
      "postgres://s/db",
    );
    expect(errorOf(`state: \${STATE}\n${items()}`)).toBe("state: environment variable STATE is not set");
  });
});

describe("parseConfig: errors are one line naming the path", () => {
  it.each<[string, string, string]>([
    [
      "owner not a replica",
      items("    policy: { owner: c }\n"),
      'datasets.items.policy.owner: "c" is not a replica of items',
    ],
    [
      "owner map value not a replica",
      items("    policy: { owner: { field: region, map: { eu: a, us: z } } }\n"),
      'datasets.items.policy.owner.map.us: "z" is not a replica of items',
    ],
    [
      "inferred owner's fallback not a replica",
      items("    policy: { owner: { inferred: reliability, fallback: z } }\n"),
      'datasets.items.policy.owner.fallback: "z" is not a replica of items',
    ],
    [
      "inferred owner by an unknown basis",
      items("    policy: { owner: { inferred: fastest } }\n"),
      "datasets.items.policy.owner: expected a replica name, { field, map } or { inferred: reliability | recent-activity | latency, minConfidence, fallback }",
    ],
    [
      "inferred recent-activity owner's fallback not a replica",
      items("    policy: { owner: { inferred: recent-activity, fallback: z } }\n"),
      'datasets.items.policy.owner.fallback: "z" is not a replica of items',
    ],
    [
      "inferred owner's minConfidence out of range",
      items("    policy: { owner: { inferred: reliability, minConfidence: 1.5 } }\n"),
      "datasets.items.policy.owner.minConfidence: expected a number in [0, 1]",
    ],
    [
      "unknown dataset key",
      items("    polcy: { owner: a }\n"),
      "datasets.items.polcy: unknown key (check the spelling)",
    ],
    [
      "unknown policy key",
      items("    policy: { ownr: a }\n"),
      "datasets.items.policy.ownr: unknown key (check the spelling)",
    ],
    [
      "unknown replica key",
      items("", "      a: { url: memory:a, tabel: t }\n      b: { url: memory:b }\n"),
      "datasets.items.replicas.a.tabel: unknown key (check the spelling)",
    ],
    ["unknown top-level key", `stat: sqlite:x.db\n${items()}`, "stat: unknown key (check the spelling)"],
    // The misspelling is the cause, the required key it left missing the symptom.
    [
      "misspelt required key",
      "datasets:\n  items:\n    key: id\n    replicass: { a: { url: memory:a }, b: { url: memory:b } }\n",
      "datasets.items.replicass: unknown key (did you mean replicas?)",
    ],
    [
      "misspelt required replica key",
      items("", "      a: { ulr: memory:a }\n      b: { url: memory:b }\n"),
      "datasets.items.replicas.a.ulr: unknown key (did you mean url?)",
    ],
    ["misspelt datasets", "dataset:\n  items: {}\n", "dataset: unknown key (did you mean datasets?)"],
    [
      "bad window",
      items("    policy: { window: 30x }\n"),
      'datasets.items.policy.window: expected a duration such as "30s", "5m" or "1h"',
    ],
    [
      "bad schedule",
      items("    schedule: soon\n"),
      'datasets.items.schedule: expected a duration such as "5m" or a cron expression such as "*/5 * * * *"',
    ],
    [
      "numeric schedule",
      items("    schedule: 5\n"),
      'datasets.items.schedule: expected a duration such as "5m" or a cron expression such as "*/5 * * * *"',
    ],
    [
      "bad tolerance",
      items("    policy: { tolerance: { balance: -1 } }\n"),
      "datasets.items.policy.tolerance.balance: Too small: expected number to be >=0",
    ],
    [
      "only one replica",
      items("", "      a: { url: memory:a }\n"),
      "datasets.items.replicas: a dataset needs at least two replicas",
    ],
    [
      "replica without url",
      items("", "      a: { table: t }\n      b: { url: memory:b }\n"),
      "datasets.items.replicas.a.url: is required",
    ],
    // A value of the wrong type is not reported as missing.
    [
      "url of the wrong type",
      items("", "      a: { url: 5 }\n      b: { url: memory:b }\n"),
      "datasets.items.replicas.a.url: expected a store URL (sqlite:PATH, postgres://…, mysql://…, redis://…, memory:NAME)",
    ],
    [
      "replicas as a list",
      items("", "").replace("    replicas:\n", "    replicas: [a, b]\n"),
      "datasets.items.replicas: expected record, received array",
    ],
    ["datasets as a number", "datasets: 5\n", "datasets: expected record, received number"],
    ["a list at the top level", "- a\n- b\n", "(top level): expected object, received array"],
    [
      "fanout below 2",
      items("    detect: { fanout: 1 }\n"),
      "datasets.items.detect.fanout: Too small: expected number to be >=2",
    ],
    [
      "tolerance of the wrong type",
      items("    policy: { tolerance: { balance: [1] } }\n"),
      'datasets.items.policy.tolerance.balance: expected a non-negative number or a duration such as "1s"',
    ],
    [
      "unknown resolve",
      items("    policy: { resolve: newest }\n"),
      'datasets.items.policy.resolve: expected one of "owner", "lww", "highest-version", "version-vector", "merge", "replay"',
    ],
    [
      "resolve replay without owner",
      items("    policy: { resolve: replay }\n"),
      'datasets.items.policy.resolve: "replay" needs policy.owner naming one replica (whose changes are replayed)',
    ],
    [
      "resolve owner without owner",
      items("    policy: { resolve: owner }\n"),
      'datasets.items.policy.resolve: "owner" needs policy.owner',
    ],
    [
      "resolve lww without timestamp",
      items("    policy: { resolve: lww }\n"),
      "datasets.items.policy.resolve: lww needs versions.timestamp",
    ],
    [
      "resolve lww with only a counter",
      items("    versions: { counter: v }\n    policy: { resolve: lww }\n"),
      "datasets.items.policy.resolve: lww needs versions.timestamp",
    ],
    [
      "resolve highest-version with only a timestamp",
      items("    versions: { timestamp: t }\n    policy: { resolve: highest-version }\n"),
      "datasets.items.policy.resolve: highest-version needs versions.counter",
    ],
    [
      "resolve version-vector with a counter and a timestamp",
      items("    versions: { counter: v, timestamp: t }\n    policy: { resolve: version-vector }\n"),
      "datasets.items.policy.resolve: version-vector needs versions.vector",
    ],
    [
      "resolve merge without rules",
      items("    policy: { resolve: merge }\n"),
      'datasets.items.policy.merge: resolve "merge" needs per-column rules in policy.merge',
    ],
    ["key among columns", items("    columns: [name, id]\n"), 'datasets.items.columns: "id" is a key column'],
    [
      "unknown type",
      items("    types: { price: money }\n"),
      'datasets.items.types.price: expected one of "integer", "decimal", "float", "float32", "boolean", "text", "timestamp", "time", "json", "bytes"',
    ],
    [
      "ambiguity over 1",
      items("    policy: { escalate: { ambiguity: 2 } }\n"),
      "datasets.items.policy.escalate.ambiguity: Too big: expected number to be <=1",
    ],
    // Nonsense that used to be accepted silently.
    [
      "a key column twice",
      items().replace("key: id", "key: [id, id]"),
      'datasets.items.key.1: "id" is listed twice',
    ],
    [
      "a compared column twice",
      items("    columns: [name, price, name]\n"),
      'datasets.items.columns.2: "name" is listed twice',
    ],
    [
      "prefix on a SQLite replica",
      items(
        "",
        '      a: { url: sqlite:a.db, table: items, prefix: "item:" }\n      b: { url: sqlite:b.db, table: items }\n',
      ),
      "datasets.items.replicas.a.prefix: only a Redis replica takes prefix (this one is sqlite:)",
    ],
    [
      "format on a PostgreSQL replica",
      items(
        "",
        "      a: { url: sqlite:a.db, table: items }\n      b: { url: postgres://h/db, table: items, format: json }\n",
      ),
      "datasets.items.replicas.b.format: only a Redis replica takes format (this one is postgres:)",
    ],
    [
      "format on a memory replica",
      items("", "      a: { url: memory:a, format: hash }\n      b: { url: memory:b }\n"),
      "datasets.items.replicas.a.format: only a Redis replica takes format (this one is memory:)",
    ],
    [
      "table on a Redis replica",
      items(
        "",
        '      a: { url: sqlite:a.db, table: items }\n      b: { url: redis://h, prefix: "i:", table: items }\n',
      ),
      "datasets.items.replicas.b.table: a Redis replica takes prefix, not table",
    ],
    [
      "a Redis replica without prefix",
      items("", "      a: { url: sqlite:a.db, table: items }\n      b: { url: redis://h }\n"),
      "datasets.items.replicas.b.prefix: a Redis replica needs prefix (the key prefix of its records)",
    ],
    [
      "two replicas on the same table",
      items("", "      a: { url: sqlite:a.db, table: items }\n      b: { url: sqlite:a.db, table: items }\n"),
      "datasets.items.replicas.b: same store and table as replica a; a dataset compares different copies",
    ],
    [
      "one column as two kinds of version",
      items("    versions: { counter: v, timestamp: v }\n"),
      'datasets.items.versions.timestamp: "v" is already versions.counter; one column cannot be two kinds of version',
    ],
    [
      "a window without a timestamp version",
      items("    versions: { counter: v }\n    policy: { window: 30s }\n"),
      "datasets.items.policy.window: needs versions.timestamp (a change's age is read from it)",
    ],
    [
      "site ownership with an empty map",
      items("    policy: { owner: { field: site, map: {} } }\n"),
      "datasets.items.policy.owner.map: map at least one value of the field to a replica",
    ],
    [
      "a probe polling its own source",
      items("    probe: { every: 1m, key: 0, source: a, replicas: [b, a] }\n"),
      `datasets.items.probe.replicas.1: "a" is the probe's source; list the replicas that should receive the canary`,
    ],
    [
      "a probe polling a replica twice",
      items("    probe: { every: 1m, key: 0, source: a, replicas: [b, b] }\n"),
      'datasets.items.probe.replicas.1: "b" is listed twice',
    ],
    ["no datasets", "datasets: {}\n", "datasets: declare at least one dataset"],
    ["no datasets key", "state: sqlite:x.db\n", "datasets: is required"],
  ])("%s", (_name, text, expected) => {
    const message = errorOf(text);
    expect(message).toBe(expected);
    expect(message).not.toContain("\n");
  });

  it.each<[string, string, string]>([
    [
      "missing key",
      items().replace("    key: id\n", ""),
      "datasets.items.key: expected a column name or a list of column names",
    ],
    [
      "empty key list",
      items().replace("key: id", "key: []"),
      "datasets.items.key: Too small: expected array to have >=1 items",
    ],
    [
      "key of the wrong type",
      items().replace("key: id", "key: { a: 1 }"),
      "datasets.items.key: expected a column name or a list of column names",
    ],
    ["empty key name", items().replace("key: id", 'key: ""'), "datasets.items.key: must not be empty"],
  ])("%s", (_name, text, expected) => {
    expect(errorOf(text)).toBe(expected);
  });

  it.each<[string, string]>([
    ["datasets:\n  items:\n    key: [id\n", `${PATH}:4:1: `],
    ["datasets:\n  items: { key: id\n", `${PATH}:3:1: `],
    ["datasets:\n  items:\n    key: id\n    key: other\n", `${PATH}:4:5: `],
    ["datasets:\n\titems: {}\n", `${PATH}:2:1: `],
  ])("YAML syntax error in %j gives %s…", (text, prefix) => {
    const message = errorOf(text);
    expect(message).toMatch(/^\/etc\/concord\/concord\.yaml:\d+:\d+: \S/);
    expect(message.startsWith(prefix)).toBe(true);
    expect(message).not.toContain("\n");
  });

  it.each<[string]>([[""], ["# only a comment\n"], ["~\n"]])(
    "an empty file %j is an error naming the file",
    (text) => {
      expect(errorOf(text)).toBe(`${PATH}: the file is empty; declare datasets:`);
    },
  );
});

describe("parseConfig: timeouts", () => {
  const servers = (a: string, b = "") =>
    items(
      "",
      `      a: { url: "postgres://127.0.0.1/app", table: items${a} }\n      b: { url: "redis://127.0.0.1/0", prefix: "i:"${b} }\n`,
    );

  it("defaults to connect 10s, query 30s, idle 60s, keepalive 30s, no statement limit", () => {
    const cfg = parseConfig(servers(""), PATH, {});
    expect(DEFAULT_TIMEOUTS).toEqual({
      connectMs: 10_000,
      queryMs: 30_000,
      idleMs: 60_000,
      keepaliveMs: 30_000,
      statementMs: 0,
    });
    expect(cfg.timeouts).toEqual(DEFAULT_TIMEOUTS);
    for (const r of cfg.datasets[0]!.replicas) expect(r.timeouts).toEqual(DEFAULT_TIMEOUTS);
  });

  it("takes the file's top level over the defaults, and a replica's own over both, key by key", () => {
    const cfg = parseConfig(
      `timeouts: { connect: 3s, query: 2m, statement: 1h }\n${servers(", timeouts: { query: 500ms, idle: 0 }")}`,
      PATH,
      {},
    );
    expect(cfg.timeouts).toEqual({
      ...DEFAULT_TIMEOUTS,
      connectMs: 3000,
      queryMs: 120_000,
      statementMs: 3_600_000,
    });
    const [a, b] = cfg.datasets[0]!.replicas;
    expect(a!.timeouts).toEqual({
      connectMs: 3000,
      queryMs: 500,
      idleMs: 0,
      keepaliveMs: 30_000,
      statementMs: 3_600_000,
    });
    expect(b!.timeouts).toEqual(cfg.timeouts);
  });

  it.each<[string, string, string]>([
    [
      "a misspelt key",
      `timeouts: { qurey: 5s }\n${servers("")}`,
      "timeouts.qurey: unknown key (check the spelling)",
    ],
    [
      "a query deadline of 0",
      servers(", timeouts: { query: 0 }"),
      "datasets.items.replicas.a.timeouts.query: must be more than 0 (a store that stops answering would be waited on forever)",
    ],
    [
      "a connect deadline of 0",
      `timeouts: { connect: 0s }\n${servers("")}`,
      "timeouts.connect: must be more than 0 (a store that stops answering would be waited on forever)",
    ],
    [
      "a number instead of a duration",
      servers(", timeouts: { idle: 60 }"),
      'datasets.items.replicas.a.timeouts.idle: expected a duration such as "30s", "5m" or "1h"',
    ],
    [
      "timeouts that are not a mapping",
      `timeouts: 10s\n${servers("")}`,
      'timeouts: expected { connect, query, idle, keepalive, statement } with durations such as "10s"',
    ],
    [
      "timeouts on a SQLite replica",
      items(
        "",
        "      a: { url: sqlite:a.db, table: items, timeouts: { query: 5s } }\n      b: { url: sqlite:b.db, table: items }\n",
      ),
      "datasets.items.replicas.a.timeouts: only a server store (postgres, mysql, mariadb, redis) takes timeouts (this one is sqlite:)",
    ],
    [
      "a statement limit on a Redis replica",
      servers("", ", timeouts: { statement: 5s }"),
      "datasets.items.replicas.b.timeouts.statement: a Redis replica has no statement limit; remove it",
    ],
  ])("%s", (_, text, message) => {
    expect(errorOf(text)).toBe(message);
  });
});

describe("loadConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "concord-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the file and resolves SQLite paths against its folder", () => {
    const path = join(dir, "concord.yaml");
    writeFileSync(path, items());
    const cfg = loadConfig(path, {});
    expect(cfg.datasets[0]!.replicas.map((r) => r.url)).toEqual([
      `sqlite:${join(dir, "a.db")}`,
      `sqlite:${join(dir, "b.db")}`,
    ]);
  });

  it("names a missing file", () => {
    const path = join(dir, "nope.yaml");
    expect(() => loadConfig(path, {})).toThrow(
      new ConfigError(`${path}: cannot read config file (not found; pass -c PATH)`),
    );
  });
});

describe("parseConfig: alerts", () => {
  const withAlerts = (alerts: string) => `${items()}alerts:\n${alerts}`;

  it("defaults to no alerts", () => {
    expect(parseConfig(items(), PATH, {}).alerts).toEqual([]);
  });

  it("normalises rules: parsed condition, canonical text, ${VAR} in the webhook", () => {
    const cfg = parseConfig(
      withAlerts(
        [
          '  - { when: "lag>30s", webhook: "https://hooks.example.com/services/${HOOK_TOKEN}", dataset: items }',
          "  - when: escalations >= 5",
          "    webhook: http://127.0.0.1:9000/alerts",
          "    name: queue-growing",
          "  - { when: audit-broken, webhook: https://pager.example.com/x }",
          "",
        ].join("\n"),
      ),
      PATH,
      { HOOK_TOKEN: "s3cr3t" },
    );
    expect(cfg.alerts).toEqual([
      {
        name: undefined,
        when: "lag > 30s",
        condition: { kind: "lag", op: ">", thresholdSeconds: 30 },
        webhook: "https://hooks.example.com/services/s3cr3t",
        dataset: "items",
      },
      {
        name: "queue-growing",
        when: "escalations >= 5",
        condition: { kind: "escalations", op: ">=", threshold: 5 },
        webhook: "http://127.0.0.1:9000/alerts",
        dataset: undefined,
      },
      {
        name: undefined,
        when: "audit-broken",
        condition: { kind: "audit-broken" },
        webhook: "https://pager.example.com/x",
        dataset: undefined,
      },
    ]);
  });

  it.each<[string, string, string]>([
    [
      "misspelt condition",
      '  - { when: "lagg > 30s", webhook: "https://h.example.com/x" }\n',
      'alerts.0.when: unknown condition "lagg > 30s" (expected lag, escalations, replica-down, repair-failures, audit-broken, canary-rolled-back, slot-released, pass-failing)',
    ],
    [
      "lag without a unit",
      '  - { when: "lag > 30", webhook: "https://h.example.com/x" }\n',
      'alerts.0.when: "lag > 30": expected a duration such as 500ms, 30s or 5m after ">", e.g. "lag > 30s"',
    ],
    [
      "unsupported operator, second rule",
      '  - { when: replica-down, webhook: "https://h.example.com/x" }\n  - { when: "escalations < 3", webhook: "https://h.example.com/x" }\n',
      'alerts.1.when: unsupported operator "<" in "escalations < 3" (expected > or >=)',
    ],
    ["missing when", '  - { webhook: "https://h.example.com/x" }\n', "alerts.0.when: is required"],
    ["missing webhook", "  - { when: replica-down }\n", "alerts.0.webhook: is required"],
    [
      "webhook not http(s)",
      '  - { when: replica-down, webhook: "ftp://h.example.com/x" }\n',
      "alerts.0.webhook: expected an http(s) URL",
    ],
    [
      "webhook not a URL",
      '  - { when: replica-down, webhook: "hooks.example.com/x" }\n',
      "alerts.0.webhook: expected an http(s) URL",
    ],
    [
      "unknown dataset",
      '  - { when: replica-down, webhook: "https://h.example.com/x", dataset: itemz }\n',
      'alerts.0.dataset: "itemz" is not a declared dataset',
    ],
    [
      "dataset on a system-wide condition",
      '  - { when: audit-broken, webhook: "https://h.example.com/x", dataset: items }\n',
      "alerts.0.dataset: audit-broken watches the whole audit log; remove dataset",
    ],
    [
      "unknown key",
      '  - { when: replica-down, webhook: "https://h.example.com/x", url: "https://h.example.com/y" }\n',
      "alerts.0.url: unknown key (check the spelling)",
    ],
    ["not a list", "  when: replica-down\n", "alerts: expected a list of { when, webhook }"],
  ])("%s", (_, alerts, message) => {
    expect(errorOf(withAlerts(alerts))).toBe(message);
  });

  it("never echoes the webhook (it may hold a token) in an error", () => {
    const message = errorOf(
      withAlerts('  - { when: "lag > x", webhook: "https://h.example.com/T0K3N", dataset: nope }\n'),
    );
    expect(message).not.toContain("T0K3N");
  });
});

describe("parseConfig: serve and probes", () => {
  it("defaults serve to 127.0.0.1:7070 with a 5 s slow-replica threshold", () => {
    const cfg = parseConfig(items(), PATH);
    expect(cfg.serve).toEqual({
      host: "127.0.0.1",
      port: 7070,
      token: undefined,
      tokens: [],
      slowReplicaMs: 5000,
      retentionMs: 30 * 86_400_000,
      policyApprovals: 0,
    });
    expect(cfg.datasets[0]).toMatchObject({ mode: "repair", intensity: 1, checkpointRows: 100_000 });
  });

  it("reads listen (IPv6 too), token from the environment, and the dataset's serve settings", () => {
    const cfg = parseConfig(
      `serve: { listen: "[::1]:9000", token: "\${TOKEN}", slowReplica: 2s, retention: 7d }\n${items("    mode: scan\n    intensity: 0.5\n    checkpointRows: 5000\n    schedule: 1m\n")}`,
      PATH,
      { TOKEN: "0123456789abcdef0123" },
    );
    expect(cfg.serve).toEqual({
      host: "::1",
      port: 9000,
      token: "0123456789abcdef0123",
      tokens: [],
      slowReplicaMs: 2000,
      retentionMs: 7 * 86_400_000,
      policyApprovals: 0,
    });
    expect(cfg.datasets[0]).toMatchObject({
      mode: "scan",
      intensity: 0.5,
      checkpointRows: 5000,
      scheduleMs: 60_000,
    });
  });

  it("normalises a probe: source defaults to the owner, replicas to the others, timeout to 60 s", () => {
    const cfg = parseConfig(
      items(
        "    policy: { owner: b }\n    probe: { every: 10s, key: -1, values: { name: canary } }\n",
        "      a: { url: sqlite:a.db, table: items }\n      b: { url: sqlite:b.db, table: items }\n      c: { url: sqlite:c.db, table: items }\n",
      ),
      PATH,
    );
    expect(cfg.datasets[0]!.probe).toEqual({
      everyMs: 10_000,
      key: ["-1"],
      source: "b",
      replicas: ["a", "c"],
      timeoutMs: 60_000,
      values: { name: "canary" },
    });
  });

  it.each([
    ["    intensity: 0\n", "datasets.items.intensity: expected a number in (0, 1]"],
    ["    intensity: 1.5\n", "datasets.items.intensity: expected a number in (0, 1]"],
    ["    mode: fix\n", 'datasets.items.mode: expected one of "repair", "scan"'],
    ["    checkpointRows: 0\n", "datasets.items.checkpointRows: "],
    [
      "    probe: { every: 10s, key: -1, source: z }\n",
      'datasets.items.probe.source: "z" is not a replica of items',
    ],
    [
      "    probe: { every: 10s, key: -1, replicas: [a, y] }\n",
      'datasets.items.probe.replicas.1: "y" is not a replica of items',
    ],
    ["    probe: { every: 10s, key: [1, 2] }\n", "datasets.items.probe.key: expected 1 key value (id)"],
    ["    probe: { every: often, key: 1 }\n", "datasets.items.probe.every: expected a duration"],
    ["    probe: { key: 1 }\n", "datasets.items.probe.every: is required"],
  ])("rejects %j", (extra, message) => {
    expect(errorOf(items(extra))).toContain(message);
  });

  it.each([
    ['serve: { listen: "localhost" }\n', "serve.listen: expected HOST:PORT"],
    ["serve: { token: short }\n", "serve.token: a token needs at least 16 characters"],
    ["serve: { port: 1 }\n", "serve.port: unknown key"],
  ])("rejects serve %j", (extra, message) => {
    expect(errorOf(`${extra}${items()}`)).toContain(message);
  });
});

describe("parseConfig: secrets only one command uses", () => {
  const withToken = `serve: { token: "\${CONCORD_TOKEN}" }\n${items()}`;

  it("loads without an unset serve.token variable, and serveToken names it", () => {
    const cfg = parseConfig(withToken, PATH, {});
    expect(cfg.serve.token).toBeUndefined();
    expect(cfg.serve.tokenVariable).toBe("CONCORD_TOKEN");
    expect(() => serveToken(cfg, {})).toThrow(
      new ConfigError("serve.token: environment variable CONCORD_TOKEN is not set"),
    );
    expect(serveToken(cfg, { CONCORD_TOKEN: "from-the-environment-0123" })).toBe("from-the-environment-0123");
  });

  it("serveToken gives the configured token, or none", () => {
    const cfg = parseConfig(withToken, PATH, { CONCORD_TOKEN: "0123456789abcdef0123" });
    expect(serveToken(cfg, {})).toBe("0123456789abcdef0123");
    expect(serveToken(parseConfig(items(), PATH, {}), {})).toBeUndefined();
  });

  it("still fails at once for a variable every command needs", () => {
    expect(errorOf(`state: "\${STATE_URL}"\n${items()}`)).toBe(
      "state: environment variable STATE_URL is not set",
    );
  });
});

describe("parseConfig: audit.anchor", () => {
  const pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA...\n-----END PUBLIC KEY-----\n";

  it("resolves the anchor log and key paths against the config's folder; PEM text is kept", () => {
    const cfg = parseConfig(
      `audit:\n  anchor:\n    file: anchors/audit.jsonl\n    privateKey: keys/anchor.key\n    publicKey: "\${PUB}"\n${items()}`,
      PATH,
      { PUB: pem },
    );
    expect(cfg.audit).toEqual({
      anchor: {
        file: "/etc/concord/anchors/audit.jsonl",
        privateKey: "/etc/concord/keys/anchor.key",
        privateKeyVariable: undefined,
        publicKey: pem,
      },
    });
    expect(parseConfig(items(), PATH, {}).audit).toEqual({});
  });

  it("loads without an unset signing-key variable (verifying needs only the public key)", () => {
    const cfg = parseConfig(
      `audit: { anchor: { file: a.jsonl, privateKey: "\${ANCHOR_KEY}", publicKey: /k.pub } }\n${items()}`,
      PATH,
      {},
    );
    expect(cfg.audit.anchor).toMatchObject({ privateKey: undefined, privateKeyVariable: "ANCHOR_KEY" });
  });

  it.each([
    ["audit: { anchor: { file: a.jsonl } }\n", "audit.anchor.publicKey: is required"],
    ["audit: { anchor: { publicKey: k.pub } }\n", "audit.anchor.file: is required"],
    ['audit: { anchor: { file: "", publicKey: k.pub } }\n', "audit.anchor.file: must not be empty"],
    [
      "audit: { anchor: { file: a, publicKey: k, key: x } }\n",
      "audit.anchor.key: unknown key (check the spelling)",
    ],
    ["audit: { anchors: {} }\n", "audit.anchors: unknown key (check the spelling)"],
    [
      "audit: { anchor: { file: a, publicKey: 5 } }\n",
      "audit.anchor.publicKey: expected a path to a PEM file, or the PEM text (e.g. from ${VAR})",
    ],
  ])("rejects %j", (extra, message) => {
    expect(errorOf(`${extra}${items()}`)).toBe(message);
  });
});

describe("parseConfig: YAML the parser refuses while building values", () => {
  // Said "internal error: Excessive alias count indicates a resource exhaustion attack", without the file.
  it("names the file for an alias bomb", () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    }
    expect(errorOf(`${levels.join("\n")}\n${items()}`)).toMatch(
      new RegExp(`^${PATH.replaceAll(".", "\\.")}: excessive alias count`, "i"),
    );
  });
});

describe("row filters stay inside their parentheses", () => {
  // `1=1) OR (1=1` was combined as `(status = 'eu') AND (1=1) OR (1=1)`: every row, past the config's filter.
  it("refuses a where: that closes a parenthesis it did not open, naming the path", () => {
    expect(errorOf(items('    where: "1=1) OR (1=1"\n'))).toMatch(
      /^datasets\.items\.where: it closes a parenthesis it did not open/,
    );
    expect(
      errorOf(
        items(
          "",
          '      a: { url: sqlite:a.db, table: items, where: "x = 1 --" }\n      b: { url: sqlite:b.db, table: items }\n',
        ),
      ),
    ).toMatch(/^datasets\.items\.replicas\.a\.where: it holds a comment/);
  });

  it("refuses --where that would widen the config's filter", () => {
    const ds = parseConfig(items("    where: \"region = 'eu'\"\n"), PATH, {}).datasets[0]!;
    expect(() => withRowFilter(ds, { where: "1=1) OR (1=1", now: 0 })).toThrow(
      /^--where: it closes a parenthesis it did not open/,
    );
    expect(withRowFilter(ds, { where: "(a = 1)", now: 0 }).replicas[0]!.where).toBe(
      "(region = 'eu') AND ((a = 1))",
    );
  });
});
