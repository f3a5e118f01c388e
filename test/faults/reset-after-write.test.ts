/**
 * A write batch whose connection is reset after the server ran it (the COMMIT, or Redis's compare-and-set
 * scripts, reached the server; the reply never reached Concord): the batch is sent again, finds every record
 * already holding what it writes, and must still record those repairs `applied`, with their before images,
 * so that the audit says what Concord changed and `rollback --run` undoes it. Before, they were recorded
 * `noop` (the retry's view), and a rollback of the run left them changed.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { parseJson, runConcord, tempDir } from "../cli/helpers.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { availableFaultStores, type FaultStore, faultConfig, items, openFaultStore } from "./fault-stores.js";

const kinds = await availableFaultStores();

const ROWS = 300;
const NEWER = 100;

interface RepairJson {
  runId: string;
  datasets: { repairs: { key: number[]; outcome: string; error?: string }[] }[];
}

describe.each(kinds)("a %s replica whose connection is reset after a write ran", (kind) => {
  let store: FaultStore;
  let proxy: FaultProxy;

  beforeAll(async () => {
    store = await openFaultStore(kind);
    proxy = await startFaultProxy(store.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await store?.drop();
  });

  it("records the landed writes applied, not noop, and a rollback of the run undoes them", async ({
    expect,
    onTestFinished,
  }) => {
    onTestFinished(() => proxy.forward());
    const dir = tempDir(onTestFinished);
    await store.load(items(ROWS));
    const config = faultConfig(dir, store.replica(proxy.url(store.url)), items(ROWS, NEWER));

    // The write is held at its commit, then let through with the connection reset at the reply's first byte:
    // the server ran it, the client heard an error.
    let reset = false;
    void proxy.arm({ match: store.writeMatch }, "stall-connection").then(() => {
      void proxy.arm({ bytes: 1, direction: "down" }, "cut").then(() => {
        reset = true;
      });
      proxy.forward();
    });
    const r = await runConcord(["repair", "--json", "-c", config]);
    expect(reset, "the reset fired").toBe(true);
    expect(r.code, r.stderr).toBe(0);
    const doc = parseJson<RepairJson>(r);
    const outcomes: Record<string, number> = {};
    for (const x of doc.datasets[0]!.repairs) outcomes[x.outcome] = (outcomes[x.outcome] ?? 0) + 1;
    expect(outcomes).toEqual({ applied: NEWER });
    expect((await store.read()).get(1)?.version).toBe(2);

    const back = await runConcord(["rollback", "--run", doc.runId, "-c", config]);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    const b = await store.read();
    const changed = items(ROWS).filter((row) => JSON.stringify(b.get(row.id)) !== JSON.stringify(row));
    expect(changed.map((row) => row.id)).toEqual([]);
    const verify = await runConcord(["audit", "verify", "-c", config]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
