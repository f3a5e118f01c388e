/** Reads concord.yaml: YAML → ${VAR} interpolation → schema → normalised config. Every error is one line naming the path. */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { type AlertCondition, formatAlertCondition, parseAlertCondition } from "../core/alert-condition.js";
import type { ColumnType } from "../core/canonical.js";
import { parseDuration } from "../core/duration.js";
import type { VersionColumns } from "../core/version.js";
import {
  configSchema,
  type MERGE_RULES,
  type RawAlert,
  type RawAudit,
  type RawDataset,
  type RawPolicy,
  type RawProbe,
  type RawServe,
  type RawTimeouts,
  type RESOLVE_STRATEGIES,
} from "./schema.js";
import { resolveTimeouts, type TimeoutsConfig, type TimeoutsOverride } from "./timeouts.js";

export { DEFAULT_TIMEOUTS, type TimeoutsConfig } from "./timeouts.js";

/** A configuration problem: the message is one line, `path: problem`. Exit code 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export interface ReplicaConfig {
  readonly name: string;
  /** Store URL; relative SQLite paths are already resolved against the config file's folder. */
  readonly url: string;
  readonly table?: string | undefined;
  readonly prefix?: string | undefined;
  readonly format?: "hash" | "json" | undefined;
  /**
   * How long to wait on the store: the defaults, then the file's `timeouts`, then the replica's own (always
   * set by `parseConfig`; a replica built in code without it gets the defaults).
   */
  readonly timeouts?: TimeoutsConfig | undefined;
}

export type OwnerConfig = string | { readonly field: string; readonly map: Readonly<Record<string, string>> };
export type ResolveStrategy = (typeof RESOLVE_STRATEGIES)[number];
export type MergeRule = (typeof MERGE_RULES)[number];

export interface PolicyConfig {
  readonly owner?: OwnerConfig | undefined;
  readonly resolve?: ResolveStrategy | undefined;
  readonly merge: Readonly<Record<string, MergeRule>>;
  /** Column → absolute numeric bound, or duration in milliseconds (for timestamps). */
  readonly tolerance: Readonly<
    Record<string, { kind: "numeric"; bound: number } | { kind: "duration"; ms: number }>
  >;
  readonly windowMs?: number | undefined;
  readonly escalateAmbiguity?: number | undefined;
  readonly limits: {
    readonly maxRepairs?: number | undefined;
    readonly maxDivergentFraction?: number | undefined;
    readonly writesPerSecond?: number | undefined;
  };
}

/** A convergence probe: a canary record written to `source` and polled for on `replicas`. */
export interface ProbeConfig {
  readonly everyMs: number;
  /** The canary's key, as canonical strings in key-column order; the dataset leaves this key out of comparison. */
  readonly key: readonly string[];
  /** Replica written to (default: the static owner, else the first replica). */
  readonly source: string;
  /** Replicas polled (default: every other replica). */
  readonly replicas: readonly string[];
  /** How long to wait for the canary before recording the replica as not converged (default 60 s). */
  readonly timeoutMs: number;
  /** Fixed values for columns the canary must hold (e.g. constraints); others are generated per write. */
  readonly values: Readonly<Record<string, string | number | boolean | null>>;
}

export interface ServeConfig {
  /** Host and port to listen on (default 127.0.0.1:7070). */
  readonly host: string;
  readonly port: number;
  /** Bearer token for /api (CONCORD_TOKEN overrides); undefined: `serve` refuses to start without one. */
  readonly token?: string | undefined;
  /**
   * The environment variable `serve.token` names when it is not set: only `serve` needs the token, so
   * loading the config does not fail; `serveToken` reports it.
   */
  readonly tokenVariable?: string | undefined;
  /** A replica call slower than this backs work on it off (default 5 s). */
  readonly slowReplicaMs: number;
  /** How long probe and convergence samples are kept (default 30 days). */
  readonly retentionMs: number;
}

