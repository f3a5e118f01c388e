/** `concord serve`: watches every dataset on its schedule, repairs by policy, serves metrics, API and dashboard. */
import { type ConcordConfig, loadConfig, serveToken } from "../config/load-config.js";
import { distributedRoleProblem } from "../config/queue-config.js";
import { redactText } from "../config/redact.js";
import type { SegmentFailure } from "../engine/segment-dispatch.js";
import type { TokenSpec } from "../serve/http/app.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";

export interface ServeOptions {
  readonly config: string;
  readonly listen?: string | undefined;
  /** `all` (default): this process runs every pass itself; `coordinator`: workers run the segments. */
  readonly role?: string | undefined;
}

/**
 * Resolves on the first SIGTERM or SIGINT (logging `doing` with it), or when `other` resolves first; the
 * signal handlers are removed either way.
 */
export function untilSignal(
  log: (line: string) => void,
  doing: string,
  other?: Promise<void>,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      process.removeListener("SIGTERM", onTerm);
      process.removeListener("SIGINT", onInt);
      resolve();
    };
    const onTerm = () => {
      log(`SIGTERM: ${doing}`);
      done();
    };
    const onInt = () => {
      log(`SIGINT: ${doing}`);
      done();
    };
    process.once("SIGTERM", onTerm);
    process.once("SIGINT", onInt);
    other?.then(done, done);
  });
}

/**
 * Listens on `host:port` and returns the address as a URL shows it (IPv6 in brackets); a usage error names
 * the address when it cannot.
 */
async function listen(
  app: { listen(o: { host: string; port: number }): Promise<unknown>; server: { address(): unknown } },
  host: string,
  port: number,
): Promise<string> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw new UsageError(
      `cannot listen on ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const address = app.server.address() as { address: string; port: number } | string | null;
  const shown =
    typeof address === "object" && address ? `${address.address}:${address.port}` : `${host}:${port}`;
  return shown.includes(":") && !shown.includes(".") ? `[${shown}]` : shown;
}

/** `HOST:PORT` (IPv6 in brackets) → host and port; a usage error names the flag otherwise. */
export function parseListen(text: string, where: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535)
    throw new UsageError(`${where}: expected HOST:PORT such as 127.0.0.1:7070, got "${text}"`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

/**
 * The tokens /api accepts: the one plain token (CONCORD_TOKEN, else serve.token), an admin acting as "api"
 * as before roles, and the named ones of serve.tokens, by hash. A usage error when there is none.
 */
function apiTokens(config: ConcordConfig, io: Pick<CliIo, "env">): TokenSpec {
  const token = serveToken(config, io.env);
  if (!token && config.serve.tokens.length === 0)
    throw new UsageError(
      "serve needs an API token: set CONCORD_TOKEN (at least 16 characters) or serve.token in the config, or declare serve.tokens (concord token hash)",
    );
  if (token !== undefined && token.length < 16)
    throw new UsageError("CONCORD_TOKEN: a token needs at least 16 characters");
  return [...(token ? [{ name: undefined, token, role: "admin" as const }] : []), ...config.serve.tokens];
}

function oneLineOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}

/**
 * Runs until SIGTERM or SIGINT: then stops taking requests, lets each dataset finish the write batch in
 * flight and checkpoint, closes everything and resolves 0. Resolves 2 when it cannot start.
 */
export async function runServe(options: ServeOptions, io: CliIo = processIo()): Promise<number> {
  const { stderr } = io;
  const config = loadConfig(options.config, io.env, io.cwd);
  let tokens = apiTokens(config, io);
  const { host, port } = options.listen
    ? parseListen(options.listen, "--listen")
    : { host: config.serve.host, port: config.serve.port };
  const role = options.role ?? "all";
  if (role !== "all" && role !== "coordinator")
    throw new UsageError(
      `--role: expected all or coordinator, got "${role}" (workers run as concord worker)`,
    );
  if (role === "coordinator") {
    const problem = distributedRoleProblem("coordinator", config);
    if (problem) throw new UsageError(problem);
  }

  const [{ createService }, { buildHttpApp }] = await Promise.all([
    import("../serve/service.js"),
    import("../serve/http/app.js"),
  ]);
  // Every line is redacted: a driver's message may quote a configured secret anywhere in it.
  const log = (line: string) => stderr.write(`${new Date().toISOString()} ${redactText(line)}\n`);
  if (role === "coordinator") return runCoordinator(config, { host, port, token: () => tokens, log });
  const service = await createService(config, {
    log,
    loadConfig: () => {
      const next = loadConfig(options.config, io.env, io.cwd);
      apiTokens(next, io);
      return next;
    },
    onReload: (next) => {
      tokens = apiTokens(next, io);
    },
  });
  // Whatever fails from here on (building the app, listening, starting a runner), the service and the app
  // are closed before the error is reported: nothing is left holding the state store or a connection.
  try {
    const hintsToken = io.env.CONCORD_HINTS_TOKEN || config.serve.hintsToken;
    if (hintsToken !== undefined && hintsToken.length < 16)
      throw new UsageError("CONCORD_HINTS_TOKEN: a token needs at least 16 characters");
    const app = buildHttpApp(service.api, { token: () => tokens, log, hintsToken });
    try {
      const shown = await listen(app, host, port);
      log(`listening on http://${shown} (dashboard /, metrics /metrics, API /api)`);
      await service.start();

      // SIGHUP reads the config again, as POST /api/reload does; a bad file is refused in one line.
      const onHup = () => {
        service.api.reload("signal:SIGHUP").catch((err: unknown) => log(oneLineOf(err)));
      };
      process.on("SIGHUP", onHup);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.removeListener("SIGTERM", onTerm);
          process.removeListener("SIGINT", onInt);
          process.removeListener("SIGHUP", onHup);
          log(`${signal}: finishing the batches in flight and checkpointing`);
          resolve();
        };
        const onTerm = () => stop("SIGTERM");
        const onInt = () => stop("SIGINT");
        process.once("SIGTERM", onTerm);
        process.once("SIGINT", onInt);
      });
    } finally {
      await app.close();
    }
  } finally {
    await service.stop();
  }
  log("stopped");
  return EXIT.ok;
}

