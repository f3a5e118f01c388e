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
  /**
   * The compared columns whose values differ. This and the two below are what the queue filters and groups
   * by; an escalation opened without them (before they were recorded) matches no column or replica filter.
   */
  columns?: readonly string[];
  /** The replicas lacking the record. */
  absent?: readonly string[];
  /**
   * The replicas the divergence concerns: lacking the record, or holding a value fewer replicas hold than
   * another (of two that differ, both). See core's `escalationFacets`.
   */
  involved?: readonly string[];
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

/** Which escalations a list, count or grouping covers: those matching every field given. */
export interface EscalationFilter {
  readonly status?: Escalation["status"] | undefined;
  readonly dataset?: string | undefined;
  readonly class?: string | undefined;
  /** Escalations whose differing `columns` include this one. */
  readonly column?: string | undefined;
  /** Escalations that concern this replica (its name is in `involved`). */
  readonly replica?: string | undefined;
  /** Escalations of this pattern (`escalationPattern`'s text, as `groupEscalations` reports it). */
  readonly pattern?: string | undefined;
}

/** Where a page of `listEscalations` starts and how long it is. */
export interface EscalationPage {
  /** Only escalations after this one in list order (keyset paging: stable while others are closed). */
  readonly after?: string | undefined;
  /** Skip this many first (page numbers). Applied after `after`. */
  readonly offset?: number | undefined;
  readonly limit?: number | undefined;
}

/**
 * The escalations of one pattern: same dataset, class, differing columns and replicas lacking the record.
 * "Resolve all like this" acts on one group.
 */
export interface EscalationGroup {
  readonly dataset: string;
  readonly class: string;
  /** `escalationPattern`'s text: what `EscalationFilter.pattern` takes. */
  readonly pattern: string;
  /** Absent for escalations opened before columns were recorded. */
  readonly columns?: readonly string[] | undefined;
  readonly absent?: readonly string[] | undefined;
  readonly count: number;
  /** The oldest escalation of the group (list order) and when the oldest and newest were opened. */
  readonly first: string;
  readonly oldestAt: number;
  readonly newestAt: number;
}

/**
 * The pattern an escalation belongs to, as text: JSON of [class, columns, absent], or [class] for one
 * opened without its columns recorded. Two escalations of one dataset with the same pattern differ the same
 * way, so one decision fits both.
 */
export function escalationPattern(e: Pick<Escalation, "class" | "columns" | "absent">): string {
  return e.columns === undefined
    ? JSON.stringify([e.class])
    : JSON.stringify([e.class, e.columns, e.absent ?? []]);
}

/**
 * Escalations, by id.
 *
 * ## Opening
 * Must be idempotent: `openEscalations` stores each escalation whose id is not present yet, as given, and
 * returns the ids actually opened, in order; running the same run again opens nothing and returns []. An id
 * is (dataset, key, class, observed state), so an id stored as `resolved` (Concord closed it when that state
 * went away, or a person settled it) is the same divergence recurring: it is opened again, as given, and
 * returned. A `rejected` one stays rejected: a person chose to leave that state as it is.
 *
 * ## Reading
 * List order is oldest first, then in the order opened. `listEscalations` pages through that order
 * (`after` an id, then `offset`, then `limit`), `countEscalations` counts what it would list unpaged, and
 * `groupEscalations` folds the same escalations into their patterns, largest group first (then oldest).
 * Memory is bounded by the page or the number of groups, never by the number of escalations.
 *
 * ## Closing
 * `closeEscalation` moves an open escalation to `status`, recording `resolution` and `at`. The check and the
 * update are one atomic step, so of two operators closing it at once exactly one wins: the other gets
 * EscalationNotOpenError, as does closing one that does not exist or is not open.
 */
export interface EscalationStore {
  openEscalations(list: readonly Escalation[]): Promise<string[]>;
  /** The escalations matching `filter`, in list order, paged. */
  listEscalations(filter?: EscalationFilter & EscalationPage): Promise<Escalation[]>;
  countEscalations(filter?: EscalationFilter): Promise<number>;
  groupEscalations(filter?: EscalationFilter): Promise<EscalationGroup[]>;
  getEscalation(id: string): Promise<Escalation | undefined>;
  closeEscalation(
    id: string,
    status: "resolved" | "rejected",
    resolution: unknown,
    at: number,
  ): Promise<void>;
}
