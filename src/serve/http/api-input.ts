/** Input schemas of the /api routes (zod) and their one-line 400 messages. Validation only: no service calls. */
import { z } from "zod";
import { DIVERGENCE_CLASSES } from "../../core/classify.js";
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

const escalationStatus = z.enum(["open", "resolved", "rejected"], {
  error: "expected one of open, resolved, rejected",
});

/** Milliseconds since the epoch, or an ISO 8601 date-time. */
const since = one("time")
  .transform((text, ctx) => {
    const ms = /^[0-9]{1,15}$/.test(text)
      ? Number(text)
      : /^\d{4}-\d{2}-\d{2}/.test(text)
        ? Date.parse(text)
        : Number.NaN;
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
 * An audit key filter as `keyId` text: `42` and `[42]` both mean the key ["42"], `a,b` a composite key
 * (the same reading as `concord audit show --key`).
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
        parts.every((p) => ["string", "number"].includes(typeof p))
      )
        return JSON.stringify(parts.map(String));
    } catch {
      // reported below
    }
    ctx.addIssue({
      code: "custom",
      message: 'expected a JSON array of key values such as [42] or ["eu","x"]',
    });
    return z.NEVER;
  });

export const runsQuery = z.strictObject({ dataset: name.optional(), limit: limit.optional() });
export const divergencesQuery = z.strictObject({
  dataset: name.optional(),
  class: divergenceClass.optional(),
  limit: limit.optional(),
});
export const escalationsQuery = z.strictObject({ status: escalationStatus.optional() });
export const auditQuery = z.strictObject({
  run: name.optional(),
  key: auditKey.optional(),
  limit: limit.optional(),
});
export const historyQuery = z.strictObject({ dataset: name.optional(), since: since.optional() });
export const noQuery = z.strictObject({});
export const idParams = z.strictObject({ id: name });
export const nameParams = z.strictObject({ name });

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