/**
 * `serve --role coordinator`: serves the API at once, waits for the coordinator lease (a standby meanwhile),
 * then schedules every dataset's passes with their segments on the queue. Losing the lease makes it a standby
 * again (scheduling stops, the API stays up, it campaigns again); SIGTERM/SIGINT stop it (0), freeing the
 * lease for a standby.
 */
async function runCoordinator(
  config: ConcordConfig,
  opts: { host: string; port: number; token: TokenSpec | (() => TokenSpec); log: (line: string) => void },
): Promise<number> {
  const { host, port, token, log } = opts;
  const [
    { createService },
    { buildHttpApp },
    { openStateStore },
    { BullmqSegmentDispatch },
    { Leadership, coordinate },
  ] = await Promise.all([
    import("../serve/service.js"),
    import("../serve/http/app.js"),
    import("../state/open-state-store.js"),
    import("../queue/bullmq-segment-dispatch.js"),
    import("../serve/leadership.js"),
  ]);
  const { processOwner } = await import("../engine/run-liveness.js");
  // A queue that cannot be used is one line and exit 2, not BullMQ retrying forever behind "listening".
  await (await import("../queue/check-queue.js")).checkQueue(config.queue!, "queue");
  const owner = processOwner();
  const state = await openStateStore(config.state);
  let failed: ((failure: SegmentFailure) => void) | undefined;
  const queue = new BullmqSegmentDispatch(
    config.queue!,
    new Map(config.datasets.map((d) => [d.name, d.concurrency ?? 1])),
    (failure) => failed?.(failure),
  );
  const leadership = new Leadership(state, owner, Date.now);
  try {
    const service = await createService(config, { log, state, owner, queue });
    failed = (failure) => service.segmentFailed(failure);
    try {
      const app = buildHttpApp(service.api, { token, log });
      try {
        const shown = await listen(app, host, port);
        log(
          `listening on http://${shown} as a coordinator (${owner}; dashboard /, metrics /metrics, API /api)`,
        );
        const stopping = new AbortController();
        const signalled = untilSignal(log, "finishing and checkpointing").then(() => stopping.abort());
        await coordinate(leadership, service, stopping.signal, log, owner);
        await signalled;
      } finally {
        await app.close();
      }
    } finally {
      await service.stop();
    }
  } finally {
    await leadership.release();
    await queue.close();
    await state.close();
  }
  log("stopped");
  return EXIT.ok;
}
