/**
 * `serve`'s core against real SQLite replicas: checkpointed passes that resume after a restart, repairs by
 * policy, metrics, probes with a replicating process, read-after-write anomalies, alerts to a real receiver.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { createService, type Service } from "../../src/serve/service.js";
import { TriggerError } from "../../src/serve/service-api.js";

const ROWS = 1000;

let dir: string;
let services: Service[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "concord-serve-"));
  services = [];
});

afterEach(async () => {
  for (const s of services) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Two replicas of `items`: b is missing `missing` keys and holds older versions of `stale` keys. */
function makeReplicas(options: { stale?: number[]; missing?: number[]; conflict?: number[] } = {}): void {
  for (const name of ["a", "b"]) {
    const db = new Database(join(dir, `${name}.db`));
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL)");
    const insert = db.prepare("INSERT INTO items VALUES (?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= ROWS; i++) {
        if (name === "b" && options.missing?.includes(i)) continue;
        const stale = name === "b" && options.stale?.includes(i);
        const conflict = name === "b" && options.conflict?.includes(i);
        insert.run(i, conflict ? `other ${i}` : `item ${i}`, stale ? 1 : 2);
      }
    })();
    db.close();
  }
}

function config(
  extra = "",
  policy = "{ owner: a, resolve: highest-version }",
  top = "",
): ReturnType<typeof parseConfig> {
  return parseConfig(
    `${top}state: sqlite:state.db
datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    policy: ${policy}
    checkpointRows: 100
${extra}`,
    join(dir, "concord.yaml"),
  );
}

async function service(cfg: ReturnType<typeof parseConfig>, logs: string[] = []): Promise<Service> {
  const s = await createService(cfg, { log: (line) => logs.push(line) });
  services.push(s);
  return s;
}

