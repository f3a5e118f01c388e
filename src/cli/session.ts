/** What every data command does first: load config, pick datasets, open the state store and the replicas. */

import { resolve } from "node:path";
import { type ConcordConfig, type DatasetConfig, loadConfig } from "../config/load-config.js";
import { type RowFilterOptions, withRowFilter } from "../config/row-filter.js";
import type { Connector } from "../connectors/connector.js";
import { openConnector } from "../connectors/open-connector.js";
import { parseDuration } from "../core/duration.js";
import type { Key } from "../core/model.js";
import type { OpenReplica } from "../engine/run-context.js";
import {
  loadStateDriver,
  openExistingStateStore,
  openStateStore,
  openStateStoreToRead,
  type StateStoreToRead,
} from "../state/open-state-store.js";
import type { StateStore } from "../state/state-store.js";
import { cliActor } from "./actor.js";
import { UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { lazyStateStore } from "./lazy-state.js";

/** Options shared by scan, plan and repair. */
export interface DataCommandOptions {
  readonly config: string;
  readonly dataset?: readonly string[] | undefined;
  readonly json?: boolean | undefined;
  /** Show (and in JSON, include) the values of each divergent record, side by side. */
  readonly values?: boolean | undefined;
  /** Re-check only the keys this earlier run found diverging (`concord recheck --run`). */
  readonly recheck?: string | undefined;
  /** Compare only the rows this SQL predicate holds, on every replica (`--where`). */
  readonly where?: string | undefined;
  /** Only rows whose timestamp column is at least / at most this old (`--min-age`, `--max-age`: 1h, 7d). */
  readonly minAge?: string | undefined;
  readonly maxAge?: string | undefined;
}

/** The `--where`, `--min-age` and `--max-age` of a command, checked: a bad duration is a usage error. */
export function rowFilterOf(options: DataCommandOptions, now: number): RowFilterOptions {
  const age = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0)
      throw new UsageError(`${flag} ${text}: expected a duration such as 30m, 12h or 7d`);
    return ms;
  };
  if (options.where !== undefined && options.where.trim() === "")
    throw new UsageError("--where: expected an SQL predicate, e.g. --where \"region = 'eu'\"");
  const minAgeMs = age("--min-age", options.minAge);
  const maxAgeMs = age("--max-age", options.maxAge);
  if (minAgeMs !== undefined && maxAgeMs !== undefined && minAgeMs >= maxAgeMs)
    throw new UsageError(
      `--min-age ${options.minAge} --max-age ${options.maxAge}: no row can be older than the one and younger than the other`,
    );
  return { where: options.where, minAgeMs, maxAgeMs, now };
}

/**
 * The keys an earlier run found diverging, by dataset (`concord recheck`): a usage error when the state
 * store has no such run. Datasets where that run found nothing are absent.
 */
export async function recheckKeys(session: Session, runId: string): Promise<Map<string, Key[]>> {
  if ((await session.state.getRun(runId)).length === 0)
    throw new UsageError(`--run ${runId}: no run with this id in ${session.config.state}`);
  const out = new Map<string, Key[]>();
  // Keys only, a page at a time (no divergence's detail is read), each appended in place.
  for await (const d of session.state.keysOfRun(runId)) {
    if (!d.key.length) continue;
    const keys = out.get(d.dataset);
    if (keys) keys.push(d.key);
    else out.set(d.dataset, [d.key]);
  }
  return out;
}

export { newRunId } from "../engine/run-id.js";

/** The datasets named by -d (in config order), or all. Unknown names are a usage error. */
export function pickDatasets(config: ConcordConfig, names: readonly string[] | undefined): DatasetConfig[] {
  if (!names || names.length === 0) return [...config.datasets];
  const known = config.datasets.map((d) => d.name);
  for (const n of names) {
    if (!known.includes(n))
      throw new UsageError(`-d ${n}: no dataset named "${n}" in ${config.path} (have: ${known.join(", ")})`);
  }
  return config.datasets.filter((d) => names.includes(d.name));
}

