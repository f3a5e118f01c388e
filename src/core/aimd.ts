/** Additive-increase, multiplicative-decrease of a work limit from how the last unit of work went. Pure. */

/** Bounds and pace of an AIMD limit. */
export interface AimdConfig {
  /** The limit never goes below this (at least 1). */
  readonly min: number;
  /** Nor above this (the configured limit). */
  readonly max: number;
  /** Added after each unit of work that was fast enough. */
  readonly step: number;
  /** Work slower than this (ms) counts as congestion, as a failure does. */
  readonly targetMs: number;
}

/**
 * The next limit: halved (not below `min`) after a failure or work slower than `targetMs`, else raised by
 * `step` (not above `max`). Under load the limit shrinks fast and grows back slowly, so a struggling store is
 * given less at once instead of retries in cascade.
 */
export function nextAimdLimit(
  limit: number,
  outcome: { readonly ok: boolean; readonly durationMs: number },
  c: AimdConfig,
): number {
  const min = Math.max(1, Math.min(c.min, c.max));
  if (!outcome.ok || outcome.durationMs > c.targetMs) return Math.max(min, Math.floor(limit / 2));
  return Math.min(c.max, Math.max(min, limit + c.step));
}
