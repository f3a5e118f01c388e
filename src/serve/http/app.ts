/** The HTTP face of `concord serve` (fastify): /healthz, /metrics, the bearer-guarded /api, the dashboard at /. Holds no state. */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { roleAllows } from "../../core/roles.js";
import type { ServiceApi } from "../service-api.js";
import { registerApiRoutes } from "./api-routes.js";
import { createBearerCheck, type HashedToken, type NamedToken } from "./bearer-auth.js";
import { type DashboardAsset, loadDashboardAssets, registerDashboard } from "./dashboard-assets.js";
import { errorReply, oneLine } from "./http-error.js";
import { routeRole } from "./route-roles.js";

/** The tokens /api accepts: one admin token, or named ones (plain or by hash) with their roles. */
export type TokenSpec = string | readonly (NamedToken | HashedToken)[];

export interface HttpAppOptions {
  /**
   * Every /api request must carry `Authorization: Bearer <token>`: the one token (admin), or one of several
   * named ones, in plain text or by hash, each with its role (a request then acts as `token:<name>`, which
   * the audit records for what it does). A function is asked on every request, so a reload can change them.
   */
  readonly token: TokenSpec | (() => TokenSpec);
  /**
   * A read-only token for an application's consistency hints (`serve.hintsToken`, CONCORD_HINTS_TOKEN): it
   * acts as `token:hints` with role `hints`, which reaches `GET /api/hints/…` and nothing else.
   */
  readonly hintsToken?: string | undefined;
  /** Told every route as it is registered (tests enumerate them: every /api route has a role rule). */
  readonly onRoute?: (method: string, url: string) => void;
  /** Log requests and failures as JSON lines on stdout (default false). Headers are never logged. */
  readonly logger?: boolean;
  /** Where failures are reported, one line each, when `logger` is off (default: stderr). */
  readonly log?: (line: string) => void;
  /** The dashboard files (default: loaded from the package's dashboard/ folder). */
  readonly assets?: readonly DashboardAsset[];
}

function isApiPath(path: string): boolean {
  return path === "/api" || path.startsWith("/api/");
}

/**
 * Builds the app; the caller listens (`app.listen({ host, port })`) or injects. /healthz and /metrics are
 * open (serve binds loopback by default); everything under /api, including unknown /api paths, answers
 * 401 without the right bearer token, before any input is looked at. Errors are JSON `{ error }` in one
 * line: 400 for bad input, 404/409/503 from the service's typed errors, 404 an unknown path, 405 (with
 * `Allow`) a known path asked with another method, 204 (with `Allow`, no CORS headers) OPTIONS of a known path, 431/400/408 what Node's parser refuses, 500 "internal
 * error" (details logged, credentials redacted) for anything else. Text a client sent is echoed inert
 * (control and bidi characters escaped). No reply carries a stack trace or the token.
 */
