/** The EscalationStore port: divergences that policy leaves to an operator, opened once and closed once. */
import type { Key } from "../core/model.js";

/** A divergence that policy does not let Concord repair on its own: it waits for an operator. */
export interface Escalation {
  /** Stable for the same divergence, so that running again does not escalate it twice. */
  id: string;
  dataset: string;
  key: Key;
  /** The divergence class (the taxonomy's `class`). */
  class: string;
  /** Why it was escalated, in one line for the operator. */
  reason: string;
  /** The resolutions the operator may choose from. */
  options: readonly string[];
  /** Free-form JSON detail (replica observations, differing columns). */
  detail: unknown;
  status: "open" | "resolved" | "rejected";
  runId: string;
  createdAt: number;
  resolvedAt?: number;
  /** Free-form JSON: what the operator chose. */
  resolution?: unknown;
}

/** Thrown by `closeEscalation` when the escalation does not exist or is no longer open. */
export class EscalationNotOpenError extends Error {
  override readonly name = "EscalationNotOpenError";
  constructor(
    readonly id: string,
    /** The status found, or "missing" when no escalation has this id. */
    readonly status: "missing" | "resolved" | "rejected",
  ) {
    super(status === "missing" ? `escalation ${id} does not exist` : `escalation ${id} is already ${status}`);
  }
}

/**
 * Escalations, by id.
 *
 * ## Opening
 * Must be idempotent: `openEscalations` stores each escalation whose id is not present yet, as given, and
 * returns the ids actually inserted, in order; running the same run again inserts nothing and returns [],
 * and an escalation already resolved is not reopened.
 *
 * ## Closing
 * `closeEscalation` moves an open escalation to `status`, recording `resolution` and `at`. The check and the
 * update are one atomic step, so of two operators closing it at once exactly one wins: the other gets
 * EscalationNotOpenError, as does closing one that does not exist or is not open.
 */
export interface EscalationStore {
  openEscalations(list: readonly Escalation[]): Promise<string[]>;
  /** The escalations matching every field given, oldest first, then in the order opened. */
  listEscalations(filter?: { status?: Escalation["status"]; dataset?: string }): Promise<Escalation[]>;
  getEscalation(id: string): Promise<Escalation | undefined>;
  closeEscalation(
    id: string,
    status: "resolved" | "rejected",
    resolution: unknown,
    at: number,
  ): Promise<void>;
}
