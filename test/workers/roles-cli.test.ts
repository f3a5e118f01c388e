/** The distributed roles refuse, in one line and before opening anything, what they cannot run with. */
import { describe, expect, it } from "vitest";
import { expectOneLineError, runConcord, tempDir, writeConfig } from "../cli/helpers.js";

const DATASET = `datasets:
  items:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
`;
const env = { CONCORD_TOKEN: "roles-cli-token-0123456789", CONCORD_QUEUE: "" };

describe("serve --role and worker", () => {
  it.each([
    [
      "worker without a queue",
      ["worker"],
      `state: "postgres://h/db"\n${DATASET}`,
      "concord: worker needs a job queue: set queue: redis://host:port/db in the config, or CONCORD_QUEUE",
    ],
    [
      "worker over SQLite state",
      ["worker"],
      `queue: redis://127.0.0.1:6379/0\n${DATASET}`,
      "concord: worker needs a state store shared by every process: state: postgres://…, not sqlite: (each machine would keep its own ledger and audit)",
    ],
    [
      "a coordinator over SQLite state",
      ["serve", "--role", "coordinator"],
      `queue: redis://127.0.0.1:6379/0\n${DATASET}`,
      "concord: serve --role coordinator needs a state store shared by every process: state: postgres://…, not sqlite: (each machine would keep its own ledger and audit)",
    ],
    [
      "an unknown role",
      ["serve", "--role", "worker"],
      DATASET,
      'concord: --role: expected all or coordinator, got "worker" (workers run as concord worker)',
    ],
    [
      "a malformed --metrics address",
      ["worker", "--metrics", "7071"],
      `queue: redis://127.0.0.1:6379/0\nstate: "postgres://h/db"\n${DATASET}`,
      'concord: --metrics: expected HOST:PORT such as 127.0.0.1:7070, got "7071"',
    ],
    [
      "a malformed queue",
      ["worker"],
      `queue: "redis://u:secret@q:6379"\nstate: "postgres://h/db"\n${DATASET}`,
      'concord: queue: no database number (0–15, e.g. /0); expected redis://host:port/db, got "redis://u:***@q:6379"',
    ],
  ])("%s", async (_what, args, text, message) => {
    const dir = tempDir();
    const config = writeConfig(dir, text);
    const r = await runConcord([...args, "-c", config], { env });
    expect(expectOneLineError(r)).toBe(message);
  });
});