export function buildHttpApp(api: ServiceApi, options: HttpAppOptions): FastifyInstance {
  const given = typeof options.token === "function" ? options.token : () => options.token as TokenSpec;
  const hints = options.hintsToken;
  let lastGiven: TokenSpec | undefined;
  let withHints: TokenSpec | undefined;
  // The hints token joins the others under role `hints` (the same spec object while the given one is).
  const tokens = (): TokenSpec => {
    const spec = given();
    if (!hints) return spec;
    if (spec !== lastGiven || withHints === undefined) {
      lastGiven = spec;
      const list =
        typeof spec === "string" ? [{ name: undefined, token: spec, role: "admin" as const }] : spec;
      withHints = [...list, { name: "hints", token: hints, role: "hints" as const }];
    }
    return withHints;
  };
  // The check is rebuilt only when the tokens change (a reload): building it hashes them.
  let current:
    | { spec: TokenSpec; check: ReturnType<typeof createBearerCheck>; secrets: string[] }
    | undefined;
  const auth = () => {
    const spec = tokens();
    if (current?.spec !== spec) {
      const secrets =
        typeof spec === "string" ? [spec] : spec.flatMap((t) => ("token" in t ? [t.token] : []));
      current = { spec, check: createBearerCheck(spec), secrets };
    }
    return current;
  };
  const check = (header: string | undefined) => auth().check(header);
  auth();
  const assets = options.assets ?? loadDashboardAssets();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const scrub = (text: string) =>
    auth().secrets.reduce((t, secret) => t.replaceAll(secret, "***"), oneLine(text));
  const app = fastify({
    logger: options.logger
      ? { level: "info", redact: { paths: ["req.headers.authorization"], censor: "***" } }
      : false,
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    // Requests Node's parser refuses (headers or URL over its limit, malformed, too slow) get the API's
    // one-line JSON too, not fastify's or Node's own body.
    clientErrorHandler: answerClientError,
    // A path the router refuses (malformed percent-encoding, a segment over its length limit) gets the same
    // one-line JSON, not fastify's own body, which echoes the raw URL with its query string.
    frameworkErrors: (err, _req, res) => {
      const [status, message] = FRAMEWORK_ERRORS[err.code] ?? [400, "bad request: the URL could not be read"];
      (res as FastifyReply)
        .code(status)
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .send({ error: message });
    },
  });
  // Each route's path as a pattern, with its methods: a known path asked with another method is a 405.
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];

  // Fails closed: an /api route without a role rule cannot be registered.
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (isApiPath(route.url) && routeRole(method, route.url) === undefined)
        throw new Error(`${method} ${route.url}: no role rule (add it to ROUTE_ROLES in route-roles.ts)`);
      options.onRoute?.(method, route.url);
    }
    const pattern = routePattern(route.url);
    const known = routes.find((r) => r.pattern.source === pattern.source);
    if (known) for (const m of methods) known.methods.add(m);
    else routes.push({ pattern, methods: new Set(methods) });
  });

  app.addHook("onRequest", async (req, reply) => {
    const route = req.routeOptions.url;
    const path = route ?? decodeURIComponentSafe(req.url.split("?")[0] ?? "");
    if (isApiPath(path)) {
      reply.header("cache-control", "no-store");
      const verdict = check(req.headers.authorization);
      if (!verdict.ok) {
        return reply
          .code(401)
          .header("www-authenticate", 'Bearer realm="concord"')
          .send({ error: verdict.error });
      }
      if (verdict.name !== undefined)
        (req as typeof req & { concordActor?: string }).concordActor = `token:${verdict.name}`;
      (req as typeof req & { concordRole?: string }).concordRole = verdict.role;
      // An unknown /api path has no route: it answers 404 once authenticated.
      const needed = route === undefined ? undefined : routeRole(req.method, route);
      if (route !== undefined && (needed === undefined || !roleAllows(verdict.role, needed))) {
        const who = verdict.name === undefined ? "this token" : `token ${verdict.name}`;
        return reply.code(403).send({
          error: `forbidden: ${who} has role ${verdict.role}; ${req.method} ${route} needs ${needed ?? "a role rule"}`,
        });
      }
    }
    reply.header("x-content-type-options", "nosniff");
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, message } = errorReply(err);
    // Only the unexpected: a mapped 503 (stopping) is an answer, not a failure.
    if (status === 500) {
      const e = err as { name?: unknown; message?: unknown } | null;
      const what = scrub(`${String(e?.name ?? "Error")}: ${String(e?.message ?? err)}`);
      const where = `${req.method} ${req.routeOptions.url ?? "?"}`;
      if (options.logger) req.log.error({ error: what }, `${where} failed`);
      else log(`concord serve: ${where} failed: ${what}`);
    }
    return reply.code(status).send({ error: scrub(message) });
  });

  app.setNotFoundHandler((req, reply) => {
    const raw = req.url.split("?")[0] ?? "";
    const path = oneLine(raw.slice(0, 200));
    const allowed = routes.find((r) => r.pattern.test(raw))?.methods;
    if (allowed && !allowed.has(req.method)) {
      const allow = [...allowed, "OPTIONS"].sort().join(", ");
      // What the path allows, for any path that has routes (the API's after its bearer check, like any
      // method). No CORS headers: serve has no CORS setting, and a browser's preflight is refused by their
      // absence, as every cross-origin request to it is.
      if (req.method === "OPTIONS") return reply.code(204).header("allow", allow).send();
      return reply
        .code(405)
        .header("allow", allow)
        .send({ error: `method not allowed: ${req.method} ${path} (allowed: ${allow})` });
    }
    return reply.code(404).send({ error: `not found: ${req.method} ${path}` });
  });

  app.get("/healthz", async (_req, reply) => {
    const h = api.health();
    return reply
      .code(h.ok ? 200 : 503)
      .header("cache-control", "no-store")
      .send(h);
  });

  app.get("/metrics", async (_req, reply) => {
    const m = await api.metrics();
    return reply.header("content-type", m.contentType).header("cache-control", "no-store").send(m.body);
  });

  registerDashboard(app, assets);
  registerApiRoutes(app, api);
  return app;
}

/** A route's URL (`/api/datasets/:name/scan`) as an anchored pattern over request paths. */
function routePattern(url: string): RegExp {
  const parts = url.split("/").map((part) => {
    if (part.startsWith(":")) return "[^/]+";
    if (part === "*") return ".*";
    return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return new RegExp(`^${parts.join("/")}$`);
}

/** Statuses and messages for what Node's HTTP parser refuses before a request reaches a route. */
const CLIENT_ERRORS: Record<string, readonly [number, string]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    "request header fields too large: the URL and headers together exceed the server's limit",
  ],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "request timeout: the request was not received in time"],
};

/** Statuses and messages for what fastify's router refuses before a route runs (`frameworkErrors`). */
const FRAMEWORK_ERRORS: Record<string, readonly [number, string]> = {
  FST_ERR_BAD_URL: [400, "bad request: the URL path is not valid percent-encoding"],
  FST_ERR_MAX_PARAM_LENGTH: [414, "URI too long: a path segment exceeds 100 characters"],
};

/**
 * fastify's `clientErrorHandler`: the answer to a request Node's parser refused (no route ran), in the API's
 * shape, `{ "error": "…" }` on one line, then the connection is closed (as Node and fastify do).
 */
function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, message] = CLIENT_ERRORS[err.code ?? ""] ?? [
    400,
    "bad request: the request could not be parsed",
  ];
  const body = JSON.stringify({ error: message });
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(err);
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
