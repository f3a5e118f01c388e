/** Input schemas of the /api routes (zod) and their one-line 400 messages. Validation only: no service calls. */
import { z } from "zod";
import { DIVERGENCE_CLASSES } from "../../core/classify.js";
import { parseIsoTime } from "../../core/iso-time.js";
import { HttpError } from "./http-error.js";

/** The most rows a list endpoint returns in one answer. */
export const MAX_LIMIT = 10_000;

const one = (what: string) => z.string({ error: `expected one ${what}` });

const name = one("name")
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters")
  .refine((s) => !/\p{Cc}/u.test(s), "must not contain control characters");

const limit = one("number")
  .regex(/^[1-9][0-9]{0,5}$/, `expected an integer from 1 to ${MAX_LIMIT}`)
  .transform(Number)
  .refine((n) => n <= MAX_LIMIT, `expected an integer from 1 to ${MAX_LIMIT}`);

const divergenceClass = one("class").refine((c) => (DIVERGENCE_CLASSES as readonly string[]).includes(c), {
  error: `expected one of ${DIVERGENCE_CLASSES.join(", ")}`,
});

/** An offset into a list: 0 or more. */
const offset = one("number")
  .regex(/^(0|[1-9][0-9]{0,8})$/, "expected an integer from 0 to 999999999")
  .transform(Number);

/** An escalation's class: the taxonomy's, or `guard` (a tripped blast-radius guard). */
const ESCALATION_CLASSES = [...DIVERGENCE_CLASSES, "guard"];
const escalationClass = one("class").refine((c) => ESCALATION_CLASSES.includes(c as never), {
  error: `expected one of ${ESCALATION_CLASSES.join(", ")}`,
});

/** A group id as `GET /api/escalations/groups` gives it. */
const groupId = one("group").regex(/^[0-9a-f]{12}$/, "expected a group id (12 hex digits)");

const escalationStatus = z.enum(["open", "resolved", "rejected"], {
  error: "expected one of open, resolved, rejected",
});

/** Milliseconds since the epoch, or an ISO 8601 date-time. */
const since = one("time")
  .transform((text, ctx) => {
    const ms = /^[0-9]{1,15}$/.test(text) ? Number(text) : parseIsoTime(text);
    if (Number.isNaN(ms)) {
      ctx.addIssue({
        code: "custom",
        message: "expected milliseconds since the epoch or an ISO 8601 date-time",
      });
      return z.NEVER;
    }
    return ms;
  })
  .pipe(z.number());

/**
 * An audit key filter as `keyId` text: `42` and `[42]` both mean the key ["42"], `a,b` a composite key,
 * null in a JSON array a NULL key part (`[10,null]`; the same reading as `concord audit show --key`).
 */
const auditKey = one("key")
  .min(1, "must not be empty")
  .max(1000, "must be at most 1000 characters")
  .transform((text, ctx) => {
    if (!text.startsWith("[")) return JSON.stringify(text.split(","));
    try {
      const parts: unknown = JSON.parse(text);
      if (
        Array.isArray(parts) &&
        parts.length > 0 &&
        parts.every((p) => p === null || ["string", "number"].includes(typeof p))
      )
        return JSON.stringify(parts.map((p) => (p === null ? null : String(p))));
    } catch {
      // reported below
    }
    ctx.addIssue({
      code: "custom",
      message: 'expected a JSON array of key values such as [42], ["eu","x"] or [10,null]',
    });
    return z.NEVER;
  });

export const runsQuery = z.strictObject({ dataset: name.optional(), limit: limit.optional() });
export const divergencesQuery = z.strictObject({
  dataset: name.optional(),
  class: divergenceClass.optional(),
  limit: limit.optional(),
  offset: offset.optional(),
});
const escalationFilter = {
  status: escalationStatus.optional(),
  dataset: name.optional(),
  class: escalationClass.optional(),
  column: name.optional(),
  replica: name.optional(),
  group: groupId.optional(),
};
export const escalationsQuery = z.strictObject({
  ...escalationFilter,
  limit: limit.optional(),
  offset: offset.optional(),
});
export const escalationGroupsQuery = z.strictObject(escalationFilter);
export const auditQuery = z.strictObject({
  run: name.optional(),
  key: auditKey.optional(),
  limit: limit.optional(),
});
export const historyQuery = z.strictObject({ dataset: name.optional(), since: since.optional() });
export const noQuery = z.strictObject({});
/** `?dataset=NAME`: only this dataset's insights. */
export const insightsQuery = z.strictObject({ dataset: name.optional() });
/** `?key=42`, or `?key=eu&key=17` for a composite key (values in key-column order). */
export const hintQuery = z.strictObject({
  key: z
    .union([z.string(), z.array(z.string()).min(1)], { error: "expected the key's values" })
    .transform((k) => (Array.isArray(k) ? k : [k]))
    .optional(),
});
export const idParams = z.strictObject({ id: name });
export const nameParams = z.strictObject({ name });

