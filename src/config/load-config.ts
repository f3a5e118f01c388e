/** Reads concord.yaml: YAML → ${VAR} interpolation → schema → normalised config. Every error is one line naming the path. */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse, parseDocument } from "yaml";
import type { z } from "zod";
import { type AlertCondition, formatAlertCondition, parseAlertCondition } from "../core/alert-condition.js";
import type { ColumnType } from "../core/canonical.js";
import { parseDuration } from "../core/duration.js";
import type { InferredBasis } from "../core/inferred-owner.js";
import type { Role } from "../core/roles.js";
import type { VersionColumns } from "../core/version.js";
import { parseQueueUrl, type QueueConfig, type WorkersConfig } from "./queue-config.js";
import { rememberConfigSecrets } from "./redact.js";
import {
  configSchema,
  type MERGE_RULES,
  type RawAlert,
  type RawAudit,
  type RawCandidate,
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
  /** Redis: write values in the form the record already uses (`preserve`) or canonical (default). */
  readonly writeStyle?: "canonical" | "preserve" | undefined;
  /**
   * The row filter: an SQL predicate on the table's columns that every range read applies (the replica's
   * own `where:`, else the dataset's). Only SQL replicas have one; undefined compares the whole table.
   */
  readonly where?: string | undefined;
  /**
   * How long to wait on the store: the defaults, then the file's `timeouts`, then the replica's own (always
   * set by `parseConfig`; a replica built in code without it gets the defaults).
   */
  readonly timeouts?: TimeoutsConfig | undefined;
}

/** The lower bound an inferred owner's interval must reach when `minConfidence` is not given. */
export const DEFAULT_MIN_CONFIDENCE = 0.9;

export type OwnerConfig =
  | string
  | { readonly field: string; readonly map: Readonly<Record<string, string>> }
  | {
      /** What the owner is chosen by, per decision, from the run's evidence snapshot. */
      readonly inferred: InferredBasis;
      /** The winner's 95% interval lower bound must reach this (default 0.9). */
      readonly minConfidence: number;
      /** Owns the decision when no replica is confident; undefined: escalate. */
      readonly fallback?: string | undefined;
    };
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

/** Change feeds that trigger targeted checks of the keys they report (`concord watch`, serve). */
export interface WatchConfig {
  /** The replicas whose change feeds are read (a change on any of them re-checks the key everywhere). */
  readonly replicas: readonly string[];
  /** How long a burst of changes is gathered before its keys are checked (default 200 ms). */
  readonly batchMs: number;
  /** Keys checked at once, at most (default 1,000); the batch size adapts below it (AIMD). */
  readonly maxKeys: number;
  /** A check slower than this halves the batch size (default 1 s). */
  readonly checkTargetMs: number;
  /** Changed keys held in memory before a feed falls back to a whole pass (default 100,000). */
  readonly bufferKeys: number;
  /** WAL a PostgreSQL slot may retain before it is released and a whole pass scheduled (default 1 GiB). */
  readonly maxLagBytes: number;
  /**
   * Scheduled passes check only the segments the feeds marked dirty since the last verified whole pass
   * (default true); a gap, a feed without a stored position, or no verified pass yet make a pass whole.
   */
  readonly incremental: boolean;
  /** A whole pass at least this often even when the feeds saw every change (default 1 day). */
  readonly wholeEveryMs: number;
  /** Rows per segment of the dirty-segment summary (default 10,000): the grain a changed key re-reads. */
  readonly segmentRows: number;
  /**
   * Clean segments each dirty-segment pass re-verifies too, in rotation (default 1), because feeds miss
   * some changes (restores, manual edits, corruption): every segment is looked at within `of` passes.
   * Segments whose tree leaf is forgotten (checked by key only) are taken first.
   */
  readonly sweepSegments: number;
  /**
   * Changed keys a segment's dirty mark lists, at most (default 100; 0: segments only). A pass checks a
   * segment's listed keys instead of re-reading it; past this many the whole segment is marked and re-read.
   */
  readonly dirtyKeys: number;
  /**
   * Change-feed checks that found nothing are kept as runs only for the newest this many (default 1,000);
   * older quiet ones are pruned, so `runs` grows with divergence, not with write traffic.
   */
  readonly keepRuns: number;
  /**
   * With `resolve: replay`: how many of the owner's logged changes the change log keeps (default 1,000,000);
   * older ones are pruned, and a replica whose replay cursor is behind a pruned entry gets a full pass.
   */
  readonly logKeys: number;
  /**
   * How long the replicas' description and row counts one check took serve the next checks (default 30 s;
   * 0: every check describes and counts): a column added meanwhile is compared from the next description on
   * (a check that fails forgets them at once, and whole passes always describe).
   */
  readonly describeEveryMs: number;
  /**
   * Keys a check left unsettled (a claim of a run not yet dead, a rejected or failed write, a divergence in
   * the window) held for re-checks with back-off, at most (default 10,000; 0: none); more are left to the
   * next scheduled pass, their segments marked dirty.
   */
  readonly retryKeys: number;
}

