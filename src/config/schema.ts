/** The concord.yaml schema (zod): shapes, defaults and cross-field rules. Messages name what was expected. */
import { z } from "zod";
import { parseAlertCondition } from "../core/alert-condition.js";
import { COLUMN_TYPES } from "../core/canonical.js";
import { CronError, parseCron } from "../core/cron.js";
import { parseDuration } from "../core/duration.js";
import { INFERRED_BASES, type InferredBasis } from "../core/inferred-owner.js";
import { STRATEGY_ORDERING } from "../core/policy.js";
import { ROLES } from "../core/roles.js";
import { parseTokenHash } from "../core/token-hash.js";
import { predicateDialect, predicateShapeError } from "./predicate-shape.js";
import { storeUrlProblem } from "./url-check.js";

const name = z.string().min(1, "must not be empty");

const duration = z
  .string({ error: 'expected a duration such as "30s", "5m" or "1h"' })
  .refine((s) => parseDuration(s) !== undefined, {
    error: 'expected a duration such as "30s", "5m" or "1h"',
  });

/**
 * The longest wait a timer takes (2^31 - 1 ms, about 24.8 days): Node fires a longer one after 1 ms (with a
 * TimeoutOverflowWarning), and PostgreSQL refuses such a statement or idle timeout.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration a timer waits (a store's timeouts, a probe's interval, a watch batch): at most MAX_TIMER_MS. */
const timerDuration = duration.refine((s) => parseDuration(s)! <= MAX_TIMER_MS, {
  error: "must be at most 24d (the longest a timer can wait, 2^31 - 1 ms)",
});

/** A duration where a bare 0 (YAML reads it as a number) means "off". */
const timeout = z.preprocess((v) => (v === 0 ? "0" : v), timerDuration);

/** A duration that must not be zero: a store may not be given forever. */
const positiveTimeout = timeout.refine((s) => parseDuration(s)! > 0, {
  error: "must be more than 0 (a store that stops answering would be waited on forever)",
});

/** How long to wait on a store (config/timeouts.ts); any key may be left out. */
const timeouts = z.strictObject(
  {
    connect: positiveTimeout.optional(),
    query: positiveTimeout.optional(),
    idle: timeout.optional(),
    keepalive: timeout.optional(),
    statement: timeout.optional(),
  },
  { error: 'expected { connect, query, idle, keepalive, statement } with durations such as "10s"' },
);

/** A pass schedule: a duration between passes, or a cron expression (five fields or @daily…, in UTC). */
const schedule = z
  .string({ error: 'expected a duration such as "5m" or a cron expression such as "*/5 * * * *"' })
  .superRefine((s, ctx) => {
    if (parseDuration(s) !== undefined) return;
    if (!/\s|^@/.test(s.trim())) {
      ctx.addIssue({
        code: "custom",
        message: 'expected a duration such as "5m" or a cron expression such as "*/5 * * * *"',
      });
      return;
    }
    try {
      parseCron(s);
    } catch (err) {
      ctx.addIssue({
        code: "custom",
        message: `cron expression: ${err instanceof CronError ? err.message : String(err)}`,
      });
    }
  });

/** URL schemes of Redis replicas: a key prefix (and a record format) instead of a table. */
const REDIS_SCHEMES = ["redis", "rediss"];

/** A row filter: one SQL predicate that stays inside the parentheses it is combined in (`predicateShapeError`). */
const rowFilter = z
  .string()
  .trim()
  .min(1, "expected an SQL predicate on the table's columns")
  .superRefine((p, ctx) => {
    const why = predicateShapeError(p);
    if (why) ctx.addIssue({ code: "custom", message: why });
  });

/**
 * Why a row filter a replica of `scheme` applies is not one predicate in that store's dialect (MariaDB's `#`
 * comments and backslash escapes, PostgreSQL's E'…' and dollar quotes, SQLite's [identifiers]), where the
 * dialect-free check (`rowFilter`) let it through; undefined when it is.
 */
function dialectPredicateError(where: string | undefined, scheme: string): string | undefined {
  if (where === undefined) return undefined;
  const text = where.trim();
  return predicateShapeError(text) ? undefined : predicateShapeError(text, predicateDialect(scheme));
}

