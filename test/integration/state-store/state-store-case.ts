/** What every state store case file gets, and the records the cases build. Tests only. */
import type { AuditEntryContent } from "../../../src/core/audit-chain.js";
import type {
  Checkpoint,
  Escalation,
  LedgerEntry,
  RepairRef,
  Sample,
  StateStore,
} from "../../../src/state/state-store.js";

/** A fresh state location per test: stores opened on it, as several processes would, and raw SQL. */
export interface StateStoreCase {
  /** A new store over the test's location (for a server store: with a pool of its own). */
  open(): Promise<StateStore>;
  /** SQL behind the stores' backs, tables named without a schema; the rows of the last statement. */
  sql(text: string): Promise<Record<string, unknown>[]>;
}

/** The refs `getRepairs` takes of entries made by `repair` (its key is the id without its first letter). */
export const refs = (...ids: string[]): RepairRef[] => ids.map((id) => ({ id, key: [id.slice(1)] }));

export const repair = (id: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  id,
  runId: "run-1",
  dataset: "users",
  key: [id.slice(1)],
  target: "replica-b",
  expected: "00ff00ff00ff00ff",
  nextFingerprint: "0123456789abcdef",
  before: ["alice", null],
  after: ["alicia", "x"],
  outcome: "pending",
  attempts: 1,
  updatedAt: 1000,
  ...over,
});

export const escalation = (id: string, over: Partial<Escalation> = {}): Escalation => ({
  id,
  dataset: "users",
  key: ["7"],
  class: "concurrent-update",
  reason: "both replicas changed the record since it last agreed",
  options: ["take:a", "take:b"],
  detail: { a: { v: 2 }, b: { v: 3 } },
  status: "open",
  runId: "run-1",
  createdAt: 100,
  ...over,
});

export const event = (
  n: number,
  over: Partial<Omit<AuditEntryContent, "seq">> = {},
): Omit<AuditEntryContent, "seq"> => ({
  ts: 1_700_000_000_000 + n,
  runId: "run-1",
  type: "applied",
  dataset: "users",
  key: JSON.stringify([String(n)]),
  data: { n, before: ["a", null] },
  ...over,
});

export const checkpoint = (dataset: string, over: Partial<Checkpoint> = {}): Checkpoint => ({
  dataset,
  runId: "run-1",
  mode: "scan",
  bounds: [["10"], ["20"]],
  done: 1,
  totals: { missing: 2 },
  startedAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_500,
  ...over,
});

export const sample = (
  series: string,
  at: number,
  value: number | null,
  over: Partial<Sample> = {},
): Sample => ({
  dataset: "users",
  series,
  label: "",
  at,
  value,
  ...over,
});

/** from, from + 1, …, to. */
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** An SQL string literal (both stores read standard quoting). */
export const lit = (value: string | null) => (value === null ? "NULL" : `'${value.replaceAll("'", "''")}'`);