function rowsOf(name: string): { id: number; name: string; version: number }[] {
  const db = new Database(join(dir, `${name}.db`), { readonly: true });
  try {
    return db.prepare("SELECT * FROM items ORDER BY id").all() as {
      id: number;
      name: string;
      version: number;
    }[];
  } finally {
    db.close();
  }
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 20_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function metricValue(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").at(-1)) : Number.NaN;
}

describe("serve passes", () => {
  it("repairs a dataset segment by segment, records the run, clears the checkpoint and exposes metrics", async () => {
    makeReplicas({ stale: [5, 250, 777], missing: [500, 999] });
    const s = await service(config());
    const { runId } = await s.api.trigger("items", "repair");
    await s.idle();
    expect(rowsOf("b")).toEqual(rowsOf("a"));
    const [run] = await s.api.run(runId);
    expect(run).toMatchObject({ dataset: "items", status: "ok", counts: { stale: 3, missing: 2 } });
    expect(run!.stats).toMatchObject({ "repairs.applied": 5 });
    expect(await s.state.getCheckpoint("items")).toBeUndefined();

    const { body } = await s.api.metrics();
    expect(metricValue(body, "concord_repairs_total", 'dataset="items",replica="b",outcome="applied"')).toBe(
      5,
    );
    expect(metricValue(body, "concord_divergences", 'dataset="items",class="stale"')).toBe(3);
    expect(metricValue(body, "concord_segments_total", 'dataset="items"')).toBe(10);
    expect(metricValue(body, "concord_replica_up", 'dataset="items",replica="a"')).toBe(1);
    expect(metricValue(body, "concord_scan_rows_total", 'dataset="items",replica="a"')).toBe(ROWS);
    expect(metricValue(body, "concord_time_to_convergence_seconds_count", 'dataset="items"')).toBe(5);
    expect(body).toContain("concord_last_run_timestamp_seconds");
    expect(body).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(body).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);

    const [status] = await s.api.datasets();
    expect(status).toMatchObject({
      name: "items",
      state: "idle",
      counts: { stale: 3, missing: 2 },
      repairs: { applied: 5 },
    });
    const history = await s.api.history({ dataset: "items" });
    expect(history.runs.map((r) => r.runId)).toEqual([runId]);
    expect(history.ttc).toHaveLength(5);
    expect(history.summary.convergenceRate).toBe(1);
    expect(history.summary.repairSuccessRate).toBe(1);
  });

  it("counts a schema difference once per pass, not once per segment", async () => {
    makeReplicas();
    const a = new Database(join(dir, "a.db"));
    a.exec("ALTER TABLE items ADD COLUMN extra TEXT");
    a.close();
    const s = await service(config());
    const { runId } = await s.api.trigger("items", "repair");
    await s.idle();
    const [run] = await s.api.run(runId);
    expect(run).toMatchObject({ status: "diverged", counts: { schema: 1 } });
    expect(run!.stats.escalated).toBe(1);
  });

  it("never runs two passes of a dataset at once", async () => {
    makeReplicas({ stale: [1] });
    const s = await service(config("    intensity: 0.05\n"));
    await s.api.trigger("items", "scan");
    await expect(s.api.trigger("items", "repair")).rejects.toThrow(TriggerError);
    await expect(s.api.trigger("items", "repair")).rejects.toMatchObject({ kind: "busy" });
    await expect(s.api.trigger("nope", "scan")).rejects.toMatchObject({ kind: "unknown-dataset" });
  });

  it("resumes an interrupted pass after a restart without redoing finished segments", async () => {
    makeReplicas({ stale: [50, 950] });
    const logs: string[] = [];
    // Low intensity: long pauses between segments, so the stop lands between them.
    const first = await service(config("    intensity: 0.02\n"), logs);
    const { runId } = await first.api.trigger("items", "repair");
    const cp = await waitFor("a checkpoint past segment 1", async () => {
      const c = await first.state.getCheckpoint("items");
      return c && c.done >= 1 ? c : undefined;
    });
    await first.stop();
    services = services.filter((x) => x !== first);
    const stopped = (await (await service(config())).state.getCheckpoint("items"))!;
    expect(stopped.runId).toBe(runId);
    expect(stopped.done).toBeGreaterThanOrEqual(cp.done);
    expect(stopped.done).toBeLessThan(10);
    // Key 50 (segment 1) is repaired; key 950 (segment 10) not yet.
    expect(rowsOf("b").find((r) => r.id === 50)!.version).toBe(2);
    expect(rowsOf("b").find((r) => r.id === 950)!.version).toBe(1);

    const second = await service(config(), logs);
    await second.start();
    await waitFor(
      "the resumed pass to finish",
      async () => (await second.state.getCheckpoint("items")) === undefined,
    );
    await second.idle();
    expect(logs.some((l) => l.includes(`resuming pass ${runId} at segment ${stopped.done + 1} of 10`))).toBe(
      true,
    );
    const { body } = await second.api.metrics();
    expect(metricValue(body, "concord_segments_total", 'dataset="items"')).toBe(10 - stopped.done);
    expect(rowsOf("b")).toEqual(rowsOf("a"));
    const [run] = await second.api.run(runId);
    // The run's totals cover the whole pass, both halves.
    expect(run).toMatchObject({ status: "ok", counts: { stale: 2 } });
    expect(run!.stats["repairs.applied"]).toBe(2);
  });

  it("abandons an unfinished pass of the other mode, closing its run as failed", async () => {
    makeReplicas({ stale: [50, 950] });
    const logs: string[] = [];
    const first = await service(config("    intensity: 0.02\n"), logs);
    const { runId: scanRun } = await first.api.trigger("items", "scan");
    await waitFor("a checkpoint past segment 1", async () => {
      const c = await first.state.getCheckpoint("items");
      return c && c.done >= 1 ? c : undefined;
    });
    await first.stop();
    services = services.filter((x) => x !== first);
    const second = await service(config(), logs);
    const { runId: repairRun } = await second.api.trigger("items", "repair");
    await second.idle();
    expect(repairRun).not.toBe(scanRun);
    expect(logs.some((l) => l.includes(`abandoning unfinished scan pass ${scanRun} for a repair pass`))).toBe(
      true,
    );
    const [abandoned] = await second.api.run(scanRun);
    expect(abandoned).toMatchObject({ status: "failed" });
    expect(abandoned!.stats.abandonedAtSegment).toBeGreaterThanOrEqual(1);
    // Dropped as `concord checkpoint drop` drops one: the same run stats and the same audit entry.
    expect(abandoned!.stats.checkpointDropped).toBe(1);
    const dropped = (await second.state.readAudit({ runId: scanRun })).filter(
      (e) => e.type === "checkpoint-dropped",
    );
    expect(dropped).toHaveLength(1);
    expect(dropped[0]!.data).toMatchObject({ runFailed: true, abandonedFor: "repair" });
    expect((await second.api.run(repairRun))[0]).toMatchObject({ status: "ok", counts: { stale: 2 } });
  });

  it("scans without writing in scan mode, and a schedule runs passes on its own", async () => {
    makeReplicas({ stale: [3] });
    const s = await service(config("    mode: scan\n    schedule: 1h\n"));
    await s.start();
    await waitFor(
      "the first scheduled pass",
      async () => (await s.api.runs({ dataset: "items" }))[0]?.finishedAt,
    );
    await s.idle();
    const [run] = await s.api.runs({ dataset: "items" });
    expect(run).toMatchObject({ command: "serve scan", status: "diverged", counts: { stale: 1 } });
    expect(rowsOf("b").find((r) => r.id === 3)!.version).toBe(1);
    const [status] = await s.api.datasets();
    expect(status!.nextRunAt).toBeGreaterThan(Date.now() + 3_000_000);
    expect((await s.api.divergences({ dataset: "items" })).map((d) => [d.key, d.class])).toEqual([
      [[3], "stale"],
    ]);
  });

  it("backs off a replica that cannot be opened and reports it down", async () => {
    makeReplicas();
    rmSync(join(dir, "b.db"));
    const logs: string[] = [];
    const s = await service(config(), logs);
    await s.api.trigger("items", "scan");
    await s.idle();
    const [status] = await s.api.datasets();
    expect(status!.state).toBe("backing-off");
    expect(status!.replicas.find((r) => r.name === "b")).toMatchObject({ up: false });
    expect(status!.replicas.find((r) => r.name === "b")!.lastError).toMatch(/b\.db/);
    const { body } = await s.api.metrics();
    expect(metricValue(body, "concord_replica_up", 'dataset="items",replica="b"')).toBe(0);
    expect(logs.some((l) => l.includes("stopped"))).toBe(true);
  });

  it("backs off a slow replica: it is reported slow and logged, and the pass still converges", async () => {
    makeReplicas({ stale: [5] });
    const logs: string[] = [];
    // Every call is over a threshold of 0 ms.
    const s = await service(config("", undefined, "serve: { slowReplica: 0ms }\n"), logs);
    await s.api.trigger("items", "repair");
    await s.idle();
    expect(
      logs.filter((l) => /replica [ab] is slow \(\d+ ms a call\); backing off/.test(l)).length,
    ).toBeGreaterThan(0);
    const [status] = await s.api.datasets();
    expect(status!.replicas.some((r) => r.slow)).toBe(true);
    expect(rowsOf("b")).toEqual(rowsOf("a"));
  });

  it("resolves an escalation through the API and the conditional write path", async () => {
    makeReplicas({ conflict: [7] });
    const s = await service(config("", "{ resolve: highest-version }"));
    await s.api.trigger("items", "repair");
    await s.idle();
    const [esc] = await s.api.escalations({ status: "open" });
    expect(esc).toMatchObject({ dataset: "items", key: [7], class: "conflict", options: ["a", "b"] });
    const out = await s.api.resolve(esc!.id, { pick: "b" });
    expect(out.status).toBe("resolved");
    expect(rowsOf("a").find((r) => r.id === 7)!.name).toBe("other 7");
    expect(await s.api.escalations({ status: "open" })).toEqual([]);
    expect(await s.api.verifyAudit()).toMatchObject({ ok: true });
  });
});