/** URL schemes of SQL replicas: the ones that can apply a row filter (`where:`). */
export const SQL_SCHEMES = ["sqlite", "postgres", "postgresql", "mysql", "mariadb"];

const replica = z
  .strictObject({
    url: z
      .string({
        error: "expected a store URL (sqlite:PATH, postgres://…, mysql://…, redis://…, memory:NAME)",
      })
      .min(1),
    table: z.string().min(1).optional(),
    prefix: z.string().optional(),
    format: z.enum(["hash", "json"]).optional(),
    writeStyle: z.enum(["canonical", "preserve"]).optional(),
    where: rowFilter.optional(),
    timeouts: timeouts.optional(),
  })
  .superRefine((r, ctx) => {
    // What a store does not use would be silently ignored: say so instead.
    const scheme = r.url.slice(0, Math.max(0, r.url.indexOf(":"))).toLowerCase();
    const issue = (field: string, message: string) =>
      ctx.addIssue({ code: "custom", path: [field], message });
    const urlProblem = storeUrlProblem(r.url);
    if (urlProblem) issue("url", urlProblem);
    if (r.timeouts && !["postgres", "postgresql", "mysql", "mariadb", ...REDIS_SCHEMES].includes(scheme))
      issue(
        "timeouts",
        `only a server store (postgres, mysql, mariadb, redis) takes timeouts (this one is ${scheme}:)`,
      );
    if (REDIS_SCHEMES.includes(scheme)) {
      for (const key of ["idle", "statement"] as const)
        if (r.timeouts?.[key] !== undefined)
          ctx.addIssue({
            code: "custom",
            path: ["timeouts", key],
            message: `a Redis replica has no ${key === "idle" ? "connection pool or transactions" : "statement limit"}; remove it`,
          });
      if (r.prefix === undefined)
        issue("prefix", "a Redis replica needs prefix (the key prefix of its records)");
      if (r.table !== undefined) issue("table", "a Redis replica takes prefix, not table");
      if (r.where !== undefined)
        issue(
          "where",
          "a Redis replica cannot apply an SQL predicate: it is compared whole (give the SQL replicas their where)",
        );
      return;
    }
    if (r.where !== undefined && !SQL_SCHEMES.includes(scheme))
      issue(
        "where",
        `only an SQL replica (sqlite, postgres, mysql, mariadb) takes where (this one is ${scheme}:)`,
      );
    const dialectShape = dialectPredicateError(r.where, scheme);
    if (dialectShape) issue("where", dialectShape);
    if (r.prefix !== undefined) issue("prefix", `only a Redis replica takes prefix (this one is ${scheme}:)`);
    if (r.format !== undefined) issue("format", `only a Redis replica takes format (this one is ${scheme}:)`);
    if (r.writeStyle !== undefined)
      issue(
        "writeStyle",
        `only a Redis replica takes writeStyle (this one is ${scheme}:; its columns keep their types)`,
      );
  });

/** Issues for names listed more than once (`key: [id, id]`), at the path of the second mention. */
function duplicates(
  names: readonly string[],
  path: readonly (string | number)[],
  ctx: z.RefinementCtx,
): void {
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i)
      ctx.addIssue({ code: "custom", path: [...path, i], message: `"${n}" is listed twice` });
  });
}

export const RESOLVE_STRATEGIES = [
  "owner",
  "lww",
  "highest-version",
  "version-vector",
  "merge",
  "replay",
] as const;
export const MERGE_RULES = ["max", "min", "lww", "union", "owner"] as const;

/** What an inferred owner may be chosen by (core/inferred-owner.ts `InferredBasis`). */
const INFERRED = INFERRED_BASES as readonly InferredBasis[] as readonly [InferredBasis, ...InferredBasis[]];

const inferredOwner = z.strictObject(
  {
    inferred: z.enum(INFERRED),
    minConfidence: z
      .number()
      .min(0, "expected a number in [0, 1]")
      .max(1, "expected a number in [0, 1]")
      .optional(),
    fallback: name.optional(),
  },
  { error: "expected { inferred: reliability | recent-activity | latency, minConfidence, fallback }" },
);

