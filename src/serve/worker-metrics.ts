/**
 * `concord worker --metrics HOST:PORT`: the worker process's own Prometheus metrics (its jobs, their
 * durations, rows read, repairs, failures) on a small HTTP listener of its own: `/metrics` and `/healthz`.
 */
import { createServer, type Server } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { SegmentJobResult } from "../engine/segment-dispatch.js";

/** Seconds a segment job may take: from well under a second to an hour. */
const SEGMENT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** One worker process's metrics (one registry per process; `worker` labels nothing: the target is the worker). */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly jobs = new Counter({
    name: "concord_worker_jobs_total",
    help: "Segment jobs this worker ran, by outcome: done, skipped (the pass had it already), failed (an attempt).",
    labelNames: ["dataset", "outcome"] as const,
    registers: [this.registry],
  });
  readonly running = new Gauge({
    name: "concord_worker_jobs_running",
    help: "Segment jobs running on this worker now.",
    labelNames: ["dataset"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "concord_worker_segment_duration_seconds",
    help: "How long this worker's segment jobs took (pauses for intensity excluded).",
    labelNames: ["dataset"] as const,
    buckets: SEGMENT_BUCKETS,
    registers: [this.registry],
  });
  readonly rows = new Counter({
    name: "concord_worker_rows_read_total",
    help: "Rows this worker's segment jobs read, by replica.",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly repairs = new Counter({
    name: "concord_worker_repairs_total",
    help: "Repairs this worker's segment jobs made, by target replica and outcome.",
    labelNames: ["dataset", "replica", "outcome"] as const,
    registers: [this.registry],
  });

  readonly describes = new Counter({
    name: "concord_worker_descriptions_total",
    help: "Jobs that described the dataset's replicas (described) or reused the description this worker made under the coordinator's same description fingerprint (reused).",
    labelNames: ["dataset", "outcome"] as const,
    registers: [this.registry],
  });

  constructor(options: { defaults?: boolean } = {}) {
    if (options.defaults !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** A job starts; the returned function records how it ended (its result, or the error of a failed attempt). */
  started(dataset: string): (result: SegmentJobResult | undefined) => void {
    this.running.inc({ dataset });
    return (result) => {
      this.running.dec({ dataset });
      if (!result) {
        this.jobs.inc({ dataset, outcome: "failed" });
        return;
      }
      this.jobs.inc({ dataset, outcome: result.skipped ? "skipped" : "done" });
      if (result.skipped) return;
      this.duration.observe({ dataset }, result.durationMs / 1000);
      for (const [replica, { rows }] of Object.entries(result.totals.replicas))
        this.rows.inc({ dataset, replica }, rows);
      for (const [replica, outcomes] of Object.entries(result.repairs ?? {}))
        for (const [outcome, n] of Object.entries(outcomes))
          this.repairs.inc({ dataset, replica, outcome }, n);
    };
  }
}

/**
 * Serves the worker's metrics on `host:port` (`/metrics`, `/healthz`; anything else 404). Resolves with the
 * address listened on (port 0: one the system picked) once listening; rejects when it cannot listen.
 */
export async function serveWorkerMetrics(
  metrics: WorkerMetrics,
  host: string,
  port: number,
): Promise<{ readonly port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      metrics.registry.metrics().then(
        (body) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(body);
        },
        () => {
          res.writeHead(500).end();
        },
      );
    } else if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
