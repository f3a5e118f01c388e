/** An escalation as people and programs see it: the CLI's `escalations list --json` and the HTTP API. */
import type { Escalation } from "../state/state-store.js";

/** An escalation as listed: typed key values, ISO time. */
export interface EscalationView {
  readonly id: string;
  readonly dataset: string;
  readonly key: readonly unknown[];
  readonly class: string;
  readonly reason: string;
  readonly options: readonly string[];
  readonly status: "open" | "resolved" | "rejected";
  readonly runId: string;
  /** ISO 8601. */
  readonly createdAt: string;
}

/** Typed key values as JSON output shows them, from a stored divergence's or escalation's detail. */
export function keyJsonOf(key: readonly string[], detail: unknown): unknown[] {
  const recorded = (detail as { keyJson?: unknown } | null)?.keyJson;
  if (Array.isArray(recorded)) return recorded;
  return key.map((k) => (/^-?\d+$/.test(k) && Number.isSafeInteger(Number(k)) ? Number(k) : k));
}

/** An escalation as `concord escalations list --json` prints it. */
export function escalationView(e: Escalation): EscalationView {
  return {
    id: e.id,
    dataset: e.dataset,
    key: keyJsonOf(e.key, e.detail),
    class: e.class,
    reason: e.reason,
    options: e.options,
    status: e.status,
    runId: e.runId,
    createdAt: new Date(e.createdAt).toISOString(),
  };
}
