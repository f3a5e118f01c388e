/** The conformance harness: registers a store's cases, skipping only what its factory declares, each with a reason. Tests only. */
import { it } from "vitest";
import type { OptionalCapability } from "../../src/connectors/connector.js";
import type { ConnectorFactory, StoreTable, TableFixture } from "./connector-factories.js";

/** What a case file registers its tests through, for one store. */
export interface SuiteContext {
  readonly factory: ConnectorFactory;
  /** A fresh table from the factory, disposed of after the test. */
  create(fixture: TableFixture): Promise<StoreTable>;
  /**
   * Registers the case `id` ("typed/native-hash"). It runs unless the factory's `skip` names it, or it needs
   * a capability the factory does not declare (then it is listed as skipped, with why).
   */
  test(id: string, title: string, fn: () => Promise<void>, needs?: Need): void;
}

/** What a case needs of the store: an optional capability, or key order. */
export type Need = OptionalCapability | "ordered";

/** Every case id registered, by factory: a skip naming none of them is a mistake the suite reports. */
export const registered = new Map<string, Set<string>>();

/** A SuiteContext for `factory`; `opened` collects created tables for the caller's afterEach to dispose of. */
export function suiteContext(factory: ConnectorFactory, opened: StoreTable[]): SuiteContext {
  const reasons = new Map<string, string>();
  for (const { reason, tests } of factory.skip ?? []) for (const id of tests) reasons.set(id, reason);
  const ids = registered.get(factory.name) ?? new Set<string>();
  registered.set(factory.name, ids);
  return {
    factory,
    async create(fixture) {
      const store = await factory.create(fixture);
      opened.push(store);
      return store;
    },
    test(id, title, fn, needs) {
      ids.add(id);
      const reason = reasons.get(id) ?? missing(factory, needs);
      if (reason) it.skip(`${title} [${id}: skipped, ${reason}]`, fn);
      else it(title, fn);
    },
  };
}

/** Why a case cannot run on the factory's store, when it needs what the factory does not declare. */
function missing(factory: ConnectorFactory, needs: Need | undefined): string | undefined {
  if (needs === undefined) return undefined;
  if (needs === "ordered") return factory.capabilities.ordered ? undefined : "the store keeps no key order";
  return factory.capabilities.optional.includes(needs) ? undefined : `the store does not offer ${needs}`;
}
