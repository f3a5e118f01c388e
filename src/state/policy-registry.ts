/** The PolicyRegistry port: every policy version each dataset has run under, and which one is current. */
import type { AuditEntryContent } from "../core/audit-chain.js";

/** One policy version of one dataset, as first used. */
export interface PolicyVersion {
  readonly dataset: string;
  /** The compiled policy's version (hash): what every decision made under it names. */
  readonly version: string;
  /** The full text (core/policy-text.ts): the declaration and what it was compiled against. */
  readonly text: string;
  /** The file it was read from (the config file, or a candidate policy file). */
  readonly source: string;
  /** When a run first used it, ms since the epoch. */
  readonly firstUsedAt: number;
  /** Who ran that run (`cli:<user>`, `serve`, `token:<name>`). */
  readonly firstUsedBy: string;
  /** The run that first used it. */
  readonly firstRunId: string;
}

/** A dataset's current policy: the version adopted last, when, and the one it replaced. */
export interface CurrentPolicy {
  readonly policy: PolicyVersion;
  readonly adoptedAt: number;
  /** The version current before it (undefined: it was the dataset's first). */
  readonly previous?: PolicyVersion | undefined;
}

/** What `adoptPolicy` did. */
export interface PolicyAdoption {
  /** True when the version was not the dataset's current one (first use, a change, or a return to an old one). */
  readonly changed: boolean;
  /** The version that was current before (undefined: the dataset had none). */
  readonly previous?: PolicyVersion | undefined;
}

/**
 * Policy versions by dataset.
 *
 * ## Adopting
 * `adoptPolicy(version, audit)` makes `version` the dataset's current policy. When it already is, nothing is
 * written (`changed: false`). Otherwise, in one transaction: the version is recorded if the dataset never ran
 * under it (a version once recorded keeps its first text, source, time and actor), it becomes current, and
 * the events `audit(previous)` returns are appended to the audit log (the `policy-changed` entry with the
 * diff). `audit` is pure and synchronous. Atomic against every other process: of several adopting the same
 * change at once exactly one reports `changed` and writes the events, so the audit names each change once and
 * before any decision made under the new version that the adopter goes on to record.
 *
 * ## Reading
 * `listPolicies` lists a dataset's versions (or every dataset's) oldest first by first use; `currentPolicy`
 * is the one adopted last (with when, and the version it replaced).
 */
export interface PolicyRegistry {
  adoptPolicy(
    version: PolicyVersion,
    audit: (previous: PolicyVersion | undefined) => readonly Omit<AuditEntryContent, "seq">[],
  ): Promise<PolicyAdoption>;
  listPolicies(dataset?: string): Promise<PolicyVersion[]>;
  getPolicy(dataset: string, version: string): Promise<PolicyVersion | undefined>;
  currentPolicy(dataset: string): Promise<CurrentPolicy | undefined>;
}
