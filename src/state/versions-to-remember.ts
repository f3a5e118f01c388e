/** The version rule of VersionMemory, pure, shared by every adapter: keep the highest version seen. */
import { keyId } from "../core/model.js";
import {
  compareVersions,
  compareVersionsBy,
  type Version,
  type VersionOrdering,
  versionFromJson,
} from "../core/version.js";
import type { ObservedVersion } from "./version-memory.js";

/** One (key, replica) slot to write: `key` as `keyId` text, `version` as JSON text. */
export interface VersionWrite {
  readonly key: string;
  readonly replica: string;
  readonly version: string;
}

/**
 * The writes that remember `observed`, one per (key, replica), in the order first observed: each observed
 * version replaces what is remembered unless it is lower (compareVersions "before") than the version stored
 * (`stored(key, replica)`, JSON text) or observed before it in the same call; with `overwrite`, the last one
 * observed wins.
 */
export function versionsToRemember(
  observed: readonly ObservedVersion[],
  stored: (key: string, replica: string) => string | undefined,
  overwrite: boolean,
  ordering?: VersionOrdering,
): VersionWrite[] {
  const compare = ordering ? (a: Version, b: Version) => compareVersionsBy(ordering, a, b) : compareVersions;
  const next = new Map<string, { key: string; replica: string; version: Version }>();
  for (const o of observed) {
    const key = keyId(o.key);
    const slot = JSON.stringify([key, o.replica]);
    if (!overwrite) {
      const text = next.has(slot) ? undefined : stored(key, o.replica);
      const prev =
        next.get(slot)?.version ?? (text === undefined ? undefined : versionFromJson(JSON.parse(text)));
      // Keep the highest version ever seen: a replica that later goes below it has regressed.
      if (prev && compare(o.version, prev) === "before") continue;
    }
    next.set(slot, { key, replica: o.replica, version: o.version });
  }
  return [...next.values()].map((v) => ({
    key: v.key,
    replica: v.replica,
    version: JSON.stringify(v.version),
  }));
}