export interface DatasetConfig {
  readonly name: string;
  readonly key: readonly string[];
  /** Compared columns as declared; undefined means every non-key column. */
  readonly columns?: readonly string[] | undefined;
  readonly types: Readonly<Record<string, ColumnType>>;
  readonly versions: VersionColumns;
  readonly replicas: readonly ReplicaConfig[];
  readonly policy: PolicyConfig;
  readonly scheduleMs?: number | undefined;
  /** A cron schedule (UTC) instead of `scheduleMs`: passes start when it fires. */
  readonly scheduleCron?: string | undefined;
  /** What `serve` does on each pass (default "repair"). */
  readonly mode: "repair" | "scan";
  /** Share of time spent working under `serve` (1: no pause between segments; 0.5: pause as long as each took). */
  readonly intensity: number;
  /** Rows per checkpointed segment under `serve` (default 100,000). */
  readonly checkpointRows: number;
  readonly probe?: ProbeConfig | undefined;
  readonly detect: {
    segmentRows?: number | undefined;
    fanout?: number | undefined;
    leafRows?: number | undefined;
    /** Compare two SQLite replicas inside SQLite (default true); see DetectOptions.inStore. */
    inStore?: boolean | undefined;
  };
}

/** An alert rule: when `condition` holds, POST to `webhook` once per incident, and again when it clears. */
export interface AlertConfig {
  /** Shown in notifications and the audit log instead of the condition text, when given. */
  readonly name?: string | undefined;
  /** The condition in canonical form (`lag > 30s`), for messages. */
  readonly when: string;
  readonly condition: AlertCondition;
  /** http(s) URL; may hold a secret, so never print it unredacted. */
  readonly webhook: string;
  /** Only this dataset; every dataset when undefined. */
  readonly dataset?: string | undefined;
}

/**
 * Signed checkpoints of the audit log's head, kept outside the state store (docs/audit-anchors.md).
 * Keys are PEM text or the absolute path of a PEM file (relative paths resolved against the config's
 * folder); they are read only when used.
 */
export interface AnchorConfig {
  /** Absolute path of the append-only anchor log (JSON lines). */
  readonly file: string;
  /** Ed25519 private key that signs anchors; undefined on hosts that only verify. */
  readonly privateKey?: string | undefined;
  /** The environment variable `privateKey` names when it is not set (reported when signing). */
  readonly privateKeyVariable?: string | undefined;
  /** Ed25519 public key that verifies anchors. */
  readonly publicKey: string;
}

export interface AuditConfig {
  /** Undefined: the log is not anchored (truncation and a rewrite with recomputed hashes go unseen). */
  readonly anchor?: AnchorConfig | undefined;
}

export interface ConcordConfig {
  /** The file it came from (for messages). */
  readonly path: string;
  /** State store URL (default sqlite:.concord/state.db beside the config file). */
  readonly state: string;
  readonly datasets: readonly DatasetConfig[];
  readonly serve: ServeConfig;
  readonly audit: AuditConfig;
  /** Alert rules in declaration order (their index is part of each incident's key). */
  readonly alerts: readonly AlertConfig[];
  /** The file's top-level `timeouts` over the defaults (each replica's `timeouts` holds its own result). */
  readonly timeouts: TimeoutsConfig;
}

type Env = Readonly<Record<string, string | undefined>>;

function formatPath(path: readonly PropertyKey[]): string {
  return path.map(String).join(".");
}

/**
 * Secrets only one command uses: an unset `${VAR}` there leaves the value undefined (and is remembered)
 * instead of failing every command. `serve` needs serve.token; `audit anchor` the signing key.
 */
const DEFERRED = new Set(["serve.token", "audit.anchor.privateKey"]);

