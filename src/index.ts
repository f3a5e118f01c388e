/**
 * Concord's library entry, in groups from the inside out. `concord/core` (the pure model) and
 * `concord/engine` (a run over open replicas) load no database driver; this entry also brings the bundled
 * connectors and state stores, which do.
 */
// biome-ignore-all assist/source/organizeImports: the exports are listed in documented groups, inside out

// The pure model: canonical encoding, fingerprints, taxonomy, policies, decisions, audit chain.
export * from "./core/index.js";

// Configuration: loading, validation with path-naming errors, `${VAR}` interpolation, redaction.
export {
  type ConcordConfig,
  ConfigError,
  type DatasetConfig,
  loadConfig,
  parseConfig,
} from "./config/load-config.js";
export { redactText, redactUrl } from "./config/redact.js";

// The ports: what a store adapter and a state store must do (their doc comments are the contracts).
export * from "./connectors/connector.js";
export type { ObservedVersion, RunRecord, StateStore, StoredDivergence } from "./state/state-store.js";

// Detection over the Connector port.
export { type DetectOptions, type DetectReplica, detectDivergences } from "./detect/detect-divergences.js";
export { mergeStreams, OrderError } from "./detect/merge-streams.js";
export { type ResolvedShape, resolveShape, type SchemaIssue, unifyTypes } from "./detect/resolve-shape.js";

// The engine: one run over a dataset (runDataset), and the stages it is made of.
export * from "./engine/index.js";

// Bundled connectors (SQLite loads better-sqlite3; the server stores load their driver when opened).
export {
  MemoryConnector,
  type MemoryConnectorOptions,
  MemoryTable,
} from "./connectors/memory/memory-connector.js";
export { memoryTables, openConnector } from "./connectors/open-connector.js";
export {
  type ChangeBatch,
  type ChangeFeed,
  ChangeFeedError,
  type ChangeFeedOptions,
} from "./connectors/change-feed.js";
export { openChangeFeed } from "./connectors/open-change-feed.js";
export {
  openSqliteConnector,
  SqliteConnector,
  sqliteLogicalType,
} from "./connectors/sqlite/sqlite-connector.js";

// Bundled state stores.
export { openStateStore, StateStoreError } from "./state/open-state-store.js";
export {
  DEFAULT_POSTGRES_SCHEMA,
  PostgresStateStore,
  type PostgresStateStoreOptions,
} from "./state/postgres/postgres-state-store.js";
export { SqliteStateStore } from "./state/sqlite/sqlite-state-store.js";

// The deterministic fault-injection simulator.
export { runSimulation, type SimulationOptions, type SimulationReport } from "./sim/simulate.js";