/** `{ "replica": "<name>" }`: the replica a change-log replay catches up. */
export const replayBody = z.strictObject(
  {
    replica: z.string({ error: "expected a replica name" }).min(1, "expected a replica name").max(200),
  },
  { error: 'expected { "replica": "<name>" }' },
);

/** `{ "pick": "<replica>" }` or `{ "reject": true }`, exactly one. */
export const resolveBody = z
  .strictObject(
    {
      pick: z
        .string({ error: "expected a replica name" })
        .min(1, "expected a replica name")
        .max(200)
        .optional(),
      reject: z.literal(true, { error: "expected true" }).optional(),
    },
    { error: 'expected a JSON object: { "pick": "<replica>" } or { "reject": true }' },
  )
  .refine((b) => (b.pick === undefined) !== (b.reject === undefined), {
    error: 'give exactly one of "pick" or "reject"',
  })
  .transform((b) => (b.pick !== undefined ? { pick: b.pick } : { reject: true as const }));

/**
 * A bulk resolution: which open escalations (the list filters but status), the choice, and the
 * confirmation (the count or token of the preview this same request answers without it).
 */
export const bulkResolveBody = z
  .strictObject(
    {
      dataset: z.string({ error: "expected a dataset name" }).min(1).max(200).optional(),
      class: z.string({ error: "expected a class" }).min(1).max(200).optional(),
      column: z.string({ error: "expected a column name" }).min(1).max(200).optional(),
      replica: z.string({ error: "expected a replica name" }).min(1).max(200).optional(),
      group: z
        .string({ error: "expected a group id" })
        .regex(/^[0-9a-f]{12}$/, "expected a group id (12 hex digits)")
        .optional(),
      pick: z
        .string({ error: "expected a replica name" })
        .min(1, "expected a replica name")
        .max(200)
        .optional(),
      reject: z.literal(true, { error: "expected true" }).optional(),
      confirm: z
        .strictObject(
          {
            count: z.number({ error: "expected a number" }).int().min(0).optional(),
            token: z
              .string({ error: "expected the preview's token" })
              .regex(/^[0-9a-f]{16}$/, "expected the preview's token")
              .optional(),
          },
          { error: 'expected { "count": <n> } or { "token": "<preview token>" }' },
        )
        .refine((c) => c.count !== undefined || c.token !== undefined, {
          error: 'expected { "count": <n> } or { "token": "<preview token>" }',
        })
        .optional(),
    },
    {
      error:
        'expected a JSON object: the filters, { "pick": "<replica>" } or { "reject": true }, and "confirm"',
    },
  )
  .refine((b) => (b.pick === undefined) !== (b.reject === undefined), {
    error: 'give exactly one of "pick" or "reject"',
  });

/** A trigger takes no options: no body, or an empty JSON object. */
export const emptyBody = z.union([z.undefined(), z.null(), z.strictObject({})], {
  error: "expected no body (or {})",
});

function describeIssue(issue: z.core.$ZodIssue, where: string): string {
  const path = [where, ...issue.path.map(String)].join(".");
  if (issue.code === "unrecognized_keys") {
    const what = where === "query" ? "parameter" : "field";
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(", ");
    return `${path}: unknown ${what}${issue.keys.length > 1 ? "s" : ""} ${keys}`;
  }
  return `${path}: ${issue.message}`;
}

/**
 * Parses `value` (the request's query, params or body, named by `where`) or throws a 400 HttpError whose
 * message names the first problem and where it is, e.g. `query.limit: expected an integer from 1 to 10000`.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new HttpError(400, issue ? describeIssue(issue, where) : `${where}: invalid`);
}