/** An API token as config declares it: a name, a role, and the token's hash (never the token). */
export interface ApiTokenConfig {
  readonly name: string;
  readonly role: Role;
  /** `sha256:<hex>` or `scrypt:<salt>:<key>` (core/token-hash.ts). */
  readonly hash: string;
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
  /**
   * A read-only token for `GET /api/hints/…` only (CONCORD_HINTS_TOKEN overrides), for applications that read
   * consistency hints and must not resolve escalations or start passes. Undefined: hints need the API token.
   */
  readonly hintsToken?: string | undefined;
  /** Named API tokens by hash, each with its role (`serve.tokens`); requests act as `token:<name>`. */
  readonly tokens: readonly ApiTokenConfig[];
  /** A replica call slower than this backs work on it off (default 5 s). */
  readonly slowReplicaMs: number;
  /** How long probe and convergence samples are kept (default 30 days). */
  readonly retentionMs: number;
  /** Distinct approvers a policy changed by a reload needs before serve adopts it, by default (0: none). */
  readonly policyApprovals: number;
}

/** A candidate policy tried beside the live one (`candidate:`): in shadow mode both decide, the live one is applied. */
export interface CandidateConfig {
  /** The candidate policy file's absolute path. */
  readonly file: string;
  /** shadow: both decide, the live one is applied; canary: the candidate decides a growing share of keys. */
  readonly mode: "shadow" | "canary";
  /** canary: the share of keys at each step, growing (default 0.05, 0.25, 1). */
  readonly steps: readonly number[];
  /** canary: passes a step must go through without a rollback before it may be promoted (default 3). */
  readonly passes: number;
  /**
   * Distinct approvers a promotion needs (default 1): canary, to the next step; shadow, of the candidate to
   * the live policy (`POST /api/datasets/<name>/candidate/promote`).
   */
  readonly approvals: number;
  /**
   * canary: how much worse the candidate's keys may fare than the live policy's (escalated, failed or
   * superseded over decided) before the rollout is rolled back (default 0.05).
   */
  readonly margin: number;
  /** The candidate, validated for the dataset as its own policy would be. */
  readonly policy: PolicyConfig;
}

