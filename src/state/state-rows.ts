/**
 * The state tables' rows and their mapping from and to the ports' records, shared by every adapter: JSON
 * columns hold the text written, keys are `keyId` text, times are milliseconds. No queries here.
 */

import type { AuditEntry, AuditEventType } from "../core/audit-chain.js";
import type { CanonicalValue } from "../core/canonical.js";
import type { DivergenceClass } from "../core/classify.js";
import { type Key, keyId } from "../core/model.js";
import { nativeJson, nativeOf, parseNativeJson, withNative } from "../core/native-values.js";
import type { Checkpoint } from "./checkpoint-store.js";
import type { StoredDivergence } from "./divergence-store.js";
import { type Escalation, type EscalationGroup, escalationPattern } from "./escalation-store.js";
import type { Lease } from "./lease-store.js";
import type { CurrentPolicy, PolicyVersion } from "./policy-registry.js";
import { storedEntry, storedText } from "./prepared-audit.js";
import type { LedgerEntry, RepairOutcome } from "./repair-ledger.js";
import type { RolloutState } from "./rollout-store.js";
import type { RunRecord } from "./run-store.js";
import type { RunSegment } from "./segment-store.js";
import { DamagedCheckpointError, DamagedRowError } from "./state-store-error.js";

/**
 * A number column as a driver returns it: SQLite gives numbers; node-postgres gives BIGINT as text (it does
 * not assume it fits a double; the ports' times and seqs do).
 */
export type NumberColumn = number | string;

const num = (v: NumberColumn): number => (typeof v === "number" ? v : Number(v));
const numOrUndefined = (v: NumberColumn | null): number | undefined => (v === null ? undefined : num(v));

/**
 * A JSON column's text as its value. Text that does not parse (the row was edited or damaged) is refused with
 * one line naming the table, the row and the column, not a bare parser message.
 */
// biome-ignore lint/suspicious/noExplicitAny: the ports type each column; JSON.parse's own result type
function stored(text: string, table: string, row: string, column: string): any {
  try {
    return JSON.parse(text);
  } catch {
    throw new DamagedRowError(
      `the state store's ${table} row ${row}: column ${column} is not JSON (the row was edited or damaged)`,
    );
  }
}

/** JSON text of a value the ports type as free-form JSON; `undefined` is stored as null. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/** JSON text, or SQL NULL for null (images, where null means "absent"). */
function jsonOrNull(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value);
}

export interface RunRow {
  id: string;
  dataset: string;
  command: string;
  started_at: NumberColumn;
  finished_at: NumberColumn | null;
  status: RunRecord["status"];
  counts: string;
  stats: string;
  heartbeat_at: NumberColumn | null;
}

export function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    dataset: r.dataset,
    command: r.command,
    startedAt: num(r.started_at),
    finishedAt: numOrUndefined(r.finished_at),
    status: r.status,
    counts: stored(r.counts, "runs", r.id, "counts"),
    stats: stored(r.stats, "runs", r.id, "stats"),
    ...(r.heartbeat_at === null ? {} : { heartbeatAt: num(r.heartbeat_at) }),
  };
}

export interface DivergenceRow {
  run_id: string;
  dataset: string;
  key: string;
  class: DivergenceClass;
  /** NOT NULL in every store: a detail with no JSON form (undefined) is refused, not stored as null. */
  detail: string | null;
}

export function divergenceRow(d: StoredDivergence): DivergenceRow {
  return {
    run_id: d.runId,
    dataset: d.dataset,
    key: keyId(d.key),
    class: d.class,
    detail: JSON.stringify(d.detail) ?? null,
  };
}

export function toDivergence(r: DivergenceRow): StoredDivergence {
  return {
    runId: r.run_id,
    dataset: r.dataset,
    key: divergenceKey(r),
    class: r.class,
    detail:
      r.detail === null ? null : stored(r.detail, "divergences", `of run ${r.run_id} key ${r.key}`, "detail"),
  };
}

/** A divergence row's key (`keyId` text) as the port's key. */
export function divergenceKey(r: Pick<DivergenceRow, "run_id" | "key">): Key {
  return stored(r.key, "divergences", `of run ${r.run_id}`, "key");
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
  updated_at: NumberColumn;
  /** NULL in entries recorded before the column existed. */
  undoes: string | null;
  /** The before image's values as the target's store held them (`nativeJson`), or NULL. */
  before_native?: string | null;
}