function interpolate(
  value: unknown,
  path: (string | number)[],
  env: Env,
  unset: Map<string, string>,
): unknown {
  if (typeof value === "string") {
    const where = formatPath(path);
    let missing: string | undefined;
    const out = value.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
      (_, name: string, fallback: string | undefined) => {
        const v = env[name];
        if (v !== undefined && v !== "") return v;
        if (fallback !== undefined) return fallback;
        if (!DEFERRED.has(where)) throw new ConfigError(`${where}: environment variable ${name} is not set`);
        missing ??= name;
        return "";
      },
    );
    if (missing === undefined) return out;
    unset.set(where, missing);
    return undefined;
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, i], env, unset));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, [...path, k], env, unset);
    return out;
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    const where = formatPath([...issue.path, issue.keys[0]!]);
    return `${where}: unknown key (check the spelling)`;
  }
  const where = formatPath(issue.path) || "(top level)";
  if (issue.code === "invalid_type" && issue.input === undefined) return `${where}: is required`;
  if (issue.code === "invalid_value" && "values" in issue) {
    return `${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  const dataset = issue.path[0] === "datasets" ? String(issue.path[1]) : "the dataset";
  return `${where}: ${issue.message.replace(/^Invalid input: /, "").replaceAll("{dataset}", dataset)}`;
}

function resolveSqliteUrl(url: string, dir: string): string {
  if (!url.startsWith("sqlite:")) return url;
  const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
  if (path === ":memory:" || isAbsolute(path)) return `sqlite:${path}`;
  return `sqlite:${resolve(dir, path)}`;
}

function normalisePolicy(p: RawPolicy | undefined): PolicyConfig {
  const tolerance: PolicyConfig["tolerance"] = {};
  for (const [col, t] of Object.entries(p?.tolerance ?? {})) {
    (tolerance as Record<string, unknown>)[col] =
      typeof t === "number" ? { kind: "numeric", bound: t } : { kind: "duration", ms: parseDuration(t)! };
  }
  return {
    owner: p?.owner,
    resolve: p?.resolve,
    merge: p?.merge ?? {},
    tolerance,
    windowMs: p?.window !== undefined ? parseDuration(p.window) : undefined,
    escalateAmbiguity: p?.escalate?.ambiguity,
    limits: { ...p?.limits },
  };
}

function normaliseProbe(p: RawProbe, ds: RawDataset): ProbeConfig {
  const names = Object.keys(ds.replicas);
  const owner = typeof ds.policy?.owner === "string" ? ds.policy.owner : undefined;
  const source = p.source ?? owner ?? names[0]!;
  return {
    everyMs: parseDuration(p.every)!,
    key: (Array.isArray(p.key) ? p.key : [p.key]).map(String),
    source,
    replicas: p.replicas ?? names.filter((n) => n !== source),
    timeoutMs: p.timeout !== undefined ? parseDuration(p.timeout)! : 60_000,
    values: p.values ?? {},
  };
}

const TIMEOUT_KEYS = {
  connect: "connectMs",
  query: "queryMs",
  idle: "idleMs",
  keepalive: "keepaliveMs",
  statement: "statementMs",
} as const;

function normaliseTimeouts(t: RawTimeouts | undefined): TimeoutsOverride {
  const out: Record<string, number> = {};
  for (const [key, field] of Object.entries(TIMEOUT_KEYS)) {
    const text = t?.[key as keyof RawTimeouts];
    if (text !== undefined) out[field] = parseDuration(text)!;
  }
  return out;
}

function normaliseServe(s: RawServe | undefined, unset: ReadonlyMap<string, string>): ServeConfig {
  const listen = s?.listen ?? "127.0.0.1:7070";
  const colon = listen.lastIndexOf(":");
  return {
    host: listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1"),
    port: Number(listen.slice(colon + 1)),
    token: s?.token,
    tokenVariable: unset.get("serve.token"),
    slowReplicaMs: s?.slowReplica !== undefined ? parseDuration(s.slowReplica)! : 5000,
    retentionMs: s?.retention !== undefined ? parseDuration(s.retention)! : 30 * 86_400_000,
  };
}

/** A key is PEM text (kept as is) or a path (resolved against the config's folder). */
function keyOrPath(value: string, dir: string): string {
  return value.trimStart().startsWith("-----BEGIN") ? value : resolve(dir, value);
}

function normaliseAudit(
  a: RawAudit | undefined,
  dir: string,
  unset: ReadonlyMap<string, string>,
): AuditConfig {
  const anchor = a?.anchor;
  if (!anchor) return {};
  return {
    anchor: {
      file: resolve(dir, anchor.file),
      privateKey: anchor.privateKey === undefined ? undefined : keyOrPath(anchor.privateKey, dir),
      privateKeyVariable: unset.get("audit.anchor.privateKey"),
      publicKey: keyOrPath(anchor.publicKey, dir),
    },
  };
}

/**
 * The bearer token `serve` uses: CONCORD_TOKEN, else serve.token. Throws ConfigError naming the variable
 * when serve.token names one that is not set; undefined when no token is configured at all.
 */
export function serveToken(config: ConcordConfig, env: Env = process.env): string | undefined {
  const fromEnv = env.CONCORD_TOKEN;
  if (fromEnv) return fromEnv;
  if (config.serve.token === undefined && config.serve.tokenVariable !== undefined)
    throw new ConfigError(`serve.token: environment variable ${config.serve.tokenVariable} is not set`);
  return config.serve.token;
}

function normaliseAlert(a: RawAlert): AlertConfig {
  const condition = parseAlertCondition(a.when);
  return {
    name: a.name,
    when: formatAlertCondition(condition),
    condition,
    webhook: a.webhook,
    dataset: a.dataset,
  };
}

/**
 * Parses and validates config text. `path` is used for messages and, resolved against `cwd`, to resolve
 * relative SQLite paths (which are relative to the config file's folder).
 */
export function parseConfig(
  text: string,
  path: string,
  env: Env = process.env,
  cwd: string = process.cwd(),
): ConcordConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new ConfigError(
      `${path}${pos ? `:${pos.line}:${pos.col}` : ""}: ${e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`,
    );
  }
  const unset = new Map<string, string>();
  const raw = interpolate(doc.toJS(), [], env, unset);
  if (raw === null || raw === undefined)
    throw new ConfigError(`${path}: the file is empty; declare datasets:`);
  // reportInput: zod 4 leaves `input` out of issues by default, and describeIssue needs it to tell
  // "is required" (undefined) from a value of the wrong type.
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new ConfigError(describeIssue(parsed.error.issues[0]!));
  const dir = dirname(resolve(cwd, path));
  const cfg = parsed.data;
  const timeouts = normaliseTimeouts(cfg.timeouts);
  return {
    path,
    state: resolveSqliteUrl(cfg.state ?? "sqlite:.concord/state.db", dir),
    serve: normaliseServe(cfg.serve, unset),
    audit: normaliseAudit(cfg.audit, dir, unset),
    datasets: Object.entries(cfg.datasets).map(([dsName, ds]) => ({
      name: dsName,
      key: typeof ds.key === "string" ? [ds.key] : ds.key,
      columns: ds.columns,
      types: (ds.types ?? {}) as Record<string, ColumnType>,
      versions: ds.versions ?? {},
      replicas: Object.entries(ds.replicas).map(([rName, r]) => ({
        name: rName,
        ...r,
        url: resolveSqliteUrl(r.url, dir),
        timeouts: resolveTimeouts(timeouts, normaliseTimeouts(r.timeouts)),
      })),
      policy: normalisePolicy(ds.policy),
      scheduleMs: ds.schedule !== undefined ? parseDuration(ds.schedule) : undefined,
      scheduleCron:
        ds.schedule !== undefined && parseDuration(ds.schedule) === undefined ? ds.schedule : undefined,
      mode: ds.mode ?? "repair",
      intensity: ds.intensity ?? 1,
      checkpointRows: ds.checkpointRows ?? 100_000,
      probe: ds.probe && normaliseProbe(ds.probe, ds),
      detect: { ...ds.detect },
    })),
    alerts: (cfg.alerts ?? []).map(normaliseAlert),
    timeouts: resolveTimeouts(timeouts),
  };
}

/**
 * Reads and validates a config file (`path` relative to `cwd`; messages name it as given). Throws
 * ConfigError (one line) on any problem.
 */
export function loadConfig(path: string, env: Env = process.env, cwd: string = process.cwd()): ConcordConfig {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `${path}: cannot read config file${code === "ENOENT" ? " (not found; pass -c PATH)" : ` (${code})`}`,
    );
  }
  return parseConfig(text, path, env, cwd);
}