const owner = z.union(
  [
    name,
    z.strictObject({
      field: name,
      map: z.record(z.string(), name).refine((m) => Object.keys(m).length > 0, {
        error: "map at least one value of the field to a replica",
      }),
    }),
    inferredOwner,
  ],
  {
    error:
      "expected a replica name, { field, map } or { inferred: reliability | recent-activity | latency, minConfidence, fallback }",
  },
);

const policy = z.strictObject({
  owner: owner.optional(),
  resolve: z.enum(RESOLVE_STRATEGIES).optional(),
  merge: z.record(z.string(), z.enum(MERGE_RULES)).optional(),
  tolerance: z
    .record(
      z.string(),
      z.union([z.number().nonnegative(), duration], {
        error: 'expected a non-negative number or a duration such as "1s"',
      }),
    )
    .optional(),
  window: duration.optional(),
  escalate: z.strictObject({ ambiguity: z.number().min(0).max(1) }).optional(),
  limits: z
    .strictObject({
      maxRepairs: z.number().int().positive().optional(),
      maxDivergentFraction: z.number().gt(0).max(1).optional(),
      writesPerSecond: z.number().positive().optional(),
    })
    .optional(),
});

const scalar = z.union([z.string(), z.number(), z.boolean()], {
  error: "expected a string, number or boolean",
});

const probe = z.strictObject({
  every: timerDuration,
  key: z.union([scalar, z.array(scalar).min(1)], {
    error: "expected the canary's key value (or a list of them)",
  }),
  source: name.optional(),
  replicas: z.array(name).min(1).optional(),
  timeout: duration.optional(),
  values: z.record(z.string(), z.union([scalar, z.null()])).optional(),
});

/** Stores with a change feed (connectors/open-change-feed.ts). */
const FEED_SCHEMES = ["postgres", "postgresql", "mysql", "mariadb", "redis", "rediss", "sqlite"];

const watch = z.strictObject(
  {
    replicas: z.array(name, { error: "expected a list of replica names" }).min(1),
    batch: timerDuration.optional(),
    maxKeys: z.number().int().positive().optional(),
    checkTarget: duration.optional(),
    bufferKeys: z.number().int().positive().optional(),
    maxLagBytes: z.number().int().positive().optional(),
    incremental: z.boolean().optional(),
    segmentRows: z.number().int().positive().optional(),
    sweepSegments: z.number().int().nonnegative().optional(),
    dirtyKeys: z.number().int().nonnegative().optional(),
    keepRuns: z.number().int().nonnegative().optional(),
    wholeEvery: duration.optional(),
    logKeys: z.number().int().positive().optional(),
    describeEvery: duration.optional(),
    retryKeys: z.number().int().nonnegative().optional(),
  },
  {
    error:
      "expected { replicas: [...] } (and optionally batch, maxKeys, checkTarget, bufferKeys, maxLagBytes)",
  },
);

const keySpec = z.union([name, z.array(name).min(1)], {
  error: "expected a column name or a list of column names",
});

