/** API roles and what each may do: hints < viewer < operator < approver < admin, each holding the rights below it. Pure. */

/**
 * The roles an API token has, weakest first: a hints token reads an application's consistency hints and
 * nothing else; a viewer reads everything; an operator also triggers scans and repairs and
 * resolves escalations; an approver also promotes candidate policies and approves rollout steps; an admin
 * also reloads the configuration.
 */
export const ROLES = ["hints", "viewer", "operator", "approver", "admin"] as const;

export type Role = (typeof ROLES)[number];

/** True when `role` holds the rights of `needed` (a role holds every right of the roles below it). */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** True when `text` names a role. */
export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text);
}