describe("retention", () => {
  it("prunes samples older than serve.retention when it starts", async () => {
    makeReplicas();
    const s = await service(config("", undefined, "serve: { retention: 1d }\n"));
    const day = 86_400_000;
    await s.state.appendSamples([
      { dataset: "items", series: "lag", label: "b", at: Date.now() - 2 * day, value: 1 },
      { dataset: "items", series: "lag", label: "b", at: Date.now() - day / 2, value: 2 },
    ]);
    await s.start();
    await waitFor("the old sample to go", async () =>
      (await s.state.listSamples({ dataset: "items" })).length === 1 ? true : undefined,
    );
    expect((await s.state.listSamples({ dataset: "items" })).map((x) => x.value)).toEqual([2]);
  });
});

describe("probes", () => {
  /** Copies the canary (id -1) from a to b after `delayMs`, like an asynchronous replication link. */
  function replicator(delayMs: number): { stop(): void; paused: boolean } {
    const a = new Database(join(dir, "a.db"), { readonly: true });
    const b = new Database(join(dir, "b.db"));
    const read = a.prepare("SELECT id, name, version FROM items WHERE id = -1");
    const write = b.prepare("INSERT OR REPLACE INTO items VALUES (?, ?, ?)");
    const state = { paused: false, stop: () => {} };
    let last = "";
    const timer = setInterval(() => {
      const row = read.get() as { id: number; name: string; version: number } | undefined;
      if (state.paused || !row || row.name === last) return;
      last = row.name;
      setTimeout(() => {
        if (!state.paused) write.run(row.id, row.name, row.version);
      }, delayMs);
    }, 5);
    state.stop = () => {
      clearInterval(timer);
      a.close();
      b.close();
    };
    return state;
  }

  it("measures convergence lag per replica, keeps the canary out of comparison, records samples", async () => {
    makeReplicas();
    const link = replicator(150);
    try {
      const s = await service(config("    probe: { every: 1h, key: -1, timeout: 5s }\n"));
      const out = (await s.runner("items").probeOnce())!;
      expect(out.error).toBeUndefined();
      expect(out.anomalies).toEqual([]);
      expect(out.lag.b).toBeGreaterThanOrEqual(0.14);
      expect(out.lag.b).toBeLessThan(5);
      const samples = await s.state.listSamples({ dataset: "items", series: "lag" });
      expect(samples).toMatchObject([{ label: "b", value: out.lag.b }]);
      // Freshness evidence for `owner: { inferred: latency }`: the source is current, b was behind.
      expect(out.firstRead).toEqual([]);
      const hour = Math.floor(out.at / 3_600_000) * 3_600_000;
      expect(await s.state.activityEvidence("items", 0)).toEqual([
        { replica: "a", segment: -1, bucket: hour, ahead: 0, observed: 1, behind: 0, probed: 1, lagMs: 0 },
        {
          replica: "b",
          segment: -1,
          bucket: hour,
          ahead: 0,
          observed: 1,
          behind: 1,
          probed: 1,
          lagMs: Math.round(out.lag.b! * 1000),
        },
      ]);
      const { body } = await s.api.metrics();
      expect(metricValue(body, "concord_convergence_lag_seconds_count", 'dataset="items",replica="b"')).toBe(
        1,
      );
      // The canary is in both stores now but no pass compares or repairs it.
      const { runId } = await s.api.trigger("items", "repair");
      await s.idle();
      expect((await s.api.run(runId))[0]).toMatchObject({ status: "ok", counts: {} });
      expect(rowsOf("a").filter((r) => r.id === -1)).toHaveLength(1);
    } finally {
      link.stop();
    }
  });

  it("records a replica that never shows the canary as not converged, and a read going back as an anomaly", async () => {
    makeReplicas();
    const link = replicator(10);
    try {
      // The first two probes must see the canary copied within the timeout: generous, as a loaded machine runs
      // the replicator's timers late (the third waits it out).
      const s = await service(config("    probe: { every: 1h, key: -1, timeout: 3s }\n"));
      const runner = s.runner("items");
      const first = (await runner.probeOnce())!;
      expect(first.lag.b).not.toBeNull();
      const older = rowsOf("b").find((r) => r.id === -1)!;
      const second = (await runner.probeOnce())!;
      expect(second.lag.b).not.toBeNull();
      // The link stops and b goes back to the first canary: a read of an older value after a newer one.
      link.paused = true;
      const b = new Database(join(dir, "b.db"));
      b.prepare("UPDATE items SET name = ?, version = ? WHERE id = -1").run(older.name, older.version);
      b.close();
      const third = (await runner.probeOnce())!;
      expect(third.lag.b).toBeNull();
      expect(third.anomalies).toEqual([
        { replica: "b", detail: `read canary ${first.seq} after having shown canary ${second.seq}` },
      ]);
      const { body } = await s.api.metrics();
      expect(
        metricValue(body, "concord_read_after_write_anomalies_total", 'dataset="items",replica="b"'),
      ).toBe(1);
      expect(metricValue(body, "concord_probe_timeouts_total", 'dataset="items",replica="b"')).toBe(1);
      expect((await s.api.history({ dataset: "items" })).anomalies).toHaveLength(1);
      expect((await s.api.datasets())[0]!.lag).toEqual({ b: null });
    } finally {
      link.stop();
    }
  });
});

