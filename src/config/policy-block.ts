/** A dataset's policy back in the form it is written in (`datasets.<name>.policy`, a `plan --candidate` file). */
import type { PolicyConfig } from "./load-config.js";

/**
 * The policy as a config block: what `loadCandidatePolicy` reads back to the same PolicyConfig. Durations
 * are written in milliseconds (`1500ms`); settings left unset are left out.
 */
export function policyBlock(p: PolicyConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (p.owner !== undefined) out.owner = p.owner;
  if (p.resolve !== undefined) out.resolve = p.resolve;
  if (Object.keys(p.merge).length) out.merge = { ...p.merge };
  const tolerance = Object.entries(p.tolerance);
  if (tolerance.length)
    out.tolerance = Object.fromEntries(
      tolerance.map(([col, t]) => [col, t.kind === "numeric" ? t.bound : `${t.ms}ms`]),
    );
  if (p.windowMs !== undefined) out.window = `${p.windowMs}ms`;
  if (p.escalateAmbiguity !== undefined) out.escalate = { ambiguity: p.escalateAmbiguity };
  const limits = Object.fromEntries(Object.entries(p.limits).filter(([, v]) => v !== undefined));
  if (Object.keys(limits).length) out.limits = limits;
  return out;
}
