/** The VersionMemory port: the version last seen per (dataset, key, replica), to tell a regressed replica. */
import type { Key } from "../core/model.js";
import type { Version, VersionOrdering } from "../core/version.js";

export interface ObservedVersion {
  readonly key: Key;
  readonly replica: string;
  readonly version: Version;
}

/**
 * What each replica was last seen holding, per key. Only keys that diverged are remembered, so the store
 * grows with divergence, not with the table.
 *
 * ## The version rule
 * `rememberVersions` keeps, per (dataset, key, replica), the highest version ever seen — by the dataset's
 * `ordering` when given (the one its strategy decides by: `compareVersionsBy`), else by `compareVersions` — so
 * that a replica later found below it has regressed; a version neither above nor below it (concurrent)
 * replaces it as the latest observed. With `overwrite`, the versions given replace what is stored: a repair
 * that deliberately wrote an older version (the owner's) resets what is expected of that replica. The rule
 * holds within one call (the same slot twice) and across processes calling at once: the comparison and the
 * write are one atomic step per dataset, so a lower version never lands last.
 */
export interface VersionMemory {
  /** The versions remembered for these keys, keyed by `keyId` text, then by replica; keys never seen are absent. */
  lastSeenVersions(dataset: string, keys: readonly Key[]): Promise<Map<string, Record<string, Version>>>;
  rememberVersions(
    dataset: string,
    observed: readonly ObservedVersion[],
    options?: { overwrite?: boolean; ordering?: VersionOrdering | undefined },
  ): Promise<void>;
}
