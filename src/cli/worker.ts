/** `concord worker`: takes segment jobs of distributed passes from the queue and runs them through the engine. */
import { loadConfig } from "../config/load-config.js";
import { distributedRoleProblem } from "../config/queue-config.js";
import { redactText } from "../config/redact.js";
import { processOwner } from "../engine/run-liveness.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { parseListen, untilSignal } from "./serve.js";

export interface WorkerOptions {
  readonly config: string;
  /** `HOST:PORT` to serve this worker's own metrics on (`/metrics`, `/healthz`); none by default. */
  readonly metrics?: string | undefined;
}

/**
 * Runs until SIGTERM or SIGINT: then takes no new job, lets the jobs in flight finish, closes everything and
 * resolves 0. Refuses to start (2) without a queue or with a state store other processes cannot share.
 */
export async function runWorker(options: WorkerOptions, io: CliIo = processIo()): Promise<number> {
  const config = loadConfig(options.config, io.env, io.cwd);
  const problem = distributedRoleProblem("worker", config);
  if (problem || !config.queue) throw new UsageError(problem ?? "worker needs a queue");
  const queue = config.queue;
  const metricsAt = options.metrics ? parseListen(options.metrics, "--metrics") : undefined;
  const log = (line: string) => io.stderr.write(`${new Date().toISOString()} ${redactText(line)}\n`);
  const [
    { openStateStore },
    { SegmentWorkerHost },
    { startSegmentWorkers },
    { openWriteBuckets },
    { WorkerMetrics, serveWorkerMetrics },
    { checkQueue },
  ] = await Promise.all([
    import("../state/open-state-store.js"),
    import("../serve/segment-worker-host.js"),
    import("../queue/bullmq-segment-workers.js"),
    import("../queue/redis-token-bucket.js"),
    import("../serve/worker-metrics.js"),
    import("../queue/check-queue.js"),
  ]);
  // A queue that cannot be used is one line and exit 2, not BullMQ retrying forever behind "ready".
  await checkQueue(queue, "queue");
  const metrics = metricsAt ? new WorkerMetrics() : undefined;
  let listener: Awaited<ReturnType<typeof serveWorkerMetrics>> | undefined;
  if (metrics && metricsAt) {
    listener = await serveWorkerMetrics(metrics, metricsAt.host, metricsAt.port).catch((err: unknown) => {
      throw new UsageError(
        `--metrics: cannot listen on ${options.metrics}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    });
    log(`worker metrics on http://${options.metrics}/metrics`);
  }
  const state = await openStateStore(config.state).catch(async (err: unknown) => {
    await listener?.close();
    throw err;
  });
  const buckets = openWriteBuckets(queue);
  const worker = processOwner();
  try {
    const host = new SegmentWorkerHost(config, {
      state,
      now: Date.now,
      log,
      worker,
      writeLimiter: buckets.limiter,
      metrics,
    });
    const stop = untilSignal(log, "finishing the segment jobs in flight");
    const workers = await startSegmentWorkers(queue, config.workers, host.datasets, host.handle, log, worker);
    log(`worker ${worker} ready: taking segment jobs of ${host.datasets.join(", ")}`);
    try {
      await stop;
    } finally {
      await workers.close();
      await host.close();
    }
  } finally {
    await buckets.close();
    await state.close();
    await listener?.close();
  }
  log("stopped");
  return EXIT.ok;
}