const dataset = z
  .strictObject({
    key: keySpec,
    columns: z.array(name).min(1).optional(),
    types: z.record(z.string(), z.enum(COLUMN_TYPES as [string, ...string[]])).optional(),
    versions: z
      .strictObject({ counter: name.optional(), timestamp: name.optional(), vector: name.optional() })
      .optional(),
    replicas: z
      .record(name, replica)
      .refine((r) => Object.keys(r).length >= 2, { error: "a dataset needs at least two replicas" }),
    where: rowFilter.optional(),
    policy: policy.optional(),
    candidate: z
      .strictObject(
        {
          policy: z
            .string({ error: "expected the path of a candidate policy file (a policy: block)" })
            .min(1, "must not be empty"),
          mode: z.enum(["shadow", "canary"], {
            error:
              'expected "shadow" (both decide, the live one is applied) or "canary" (a growing share of keys)',
          }),
          steps: z
            .array(z.number().gt(0, "expected a fraction in (0, 1]").max(1, "expected a fraction in (0, 1]"))
            .min(1)
            .refine((a) => a.every((f, i) => i === 0 || f > a[i - 1]!), { error: "steps must grow" })
            .optional(),
          passes: z.number().int().positive().optional(),
          approvals: z.number().int().positive().optional(),
          margin: z.number().min(0).max(1).optional(),
        },
        { error: "expected { policy: FILE, mode: shadow | canary }" },
      )
      .superRefine((c, ctx) => {
        if (c.mode === "canary") return;
        // approvals: a shadow candidate's promotion to live needs them too.
        for (const k of ["steps", "passes", "margin"] as const)
          if (c[k] !== undefined)
            ctx.addIssue({ code: "custom", path: [k], message: "only a canary takes it (mode: canary)" });
      })
      .optional(),
    policyApprovals: z.number().int().min(0).optional(),
    schedule: schedule.optional(),
    mode: z.enum(["repair", "scan"]).optional(),
    repairMode: z.enum(["all", "insert-only", "upsert-only"]).optional(),
    intensity: z
      .number()
      .gt(0, "expected a number in (0, 1]")
      .max(1, "expected a number in (0, 1]")
      .optional(),
    checkpointRows: z.number().int().positive().optional(),
    backpressure: z
      .strictObject({
        latency: duration.optional(),
        minWritesPerSecond: z.number().positive().optional(),
      })
      .optional(),
    focus: z
      .union(
        [
          z.literal("adaptive"),
          z.strictObject({
            window: duration.optional(),
            extraShare: z
              .number()
              .gt(0, "expected a number in (0, 4]")
              .max(4, "expected a number in (0, 4]")
              .optional(),
          }),
        ],
        { error: 'expected "adaptive" or { window, extraShare }' },
      )
      .optional(),
    concurrency: z.number().int().positive().optional(),
    probe: probe.optional(),
    watch: watch.optional(),
    detect: z
      .strictObject({
        segmentRows: z.number().int().positive().optional(),
        fanout: z.number().int().min(2).optional(),
        leafRows: z.number().int().positive().optional(),
        inStore: z.boolean().optional(),
      })
      .optional(),
  })
  .superRefine((ds, ctx) => {
    if (ds.where !== undefined)
      for (const [rName, r] of Object.entries(ds.replicas)) {
        const scheme = r.url.slice(0, Math.max(0, r.url.indexOf(":"))).toLowerCase();
        if (!SQL_SCHEMES.includes(scheme)) {
          ctx.addIssue({
            code: "custom",
            path: ["where"],
            message: `replica ${rName} (${scheme}:) cannot apply an SQL predicate; put the where on each SQL replica instead (replicas.<name>.where), and ${rName} is compared whole`,
          });
          break;
        }
        const dialectShape = dialectPredicateError(ds.where, scheme);
        if (dialectShape) {
          ctx.addIssue({ code: "custom", path: ["where"], message: `${dialectShape} (replica ${rName})` });
          break;
        }
      }
    const replicas = Object.keys(ds.replicas);
    const isReplica = (r: string) => replicas.includes(r);
    const o = ds.policy?.owner;
    if (typeof o === "string" && !isReplica(o)) {
      ctx.addIssue({
        code: "custom",
        path: ["policy", "owner"],
        message: `"${o}" is not a replica of {dataset}`,
      });
    } else if (o && typeof o === "object" && "inferred" in o) {
      if (o.fallback !== undefined && !isReplica(o.fallback))
        ctx.addIssue({
          code: "custom",
          path: ["policy", "owner", "fallback"],
          message: `"${o.fallback}" is not a replica of {dataset}`,
        });
    } else if (o && typeof o === "object") {
      for (const [value, r] of Object.entries(o.map)) {
        if (!isReplica(r)) {
          ctx.addIssue({
            code: "custom",
            path: ["policy", "owner", "map", value],
            message: `"${r}" is not a replica of {dataset}`,
          });
        }
      }
    }
    const resolve = ds.policy?.resolve;
    if (resolve === "owner" && !o) {
      ctx.addIssue({ code: "custom", path: ["policy", "resolve"], message: '"owner" needs policy.owner' });
    }
    // Replay copies the owner's logged changes: the owner is one replica, and its change feed fills the log.
    if (resolve === "replay") {
      if (typeof o !== "string")
        ctx.addIssue({
          code: "custom",
          path: ["policy", "resolve"],
          message: '"replay" needs policy.owner naming one replica (whose changes are replayed)',
        });
      else if (!ds.watch?.replicas.includes(o))
        ctx.addIssue({
          code: "custom",
          path: ["policy", "resolve"],
          message: `"replay" needs watch: { replicas: [${o}] } (the owner's change feed fills the change log)`,
        });
    }
    if (resolve === "merge" && !ds.policy?.merge) {
      ctx.addIssue({
        code: "custom",
        path: ["policy", "merge"],
        message: 'resolve "merge" needs per-column rules in policy.merge',
      });
    }
    // A strategy orders by the version it names and by nothing else (core/policy.ts versionOrdering).
    const needs = resolve === undefined ? undefined : STRATEGY_ORDERING[resolve];
    if (needs !== undefined && !ds.versions?.[needs]) {
      ctx.addIssue({
        code: "custom",
        path: ["policy", "resolve"],
        message: `${resolve} needs versions.${needs}`,
      });
    }
    const keys = typeof ds.key === "string" ? [ds.key] : ds.key;
    if (ds.probe) {
      for (const [field, r] of [
        ["source", ds.probe.source],
        ...(ds.probe.replicas ?? []).map((x, i) => [`replicas.${i}`, x]),
      ] as [string, string | undefined][]) {
        if (r !== undefined && !isReplica(r))
          ctx.addIssue({
            code: "custom",
            path: ["probe", ...field.split(".")],
            message: `"${r}" is not a replica of {dataset}`,
          });
      }
      const given = Array.isArray(ds.probe.key) ? ds.probe.key.length : 1;
      if (given !== keys.length)
        ctx.addIssue({
          code: "custom",
          path: ["probe", "key"],
          message: `expected ${keys.length} key value${keys.length === 1 ? "" : "s"} (${keys.join(", ")})`,
        });
    }
    if (ds.watch) {
      duplicates(ds.watch.replicas, ["watch", "replicas"], ctx);
      ds.watch.replicas.forEach((r, i) => {
        const replica = ds.replicas[r];
        const scheme = replica?.url.slice(0, Math.max(0, replica.url.indexOf(":"))).toLowerCase();
        if (!replica)
          ctx.addIssue({
            code: "custom",
            path: ["watch", "replicas", i],
            message: `"${r}" is not a replica of {dataset}`,
          });
        else if (!FEED_SCHEMES.includes(scheme ?? ""))
          ctx.addIssue({
            code: "custom",
            path: ["watch", "replicas", i],
            message: `"${r}" is a ${scheme}: replica, which has no change feed (postgres, mysql, mariadb, redis, sqlite have)`,
          });
      });
    }
    for (const col of ds.columns ?? []) {
      if (keys.includes(col))
        ctx.addIssue({ code: "custom", path: ["columns"], message: `"${col}" is a key column` });
    }
    if (Array.isArray(ds.key)) duplicates(ds.key, ["key"], ctx);
    duplicates(ds.columns ?? [], ["columns"], ctx);
    const versions = ds.versions ?? {};
    const versionFields = (["counter", "timestamp", "vector"] as const).filter((f) => versions[f]);
    for (const [i, f] of versionFields.entries()) {
      const other = versionFields.slice(0, i).find((g) => versions[g] === versions[f]);
      if (other)
        ctx.addIssue({
          code: "custom",
          path: ["versions", f],
          message: `"${versions[f]}" is already versions.${other}; one column cannot be two kinds of version`,
        });
    }
    // A zero window (README's watch example) waits for nothing, so it needs no age to read.
    if (ds.policy?.window !== undefined && parseDuration(ds.policy.window) !== 0 && !versions.timestamp)
      ctx.addIssue({
        code: "custom",
        path: ["policy", "window"],
        message: "needs versions.timestamp (a change's age is read from it)",
      });
    if (ds.probe?.replicas) {
      const source = ds.probe.source ?? (typeof o === "string" ? o : replicas[0]);
      duplicates(ds.probe.replicas, ["probe", "replicas"], ctx);
      ds.probe.replicas.forEach((r, i) => {
        if (r === source)
          ctx.addIssue({
            code: "custom",
            path: ["probe", "replicas", i],
            message: `"${r}" is the probe's source; list the replicas that should receive the canary`,
          });
      });
    }
    // Two replicas that are the same store object compare a table with itself.
    const seen = new Map<string, string>();
    for (const [rName, r] of Object.entries(ds.replicas)) {
      const where = `${r.url}\u0000${r.table ?? ""}\u0000${r.prefix ?? ""}`;
      const first = seen.get(where);
      if (first !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["replicas", rName],
          message: `same store and ${r.prefix !== undefined ? "prefix" : "table"} as replica ${first}; a dataset compares different copies`,
        });
      else seen.set(where, rName);
    }
  });

