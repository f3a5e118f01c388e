/**
 * The StateStore conformance suite: every port's case file (state-store/*.case.ts) run against every state
 * store's factory (state-store-factories.ts). Adding a store means adding a factory; adding a port, a case file.
 */
import { afterEach, beforeEach, describe } from "vitest";
import { auditLogCases } from "./state-store/audit-log.case.js";
import { auditTamperingCases } from "./state-store/audit-tampering.case.js";
import { changeLogStoreCases } from "./state-store/change-log-store.case.js";
import { checkpointStoreCases } from "./state-store/checkpoint-store.case.js";
import { divergenceStoreCases } from "./state-store/divergence-store.case.js";
import { divergentKeysCases } from "./state-store/divergent-keys.case.js";
import { escalationStoreCases } from "./state-store/escalation-store.case.js";
import { evidenceStoreCases } from "./state-store/evidence-store.case.js";
import { feedPositionStoreCases } from "./state-store/feed-position-store.case.js";
import { leaseStoreCases } from "./state-store/lease-store.case.js";
import { policyRegistryCases } from "./state-store/policy-registry.case.js";
import { repairClaimCases } from "./state-store/repair-claim.case.js";
import { repairLedgerCases } from "./state-store/repair-ledger.case.js";
import { rolloutStoreCases } from "./state-store/rollout-store.case.js";
import { runStoreCases } from "./state-store/run-store.case.js";
import { sampleStoreCases } from "./state-store/sample-store.case.js";
import { segmentStoreCases } from "./state-store/segment-store.case.js";
import { segmentSummaryStoreCases } from "./state-store/segment-summary-store.case.js";
import { segmentTreeStoreCases } from "./state-store/segment-tree-store.case.js";
import { stageWriterCases } from "./state-store/stage-writer.case.js";
import type { StateStoreCase } from "./state-store/state-store-case.js";
import { versionMemoryCases } from "./state-store/version-memory.case.js";
import { type StateStoreFixture, stateStoreFactories } from "./state-store-factories.js";

/** One entry per port (the ledger has two: records, and claims with settlements). */
const CASES: readonly ((c: StateStoreCase) => void)[] = [
  runStoreCases,
  divergenceStoreCases,
  versionMemoryCases,
  repairLedgerCases,
  repairClaimCases,
  escalationStoreCases,
  auditLogCases,
  auditTamperingCases,
  checkpointStoreCases,
  sampleStoreCases,
  divergentKeysCases,
  leaseStoreCases,
  feedPositionStoreCases,
  segmentSummaryStoreCases,
  segmentTreeStoreCases,
  policyRegistryCases,
  segmentStoreCases,
  rolloutStoreCases,
  evidenceStoreCases,
  changeLogStoreCases,
  stageWriterCases,
];

for (const factory of stateStoreFactories) {
  const available = await factory.available();

  describe.skipIf(!available)(`${factory.name} state store`, () => {
    let fx: StateStoreFixture;

    beforeEach(async () => {
      fx = await factory.create();
    });

    afterEach(async () => {
      await fx.dispose();
    });

    const c: StateStoreCase = { open: () => fx.open(), sql: (text) => fx.sql(text) };
    for (const cases of CASES) cases(c);
  });
}
