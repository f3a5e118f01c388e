/** The JSON API under /api: validates input, calls the ServiceApi, shapes the answer. No auth here (app.ts). */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Role } from "../../core/roles.js";
import type { ServiceApi } from "../service-api.js";
import {
  auditQuery,
  bulkResolveBody,
  divergencesQuery,
  emptyBody,
  escalationGroupsQuery,
  escalationsQuery,
  hintQuery,
  historyQuery,
  idParams,
  insightsQuery,
  MAX_LIMIT,
  nameParams,
  noQuery,
  parseInput,
  replayBody,
  resolveBody,
  runsQuery,
} from "./api-input.js";
import { HttpError } from "./http-error.js";

/** Who a request acts as, for the audit: `token:<name>` of the token it presented (set by app.ts), else "api". */
export function actorOf(req: FastifyRequest): string {
  return (req as FastifyRequest & { concordActor?: string }).concordActor ?? "api";
}

/** The role of the token a request presented (set by app.ts). */
export function roleOf(req: FastifyRequest): Role {
  return (req as FastifyRequest & { concordRole?: Role }).concordRole ?? "viewer";
}

/**
 * Registers the routes under `prefix` (default /api). Lists are wrapped in an object (`{ runs: [...] }`)
 * so fields can be added later without breaking clients.
 */
