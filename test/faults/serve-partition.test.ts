/**
 * `serve` over SQLite, PostgreSQL and Redis replicas (with a probe that keeps polling PostgreSQL) when Redis, behind
 * the fault proxy, is killed (every connection reset, new ones refused) or stalled (nothing forwarded,
 * sockets kept): only the Redis replica is marked down (its `concord_replica_up` 0), PostgreSQL and SQLite
 * stay up through every failed pass and back-off, the probe (which uses only SQLite and PostgreSQL) keeps
 * measuring, and once the proxy heals the next pass brings Redis back and finishes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { createService, type Service } from "../../src/serve/service.js";
import { makeSqliteTable } from "../cli/helpers.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { POSTGRES, REDIS, serviceAvailable } from "../support/services.js";
import { type FaultStore, items, openFaultStore } from "./fault-stores.js";

const available = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(REDIS));

const ROWS = 300;

/** Polls `condition` every 50 ms until it holds; fails after `ms`. */
async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Probes of `replica` whose canary did not arrive (nothing replicates here: every probe of pg counts). */
async function probeTimeouts(service: Service, replica: string): Promise<number> {
  const { body } = await service.api.metrics();
  const m = new RegExp(
    `^concord_probe_timeouts_total\\{dataset="items",replica="${replica}"\\} (\\d+)$`,
    "m",
  ).exec(body);
  return m ? Number(m[1]) : 0;
}

/** `concord_replica_up` per replica, from the metrics text. */
async function replicaUp(service: Service): Promise<Record<string, number>> {
  const { body } = await service.api.metrics();
  const out: Record<string, number> = {};
  for (const m of body.matchAll(/^concord_replica_up\{dataset="items",replica="([^"]+)"\} (\d+)$/gm))
    out[m[1]!] = Number(m[2]);
  return out;
}

describe.skipIf(!available)("serve when its Redis replica is killed or stalled", () => {
  let pg: FaultStore;
  let redis: FaultStore;
  let proxy: FaultProxy;
  let dir: string;
  let service: Service;
  const logs: string[] = [];
  const reportedDown: string[] = [];

  beforeAll(async () => {
    pg = await openFaultStore("postgres");
    redis = await openFaultStore("redis");
    proxy = await startFaultProxy(REDIS.url);
    dir = mkdtempSync(join(tmpdir(), "concord-serve-faults-"));
    const rows = items(ROWS);
    await pg.load(rows);
    await redis.load(rows);
    makeSqliteTable(
      join(dir, "lite.db"),
      "items",
      "id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL",
      rows.map((r) => [r.id, r.name, r.version]),
    );
    const config = parseConfig(
      `state: sqlite:state.db
timeouts: { connect: 1s, query: 1s }
datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
      lite: { url: "sqlite:lite.db", table: items }
      pg: ${pg.replica(POSTGRES.url)}
      cache: ${redis.replica(proxy.url(REDIS.url))}
    policy: { owner: lite, resolve: highest-version }
    schedule: 1h
    probe: { every: 100ms, key: -1, source: lite, replicas: [pg], timeout: 1s }
`,
      join(dir, "concord.yaml"),
      {},
    );
    service = await createService(config, { log: (line) => logs.push(line) });
    // Every time a replica is reported down, not only the last state (a replica may come back up between
    // two looks).
    const gauge = service.metrics.replicaUp;
    const set = gauge.set.bind(gauge);
    gauge.set = ((labels: { replica: string }, value: number) => {
      if (value === 0) reportedDown.push(labels.replica);
      return set(labels, value);
    }) as typeof gauge.set;
    await service.start();
    await until("the first pass", async () => (await service.api.runs({ limit: 1 }))[0]?.status === "ok");
  });

  afterAll(async () => {
    await service?.stop();
    await proxy?.close();
    await pg?.drop();
    await redis?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Breaks Redis with `fault`, and checks for a few seconds (several failed passes and back-offs, and
   * probes) that only `cache` is down; then heals and waits for a pass that finishes with all three up.
   */
  async function breakAndHeal(fault: () => void, expect: typeof import("vitest")["expect"]): Promise<void> {
    const runner = service.runner("items");
    const lastOk = (await service.api.runs({ limit: 1 }))[0]!.startedAt;
    reportedDown.length = 0;
    const logged = logs.length;
    fault();
    // Starts a pass now unless one is running (the probe may notice first).
    await service.api.trigger("items", "repair").catch(() => undefined);
    await until("cache marked down", () => runner.replicasDown().includes("cache"));
    const probed = await probeTimeouts(service, "pg");
    const seen = new Set<string>();
    const until3s = Date.now() + 3000;
    while (Date.now() < until3s) {
      for (const r of runner.replicasDown()) seen.add(r);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect([...seen]).toEqual(["cache"]);
    // The probe went on without the cache: it wrote to lite and polled pg.
    expect(await probeTimeouts(service, "pg")).toBeGreaterThan(probed);
    expect(logs.slice(logged).filter((l) => /probe/.test(l))).toEqual([]);
    expect(new Set(reportedDown)).toEqual(new Set(["cache"]));
    expect(await replicaUp(service)).toEqual({ lite: 1, pg: 1, cache: 0 });
    const status = (await service.api.datasets())[0]!;
    expect(status.replicas.find((r) => r.name === "cache")!.lastError).toMatch(/^items\.cache: /);
    // Passes failed on the cache and are being retried with back-off.
    expect(logs.some((l) => /items: pass \S+ stopped: items\.cache: /.test(l))).toBe(true);

    proxy.forward();
    await until(
      "a finished pass after healing",
      async () => {
        const last = (await service.api.runs({ limit: 1 }))[0];
        return last !== undefined && last.startedAt > lastOk && last.status === "ok";
      },
      60_000,
    );
    await until("cache up again", () => runner.replicasDown().length === 0);
    expect(new Set(reportedDown)).toEqual(new Set(["cache"]));
    expect(await replicaUp(service)).toEqual({ lite: 1, pg: 1, cache: 1 });
    expect(logs.filter((l) => /Cannot use a pool|items\.pg: |items\.lite: /.test(l))).toEqual([]);
  }

  it("killed: only the Redis replica goes down; it comes back when the proxy heals", async ({ expect }) => {
    await breakAndHeal(() => proxy.refuse(), expect);
  });

  it("stalled: only the Redis replica goes down (after the silence deadline); it comes back when healed", async ({
    expect,
  }) => {
    await breakAndHeal(() => proxy.stall(), expect);
  });
});
