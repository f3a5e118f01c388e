/**
 * The one run pipeline against real SQLite replicas: the blast-radius latch in a serve pass, one circuit
 * breaker for a whole run, the targeted (key-list) form, and the CLI and serve applying the same repairs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import type { ConcordConfig } from "../../src/config/load-config.js";
import type { Connector } from "../../src/connectors/connector.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { createService, type Service } from "../../src/serve/service.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { itemsConfig, makeItemsReplicas, staleOnB, writeItemsConfig } from "../support/sqlite-items.js";

const ROWS = 1000;

let dir: string;
const cleanup: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-run-"));
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function makeReplicas(where: string, stale: readonly number[]): void {
  makeItemsReplicas(where, { rows: ROWS, stale });
}

function config(where: string, limits = "", extra = ""): ConcordConfig {
  return itemsConfig(where, {
    policy: `owner: a, resolve: highest-version${limits}`,
    extra: `    checkpointRows: 100\n${extra}`,
  });
}

const staleOn = staleOnB;

async function open(cfg: ConcordConfig): Promise<{ state: StateStore; replicas: OpenReplica[] }> {
  const ds = cfg.datasets[0]!;
  const state = await openStateStore(cfg.state);
  const replicas: OpenReplica[] = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  cleanup.push(async () => {
    for (const r of replicas) await r.connector.close();
    await state.close();
  });
  return { state, replicas };
}

/** The connector with `applyWrites` failing as a replica that refuses connections would; counts the calls. */
function refusingWrites(connector: Connector): { connector: Connector; calls: () => number } {
  let calls = 0;
  const wrapped = new Proxy(connector, {
    get(target, prop, receiver) {
      if (prop === "applyWrites")
        return async () => {
          calls++;
          throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { connector: wrapped, calls: () => calls };
}

/** One stale key in each of the ten segments of 100 rows. */
const SPREAD = [50, 150, 250, 350, 450, 550, 650, 750, 850, 950];

/** Output nobody reads (the tests check state, not text). */
function quiet() {
  return { stdout: new PassThrough().resume(), stderr: new PassThrough().resume() };
}

describe("runDataset", () => {
  it("a serve pass that trips the blast-radius guard writes nothing more in that pass", async () => {
    // The first segment is 60% divergent (trips maxDivergentFraction 0.2); each later one holds one stale key.
    const stale = [...Array.from({ length: 60 }, (_, i) => i + 1), ...SPREAD.slice(1)];
    makeReplicas(dir, stale);
    const s: Service = await createService(config(dir, ", limits: { maxDivergentFraction: 0.2 }"), {
      log: () => {},
    });
    cleanup.push(() => s.stop());
    await s.api.trigger("items", "repair");
    await s.idle();
    expect(staleOn(dir)).toEqual(stale);
    const state = await openStateStore(config(dir).state);
    try {
      expect(await state.listRepairs({ dataset: "items" })).toEqual([]);
      const open = await state.listEscalations({ status: "open" });
      expect(open.map((e) => e.class)).toEqual(["guard"]);
      const [run] = await state.listRuns({ dataset: "items" });
      expect(run?.status).toBe("diverged");
    } finally {
      await state.close();
    }
  });

  it("one circuit breaker spans the run: after repeated failures the rest of its writes are not attempted", async () => {
    makeReplicas(dir, SPREAD);
    const { state, replicas } = await open(config(dir));
    const failing = refusingWrites(replicas[1]!.connector);
    const run = await runDataset(
      config(dir).datasets[0]!,
      [replicas[0]!, { name: "b", connector: failing.connector }],
      { state, now: Date.now },
      {
        runId: "run-breaker",
        command: "repair",
        mode: "repair",
        groupSegments: false,
        guard: { maxAttempts: 1, breakAfter: 3, initialDelayMs: 0, maxDelayMs: 0 },
      },
    );
    // Ten segments with one write each: three refused batches open the circuit; seven are never sent.
    expect(failing.calls()).toBe(3);
    expect(run.totals.repairs).toEqual({ failed: 10 });
    const ledger = await state.listRepairs({ runId: "run-breaker" });
    expect(ledger).toHaveLength(10);
    expect(ledger.filter((e) => /ECONNREFUSED/.test(e.error ?? ""))).toHaveLength(3);
    expect(ledger.filter((e) => /circuit|breaker/i.test(e.error ?? ""))).toHaveLength(7);
    expect(run.status).toBe("diverged");
    expect(staleOn(dir)).toEqual(SPREAD);
  });

  it("the key-list form checks, decides and repairs exactly the keys given", async () => {
    makeReplicas(dir, SPREAD);
    const { state, replicas } = await open(config(dir));
    const keys = [["150"], ["151"], ["950"], ["2000"]];
    const run = await runDataset(
      config(dir).datasets[0]!,
      replicas,
      { state, now: Date.now },
      {
        runId: "run-keys",
        command: "watch",
        mode: "repair",
        keys,
      },
    );
    expect(run.finished).toBe(true);
    expect(run.totals.counts).toEqual({ stale: 2 });
    expect(run.totals.repairs).toEqual({ applied: 2 });
    expect(staleOn(dir)).toEqual(SPREAD.filter((k) => k !== 150 && k !== 950));
    // Rows are the tables', so the blast-radius guard weighs the divergence against them.
    expect(run.totals.replicas).toEqual({ a: { rows: ROWS }, b: { rows: ROWS } });
  });

  it("CLI repair and a serve repair pass over the same diverged replicas apply the same repairs", async () => {
    const stale = [3, 4, 5, 99, 100, 101, 450, 451, 999, 1000];
    const cliDir = mkdtempSync(join(dir, "cli-"));
    const serveDir = mkdtempSync(join(dir, "serve-"));
    makeReplicas(cliDir, stale);
    makeReplicas(serveDir, stale);
    writeItemsConfig(cliDir, { extra: "    checkpointRows: 100\n" });
    expect(await main(["node", "concord", "repair", "-c", join(cliDir, "concord.yaml")], quiet())).toBe(0);

    const s = await createService(config(serveDir), { log: () => {} });
    cleanup.push(() => s.stop());
    await s.api.trigger("items", "repair");
    await s.idle();

    const applied = async (where: string) => {
      const state = await openStateStore(config(where).state);
      try {
        return (await state.listRepairs({ dataset: "items", outcome: "applied" })).map((e) => e.id).sort();
      } finally {
        await state.close();
      }
    };
    const fromCli = await applied(cliDir);
    expect(fromCli).toHaveLength(stale.length);
    expect(await applied(serveDir)).toEqual(fromCli);
    expect(staleOn(cliDir)).toEqual([]);
    expect(staleOn(serveDir)).toEqual([]);
  });

  it("a stop signal ends the run promptly: mid-scan nothing of the group is decided or written", async () => {
    makeReplicas(dir, SPREAD);
    // Range checksums (not the in-SQLite comparison of the two files) so that the third one can be the moment.
    const cfg = config(dir, "", "    detect: { inStore: false }\n");
    const { state, replicas } = await open(cfg);
    const abort = new AbortController();
    let checksums = 0;
    // Ctrl-C arrives while the third group is being checksummed.
    const b: Connector = new Proxy(replicas[1]!.connector, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === "checksumRanges")
          return async (...args: unknown[]) => {
            if (++checksums === 3) abort.abort();
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const segments: number[] = [];
    const run = await runDataset(
      cfg.datasets[0]!,
      [replicas[0]!, { name: "b", connector: b }],
      { state, now: Date.now },
      {
        runId: "run-stop",
        command: "repair",
        mode: "repair",
        groupSegments: false,
        signal: abort.signal,
        observer: { onSegment: (s) => void segments.push(s.from) },
      },
    );
    expect(run.finished).toBe(false);
    expect(run.status).toBe("diverged");
    expect(run.segments).toBe(10);
    expect(run.segmentsDone).toBeLessThan(10);
    expect(segments).toEqual(Array.from({ length: run.segmentsDone }, (_, i) => i));
    // Every write the run made belongs to a segment it finished; the rest are untouched.
    expect(staleOn(dir)).toEqual(SPREAD.slice(run.segmentsDone));
    expect(run.totals.repairs).toEqual(run.segmentsDone ? { applied: run.segmentsDone } : {});
    const [record] = await state.listRuns({ dataset: "items" });
    expect(record?.status).toBe("diverged");
  });
});
