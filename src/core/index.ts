/**
 * `concord/core`: the pure model — canonical encoding, fingerprints, keys and ranges, versions, the
 * taxonomy, policies and decisions, repair ids, plan records and the audit hash chain. Loads no database
 * driver and does no I/O; time and ids are arguments.
 */
// biome-ignore-all assist/source/organizeImports: the exports are listed in documented groups, inside out

// Values and records: the canonical encoding every store maps onto, and fingerprints over it.
export * from "./canonical.js";
export * from "./fingerprint.js";
export * from "./model.js";
export * from "./row-codec.js";
export * from "./version.js";
export * from "./duration.js";

// Classify and decide: the taxonomy, policies, decisions, merges.
export * from "./classify.js";
export {
  type Decision,
  type DecisionAction,
  decidePick,
  decideRepair,
  decisionSummary,
  WRITE_ACTIONS,
} from "./decide.js";
export { type CompiledPolicy, compilePolicy, PolicyError } from "./policy.js";
export { escalationId, repairId } from "./repair-id.js";

// What a run records: plan events, escalations, and the hash-chained audit log.
export * from "./plan-record.js";
export * from "./audit-chain.js";