export function registerApiRoutes(app: FastifyInstance, api: ServiceApi, prefix = "/api"): void {
  app.get(`${prefix}/datasets`, async (req) => {
    parseInput(noQuery, req.query, "query");
    return { datasets: await api.datasets() };
  });

  app.get(`${prefix}/queue`, async (req) => {
    parseInput(noQuery, req.query, "query");
    // `--role all` has no queue: the same shape, empty, so a client needs no special case.
    if (!api.queue) return { role: "all", datasets: [], workers: [] };
    return { role: "coordinator", ...(await api.queue()) };
  });

  app.get(`${prefix}/runs`, async (req) => {
    const q = parseInput(runsQuery, req.query, "query");
    return { runs: await api.runs(q) };
  });

  app.get(`${prefix}/runs/:id`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { id } = parseInput(idParams, req.params, "params");
    const runs = await api.run(id);
    if (runs.length === 0) throw new HttpError(404, `no run with id ${id}`);
    return { runs, segments: await api.segments(id) };
  });

  app.get(`${prefix}/divergences`, async (req) => {
    const q = parseInput(divergencesQuery, req.query, "query");
    const { limit = MAX_LIMIT, offset = 0, ...filter } = q;
    const [divergences, total] = await Promise.all([
      api.divergences({ ...filter, limit, offset }),
      api.countDivergences(filter),
    ]);
    return { divergences, total, offset, limit };
  });

  app.get(`${prefix}/escalations`, async (req) => {
    const q = parseInput(escalationsQuery, req.query, "query");
    const { limit = MAX_LIMIT, offset = 0, ...filter } = q;
    const [escalations, total] = await Promise.all([
      api.escalations({ ...filter, limit, offset }),
      api.countEscalations(filter),
    ]);
    return { escalations, total, offset, limit };
  });

  app.get(`${prefix}/escalations/groups`, async (req) => {
    const q = parseInput(escalationGroupsQuery, req.query, "query");
    return { groups: await api.escalationGroups(q) };
  });

  app.get(`${prefix}/escalations/:id`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { id } = parseInput(idParams, req.params, "params");
    return { escalation: await api.escalation(id) };
  });

  app.get(`${prefix}/escalations/:id/values`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { id } = parseInput(idParams, req.params, "params");
    return api.escalationValues(id);
  });

  app.post(`${prefix}/escalations/resolve`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { pick, reject, confirm, ...filter } = parseInput(bulkResolveBody, req.body, "body");
    const choice = pick !== undefined ? { pick } : { reject: true as const };
    const answer = await api.resolveMatching({ ...filter, status: "open" }, choice, confirm, actorOf(req));
    return answer.confirmed
      ? { confirmed: true, ...answer.summary, open: answer.open }
      : { confirmed: false, matched: answer.preview.count, token: answer.preview.token };
  });

  app.post(`${prefix}/escalations/:id/resolve`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { id } = parseInput(idParams, req.params, "params");
    const choice = parseInput(resolveBody, req.body, "body");
    const outcome = await api.resolve(id, choice, actorOf(req));
    return {
      id: outcome.id,
      status: outcome.status,
      ...(outcome.note ? { note: outcome.note } : {}),
      dataset: outcome.dataset,
      key: outcome.keyJson,
      repairs: outcome.repairs.map((r) => ({
        id: r.id,
        target: r.target,
        outcome: r.outcome,
        ...(r.error ? { error: r.error } : {}),
      })),
    };
  });

  app.get(`${prefix}/audit`, async (req) => {
    const q = parseInput(auditQuery, req.query, "query");
    return { entries: await api.audit(q) };
  });

  app.get(`${prefix}/audit/verify`, async (req) => {
    parseInput(noQuery, req.query, "query");
    return api.verifyAudit();
  });

  for (const mode of ["scan", "repair"] as const) {
    app.post(`${prefix}/datasets/:name/${mode}`, async (req, reply) => {
      parseInput(noQuery, req.query, "query");
      const { name } = parseInput(nameParams, req.params, "params");
      parseInput(emptyBody, req.body, "body");
      const { runId } = await api.trigger(name, mode, actorOf(req));
      return reply.code(202).send({ runId });
    });
  }

  // Runs the replay to its end and answers what it came to (a long backlog keeps the request open).
  app.post(`${prefix}/datasets/:name/replay`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { name } = parseInput(nameParams, req.params, "params");
    const { replica } = parseInput(replayBody, req.body, "body");
    return { dataset: name, ...(await api.replay(name, replica, actorOf(req))) };
  });

  for (const action of ["pause", "resume", "abort"] as const) {
    app.post(`${prefix}/datasets/:name/${action}`, async (req) => {
      parseInput(noQuery, req.query, "query");
      const { name } = parseInput(nameParams, req.params, "params");
      parseInput(emptyBody, req.body, "body");
      return api.control(name, action);
    });
  }

  app.get(`${prefix}/history`, async (req) => {
    const q = parseInput(historyQuery, req.query, "query");
    return api.history(q);
  });

  app.get(`${prefix}/hints/:name`, async (req) => {
    const { key } = parseInput(hintQuery, req.query, "query");
    const { name } = parseInput(nameParams, req.params, "params");
    return key ? api.keyHint(name, key) : api.hint(name);
  });

  // Server-Sent Events: `event: hint` with the dataset's hint now and on every change; a comment every 15 s
  // keeps proxies from closing a quiet stream.
  app.get(`${prefix}/hints/:name/events`, async (req, reply) => {
    parseInput(noQuery, req.query, "query");
    const { name } = parseInput(nameParams, req.params, "params");
    await api.hint(name); // an unknown dataset is a 404 before the stream starts
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-content-type-options": "nosniff",
    });
    res.write(": concord hints\n\n");
    const unsubscribe = api.subscribeHints(name, (hint) => {
      res.write(`event: hint\ndata: ${JSON.stringify(hint)}\n\n`);
    });
    const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
    ping.unref();
    req.raw.on("close", () => {
      clearInterval(ping);
      unsubscribe();
    });
  });

  app.get(`${prefix}/datasets/:name/candidate`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { name } = parseInput(nameParams, req.params, "params");
    const candidate = await api.candidate(name);
    if (!candidate) throw new HttpError(404, `dataset ${name} has no candidate policy`);
    return { candidate };
  });

  app.post(`${prefix}/datasets/:name/candidate/approve`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { name } = parseInput(nameParams, req.params, "params");
    parseInput(emptyBody, req.body, "body");
    return { candidate: await api.approveCandidate(name, actorOf(req)) };
  });

  app.get(`${prefix}/datasets/:name/approval`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { name } = parseInput(nameParams, req.params, "params");
    return { approval: await api.approval(name) };
  });

  app.post(`${prefix}/datasets/:name/candidate/promote`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { name } = parseInput(nameParams, req.params, "params");
    parseInput(emptyBody, req.body, "body");
    return { approval: await api.promoteCandidate(name, actorOf(req)) };
  });

  app.post(`${prefix}/datasets/:name/policy/approve`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { name } = parseInput(nameParams, req.params, "params");
    parseInput(emptyBody, req.body, "body");
    return { approval: await api.approvePolicy(name, actorOf(req)) };
  });

  app.get(`${prefix}/policies`, async (req) => {
    parseInput(noQuery, req.query, "query");
    return { policies: await api.policies() };
  });

  app.get(`${prefix}/insights`, async (req) => {
    const q = parseInput(insightsQuery, req.query, "query");
    return { datasets: await api.insights(q.dataset) };
  });

  app.post(`${prefix}/reload`, async (req) => {
    parseInput(noQuery, req.query, "query");
    parseInput(emptyBody, req.body, "body");
    return api.reload(actorOf(req));
  });

  app.get(`${prefix}/whoami`, async (req) => {
    parseInput(noQuery, req.query, "query");
    return { actor: actorOf(req), role: roleOf(req) };
  });
}
