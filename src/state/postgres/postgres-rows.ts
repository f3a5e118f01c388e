/** Rows of the PostgreSQL state tables and their conversion from and to the port's records. No queries here. */
import type { AuditEntry, AuditEventType } from "../../core/audit-chain.js";
import type { DivergenceClass } from "../../core/classify.js";
import { keyId } from "../../core/model.js";
import { storedText } from "../prepared-audit.js";
import type {
  Checkpoint,
  Escalation,
  LedgerEntry,
  RepairOutcome,
  RepairSettlement,
  RunRecord,
  Sample,
  StoredDivergence,
} from "../state-store.js";
import { jsonText, type RecordsetColumn } from "./postgres-sql.js";

/** The columns a batch write sets, per table, and how a record fills each. */
export const DIVERGENCE_COLUMNS: readonly RecordsetColumn<StoredDivergence>[] = [
  ["run_id", "text", (d) => d.runId],
  ["dataset", "text", (d) => d.dataset],
  ["key", "text", (d) => keyId(d.key)],
  ["class", "text", (d) => d.class],
  // JSON.stringify as SQLite does: a detail of undefined is refused (NOT NULL), not stored as null.
  ["detail", "text", (d) => JSON.stringify(d.detail) ?? null],
];

export const VERSION_COLUMNS: readonly RecordsetColumn<{ key: string; replica: string; version: string }>[] =
  [
    ["key", "text", (v) => v.key],
    ["replica", "text", (v) => v.replica],
    ["version", "text", (v) => v.version],
  ];

export const LEDGER_COLUMNS: readonly RecordsetColumn<LedgerEntry>[] = [
  ["id", "text", (e) => e.id],
  ["run_id", "text", (e) => e.runId],
  ["dataset", "text", (e) => e.dataset],
  ["key", "text", (e) => keyId(e.key)],
  ["target", "text", (e) => e.target],
  ["expected", "text", (e) => e.expected],
  ["next_fingerprint", "text", (e) => e.nextFingerprint],
  ["before_values", "text", (e) => (e.before === null ? null : JSON.stringify(e.before))],
  ["after_values", "text", (e) => (e.after === null ? null : JSON.stringify(e.after))],
  ["outcome", "text", (e) => e.outcome],
  ["attempts", "integer", (e) => e.attempts],
  ["error", "text", (e) => e.error ?? null],
  ["updated_at", "bigint", (e) => e.updatedAt],
];

/** The columns `settleRepairs` updates, with the id that finds the row. */
export const SETTLEMENT_COLUMNS: readonly RecordsetColumn<RepairSettlement>[] = [
  ["id", "text", (e) => e.id],
  ["run_id", "text", (e) => e.runId],
  ["outcome", "text", (e) => e.outcome],
  ["attempts", "integer", (e) => e.attempts],
  ["error", "text", (e) => e.error ?? null],
  ["updated_at", "bigint", (e) => e.updatedAt],
];

export const ESCALATION_COLUMNS: readonly RecordsetColumn<Escalation>[] = [
  ["id", "text", (e) => e.id],
  ["dataset", "text", (e) => e.dataset],
  ["key", "text", (e) => keyId(e.key)],
  ["class", "text", (e) => e.class],
  ["reason", "text", (e) => e.reason],
  ["options", "text", (e) => JSON.stringify(e.options)],
  ["detail", "text", (e) => jsonText(e.detail)],
  ["status", "text", (e) => e.status],
  ["run_id", "text", (e) => e.runId],
  ["created_at", "bigint", (e) => e.createdAt],
  ["resolved_at", "bigint", (e) => e.resolvedAt ?? null],
  ["resolution", "text", (e) => (e.resolution === undefined ? null : jsonText(e.resolution))],
];

export const SAMPLE_COLUMNS: readonly RecordsetColumn<Sample>[] = [
  ["dataset", "text", (s) => s.dataset],
  ["series", "text", (s) => s.series],
  ["label", "text", (s) => s.label],
  // As text, as the audit `ts`: "NaN" and "Infinity" have no JSON number form.
  ["at", "double precision", (s) => String(s.at)],
  ["value", "double precision", (s) => (s.value === null ? null : String(s.value))],
];

/** An audit entry ready to insert: `dataJson` is the canonical text of its data, the text that was hashed. */
export interface AuditInsert {
  readonly entry: AuditEntry;
  readonly dataJson: string;
}

export const AUDIT_COLUMNS: readonly RecordsetColumn<AuditInsert>[] = [
  ["seq", "bigint", (a) => a.entry.seq],
  // As text: "NaN" and "Infinity" are double precision values but have no JSON number form.
  ["ts", "double precision", (a) => String(a.entry.ts)],
  ["run_id", "text", (a) => a.entry.runId],
  ["type", "text", (a) => a.entry.type],
  ["dataset", "text", (a) => a.entry.dataset],
  ["key", "text", (a) => a.entry.key],
  ["data", "text", (a) => a.dataJson],
  ["prev_hash", "text", (a) => a.entry.prevHash],
  ["hash", "text", (a) => a.entry.hash],
];

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

export interface CheckpointRow {
  dataset: string;
  run_id: string;
  mode: string;
  bounds: string;
  done: number;
  totals: string;
  started_at: number;
  updated_at: number;
}

export function toCheckpoint(r: CheckpointRow): Checkpoint {
  return {
    dataset: r.dataset,
    runId: r.run_id,
    mode: r.mode,
    bounds: JSON.parse(r.bounds),
    done: r.done,
    totals: JSON.parse(r.totals),
    startedAt: r.started_at,
    updatedAt: r.updated_at,
  };
}

/** A divergent key as `takeDivergent` deletes it. */
export interface TakenRow {
  key: string;
  first_seen: number;
}

/**
 * The keys taken, in the order given, each with its first seen. The server holds text as UTF-8, so a key
 * with a lone surrogate comes back with a replacement character; it is matched to the key as given.
 */
export function takenInOrder(keys: readonly string[], rows: readonly TakenRow[]): Map<string, number> {
  const firstSeen = new Map(rows.map((r) => [r.key, r.first_seen]));
  const out = new Map<string, number>();
  for (const key of keys) {
    const seen = firstSeen.get(storedText(key));
    if (seen !== undefined) out.set(key, seen);
  }
  return out;
}