export interface DatasetConfig {
  readonly name: string;
  readonly key: readonly string[];
  /** Compared columns as declared; undefined means every non-key column. */
  readonly columns?: readonly string[] | undefined;
  readonly types: Readonly<Record<string, ColumnType>>;
  readonly versions: VersionColumns;
  readonly replicas: readonly ReplicaConfig[];
  /** The dataset's row filter as declared (each replica's `where` is what applies). */
  readonly where?: string | undefined;
  readonly policy: PolicyConfig;
  /** A candidate policy in shadow beside the live one (serve). */
  readonly candidate?: CandidateConfig | undefined;
  /**
   * Distinct approvers a policy change brought by a reload needs before serve adopts it (default
   * `serve.policyApprovals`, else 0: adopted by the next repair pass). Undefined reads as 0.
   */
  readonly policyApprovals?: number | undefined;
  readonly scheduleMs?: number | undefined;
  /** A cron schedule (UTC) instead of `scheduleMs`: passes start when it fires. */
  readonly scheduleCron?: string | undefined;
  /** Which writes a repair makes: all (default), insert-only (missing records only), upsert-only (no deletes). */
  readonly repairMode?: "all" | "insert-only" | "upsert-only" | undefined;
  /** What `serve` does on each pass (default "repair"). */
  readonly mode: "repair" | "scan";
  /** Share of time spent working under `serve` (1: no pause between segments; 0.5: pause as long as each took). */
  readonly intensity: number;
  /** Rows per checkpointed segment under `serve` (default 100,000). */
  readonly checkpointRows: number;
  /**
   * Latency-aware backpressure of repair writes (CLI and serve alike): a replica's write batch slower than
   * `latencyMs` (default 1 s), or one that failed or was retried, halves its write rate (not below
   * `minWritesPerSecond`, default 1); healthy batches raise it back towards `limits.writesPerSecond`.
   */
  readonly backpressure?: { readonly latencyMs: number; readonly minWritesPerSecond: number } | undefined;
  /**
   * Adaptive focus under `serve` (`focus: adaptive`; off by default): each pass visits the segments whose
   * ranges drifted inside `windowMs` several times, spread over the pass, and waits longer before the next
   * pass so the rows read per unit of time stay a plain pass's.
   */
  readonly focus?: FocusConfig | undefined;
  /**
   * Segments of the dataset that run at once across every worker process (distributed roles; default 1).
   * With `intensity`, what the fleet asks of each replica: at most this many segments, each working an
   * `intensity` share of the time.
   */
  readonly concurrency?: number | undefined;
  readonly probe?: ProbeConfig | undefined;
  readonly watch?: WatchConfig | undefined;
  readonly detect: {
    segmentRows?: number | undefined;
    fanout?: number | undefined;
    leafRows?: number | undefined;
    /**
     * Compare two replicas inside their store where one connection reaches both (two SQLite files, two
     * PostgreSQL tables of one database; default true); see DetectOptions.inStore.
     */
    inStore?: boolean | undefined;
  };
}

/** Adaptive focus settings (learning/focus-order.ts). */
export interface FocusConfig {
  /** Drift first seen within this long before a pass makes its range hot (default 1 h). */
  readonly windowMs: number;
  /** Extra visits to hot segments per pass, as a share of the segment count (default 1). */
  readonly extraShare: number;
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
  /** The distributed roles' job queue (`queue:`, CONCORD_QUEUE over it); undefined when none is set. */
  readonly queue?: QueueConfig | undefined;
  readonly workers: WorkersConfig;
}

type Env = Readonly<Record<string, string | undefined>>;

function formatPath(path: readonly PropertyKey[]): string {
  return path.map(String).join(".");
}

/**
 * Secrets only one command uses: an unset `${VAR}` there leaves the value undefined (and is remembered)
 * instead of failing every command. `serve` needs serve.token; `audit anchor` the signing key.
 */
const DEFERRED = new Set(["serve.token", "serve.hintsToken", "audit.anchor.privateKey"]);

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

/** Edits (insertions, deletions, substitutions) between two short names. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/**
 * The one issue to report. A misspelt key comes first, before what its misspelling left missing (`replicass`
 * is the cause, `replicas: is required` the symptom), naming the required key it likely meant.
 */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const unknown = issues.find((i) => i.code === "unrecognized_keys");
  if (unknown?.code !== "unrecognized_keys") return describeIssue(issues[0]!);
  const parent = formatPath(unknown.path);
  const missing = issues
    .filter(
      (i) =>
        i.code === "invalid_type" &&
        i.input === undefined &&
        i.path.length === unknown.path.length + 1 &&
        formatPath(i.path.slice(0, -1)) === parent,
    )
    .map((i) => String(i.path.at(-1)));
  for (const key of unknown.keys) {
    const meant = missing.find((m) => editDistance(key.toLowerCase(), m.toLowerCase()) <= 2);
    if (meant) return `${formatPath([...unknown.path, key])}: unknown key (did you mean ${meant}?)`;
  }
  return describeIssue(unknown);
}

function resolveSqliteUrl(url: string, dir: string): string {
  if (!url.startsWith("sqlite:")) return url;
  const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
  if (path === ":memory:" || isAbsolute(path)) return `sqlite:${path}`;
  return `sqlite:${resolve(dir, path)}`;
}