/** An open session. `close` releases every connector and the state store, whatever happened. */
export interface Session {
  readonly config: ConcordConfig;
  /** Who runs the command, as the audit names them (`cli:<user>`). */
  readonly actor: string;
  /** The config file's absolute path (where the datasets' policies were read from). */
  readonly configFile: string;
  readonly datasets: readonly DatasetConfig[];
  readonly state: StateStore;
  /** Opens (once) the replicas of a dataset. */
  replicas(ds: DatasetConfig): Promise<OpenReplica[]>;
  /**
   * Signs the audit log's head into the anchor log when `audit.anchor` is configured (nothing otherwise):
   * what every command that appended audit entries calls once its work is done.
   */
  anchorAudit(): Promise<void>;
  /**
   * Why the state store holds nothing yet (its SQLite file, or its PostgreSQL schema, does not exist), when
   * the session reads state only (`access.state: "if-exists"`) and it is absent; undefined otherwise. Opens the
   * store if it is not open yet.
   */
  stateAbsent(): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * How a command uses the stores: `readonly` opens the replicas read-only. `state` says how the state store is
 * opened: `create` (the default) creates it when it does not exist; `existing` opens only one that already
 * holds an audit log (`openExistingStateStore`: a NoAuditLogError, nothing created, otherwise); `if-exists`
 * opens it only if it exists, and otherwise reads an empty store that refuses writes (`openStateStoreToRead`:
 * nothing created, `stateAbsent` says why): for commands that only read state, or that find nothing to do
 * in an empty one (a rollback, a recheck, a checkpoint drop).
 */
export interface SessionAccess {
  readonly readonly: boolean;
  readonly state?: "create" | "existing" | "if-exists" | undefined;
}

export async function openSession(
  options: DataCommandOptions,
  access: SessionAccess,
  io: Pick<CliIo, "env" | "cwd"> = processIo(),
): Promise<Session> {
  const config = loadConfig(options.config, io.env, io.cwd);
  const filter = rowFilterOf(options, Date.now());
  const datasets = pickDatasets(config, options.dataset).map((ds) => withRowFilter(ds, filter));
  return sessionOf(config, datasets, access, {
    actor: cliActor(io),
    configFile: resolve(io.cwd, options.config),
  });
}

/** A session over a configuration built in memory (`concord diff`), for the given datasets of it. */
export function sessionOf(
  config: ConcordConfig,
  datasets: readonly DatasetConfig[],
  access: SessionAccess,
  who: { actor: string; configFile: string } = { actor: "cli", configFile: config.path },
): Session {
  let reading: Promise<StateStoreToRead> | undefined;
  const read = () => {
    reading ??= openStateStoreToRead(config.state, config.timeouts);
    return reading;
  };
  const state = lazyStateStore(async () => {
    if (access.state === "if-exists") return (await read()).store;
    return (access.state === "existing" ? openExistingStateStore : openStateStore)(
      config.state,
      config.timeouts,
    );
  });
  const opened: Connector[] = [];
  const cache = new Map<string, OpenReplica[]>();
  let driverLoaded = false;
  return {
    config,
    ...who,
    datasets,
    state,
    async replicas(ds) {
      const hit = cache.get(ds.name);
      if (hit) return hit;
      const out: OpenReplica[] = [];
      for (const r of ds.replicas) {
        const connector = await openConnector(ds.name, r, { readonly: access.readonly });
        opened.push(connector);
        out.push({ name: r.name, connector });
      }
      cache.set(ds.name, out);
      // The replicas are described next, waiting on their servers: the state store's driver loads in that
      // wait (after the statements are sent) instead of when the store opens. The store itself still opens
      // only once the description has succeeded: a command failing there creates no state file.
      if (!driverLoaded) {
        driverLoaded = true;
        setImmediate(() => loadStateDriver(config.state));
      }
      return out;
    },
    async anchorAudit() {
      // Loaded when a command that appended audit entries is done: a scan never loads it (nor readline).
      const { writeAuditAnchor } = await import("../audit/write-audit-anchor.js");
      await writeAuditAnchor(state, config.audit, Date.now());
    },
    async stateAbsent() {
      return access.state === "if-exists" ? (await read()).absent : undefined;
    },
    async close() {
      // The replicas' goodbyes are sent first and their sockets wind down while the state store closes (a
      // SQLite checkpoint, synchronous): a process waits for the longer of the two, not their sum.
      const replicas = Promise.allSettled(opened.map((c) => c.close()));
      try {
        // An if-exists session's store may have been opened by stateAbsent alone, outside the lazy store.
        if (reading) await (await reading.catch(() => undefined))?.store.close();
        else await state.close();
      } finally {
        await replicas;
      }
    },
  };
}
