/**
 * One coordinator at a time, over a real PostgreSQL state store: a standby waits while the leader renews,
 * takes over when it releases or dies, and a leader whose lease was taken is told so.
 */
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COORDINATOR_LEASE, Leadership } from "../../src/serve/leadership.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);
let pg: PostgresTestSchema;
let state: StateStore;

beforeAll(async () => {
  if (!available) return;
  pg = await createPostgresTestSchema();
  state = await openStateStore(`${POSTGRES.url}${POSTGRES.url.includes("?") ? "&" : "?"}schema=${pg.name}`);
});

afterAll(async () => {
  if (!available) return;
  await state.close();
  await pg.drop();
});

describe.skipIf(!available)("Leadership", () => {
  it("a standby waits while the leader renews and leads once the leader releases", async () => {
    const never = new AbortController().signal;
    const leader = new Leadership(state, "host-a:1:aa", Date.now, 600);
    expect(await leader.acquire(never, () => {})).toBe(true);
    leader.keep(() => {
      throw new Error("the leader lost its lease while renewing");
    });
    const standby = new Leadership(state, "host-b:2:bb", Date.now, 600);
    let seen: string | undefined;
    let waited!: () => void;
    const saw = new Promise<void>((r) => {
      waited = r;
    });
    const leading = standby.acquire(never, (who) => {
      seen = who;
      waited();
    });
    await saw;
    expect(seen).toBe("host-a:1:aa");
    // The leader's renewals keep the lease its own while the standby tries.
    const lease = await state.getLease(COORDINATOR_LEASE);
    expect(lease?.owner).toBe("host-a:1:aa");
    await leader.release();
    expect(await leading).toBe(true);
    expect((await state.getLease(COORDINATOR_LEASE))?.owner).toBe("host-b:2:bb");
    await standby.release();
  });

  it("takes over at once from a leader on this host that no longer exists", async () => {
    // A process that has exited: its pid is free, its lease would only expire in an hour.
    const gone = spawnSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]).stdout.toString();
    expect(
      await state.acquireLease(COORDINATOR_LEASE, `${hostname()}:${gone}:dead`, Date.now(), 3_600_000),
    ).toBe(true);
    const next = new Leadership(state, `${hostname()}:${process.pid}:live`, Date.now, 3_600_000);
    expect(await next.acquire(new AbortController().signal, () => {})).toBe(true);
    await next.release();
  });

  it("a leader whose lease another took is told it lost it; a stopped standby gives up", async () => {
    const leader = new Leadership(state, "host-c:3:cc", Date.now, 300);
    expect(await leader.acquire(new AbortController().signal, () => {})).toBe(true);
    const lost = new Promise<void>((resolve) => leader.keep(resolve));
    // The lease ran out (a long pause) and another took it.
    await state.releaseLease(COORDINATOR_LEASE, "host-c:3:cc");
    expect(await state.acquireLease(COORDINATOR_LEASE, "host-d:4:dd", Date.now(), 60_000)).toBe(true);
    await lost;
    const stop = new AbortController();
    const standby = new Leadership(state, "host-e:5:ee", Date.now, 300);
    const trying = standby.acquire(stop.signal, () => stop.abort());
    expect(await trying).toBe(false);
    await state.releaseLease(COORDINATOR_LEASE, "host-d:4:dd");
  });
});
