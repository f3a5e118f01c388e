/** API roles and what each may do: viewer < operator < approver < admin, each holding the rights below it. Pure. */

/**
 * The roles an API token has, weakest first: a viewer reads; an operator also triggers scans and repairs and
 * resolves escalations; an approver also promotes candidate policies and approves rollout steps; an admin
 * also reloads the configuration.
 */
export const ROLES = ["viewer", "operator", "approver", "admin"] as const;

export type Role = (typeof ROLES)[number];

/** True when `role` holds the rights of `needed` (a role holds every right of the roles below it). */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** True when `text` names a role. */
export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text);
}
