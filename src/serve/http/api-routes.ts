/** The JSON API under /api: validates input, calls the ServiceApi, shapes the answer. No auth here (app.ts). */
import type { FastifyInstance } from "fastify";
import type { ServiceApi } from "../service-api.js";
import {
  auditQuery,
  divergencesQuery,
  emptyBody,
  escalationsQuery,
  historyQuery,
  idParams,
  nameParams,
  noQuery,
  parseInput,
  resolveBody,
  runsQuery,
} from "./api-input.js";
import { HttpError } from "./http-error.js";

/**
 * Registers the routes under `prefix` (default /api). Lists are wrapped in an object (`{ runs: [...] }`)
 * so fields can be added later without breaking clients.
 */
export function registerApiRoutes(app: FastifyInstance, api: ServiceApi, prefix = "/api"): void {
  app.get(`${prefix}/datasets`, async (req) => {
    parseInput(noQuery, req.query, "query");
    return { datasets: await api.datasets() };
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
    return { runs };
  });

  app.get(`${prefix}/divergences`, async (req) => {
    const q = parseInput(divergencesQuery, req.query, "query");
    return { divergences: await api.divergences(q) };
  });

  app.get(`${prefix}/escalations`, async (req) => {
    const q = parseInput(escalationsQuery, req.query, "query");
    return { escalations: await api.escalations(q) };
  });

  app.post(`${prefix}/escalations/:id/resolve`, async (req) => {
    parseInput(noQuery, req.query, "query");
    const { id } = parseInput(idParams, req.params, "params");
    const choice = parseInput(resolveBody, req.body, "body");
    const outcome = await api.resolve(id, choice);
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
      const { runId } = await api.trigger(name, mode);
      return reply.code(202).send({ runId });
    });
  }

  app.get(`${prefix}/history`, async (req) => {
    const q = parseInput(historyQuery, req.query, "query");
    return api.history(q);
  });
}