const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/, 'expected HOST:PORT, e.g. "127.0.0.1:7070"');

/** An API token by its hash and role: the token itself is never written in config. */
const apiToken = z.strictObject(
  {
    // First, so that a token in plain text is named as such rather than as a missing hash.
    token: z
      .undefined({ error: "never write a token in plain text: declare its hash (concord token hash)" })
      .optional(),
    role: z.enum(ROLES),
    hash: z
      .string({ error: "expected the token's hash (concord token hash)" })
      .refine((h) => parseTokenHash(h) !== undefined, {
        error: "expected sha256:<64 hex digits> or scrypt:<salt hex>:<64 hex digits> (concord token hash)",
      }),
  },
  { error: "expected { role, hash }" },
);

const serve = z.strictObject({
  listen: listen.optional(),
  token: z.string().min(16, "a token needs at least 16 characters").optional(),
  hintsToken: z.string().min(16, "a token needs at least 16 characters").optional(),
  tokens: z.record(name, apiToken, { error: "expected a map of token names to { role, hash }" }).optional(),
  slowReplica: duration.optional(),
  retention: duration.optional(),
  policyApprovals: z.number().int().min(0).optional(),
});

const keyText = z
  .string({ error: "expected a path to a PEM file, or the PEM text (e.g. from ${VAR})" })
  .min(1, "must not be empty");

