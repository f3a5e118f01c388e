import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./load-config.js";
import { distributedRoleProblem, parseQueueUrl } from "./queue-config.js";

const DATASET =
  "datasets:\n  items:\n    key: id\n    replicas:\n      a: { url: sqlite:a.db, table: items }\n      b: { url: sqlite:b.db, table: items }\n";

function errorOf(text: string, env: Record<string, string | undefined> = {}): string {
  try {
    parseConfig(text, "c.yaml", env, "/tmp");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error("expected a ConfigError");
}

describe("parseQueueUrl", () => {
  it.each([
    ["redis://127.0.0.1:6379/2", { host: "127.0.0.1", port: 6379, db: 2, tls: false }],
    ["redis://queue.internal/0", { host: "queue.internal", port: 6379, db: 0, tls: false }],
    [
      "rediss://u:p%40ss@q:6380/15",
      { host: "q", port: 6380, db: 15, username: "u", password: "p@ss", tls: true },
    ],
    ["redis://[::1]:7000/1", { host: "::1", port: 7000, db: 1 }],
  ])("%s", (url, expected) => {
    expect(parseQueueUrl(url, "queue")).toMatchObject({ url, ...expected });
  });

  it.each([
    ["not a url", 'queue: not a URL; expected redis://host:port/db, got "not a url"'],
    ["localhost:6379", "queue: the queue is a Redis database"],
    ["postgres://h/db", "queue: the queue is a Redis database"],
    ["redis://h:6379", "queue: no database number (0–15, e.g. /0)"],
    ["redis://h:6379/x", "no database number"],
    ["redis://h:6379/0?x=1", "no query or fragment is read"],
    ["redis://u:secret@h:6379", 'got "redis://u:***@h:6379"'],
  ])("%s is refused in one line", (url, message) => {
    expect(() => parseQueueUrl(url, "queue")).toThrow(message);
  });
});

describe("queue: in the config", () => {
  it("is read from the file, CONCORD_QUEUE over it, with workers' defaults", () => {
    const text = `queue: redis://127.0.0.1:6379/3\n${DATASET}`;
    const cfg = parseConfig(text, "c.yaml", {}, "/tmp");
    expect(cfg.queue).toMatchObject({ host: "127.0.0.1", db: 3 });
    expect(cfg.workers).toEqual({ concurrency: 1, stallAfterMs: 30_000 });
    expect(parseConfig(text, "c.yaml", { CONCORD_QUEUE: "redis://q:6390/4" }, "/tmp").queue).toMatchObject({
      host: "q",
      port: 6390,
      db: 4,
    });
    expect(parseConfig(DATASET, "c.yaml", {}, "/tmp").queue).toBeUndefined();
  });

  it("names where a bad queue URL came from", () => {
    expect(errorOf(`queue: redis://h/\n${DATASET}`)).toBe(
      'queue: no database number (0–15, e.g. /0); expected redis://host:port/db, got "redis://h/"',
    );
    expect(errorOf(DATASET, { CONCORD_QUEUE: "redis://u:pw@h" })).toBe(
      'CONCORD_QUEUE: no database number (0–15, e.g. /0); expected redis://host:port/db, got "redis://u:***@h"',
    );
    expect(errorOf(`queue: 6379\n${DATASET}`)).toContain("queue");
  });

  it("reads workers: and a dataset's concurrency", () => {
    const cfg = parseConfig(
      `workers: { concurrency: 4, stallAfter: 5s }\n${DATASET}    concurrency: 3\n`,
      "c.yaml",
      {},
      "/tmp",
    );
    expect(cfg.workers).toEqual({ concurrency: 4, stallAfterMs: 5000 });
    expect(cfg.datasets[0]!.concurrency).toBe(3);
    expect(errorOf(`${DATASET}    concurrency: 0\n`)).toContain("datasets.items.concurrency");
    expect(errorOf(`workers: { stallAfter: 0 }\n${DATASET}`)).toContain("workers.stallAfter");
  });
});

describe("distributedRoleProblem", () => {
  const queue = parseQueueUrl("redis://127.0.0.1:6379/0", "queue");
  it.each([
    ["coordinator", { queue, state: "postgres://h/db" }, undefined],
    ["worker", { queue, state: "postgresql://h/db" }, undefined],
    ["worker", { state: "postgres://h/db" }, "worker needs a job queue: set queue: redis://host:port/db"],
    [
      "coordinator",
      { queue, state: "sqlite:/x/state.db" },
      "serve --role coordinator needs a state store shared by every process: state: postgres://…, not sqlite:",
    ],
  ] as const)("%s with %j", (role, config, problem) => {
    const found = distributedRoleProblem(role, config);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});