describe("alerts", () => {
  let receiver: Server;
  let got: { status: string; alert: string; dataset: string | null }[];
  let url: string;

  beforeEach(async () => {
    got = [];
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        got.push(JSON.parse(body));
        res.end("ok");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const addr = receiver.address() as { port: number };
    url = `http://127.0.0.1:${addr.port}/hook/secret-token`;
  });

  afterEach(async () => {
    await new Promise((r) => receiver.close(r));
  });

  it("fires once when escalations appear, records it in the audit log, and resolves when they are gone", async () => {
    makeReplicas({ conflict: [7] });
    const s = await service(
      config(
        "",
        "{ resolve: highest-version }",
        `alerts:\n  - { when: "escalations > 0", webhook: "${url}", dataset: items }\n`,
      ),
    );
    await s.start();
    await s.api.trigger("items", "repair");
    await s.idle();
    await waitFor("the firing", () => got.length >= 1);
    await s.api.trigger("items", "repair");
    await s.idle();
    const [esc] = await s.api.escalations({ status: "open" });
    await s.api.resolve(esc!.id, { reject: true });
    await s.api.trigger("items", "scan");
    await s.idle();
    await waitFor("the resolution", () => got.length >= 2);
    expect(got.map((g) => [g.status, g.dataset])).toEqual([
      ["firing", "items"],
      ["resolved", "items"],
    ]);
    const audit = await s.api.audit({});
    const alerts = audit.filter((e) => e.type === "alert");
    expect(alerts.map((e) => (e.data as { event: string }).event)).toEqual(["firing", "resolved"]);
    expect(JSON.stringify(audit)).not.toContain("secret-token");
  });
});
