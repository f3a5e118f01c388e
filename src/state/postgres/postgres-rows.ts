/** Rows of the PostgreSQL state tables and their conversion to the port's records. No queries here. */
import type { AuditEntry, AuditEventType } from "../../core/audit-chain.js";
import type { DivergenceClass } from "../../core/classify.js";
import type {
  Escalation,
  LedgerEntry,
  RepairOutcome,
  RunRecord,
  StoredDivergence,
} from "../state-store.js";

// BIGINT columns arrive as strings (node-postgres does not assume they fit a double); the port's times and
// seqs do, so they are converted with Number.

export interface RunRow {
  id: string;
  dataset: string;
  command: string;
  started_at: string;
  finished_at: string | null;
  status: RunRecord["status"];
  counts: string;
  stats: string;
}

export function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    dataset: r.dataset,
    command: r.command,
    startedAt: Number(r.started_at),
    finishedAt: r.finished_at === null ? undefined : Number(r.finished_at),
    status: r.status,
    counts: JSON.parse(r.counts),
    stats: JSON.parse(r.stats),
  };
}

export interface DivergenceRow {
  run_id: string;
  dataset: string;
  key: string;
  class: DivergenceClass;
  detail: string;
}

export function toDivergence(r: DivergenceRow): StoredDivergence {
  return {
    runId: r.run_id,
    dataset: r.dataset,
    key: JSON.parse(r.key),
    class: r.class,
    detail: JSON.parse(r.detail),
  };
}

export interface LedgerRow {
  id: string;
  run_id: string;
  dataset: string;
  key: string;
  target: string;
  expected: string | null;
  next_fingerprint: string | null;
  before_values: string | null;
  after_values: string | null;
  outcome: RepairOutcome;
  attempts: number;
  error: string | null;
  updated_at: string;
}

export function toLedgerEntry(r: LedgerRow): LedgerEntry {
  return {
    id: r.id,
    runId: r.run_id,
    dataset: r.dataset,
    key: JSON.parse(r.key),
    target: r.target,
    expected: r.expected,
    nextFingerprint: r.next_fingerprint,
    before: r.before_values === null ? null : JSON.parse(r.before_values),
    after: r.after_values === null ? null : JSON.parse(r.after_values),
    outcome: r.outcome,
    attempts: r.attempts,
    ...(r.error === null ? {} : { error: r.error }),
    updatedAt: Number(r.updated_at),
  };
}

export interface EscalationRow {
  id: string;
  dataset: string;
  key: string;
  class: string;
  reason: string;
  options: string;
  detail: string;
  status: Escalation["status"];
  run_id: string;
  created_at: string;
  resolved_at: string | null;
  resolution: string | null;
}

export function toEscalation(r: EscalationRow): Escalation {
  return {
    id: r.id,
    dataset: r.dataset,
    key: JSON.parse(r.key),
    class: r.class,
    reason: r.reason,
    options: JSON.parse(r.options),
    detail: JSON.parse(r.detail),
    status: r.status,
    runId: r.run_id,
    createdAt: Number(r.created_at),
    ...(r.resolved_at === null ? {} : { resolvedAt: Number(r.resolved_at) }),
    ...(r.resolution === null ? {} : { resolution: JSON.parse(r.resolution) }),
  };
}

export interface AuditRow {
  seq: string;
  ts: number;
  run_id: string | null;
  type: AuditEventType;
  dataset: string | null;
  key: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

export function toAuditEntry(r: AuditRow): AuditEntry {
  let data: unknown;
  try {
    data = JSON.parse(r.data);
  } catch {
    // Only an edit behind the store's back makes this invalid JSON: return the text so verification reports
    // the entry as edited instead of the read failing.
    data = r.data;
  }
  return {
    seq: Number(r.seq),
    ts: r.ts,
    runId: r.run_id,
    type: r.type,
    dataset: r.dataset,
    key: r.key,
    data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