function normaliseFocus(f: NonNullable<RawDataset["focus"]>): FocusConfig {
  const o = typeof f === "string" ? {} : f;
  return {
    windowMs: o.window !== undefined ? parseDuration(o.window)! : 3_600_000,
    extraShare: o.extraShare ?? 1,
  };
}

function normaliseOwner(o: RawPolicy["owner"]): OwnerConfig | undefined {
  if (o === undefined || typeof o === "string" || !("inferred" in o)) return o;
  return {
    inferred: o.inferred,
    minConfidence: o.minConfidence ?? DEFAULT_MIN_CONFIDENCE,
    ...(o.fallback !== undefined ? { fallback: o.fallback } : {}),
  };
}

function normalisePolicy(p: RawPolicy | undefined): PolicyConfig {
  const tolerance: PolicyConfig["tolerance"] = {};
  for (const [col, t] of Object.entries(p?.tolerance ?? {})) {
    (tolerance as Record<string, unknown>)[col] =
      typeof t === "number" ? { kind: "numeric", bound: t } : { kind: "duration", ms: parseDuration(t)! };
  }
  return {
    owner: normaliseOwner(p?.owner),
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
    tokens: Object.entries(s?.tokens ?? {}).map(([tokenName, t]) => ({
      name: tokenName,
      role: t.role,
      hash: t.hash,
    })),
    tokenVariable: unset.get("serve.token"),
    hintsToken: s?.hintsToken,
    slowReplicaMs: s?.slowReplica !== undefined ? parseDuration(s.slowReplica)! : 5000,
    retentionMs: s?.retention !== undefined ? parseDuration(s.retention)! : 30 * 86_400_000,
    policyApprovals: s?.policyApprovals ?? 0,
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
 * The document's value; what the parser refuses only while building it (an alias bomb: "Excessive alias
 * count") is a ConfigError naming the file, not an internal error.
 */
export function yamlValue(doc: { toJS(): unknown }, path: string): unknown {
  try {
    return doc.toJS();
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message.split("\n")[0]}`);
  }
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
  const raw = interpolate(yamlValue(doc, path), [], env, unset);
  rememberConfigSecrets(raw, env);
  if (raw === null || raw === undefined)
    throw new ConfigError(`${path}: the file is empty; declare datasets:`);
  // reportInput: zod 4 leaves `input` out of issues by default, and describeIssue needs it to tell
  // "is required" (undefined) from a value of the wrong type. jitless: a config is parsed once a process
  // (or a reload), and zod's generated fast path for each object schema costs more to build and compile
  // than it saves in one parse (loadConfig of a 10-line file 16.8 -> 14.0 ms of CPU); the result is the same.
  const parsed = configSchema.safeParse(raw, { reportInput: true, jitless: true });
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error.issues));
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
        where: r.where ?? ds.where,
        url: resolveSqliteUrl(r.url, dir),
        timeouts: resolveTimeouts(timeouts, normaliseTimeouts(r.timeouts)),
      })),
      where: ds.where,
      policy: normalisePolicy(ds.policy),
      candidate: ds.candidate && candidateOf(raw, dsName, ds.candidate, { path, env, cwd, dir }),
      policyApprovals: ds.policyApprovals ?? cfg.serve?.policyApprovals ?? 0,
      scheduleMs: ds.schedule !== undefined ? parseDuration(ds.schedule) : undefined,
      scheduleCron:
        ds.schedule !== undefined && parseDuration(ds.schedule) === undefined ? ds.schedule : undefined,
      mode: ds.mode ?? "repair",
      repairMode: ds.repairMode ?? "all",
      intensity: ds.intensity ?? 1,
      checkpointRows: ds.checkpointRows ?? 100_000,
      ...(ds.backpressure
        ? {
            backpressure: {
              latencyMs:
                ds.backpressure.latency !== undefined ? parseDuration(ds.backpressure.latency)! : 1000,
              minWritesPerSecond: ds.backpressure.minWritesPerSecond ?? 1,
            },
          }
        : {}),
      ...(ds.focus !== undefined ? { focus: normaliseFocus(ds.focus) } : {}),
      ...(ds.concurrency !== undefined ? { concurrency: ds.concurrency } : {}),
      probe: ds.probe && normaliseProbe(ds.probe, ds),
      watch: ds.watch && {
        replicas: ds.watch.replicas,
        batchMs: ds.watch.batch !== undefined ? parseDuration(ds.watch.batch)! : 200,
        maxKeys: ds.watch.maxKeys ?? 1000,
        checkTargetMs: ds.watch.checkTarget !== undefined ? parseDuration(ds.watch.checkTarget)! : 1000,
        bufferKeys: ds.watch.bufferKeys ?? 100_000,
        maxLagBytes: ds.watch.maxLagBytes ?? 2 ** 30,
        incremental: ds.watch.incremental ?? true,
        segmentRows: ds.watch.segmentRows ?? 10_000,
        sweepSegments: ds.watch.sweepSegments ?? 1,
        dirtyKeys: ds.watch.dirtyKeys ?? 100,
        keepRuns: ds.watch.keepRuns ?? 1000,
        logKeys: ds.watch.logKeys ?? 1_000_000,
        describeEveryMs:
          ds.watch.describeEvery !== undefined ? parseDuration(ds.watch.describeEvery)! : 30_000,
        wholeEveryMs: ds.watch.wholeEvery !== undefined ? parseDuration(ds.watch.wholeEvery)! : 86_400_000,
        retryKeys: ds.watch.retryKeys ?? 10_000,
      },
      detect: { ...ds.detect },
    })),
    alerts: (cfg.alerts ?? []).map(normaliseAlert),
    timeouts: resolveTimeouts(timeouts),
    queue: queueOf(cfg.queue, env),
    workers: {
      concurrency: cfg.workers?.concurrency ?? 1,
      stallAfterMs: cfg.workers?.stallAfter !== undefined ? parseDuration(cfg.workers.stallAfter)! : 30_000,
    },
  };
}

/** CONCORD_QUEUE over `queue:`; a malformed one is a ConfigError naming where it came from. */
function queueOf(fromFile: string | undefined, env: Env): QueueConfig | undefined {
  const fromEnv = env.CONCORD_QUEUE;
  const [url, where] = fromEnv ? [fromEnv, "CONCORD_QUEUE"] : [fromFile, "queue"];
  if (url === undefined) return undefined;
  try {
    return parseQueueUrl(url, where);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/**
 * A dataset's candidate policy: its file read and validated as if it were the dataset's own policy (the
 * config's rules judge it: owner replicas, version columns, merge rules), errors naming the candidate's path.
 */
function candidateOf(
  raw: unknown,
  dsName: string,
  c: RawCandidate,
  at: { path: string; env: Env; cwd: string; dir: string },
): CandidateConfig {
  const where = `datasets.${dsName}.candidate.policy`;
  const file = resolve(at.dir, c.policy);
  let block: unknown;
  try {
    block = parse(readFileSync(file, "utf8"), { uniqueKeys: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `${where}: ${c.policy}: ${code ? `cannot read (${code === "ENOENT" ? "not found" : code})` : (err as Error).message.split("\n")[0]}`,
    );
  }
  if (block === null || block === undefined)
    throw new ConfigError(
      `${where}: ${c.policy}: empty; expected a policy block (owner, resolve, merge, …) ({} for the default policy)`,
    );
  if (typeof block !== "object" || Array.isArray(block))
    throw new ConfigError(`${where}: ${c.policy}: expected a policy block (owner, resolve, merge, …)`);
  const doc = raw as { datasets: Record<string, Record<string, unknown>> };
  const { candidate: _candidate, ...ds } = doc.datasets[dsName]!;
  const only = { ...doc, datasets: { [dsName]: { ...ds, policy: block } }, alerts: undefined };
  try {
    const policy = parseConfig(JSON.stringify(only), at.path, at.env, at.cwd).datasets[0]!.policy;
    return {
      file,
      mode: c.mode,
      steps: c.steps ?? [0.05, 0.25, 1],
      passes: c.passes ?? 3,
      approvals: c.approvals ?? 1,
      margin: c.margin ?? 0.05,
      policy,
    };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${where}: ${c.policy}: ${err.message}`);
    throw err;
  }
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
