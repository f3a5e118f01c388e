/** Which role each /api route needs: one rule per route, and a route without one is refused when registered. */
import type { Role } from "../../core/roles.js";

/**
 * The role each API route needs, by `METHOD path` as registered (HEAD goes with GET). Consistency hints need
 * hints (the weakest role, an application's); reading anything else needs viewer;
 * starting passes and replays and resolving escalations, operator; approving candidate policies, approver; reloading the
 * configuration, admin. `buildHttpApp` refuses to register an /api route missing here, so a new route
 * cannot ship without a rule.
 */
export const ROUTE_ROLES: Readonly<Record<string, Role>> = {
  "GET /api/datasets": "viewer",
  "GET /api/runs": "viewer",
  "GET /api/runs/:id": "viewer",
  "GET /api/divergences": "viewer",
  "GET /api/escalations": "viewer",
  "GET /api/escalations/groups": "viewer",
  "GET /api/escalations/:id": "viewer",
  "GET /api/escalations/:id/values": "viewer",
  "GET /api/audit": "viewer",
  "GET /api/audit/verify": "viewer",
  "GET /api/history": "viewer",
  "GET /api/policies": "viewer",
  "GET /api/insights": "viewer",
  "GET /api/datasets/:name/candidate": "viewer",
  "GET /api/whoami": "viewer",
  "GET /api/queue": "viewer",
  "GET /api/hints/:name": "hints",
  "GET /api/hints/:name/events": "hints",
  "POST /api/escalations/resolve": "operator",
  "POST /api/escalations/:id/resolve": "operator",
  "POST /api/datasets/:name/scan": "operator",
  "POST /api/datasets/:name/repair": "operator",
  "POST /api/datasets/:name/pause": "operator",
  "POST /api/datasets/:name/resume": "operator",
  "POST /api/datasets/:name/abort": "operator",
  "POST /api/datasets/:name/replay": "operator",
  "GET /api/datasets/:name/approval": "viewer",
  "POST /api/datasets/:name/candidate/approve": "approver",
  "POST /api/datasets/:name/candidate/promote": "approver",
  "POST /api/datasets/:name/policy/approve": "approver",
  "POST /api/reload": "admin",
};

/** The role a route needs, or undefined when it has no rule. */
export function routeRole(method: string, url: string): Role | undefined {
  return ROUTE_ROLES[`${method === "HEAD" ? "GET" : method} ${url}`];
}
