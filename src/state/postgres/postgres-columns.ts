/**
 * The columns each PostgreSQL batch write sends, with their SQL types, for `recordset`; the rows themselves
 * come from the shared mapping (state-rows.ts). No queries here.
 */
import type { RecordsetColumn } from "./postgres-sql.js";

export const DIVERGENCE_COLUMNS: readonly RecordsetColumn[] = [
  ["run_id", "text"],
  ["dataset", "text"],
  ["key", "text"],
  ["class", "text"],
  ["detail", "text"],
];

export const VERSION_COLUMNS: readonly RecordsetColumn[] = [
  ["key", "text"],
  ["replica", "text"],
  ["version", "text"],
];

export const LEDGER_COLUMNS: readonly RecordsetColumn[] = [
  ["id", "text"],
  ["run_id", "text"],
  ["dataset", "text"],
  ["key", "text"],
  ["target", "text"],
  ["expected", "text"],
  ["next_fingerprint", "text"],
  ["before_values", "text"],
  ["after_values", "text"],
  ["outcome", "text"],
  ["attempts", "integer"],
  ["error", "text"],
  ["updated_at", "bigint"],
  ["undoes", "text"],
  ["before_native", "text"],
];

/** The columns `settleRepairs` updates, with the id that finds the row. */
export const SETTLEMENT_COLUMNS: readonly RecordsetColumn[] = [
  ["id", "text"],
  ["run_id", "text"],
  ["outcome", "text"],
  ["attempts", "integer"],
  ["error", "text"],
  ["updated_at", "bigint"],
];

export const ESCALATION_COLUMNS: readonly RecordsetColumn[] = [
  ["id", "text"],
  ["dataset", "text"],
  ["key", "text"],
  ["class", "text"],
  ["reason", "text"],
  ["options", "text"],
  ["detail", "text"],
  ["status", "text"],
  ["run_id", "text"],
  ["created_at", "bigint"],
  ["resolved_at", "bigint"],
  ["resolution", "text"],
  ["columns", "text"],
  ["absent", "text"],
  ["involved", "text"],
  ["pattern", "text"],
];

export const SAMPLE_COLUMNS: readonly RecordsetColumn[] = [
  ["dataset", "text"],
  ["series", "text"],
  ["label", "text"],
  ["at", "double precision"],
  ["value", "double precision"],
];

export const AUDIT_COLUMNS: readonly RecordsetColumn[] = [
  ["seq", "bigint"],
  ["ts", "double precision"],
  ["run_id", "text"],
  ["type", "text"],
  ["dataset", "text"],
  ["key", "text"],
  ["data", "text"],
  ["prev_hash", "text"],
  ["hash", "text"],
];