const audit = z.strictObject({
  anchor: z
    .strictObject({
      file: z
        .string({ error: "expected the path of the anchor log (JSON lines, outside the state store)" })
        .min(1, "must not be empty"),
      privateKey: keyText.optional(),
      publicKey: keyText,
    })
    .optional(),
});

const alert = z
  .strictObject({
    when: z.string({ error: 'expected a condition such as "lag > 30s"' }).superRefine((text, ctx) => {
      try {
        parseAlertCondition(text);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    }),
    webhook: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }),
    dataset: name.optional(),
    name: name.optional(),
  })
  .superRefine((a, ctx) => {
    if (a.dataset !== undefined && a.when.trim() === "audit-broken")
      ctx.addIssue({
        code: "custom",
        path: ["dataset"],
        message: "audit-broken watches the whole audit log; remove dataset",
      });
  });

export const configSchema = z
  .strictObject({
    serve: serve.optional(),
    audit: audit.optional(),
    state: z
      .string({ error: "expected a state store URL (sqlite:PATH or postgres://…)" })
      .min(1)
      .superRefine((url, ctx) => {
        const problem = storeUrlProblem(url);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    timeouts: timeouts.optional(),
    queue: z.string({ error: "expected a Redis URL: redis://host:port/db" }).min(1).optional(),
    workers: z
      .strictObject({
        concurrency: z.number().int().positive().optional(),
        stallAfter: positiveTimeout.optional(),
      })
      .optional(),
    datasets: z
      .record(name, dataset)
      .refine((d) => Object.keys(d).length >= 1, { error: "declare at least one dataset" }),
    alerts: z.array(alert, { error: "expected a list of { when, webhook }" }).optional(),
  })
  .superRefine((cfg, ctx) => {
    for (const [i, a] of (cfg.alerts ?? []).entries()) {
      if (a.dataset !== undefined && !Object.hasOwn(cfg.datasets, a.dataset))
        ctx.addIssue({
          code: "custom",
          path: ["alerts", i, "dataset"],
          message: `"${a.dataset}" is not a declared dataset`,
        });
    }
  });

export type RawConfig = z.infer<typeof configSchema>;
export type RawDataset = z.infer<typeof dataset>;
export type RawReplica = z.infer<typeof replica>;
export type RawPolicy = z.infer<typeof policy>;
export type RawCandidate = NonNullable<RawDataset["candidate"]>;
export type RawProbe = z.infer<typeof probe>;
export type RawWatch = z.infer<typeof watch>;
export type RawServe = z.infer<typeof serve>;
export type RawAudit = z.infer<typeof audit>;
export type RawAlert = z.infer<typeof alert>;
export type RawTimeouts = z.infer<typeof timeouts>;
