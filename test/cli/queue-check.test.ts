/**
 * A worker or coordinator whose queue's Redis cannot be used (a database index it refuses, nothing listening)
 * stops at once with one line naming the queue (password redacted) and Redis's reason, exit 2: it said
 * "ready" / "listening" while BullMQ retried forever and ioredis printed unhandled error stacks.
 */
import { describe, it } from "vitest";
import { REDIS } from "../support/services.js";
import { expectOneLineError, runConcord, tempDir, writeConfig } from "./helpers.js";

describe.concurrent("the queue, checked before starting", () => {
  it("worker and serve --role coordinator refuse a queue Redis will not serve", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const redis = new URL(REDIS.url);
    const config = writeConfig(
      dir,
      `state: postgres://postgres@127.0.0.1:1/input2_never
datasets:
  items:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
`,
    );
    const env = (queue: string) => ({ CONCORD_QUEUE: queue, CONCORD_TOKEN: "input2-token-0123456789" });
    const outOfRange = `redis://:s3cr3t-q@${redis.host}/99`;
    const [worker, coordinator, refused] = await Promise.all([
      runConcord(["worker", "-c", config], { cwd: dir, env: env(outOfRange) }),
      runConcord(["serve", "--role", "coordinator", "--listen", "127.0.0.1:0", "-c", config], {
        cwd: dir,
        env: env(outOfRange),
      }),
      runConcord(["worker", "-c", config], { cwd: dir, env: env("redis://127.0.0.1:1/0") }),
    ]);
    const shown = `redis://:***@${redis.host}/99`;
    expect(expectOneLineError(worker, expect)).toBe(
      `concord: queue ${shown}: cannot use the queue: ERR DB index is out of range`,
    );
    expect(expectOneLineError(coordinator, expect)).toBe(
      `concord: queue ${shown}: cannot use the queue: ERR DB index is out of range`,
    );
    expect(expectOneLineError(refused, expect)).toBe(
      "concord: queue redis://127.0.0.1:1/0: cannot use the queue: connect ECONNREFUSED 127.0.0.1:1",
    );
  });
});