export function ledgerRow(e: LedgerEntry): LedgerRow {
  return {
    id: e.id,
    run_id: e.runId,
    dataset: e.dataset,
    key: keyId(e.key),
    target: e.target,
    expected: e.expected,
    next_fingerprint: e.nextFingerprint,
    before_values: jsonOrNull(e.before),
    after_values: jsonOrNull(e.after),
    outcome: e.outcome,
    attempts: e.attempts,
    error: e.error ?? null,
    updated_at: e.updatedAt,
    undoes: e.undoes ?? null,
    before_native: nativeJson(nativeOf(e.before), e.before),
  };
}

/** `values` with the native row `text` holds attached (see `parseNativeJson`), when it holds one. */
function withNativeJson(values: CanonicalValue[], text: string | null | undefined): CanonicalValue[] {
  const native = parseNativeJson(text);
  return native ? withNative(values, native) : values;
}

export function toLedgerEntry(r: LedgerRow): LedgerEntry {
  return {
    id: r.id,
    runId: r.run_id,
    dataset: r.dataset,
    key: stored(r.key, "ledger", r.id, "key"),
    target: r.target,
    expected: r.expected,
    nextFingerprint: r.next_fingerprint,
    before:
      r.before_values === null
        ? null
        : withNativeJson(stored(r.before_values, "ledger", r.id, "before_values"), r.before_native),
    after: r.after_values === null ? null : stored(r.after_values, "ledger", r.id, "after_values"),
    outcome: r.outcome,
    attempts: r.attempts,
    ...(r.error === null ? {} : { error: r.error }),
    updatedAt: num(r.updated_at),
    ...(r.undoes == null ? {} : { undoes: r.undoes }),
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
  created_at: NumberColumn;
  resolved_at: NumberColumn | null;
  resolution: string | null;
  /** JSON arrays of names; NULL in escalations opened before they were recorded. */
  columns: string | null;
  absent: string | null;
  involved: string | null;
  /** `escalationPattern`: what the queue groups by. */
  pattern: string;
}

const namesOrNull = (names: readonly string[] | undefined): string | null =>
  names === undefined ? null : JSON.stringify(names);

/**
 * The SET list of `openEscalations`' upsert (both adapters): an escalation whose id is already stored as
 * `resolved` is the same divergence recurring — its id is (dataset, key, class, observed state), and Concord
 * closes an escalation when that state goes away (the replicas agreed, or the record changed) or a person
 * settles it — so it is opened again as given. A `rejected` one stays rejected (a person chose to leave that
 * state as it is) and an open one is left alone (running the same run again opens nothing).
 */
export const REOPEN_ESCALATION = [
  "reason",
  "options",
  "detail",
  "status",
  "run_id",
  "created_at",
  "resolved_at",
  "resolution",
  "columns",
  "absent",
  "involved",
  "pattern",
] as const satisfies readonly (keyof EscalationRow)[];

/** The escalations table's columns in row order: what identifies one, then what reopening it sets again. */
export const ESCALATION_ROW_COLUMNS = ["id", "dataset", "key", "class", ...REOPEN_ESCALATION] as const;

/** REOPEN_ESCALATION as the upsert's SET list. */
export const REOPEN_ESCALATION_SET = REOPEN_ESCALATION.map((c) => `${c} = excluded.${c}`).join(", ");

export function escalationRow(e: Escalation): EscalationRow {
  return {
    id: e.id,
    dataset: e.dataset,
    key: keyId(e.key),
    class: e.class,
    reason: e.reason,
    options: JSON.stringify(e.options),
    detail: jsonText(e.detail),
    status: e.status,
    run_id: e.runId,
    created_at: e.createdAt,
    resolved_at: e.resolvedAt ?? null,
    resolution: e.resolution === undefined ? null : jsonText(e.resolution),
    columns: namesOrNull(e.columns),
    absent: namesOrNull(e.absent),
    involved: namesOrNull(e.involved),
    pattern: escalationPattern(e),
  };
}

export function toEscalation(r: EscalationRow): Escalation {
  return {
    id: r.id,
    dataset: r.dataset,
    key: stored(r.key, "escalations", r.id, "key"),
    class: r.class,
    reason: r.reason,
    options: stored(r.options, "escalations", r.id, "options"),
    detail: stored(r.detail, "escalations", r.id, "detail"),
    status: r.status,
    runId: r.run_id,
    createdAt: num(r.created_at),
    ...(r.resolved_at === null ? {} : { resolvedAt: num(r.resolved_at) }),
    ...(r.resolution === null ? {} : { resolution: stored(r.resolution, "escalations", r.id, "resolution") }),
    ...(r.columns === null ? {} : { columns: stored(r.columns, "escalations", r.id, "columns") }),
    ...(r.absent === null ? {} : { absent: stored(r.absent, "escalations", r.id, "absent") }),
    ...(r.involved === null ? {} : { involved: stored(r.involved, "escalations", r.id, "involved") }),
  };
}

/** A group row as both stores' GROUP BY returns it. */
export interface EscalationGroupRow {
  dataset: string;
  class: string;
  pattern: string;
  count: NumberColumn;
  first: string;
  oldest_at: NumberColumn;
  newest_at: NumberColumn;
}

export function toEscalationGroup(r: EscalationGroupRow): EscalationGroup {
  const parts = stored(r.pattern, "escalations", `of dataset ${r.dataset} (first ${r.first})`, "pattern") as [
    string,
    string[]?,
    string[]?,
  ];
  return {
    dataset: r.dataset,
    class: r.class,
    pattern: r.pattern,
    ...(parts[1] === undefined ? {} : { columns: parts[1], absent: parts[2] ?? [] }),
    count: num(r.count),
    first: r.first,
    oldestAt: num(r.oldest_at),
    newestAt: num(r.newest_at),
  };
}

export interface AuditRow {
  seq: NumberColumn;
  ts: number;
  run_id: string | null;
  type: AuditEventType;
  dataset: string | null;
  key: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

/** An entry as stored, `data` being the canonical text that was hashed. */
export function auditRow(entry: AuditEntry, dataJson: string): AuditRow {
  return {
    seq: entry.seq,
    ts: entry.ts,
    run_id: entry.runId,
    type: entry.type,
    dataset: entry.dataset,
    key: entry.key,
    data: dataJson,
    prev_hash: entry.prevHash,
    hash: entry.hash,
  };
}

export function toAuditEntry(r: AuditRow): AuditEntry {
  // Its data is parsed when first read: verification hashes the stored text (storedData) and never parses it.
  const content = { ts: r.ts, runId: r.run_id, type: r.type, dataset: r.dataset, key: r.key };
  return storedEntry({ content, dataJson: r.data }, num(r.seq), r.prev_hash, r.hash);
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

export function checkpointRow(c: Checkpoint): CheckpointRow {
  return {
    dataset: c.dataset,
    run_id: c.runId,
    mode: c.mode,
    bounds: JSON.stringify(c.bounds),
    done: c.done,
    totals: jsonText(c.totals),
    started_at: c.startedAt,
    updated_at: c.updatedAt,
  };
}

/**
 * The checkpoint a row holds. A row that is not one `putCheckpoint` could have written (edited or damaged:
 * bounds or totals that do not parse, `done` outside its segments) is refused with one line naming the
 * dataset: resumed, it would end a pass early (checked nothing past `done`) or stop every start of it.
 */
export function toCheckpoint(r: CheckpointRow): Checkpoint {
  const refuse = (what: string) =>
    new DamagedCheckpointError(
      `the state store's checkpoint of dataset ${r.dataset} (run ${r.run_id}) ${what}: it was edited or damaged; \`concord checkpoint drop ${r.dataset}\` starts the pass afresh`,
    );
  const parse = (column: "bounds" | "totals"): unknown => {
    try {
      return JSON.parse(r[column]);
    } catch {
      throw refuse(`has ${column} that are not JSON`);
    }
  };
  const bounds = parse("bounds");
  if (!Array.isArray(bounds) || !bounds.every(Array.isArray))
    throw refuse("has bounds that are not a list of keys");
  const done = Number(r.done);
  if (!Number.isSafeInteger(done) || done < 0 || done > bounds.length + 1)
    throw refuse(`counts ${r.done} segments done of ${bounds.length + 1}`);
  return {
    dataset: r.dataset,
    runId: r.run_id,
    mode: r.mode,
    bounds: bounds as Checkpoint["bounds"],
    done,
    totals: parse("totals"),
    startedAt: r.started_at,
    updatedAt: r.updated_at,
  };
}

export interface LeaseRow {
  name: string;
  owner: string;
  acquired_at: number;
  expires_at: number;
}

export function toLease(r: LeaseRow): Lease {
  return { name: r.name, owner: r.owner, acquiredAt: r.acquired_at, expiresAt: r.expires_at };
}

export interface PolicyRow {
  dataset: string;
  version: string;
  text: string;
  source: string;
  first_used_at: NumberColumn;
  first_used_by: string;
  first_run_id: string;
}

export function toPolicyVersion(r: PolicyRow): PolicyVersion {
  return {
    dataset: r.dataset,
    version: r.version,
    text: r.text,
    source: r.source,
    firstUsedAt: num(r.first_used_at),
    firstUsedBy: r.first_used_by,
    firstRunId: r.first_run_id,
  };
}

export interface CurrentRow {
  dataset: string;
  version: string;
  adopted_at: NumberColumn;
  previous: string | null;
}

export function currentPolicy(
  r: CurrentRow,
  policy: PolicyRow,
  previous: PolicyRow | undefined,
): CurrentPolicy {
  return {
    policy: toPolicyVersion(policy),
    adoptedAt: num(r.adopted_at),
    ...(previous ? { previous: toPolicyVersion(previous) } : {}),
  };
}

export function policyRow(v: PolicyVersion): PolicyRow {
  return {
    dataset: v.dataset,
    version: v.version,
    text: v.text,
    source: v.source,
    first_used_at: v.firstUsedAt,
    first_used_by: v.firstUsedBy,
    first_run_id: v.firstRunId,
  };
}

/**
 * The keys taken, in the order given, each with its first seen. Stores hold text as UTF-8, so a key with a
 * lone surrogate comes back with a replacement character; it is matched to the key as given.
 */
export function takenInOrder(
  keys: readonly string[],
  rows: readonly { key: string; first_seen: number }[],
): Map<string, number> {
  const firstSeen = new Map(rows.map((r) => [r.key, r.first_seen]));
  const out = new Map<string, number>();
  for (const key of keys) {
    const seen = firstSeen.get(storedText(key));
    if (seen !== undefined) out.set(key, seen);
  }
  return out;
}

export interface SegmentRow {
  dataset: string;
  run_id: string;
  seg_from: NumberColumn;
  seg_to: NumberColumn;
  seg_of: NumberColumn;
  visit: NumberColumn;
  started_at: NumberColumn;
  duration_ms: NumberColumn;
  scan_ms: NumberColumn;
  /** `{ rows, counts, repairs, escalated }` as JSON text. */
  figures: string;
}

export function segmentRow(s: RunSegment): SegmentRow {
  return {
    dataset: s.dataset,
    run_id: s.runId,
    seg_from: s.from,
    seg_to: s.to,
    seg_of: s.of,
    visit: s.visit,
    started_at: s.startedAt,
    duration_ms: s.durationMs,
    scan_ms: s.scanMs,
    figures: JSON.stringify({ rows: s.rows, counts: s.counts, repairs: s.repairs, escalated: s.escalated }),
  };
}

export function toRunSegment(r: SegmentRow): RunSegment {
  const f = stored(
    r.figures,
    "run_segments",
    `of run ${r.run_id} (${r.seg_from}-${r.seg_to} of ${r.seg_of})`,
    "figures",
  ) as Pick<RunSegment, "rows" | "counts" | "repairs" | "escalated">;
  return {
    dataset: r.dataset,
    runId: r.run_id,
    from: num(r.seg_from),
    to: num(r.seg_to),
    of: num(r.seg_of),
    visit: num(r.visit),
    startedAt: num(r.started_at),
    durationMs: num(r.duration_ms),
    scanMs: num(r.scan_ms),
    rows: f.rows,
    counts: f.counts,
    repairs: f.repairs,
    escalated: f.escalated,
  };
}

export interface RolloutRow {
  dataset: string;
  kind: string;
  subject: string;
  /** JSON text. */
  state: string;
  updated_at: NumberColumn;
}

export function rolloutRow(r: RolloutState): RolloutRow {
  return {
    dataset: r.dataset,
    kind: r.kind,
    subject: r.subject,
    state: jsonText(r.state),
    updated_at: r.updatedAt,
  };
}

export function toRolloutState(r: RolloutRow): RolloutState {
  return {
    dataset: r.dataset,
    kind: r.kind,
    subject: r.subject,
    state: stored(
      r.state,
      "rollouts",
      `of dataset ${r.dataset} (${r.kind} ${r.subject})`,
      "state",
    ) as unknown,
    updatedAt: num(r.updated_at),
  };
}
