/**
 * A connection reset (RST) in the middle of what a scan reads from a replica: the read is sent again on a
 * new connection (PostgreSQL pages and checksum rounds, MariaDB/MySQL listings resumed behind their last
 * key, Redis SCAN pages and their reads), and the scan reports exactly what an undisturbed scan reports.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { keyClasses, parseJson, runConcord, tempDir } from "../cli/helpers.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { availableFaultStores, type FaultStore, faultConfig, items, openFaultStore } from "./fault-stores.js";

const kinds = await availableFaultStores();

const ROWS = 8000;
const NEWER = 1600;

describe.each(kinds)("a %s replica whose connection is reset mid-read", (kind) => {
  let store: FaultStore;
  let proxy: FaultProxy;

  beforeAll(async () => {
    store = await openFaultStore(kind);
    proxy = await startFaultProxy(store.url);
    await store.load(items(ROWS));
  });
  afterAll(async () => {
    await proxy?.close();
    await store?.drop();
  });

  it("is read again: the scan reports what an undisturbed scan reports, wherever the reset lands", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const config = faultConfig(dir, store.replica(proxy.url(store.url)), items(ROWS, NEWER));
    const before = proxy.bytes.down;
    const clean = await runConcord(["scan", "--json", "-c", config]);
    expect(clean.code, clean.stderr).toBe(1);
    const total = proxy.bytes.down - before;
    const want = keyClasses(parseJson(clean).datasets[0]!.divergences);
    expect(want.length).toBe(NEWER);

    for (const share of [0.2, 0.5, 0.8]) {
      const accepted = proxy.accepted;
      const cut = proxy.arm({ bytes: Math.floor(total * share), direction: "down" }, "cut");
      const r = await runConcord(["scan", "--json", "-c", config]);
      let fired = false;
      await Promise.race([cut.then(() => (fired = true)), Promise.resolve()]);
      expect(fired, `the reset at ${share} of the bytes fired`).toBe(true);
      expect(r.code, `reset at ${share}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toBe("");
      expect(keyClasses(parseJson(r).datasets[0]!.divergences)).toEqual(want);
      // The reset was survived on a connection opened after it.
      expect(proxy.accepted).toBeGreaterThan(accepted);
    }
  });
});
