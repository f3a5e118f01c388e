/** Concord's public library entry: the pure core, the ports, the bundled connectors and the engine. */

export {
  type ConcordConfig,
  ConfigError,
  type DatasetConfig,
  loadConfig,
  parseConfig,
} from "./config/load-config.js";
export { redactText, redactUrl } from "./config/redact.js";
export * from "./connectors/connector.js";
export {
  MemoryConnector,
  type MemoryConnectorOptions,
  MemoryTable,
} from "./connectors/memory/memory-connector.js";
export { memoryTables, openConnector } from "./connectors/open-connector.js";
export {
  openSqliteConnector,
  SqliteConnector,
  sqliteLogicalType,
} from "./connectors/sqlite/sqlite-connector.js";
export * from "./core/canonical.js";
export * from "./core/classify.js";
export { type Decision, decidePick, decideRepair } from "./core/decide.js";
export * from "./core/duration.js";
export * from "./core/fingerprint.js";
export * from "./core/model.js";
export { type CompiledPolicy, compilePolicy } from "./core/policy.js";
export * from "./core/row-codec.js";
export * from "./core/version.js";
export { type DetectOptions, type DetectReplica, detectDivergences } from "./detect/detect-divergences.js";
export { mergeStreams, OrderError } from "./detect/merge-streams.js";
export { type ResolvedShape, resolveShape, type SchemaIssue, unifyTypes } from "./detect/resolve-shape.js";
export {
  type DatasetPlan,
  type DatasetScan,
  isRepairable,
  type OpenReplica,
  observeKeys,
  planDataset,
  type RunContext,
  recordPlan,
  recoverPending,
  repairDataset,
  repairTasks,
  type ScanStats,
  scanDataset,
} from "./engine.js";
export { runSimulation, type SimulationOptions, type SimulationReport } from "./sim/simulate.js";
export { openStateStore, StateStoreError } from "./state/open-state-store.js";
export {
  DEFAULT_POSTGRES_SCHEMA,
  PostgresStateStore,
  type PostgresStateStoreOptions,
} from "./state/postgres/postgres-state-store.js";
export { SqliteStateStore } from "./state/sqlite/sqlite-state-store.js";
export type { ObservedVersion, RunRecord, StateStore, StoredDivergence } from "./state/state-store.js";
