/** What a policy file (`plan --candidate`, `simulate --policy`, `candidate.policy`) must hold. */
import { ConfigError } from "./load-config.js";

/**
 * Throws unless `block` (a policy file's parsed YAML) is a mapping. An empty file (or one of comments only)
 * is refused, naming the file: taken as the default policy, it would silently compare the live policy with
 * nothing the user wrote (`{}` says the default policy on purpose).
 */
export function policyBlockShape(block: unknown, file: string): asserts block is Record<string, unknown> {
  if (block === null || block === undefined)
    throw new ConfigError(
      `${file}: empty; expected a policy block (owner, resolve, merge, …), as under datasets.<name>.policy ({} for the default policy)`,
    );
  if (typeof block !== "object" || Array.isArray(block))
    throw new ConfigError(
      `${file}: expected a policy block (owner, resolve, merge, …), as under datasets.<name>.policy`,
    );
}
