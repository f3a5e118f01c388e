/**
 * A coordinator that loses its lease does not exit: it stands by (its pass in flight stops with its
 * checkpoint kept, triggers are refused with `standby`, the read APIs keep answering), campaigns again, and
 * when it leads again resumes the pass it left. Over the fixture's SQLite state store and leases.
 */
import { afterEach, describe, expect, it } from "vitest";
import { COORDINATOR_LEASE, coordinate, Leadership } from "../../src/serve/leadership.js";
import { TriggerError } from "../../src/serve/service-api.js";
import { type ServeFixture, startFixture } from "./http-fixture.js";
import { InlineQueue } from "./inline-queue.js";

let fx: ServeFixture | undefined;

afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** Resolves once `cond` holds, polling every 20 ms; fails after 10 s naming what it waited for. */
async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("a coordinator that loses its lease", () => {
  it("stands by, keeps serving reads, campaigns again and resumes its pass when it leads again", async () => {
    const queue = new InlineQueue();
    fx = await startFixture({ datasets: ["accounts"], queue });
    const { service } = fx;
    const state = service.state;
    const owner = "host-a:1:aa";
    const lines: string[] = [];
    const leadership = new Leadership(state, owner, Date.now, 300);
    const stop = new AbortController();
    const running = coordinate(leadership, service, stop.signal, (l) => lines.push(l), owner);
    try {
      await until("leading", () => lines.some((l) => l.includes(`leading as ${owner}`)));
      // A pass whose jobs no worker takes: it stays in flight.
      const { runId } = await service.api.trigger("accounts", "repair");
      await until("the pass's checkpoint", async () => (await state.getCheckpoint("accounts")) !== undefined);

      // The lease ran out (a long pause) and another coordinator took it.
      await state.releaseLease(COORDINATOR_LEASE, owner);
      expect(await state.acquireLease(COORDINATOR_LEASE, "host-z:9:zz", Date.now(), 60_000)).toBe(true);
      await until("standing by", () =>
        lines.some((l) => l.includes("lost the coordinator lease; standing by")),
      );
      await until("the pass stopped", () => !service.runner("accounts").busy);
      const refused = await service.api.trigger("accounts", "repair").catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(TriggerError);
      expect((refused as TriggerError).kind).toBe("standby");
      // Read APIs answer; the pass is left for the leader, checkpoint and run intact.
      expect((await service.api.datasets()).map((d) => [d.name, d.state])).toEqual([["accounts", "idle"]]);
      expect(service.api.health().ok).toBe(true);
      expect((await state.getCheckpoint("accounts"))?.runId).toBe(runId);
      expect((await state.getRun(runId))[0]?.status).toBe("running");
      // Still campaigning: it waits for the other's lease, and leads once it is free.
      await until("waiting for the other", () =>
        lines.some((l) => l.includes("coordinator host-z:9:zz leads")),
      );
      await state.releaseLease(COORDINATOR_LEASE, "host-z:9:zz");
      await until("leading again", () => lines.filter((l) => l.includes(`leading as ${owner}`)).length === 2);
      // Leading again, it resumes the pass it left (at once, from its checkpoint).
      await until("the pass resumed", () => service.runner("accounts").busy);
      expect((await service.api.datasets())[0]?.progress?.runId).toBe(runId);
    } finally {
      stop.abort();
      await running;
      await leadership.release();
    }
  });

  it("shows which worker failed which segment in /api/queue and the failures metric", async () => {
    fx = await startFixture({ datasets: ["accounts"], queue: new InlineQueue() });
    const { service } = fx;
    const failure = {
      dataset: "accounts",
      runId: "pass-9",
      index: 3,
      worker: "host-w:7:ww",
      error: "replica b: connection refused",
      attempt: 2,
      final: false,
    };
    service.segmentFailed(failure);
    const status = await service.api.queue!();
    expect(status.failures).toEqual([{ ...failure, at: expect.any(Number) }]);
    const { body } = await service.api.metrics();
    expect(body).toContain('concord_segment_failures_total{dataset="accounts",worker="host-w:7:ww"} 1');
    expect(
      fx.logs.some((l) => l.includes("segment 4 of pass pass-9 failed on host-w:7:ww (attempt 2)")),
    ).toBe(true);
  });
});
